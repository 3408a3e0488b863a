"""Imports only point down, as the interpreter sees them: what importing each module loads (each in a
fresh process), and what the entry points load when they run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FAST_HYPERPARAMETERS, TRAIN_SCRIPT, OptMl, csv_body, make_regression
from moto_recorder import without_aws_configuration
from package_tree import (
    DASK,
    LAUNCHER_ONLY,
    LIBRARIES,
    MAY_IMPORT,
    MULTIHOST,
    PACKAGE,
    ROOT,
    layer_of,
    package_modules,
)

HERE = Path(__file__).resolve().parent
WSGI = f"{PACKAGE}.serving.wsgi"  # builds the app around a model at import: probed when it serves, below
LAUNCHER = f"{PACKAGE}.launcher"


def _tops(loaded: list[str], names: tuple[str, ...]) -> list[str]:
    return sorted({name.split(".")[0] for name in loaded if name.split(".")[0] in names})


@pytest.fixture(scope="module")
def loaded_at_import() -> dict[str, list[str]]:
    """Module name -> the watched modules that importing it alone loaded. Every launcher module imports the
    launcher package (its ``__init__`` imports the whole API), so they are probed together, in one process."""
    names = [m.name for m in package_modules() if m.name != WSGI]
    launcher = [name for name in names if layer_of(name) == "launcher"]
    groups = [name for name in names if name not in launcher] + [",".join(launcher)]
    result = subprocess.run([sys.executable, str(HERE / "import_probe.py"), *groups], capture_output=True,
                            text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    loaded = {}
    for line in result.stdout.splitlines():
        probe = json.loads(line)
        assert "error" not in probe, f"importing {probe['group']} failed:\n{probe['error']}"
        for name in probe["group"].split(","):
            loaded[name] = probe["loaded"]
    assert sorted(loaded) == sorted(names)
    return loaded


def _report(found: dict[str, list[str]], rule: str) -> str:
    return f"{rule}:\n" + "\n".join(f"  import {name} loads {', '.join(bad)}" for name, bad in found.items())


def test_importing_a_module_loads_only_its_own_layer_and_the_layers_below(
    loaded_at_import: dict[str, list[str]],
) -> None:
    found = {name: [m for m in loaded if m.startswith(f"{PACKAGE}.")
                    and layer_of(m) not in MAY_IMPORT[layer_of(name)]]
             for name, loaded in loaded_at_import.items() if layer_of(name)}
    wrong = {name: above for name, above in found.items() if above}

    assert wrong == {}, _report(wrong, "modules that load a layer above their own or beside it")


def test_importing_anything_but_a_model_adapter_loads_no_boosting_library(
    loaded_at_import: dict[str, list[str]],
) -> None:
    adapters = {m.name for m in package_modules()
                if layer_of(m.name) == "models" and m.name.endswith("_model")}
    found = {name: _tops(loaded, LIBRARIES) for name, loaded in loaded_at_import.items()
             if name not in adapters}
    wrong = {name: libraries for name, libraries in found.items() if libraries}

    assert wrong == {}, _report(wrong, "modules outside the adapters that load a library")


def test_importing_anything_outside_multihost_loads_no_dask(loaded_at_import: dict[str, list[str]]) -> None:
    found = {name: _tops(loaded, DASK) for name, loaded in loaded_at_import.items()
             if not name.startswith(MULTIHOST)}
    wrong = {name: dask for name, dask in found.items() if dask}

    assert wrong == {}, _report(wrong, "modules outside multihost/ that load Dask")


def test_importing_the_single_host_training_modules_loads_nothing_of_multihost(
    loaded_at_import: dict[str, list[str]],
) -> None:
    found = {name: [m for m in loaded if m.startswith(MULTIHOST)]
             for name, loaded in loaded_at_import.items()
             if layer_of(name) == "training" and not name.startswith(MULTIHOST)}
    wrong = {name: multihost for name, multihost in found.items() if multihost}

    assert wrong == {}, _report(wrong, "single-host training modules that load multihost/")


def test_importing_anything_but_the_launcher_loads_no_sagemaker_sdk_or_boto3(
    loaded_at_import: dict[str, list[str]],
) -> None:
    found = {name: _tops(loaded, LAUNCHER_ONLY) for name, loaded in loaded_at_import.items()
             if not name.startswith(LAUNCHER)}
    wrong = {name: sdk for name, sdk in found.items() if sdk}

    assert wrong == {}, _report(wrong, "modules of the image that load the launcher's SDK")


# -- the entry points, when they run --------------------------------------------------------------------


def _run_and_dump(tree: OptMl, out: Path, *args: str) -> list[str]:
    result = subprocess.run([sys.executable, str(HERE / "run_and_dump.py"), str(out), *args],
                            env=tree.env(), capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    loaded: list[str] = json.loads(out.read_text())
    return loaded


@pytest.fixture(scope="module")
def single_host_job(tmp_path_factory: pytest.TempPathFactory) -> tuple[OptMl, list[str]]:
    """A tiny single-host job of the three libraries through ``container/train``, and what it loaded."""
    tree = OptMl(tmp_path_factory.mktemp("single_host") / "opt_ml")
    tree.write_config("inputdataconfig.json",
                      {"train": {"TrainingInputMode": "File", "ContentType": "text/csv"}})
    tree.write_config("resourceconfig.json", {"current_host": "algo-1", "hosts": ["algo-1"]})
    tree.hyperparameters({**FAST_HYPERPARAMETERS, "k_fold": "2", "num_round": "10"})
    tree.add_training_csv(*make_regression(n_rows=60))
    loaded = _run_and_dump(tree, tree.base.parent / "loaded.json", str(TRAIN_SCRIPT), "train")
    return tree, loaded


def test_a_single_host_training_job_loads_no_dask_and_nothing_of_multihost_serving_or_the_launcher(
    single_host_job: tuple[OptMl, list[str]],
) -> None:
    _, loaded = single_host_job

    assert _tops(loaded, LIBRARIES) == sorted(LIBRARIES)  # the job did train the three libraries
    assert _tops(loaded, DASK + LAUNCHER_ONLY) == []
    assert [m for m in loaded if m.startswith((MULTIHOST, f"{PACKAGE}.serving", LAUNCHER))] == []


def test_train_help_loads_no_library_and_no_dask(tmp_path: Path) -> None:
    loaded = _run_and_dump(OptMl(tmp_path), tmp_path / "loaded.json", str(TRAIN_SCRIPT), "--help")

    assert _tops(loaded, LIBRARIES + DASK + LAUNCHER_ONLY) == []
    assert [m for m in loaded if m.startswith((MULTIHOST, LAUNCHER))] == []


LAUNCHER_DRY_RUN = """
import json, sys
from ensemble_byoc.launcher.command_line import main
status = main(["delete-endpoint", "churn", "--dry-run"])
print(json.dumps({"status": status, "loaded": sorted({name.split(".")[0] for name in sys.modules})}))
"""


def test_a_launcher_command_loads_no_scikit_learn_boosting_library_or_dask(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    without_aws_configuration(monkeypatch, tmp_path)
    result = subprocess.run([sys.executable, "-c", LAUNCHER_DRY_RUN], capture_output=True, text=True,
                            check=False, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    ran = json.loads(result.stdout.splitlines()[-1])

    assert ran["status"] == 0
    assert "sagemaker" in ran["loaded"]  # the command did build its request with the SDK's shapes
    assert sorted(set(ran["loaded"]) & {"sklearn", *LIBRARIES, *DASK}) == []  # sklearn + SciPy's stats: 1.6 s


SERVE_ONE_REQUEST = """
import json, sys
import ensemble_byoc.serving.gunicorn_conf  # as container/serve: gunicorn's config, then the app module
from ensemble_byoc.serving.wsgi import app
client = app.test_client()
statuses = [client.get("/ping").status_code,
            client.post("/invocations", data=sys.stdin.buffer.read(), content_type="text/csv").status_code]
print(json.dumps({"statuses": statuses, "loaded": sorted(sys.modules)}))
"""


def test_the_serving_app_answering_a_request_loads_no_dask_and_nothing_of_training_or_the_launcher(
    single_host_job: tuple[OptMl, list[str]],
) -> None:
    tree, _ = single_host_job
    X, _ = make_regression(n_rows=3)
    result = subprocess.run([sys.executable, "-c", SERVE_ONE_REQUEST], input=csv_body(X), env=tree.env(),
                            capture_output=True, check=False, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr.decode()
    served = json.loads(result.stdout)

    assert served["statuses"] == [200, 200]
    assert _tops(served["loaded"], DASK + LAUNCHER_ONLY) == []
    assert [m for m in served["loaded"] if m.startswith((f"{PACKAGE}.training", LAUNCHER))] == []
