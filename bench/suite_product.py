"""Every import of the product (ensemble_byoc) made by bench/accuracy_suite.py is in this module, so a
later rename of a product module is one edit here.

Ours runs through the product's real path: a temporary SAGEMAKER_BASE_DIR tree holding a CSV (header,
label column named by ``target``, text columns as text, empty cells missing), the entry point of
``container/train`` (``training.cli.train_main``, timed without the interpreter's start and imports),
then ``bundle.artifacts.load_bundle`` and the ensemble's ``predict`` on the test rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUR_METRIC = {"regression": "rmse", "binary": "logloss", "multiclass": "mlogloss"}


def presets() -> tuple[tuple[str, ...], str]:
    """The product's preset names and its default preset (``TrainConfig().presets``)."""
    from ensemble_byoc.training import config

    return tuple(config.PRESETS), config.TrainConfig().presets


NOT_ON_THE_PATH = ("serving", "launcher")
"""Subpackages a result of ours cannot depend on: the suite trains through ``container/train`` and
predicts with ``load_bundle``; training and bundle never import serving, and nothing here imports the
launcher (tests/architecture holds the import direction)."""


def code_fingerprint() -> str:
    """The product's version and a hash of ``container/train`` and every source file a result of ours
    depends on (a cached row of ours is stale when any of them changed; serving and launcher work leaves
    it valid)."""
    from ensemble_byoc import __version__

    package = REPO / "src" / "ensemble_byoc"
    digest = hashlib.sha256(__version__.encode())
    files = [REPO / "container" / "train"] + sorted(
        path for path in package.rglob("*.py") if path.relative_to(package).parts[0] not in NOT_ON_THE_PATH)
    for path in files:
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:16]}"


def _write_tree(base: Path, train: Any, hyperparameters: dict[str, str]) -> None:
    (base / "input" / "config").mkdir(parents=True)
    (base / "input" / "data" / "train").mkdir(parents=True)
    config = {"train": {"TrainingInputMode": "File", "ContentType": "text/csv"}}
    (base / "input" / "config" / "inputdataconfig.json").write_text(json.dumps(config))
    (base / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    train.to_csv(base / "input" / "data" / "train" / "train.csv", index=False)


def _matrix(frame: Any, manifest: dict[str, Any]) -> Any:
    """Test rows as the saved model reads them: manifest feature order, text categories as level codes."""
    import numpy as np
    import pandas as pd

    from ensemble_byoc.training.data import encode_categories

    categories = manifest.get("categories") or {}
    columns = []
    for name in (str(n) for n in manifest["feature_names"]):
        values = frame[name]
        if name in categories:
            text = values.map(lambda v: v if pd.isna(v) else str(v).strip()).replace("", np.nan)
            columns.append(encode_categories(text.to_numpy(dtype=object), tuple(categories[name])))
        else:
            columns.append(pd.to_numeric(values, errors="raise").to_numpy(dtype=np.float64))
    return np.column_stack(columns)


def _class_columns(prediction: Any, manifest: dict[str, Any], job: dict[str, Any]) -> Any:
    """Probabilities in the order of ``job["classes"]`` (binary: P(second class in that order))."""
    theirs = [str(c) for c in manifest["task"]["classes"]]
    if sorted(theirs) != job["classes"]:
        raise RuntimeError(f"model classes {theirs} differ from the data's {job['classes']}")
    if job["problem_type"] == "multiclass":
        return prediction[:, [theirs.index(c) for c in job["classes"]]]
    return prediction if theirs == job["classes"] else 1.0 - prediction


def fit_ours(job: dict[str, Any], train: Any, test: Any) -> tuple[dict[str, Any], Any]:
    """Train through the product's entry point on ``train``, predict ``test``; (report, prediction)."""
    import numpy as np

    from ensemble_byoc.bundle.artifacts import load_bundle
    from ensemble_byoc.contract.cpus import available_cpus
    from ensemble_byoc.training.cli import train_main

    label, problem_type = job["label"], job["problem_type"]
    hyperparameters = {"target": label, "problem_type": problem_type,
                       "eval_metric": OUR_METRIC[problem_type], **job["settings"]}
    base = Path(job["work_dir"]) / "opt_ml"
    _write_tree(base, train, {k: str(v) for k, v in hyperparameters.items()})
    if job.get("checkpoints"):  # units shared with the split's other rows (see bench/README.md)
        Path(job["checkpoints"]).mkdir(parents=True, exist_ok=True)
        (base / "checkpoints").symlink_to(job["checkpoints"], target_is_directory=True)
    resumed = _ResumedUnits()
    logging.getLogger("ensemble_byoc.training.job").addHandler(resumed)
    started = time.perf_counter()
    code = train_main([], {"SAGEMAKER_BASE_DIR": str(base), "LOG_LEVEL": "INFO"})
    fit_seconds = time.perf_counter() - started
    logging.getLogger("ensemble_byoc.training.job").removeHandler(resumed)
    if code != 0:
        failure = base / "output" / "failure"
        raise RuntimeError(failure.read_text().strip() if failure.exists() else f"train exit code {code}")
    started = time.perf_counter()
    ensemble, manifest = load_bundle(base / "model", n_threads=available_cpus())
    prediction = np.asarray(ensemble.predict(_matrix(test.drop(columns=[label]), manifest)), dtype=np.float64)
    predict_seconds = time.perf_counter() - started
    if problem_type != "regression":
        prediction = _class_columns(prediction, manifest, job)
    cv = manifest.get("cv") or {}
    fit_seconds += resumed.seconds(base / "output" / "data" / "cv_results.json")
    weights = {k: round(float(v), 3) for k, v in manifest["blend"]["weights"].items()}
    note = "served " + ", ".join(f"{k} {w:.2f}" for k, w in weights.items())
    if (cv.get("blend") or {}).get("fallback"):
        note += f" (blend fell back to {cv['blend']['fallback']})"
    if cv.get("folds_trained") not in (None, (manifest.get("config") or {}).get("k_fold")):
        note += f"; {cv['folds_trained']} folds trained"
    return {"fit_seconds": fit_seconds, "predict_seconds": predict_seconds, "note": note}, prediction


class _ResumedUnits(logging.Handler):
    """The (member, fold) of each unit a run resumed from a checkpoint, read from its log lines; their
    seconds, as measured in the run that trained them, count in this run's fit time."""

    PATTERN = re.compile(r"unit \d+ of \d+: (\S+) fold (\d+): resumed from checkpoint")

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.units: set[tuple[str, int]] = set()

    def emit(self, record: logging.LogRecord) -> None:
        found = self.PATTERN.match(record.getMessage())
        if found:
            self.units.add((found.group(1), int(found.group(2))))

    def seconds(self, report_file: Path) -> float:
        if not self.units:
            return 0.0
        units = json.loads(report_file.read_text())["units"]
        return float(sum(u["seconds"] for u in units if (u["member"], u["fold"]) in self.units))


def available_cpus() -> int:
    from ensemble_byoc.contract.cpus import available_cpus as cpus

    return int(cpus())
