"""Serving settings from SageMaker's own environment variables, read once at start."""

from __future__ import annotations

import pytest

from ensemble_byoc.contract.cpus import available_cpus
from ensemble_byoc.errors import PlatformError
from ensemble_byoc.serving.settings import ServeSettings


def test_without_variables_the_server_uses_sagemakers_defaults_and_one_worker_per_cpu() -> None:
    settings = ServeSettings.from_env({})
    assert (settings.port, settings.workers, settings.timeout) == (8080, available_cpus(), 60)
    assert ((settings.default_accept, settings.max_payload_mb, settings.max_payload_bytes)
            == ("text/csv", 6, 6 << 20))
    assert (settings.batch, settings.log_level, settings.access_log) == (False, "INFO", True)


def test_every_variable_is_read() -> None:
    settings = ServeSettings.from_env({
        "SAGEMAKER_BIND_TO_PORT": "9000", "SAGEMAKER_MODEL_SERVER_WORKERS": "3",
        "SAGEMAKER_MODEL_SERVER_TIMEOUT": "5",
        "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "Application/JSON; charset=utf-8",
        "SAGEMAKER_MAX_PAYLOAD_IN_MB": "1",
        "SAGEMAKER_BATCH": "True", "LOG_LEVEL": "warn",
    })
    assert (settings.port, settings.workers, settings.timeout, settings.max_payload_mb) == (9000, 3, 5, 1)
    assert ((settings.default_accept, settings.batch, settings.log_level)
            == ("application/json", True, "WARNING"))
    assert settings.access_log is False
    assert "3 workers (SAGEMAKER_MODEL_SERVER_WORKERS)" in settings.describe()


@pytest.mark.parametrize("value", ["true", "True", "TRUE"])
def test_batch_transform_is_on_for_true_in_any_case(value: str) -> None:
    assert ServeSettings.from_env({"SAGEMAKER_BATCH": value}).batch is True


@pytest.mark.parametrize("value", ["", "false", "False", "1", "yes"])
def test_batch_transform_is_off_otherwise(value: str) -> None:
    assert ServeSettings.from_env({"SAGEMAKER_BATCH": value}).batch is False


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SAGEMAKER_MODEL_SERVER_WORKERS", "two",
         r"SAGEMAKER_MODEL_SERVER_WORKERS == 'two', must be an integer"),
        ("SAGEMAKER_MODEL_SERVER_WORKERS", "0", r"must be between 1 and 1024"),
        ("SAGEMAKER_BIND_TO_PORT", "70000", r"SAGEMAKER_BIND_TO_PORT == 70000, must be between 1 and 65535"),
        ("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "text/html", r"must be one of text/csv, application/json, "
                                                              r"application/jsonlines"),
        ("LOG_LEVEL", "LOUD", r"LOG_LEVEL == 'LOUD', must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    ],
)
def test_a_malformed_variable_stops_the_server_naming_it(name: str, value: str, message: str) -> None:
    with pytest.raises(PlatformError, match=message):
        ServeSettings.from_env({name: value})


def test_the_payload_limit_stops_at_sagemakers_own_maximum_of_100_mb() -> None:
    assert ServeSettings.from_env({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "100"}).max_payload_mb == 100
    with pytest.raises(PlatformError, match=r"SAGEMAKER_MAX_PAYLOAD_IN_MB == 101, must be between 1 and 100 "
                                            r"\(SageMaker's own maximum payload is 100 MB\)"):
        ServeSettings.from_env({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "101"})


def test_workers_are_recycled_after_a_number_of_requests_with_jitter_by_default() -> None:
    settings = ServeSettings.from_env({})
    assert (settings.max_requests, settings.max_requests_jitter) == (10_000, 1_000)
    assert "worker replaced after 10000 requests (ENSEMBLE_BYOC_MAX_REQUESTS) + up to 1000 " \
           "(ENSEMBLE_BYOC_MAX_REQUESTS_JITTER)" in settings.describe()


def test_worker_recycling_is_set_by_its_variables_and_zero_turns_it_off() -> None:
    settings = ServeSettings.from_env({"ENSEMBLE_BYOC_MAX_REQUESTS": "50",
                                       "ENSEMBLE_BYOC_MAX_REQUESTS_JITTER": "0"})
    assert (settings.max_requests, settings.max_requests_jitter) == (50, 0)
    off = ServeSettings.from_env({"ENSEMBLE_BYOC_MAX_REQUESTS": "0"})
    assert off.max_requests == 0
    assert "worker replaced after unlimited requests" in off.describe()


@pytest.mark.parametrize(("name", "value", "message"), [
    ("ENSEMBLE_BYOC_MAX_REQUESTS", "many", r"ENSEMBLE_BYOC_MAX_REQUESTS == 'many', must be an integer"),
    ("ENSEMBLE_BYOC_MAX_REQUESTS", "-1", r"ENSEMBLE_BYOC_MAX_REQUESTS == -1, must be between 0 and 10000000"),
    ("ENSEMBLE_BYOC_MAX_REQUESTS_JITTER", "-5", r"JITTER == -5, must be between 0"),
])
def test_a_malformed_recycling_variable_stops_the_server_naming_it(
    name: str, value: str, message: str
) -> None:
    with pytest.raises(PlatformError, match=message):
        ServeSettings.from_env({name: value})


def test_explanations_are_off_by_default_with_a_cap_of_1000_rows() -> None:
    settings = ServeSettings.from_env({})
    assert (settings.explain, settings.explain_max_rows) == (False, 1_000)
    assert "explanations none by default (ENSEMBLE_BYOC_EXPLAIN), at most 1000 rows explained " \
           "(ENSEMBLE_BYOC_EXPLAIN_MAX_ROWS)" in settings.describe()


@pytest.mark.parametrize(("value", "expected"),
                         [("shap", True), (" SHAP ", True), ("none", False), ("", False)])
def test_the_explanation_default_is_read_in_any_case(value: str, expected: bool) -> None:
    settings = ServeSettings.from_env({"ENSEMBLE_BYOC_EXPLAIN": value,
                                       "ENSEMBLE_BYOC_EXPLAIN_MAX_ROWS": "25"})
    assert (settings.explain, settings.explain_max_rows) == (expected, 25)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("ENSEMBLE_BYOC_EXPLAIN", "yes", r"ENSEMBLE_BYOC_EXPLAIN == 'yes', must be one of shap, none\."),
    ("ENSEMBLE_BYOC_EXPLAIN", "true", r"ENSEMBLE_BYOC_EXPLAIN == 'true', must be one of shap, none\."),
    ("ENSEMBLE_BYOC_EXPLAIN_MAX_ROWS", "lots", r"EXPLAIN_MAX_ROWS == 'lots', must be an integer"),
    ("ENSEMBLE_BYOC_EXPLAIN_MAX_ROWS", "0", r"EXPLAIN_MAX_ROWS == 0, must be between 1 and 1000000"),
])
def test_a_malformed_explanation_variable_stops_the_server_naming_it(
    name: str, value: str, message: str
) -> None:
    with pytest.raises(PlatformError, match=message):
        ServeSettings.from_env({name: value})


@pytest.mark.parametrize(("cpus", "workers", "threads"), [(2, 2, 1), (2, 1, 2), (8, 3, 2), (4, 16, 1)])
def test_each_workers_libraries_get_its_share_of_the_usable_cores(
    cpus: int, workers: int, threads: int
) -> None:
    settings = ServeSettings(cpus=cpus, workers=workers)
    assert settings.library_threads == threads
    assert f"{threads} library thread(s) per worker ({cpus} usable cores / workers)" in settings.describe()


def test_one_worker_by_variable_predicts_on_every_usable_core() -> None:
    settings = ServeSettings.from_env({"SAGEMAKER_MODEL_SERVER_WORKERS": "1"})
    assert (settings.cpus, settings.library_threads) == (available_cpus(), available_cpus())
