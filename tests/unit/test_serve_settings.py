"""Serving settings from SageMaker's own environment variables, read once at start."""

from __future__ import annotations

import pytest

from ensemble_byoc.errors import PlatformError
from ensemble_byoc.host import available_cpus
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
