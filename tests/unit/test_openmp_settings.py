"""The OpenMP wait the product sets for the libraries' threads, decided from the environment."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ensemble_byoc.contract.openmp import apply_openmp_wait, openmp_wait
from ensemble_byoc.errors import PlatformError


def test_without_settings_the_product_sets_a_spin_of_1000_and_says_it_is_its_default() -> None:
    environ: dict[str, str] = {}

    apply_openmp_wait(environ)

    assert environ == {"GOMP_SPINCOUNT": "1000"}
    said = openmp_wait({}).describe()
    assert said == "GOMP_SPINCOUNT=1000 (the product's default; ENSEMBLE_BYOC_OMP_SPIN changes it)"


@pytest.mark.parametrize("value", ["20000", " 0 "])
def test_ensemble_byoc_omp_spin_sets_the_spin_count(value: str) -> None:
    environ = {"ENSEMBLE_BYOC_OMP_SPIN": value}

    apply_openmp_wait(environ)

    assert environ["GOMP_SPINCOUNT"] == value.strip()
    said = openmp_wait({"ENSEMBLE_BYOC_OMP_SPIN": value}).describe()
    assert said == f"GOMP_SPINCOUNT={value.strip()} (from ENSEMBLE_BYOC_OMP_SPIN)"


@pytest.mark.parametrize("value", ["library", "Library"])
def test_library_sets_nothing_so_the_runtimes_own_default_applies(value: str) -> None:
    environ = {"ENSEMBLE_BYOC_OMP_SPIN": value}

    wait = apply_openmp_wait(environ)

    assert environ == {"ENSEMBLE_BYOC_OMP_SPIN": value}
    assert wait.describe() == "the OpenMP runtime's own default (ENSEMBLE_BYOC_OMP_SPIN=library)"


@pytest.mark.parametrize(("users", "said"), [
    ({"GOMP_SPINCOUNT": "5000"}, "GOMP_SPINCOUNT=5000, set by the user and left as set"),
    ({"OMP_WAIT_POLICY": "PASSIVE"}, "OMP_WAIT_POLICY=PASSIVE, set by the user and left as set"),
    ({"OMP_WAIT_POLICY": "active", "ENSEMBLE_BYOC_OMP_SPIN": "10"},
     "OMP_WAIT_POLICY=active, set by the user and left as set; ENSEMBLE_BYOC_OMP_SPIN=10 not applied"),
])
def test_a_users_own_openmp_variable_is_left_as_set_and_named(users: dict[str, str], said: str) -> None:
    environ = dict(users)

    wait = apply_openmp_wait(environ)

    assert environ == users
    assert wait.describe() == said


def test_an_empty_user_variable_counts_as_unset() -> None:
    environ = {"GOMP_SPINCOUNT": "", "OMP_WAIT_POLICY": " "}

    apply_openmp_wait(environ)

    assert environ["GOMP_SPINCOUNT"] == "1000"


@pytest.mark.parametrize(("value", "message"), [
    ("fast", r"ENSEMBLE_BYOC_OMP_SPIN == 'fast', must be a spin count \(an integer, e.g. 1000\) or 'library' "
             r"for the OpenMP runtime's own default\.$"),
    ("libary", r"ENSEMBLE_BYOC_OMP_SPIN == 'libary', must be .* \(did you mean 'library'\?\)\.$"),
    ("1e3", r"ENSEMBLE_BYOC_OMP_SPIN == '1e3', must be a spin count"),
    ("-1", r"ENSEMBLE_BYOC_OMP_SPIN == -1, must be between 0 and 1000000000\.$"),
])
def test_a_malformed_spin_setting_is_refused_naming_the_variable_value_and_rule(value: str,
                                                                              message: str) -> None:
    environ = {"ENSEMBLE_BYOC_OMP_SPIN": value}

    with pytest.raises(PlatformError, match=message):
        apply_openmp_wait(environ)
    assert "GOMP_SPINCOUNT" not in environ
    with pytest.raises(PlatformError, match=message):
        openmp_wait(environ)


@pytest.mark.parametrize(("first", "too_late"), [("", False), ("import xgboost", True)])
def test_setting_the_wait_after_a_library_loaded_libgomp_is_reported_as_too_late(first: str,
                                                                                 too_late: bool) -> None:
    code = ("import os\n" + first + "\nfrom ensemble_byoc.contract.openmp import apply_openmp_wait\n"
            "print(apply_openmp_wait(os.environ).describe())\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)}

    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                            timeout=120, check=True)

    assert result.stdout.startswith("GOMP_SPINCOUNT=1000 (the product's default")
    assert ("libgomp was loaded before it was set" in result.stdout) is too_late
