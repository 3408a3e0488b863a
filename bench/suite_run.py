"""Running one system on one split of bench/accuracy_suite.py: in a child process of its own, with the
result cached as ``bench/.cache/accuracy/<set>/<split>/<system>.json`` (scores, times, load, the
fingerprint it is valid for) and its test predictions beside it as ``<system>.npy`` (plain float64,
read with ``allow_pickle=False``)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import subprocess
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import accuracy_vs_autogluon as avg  # AutoGluon fit (with its DyStack retry) and scoring, reused
import suite_load
from suite_systems import System

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "bench" / ".cache" / "accuracy"
CHILD_TIMEOUT_S = 6 * 3600.0
SHARED_UNIT_ROLES = ("default", "single")
"""Rows made of the same (library, fold) units: the default trains them into a checkpoint folder of the
split and each library alone resumes its own (the product's fingerprints decide what is reused)."""


@dataclass
class Split:
    """One seeded 80/20 split of one data set, as parquet files the children read."""

    set_name: str
    problem_type: str
    index: int
    label: str
    classes: list[str]
    y_test: Any
    folder: Path
    description: str


def cache_files(split: Split, key: str) -> tuple[Path, Path]:
    folder = CACHE / split.set_name / str(split.index)
    return folder / f"{key}.json", folder / f"{key}.npy"


def cached(split: Split, key: str, fingerprint: str) -> tuple[dict[str, Any], Any] | None:
    import numpy as np

    record_file, prediction_file = cache_files(split, key)
    if not record_file.exists() or not prediction_file.exists():
        return None
    record = json.loads(record_file.read_text())
    if record.get("fingerprint") != fingerprint:
        return None
    return record, np.load(prediction_file, allow_pickle=False)


def store(split: Split, key: str, record: dict[str, Any], prediction: Any) -> None:
    import numpy as np

    record_file, prediction_file = cache_files(split, key)
    record_file.parent.mkdir(parents=True, exist_ok=True)
    np.save(prediction_file, np.asarray(prediction, dtype=np.float64), allow_pickle=False)
    partial = record_file.with_suffix(".partial")
    partial.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    partial.replace(record_file)  # the record last: a record always has its predictions


def scores(split: Split, prediction: Any) -> dict[str, float]:
    out = avg.score(split.problem_type, split.y_test, prediction, split.classes)
    if "auc" in out:
        out["one_minus_auc"] = 1.0 - out["auc"]
    return out


def run(system: System, split: Split, settings: dict[str, str], fingerprint: str, log_dir: Path,
        settle_s: float) -> tuple[dict[str, Any], Any]:
    """Fit ``system`` on the split's train part in a child process, score its test predictions, cache."""
    import numpy as np

    load = suite_load.settle(settle_s)
    with tempfile.TemporaryDirectory(prefix=f"suite-{split.set_name}-{system.key}-") as tmp:
        work = Path(tmp)
        job = {"kind": system.kind, "label": split.label, "problem_type": split.problem_type,
               "classes": split.classes, "settings": settings, "work_dir": str(work),
               "train": str(split.folder / "train.parquet"), "test": str(split.folder / "test.parquet"),
               "ag_time_limit": float(settings["time_limit"]) if "time_limit" in settings else None}
        if system.kind == "ours" and system.role in SHARED_UNIT_ROLES:
            job["checkpoints"] = str(CACHE / split.set_name / str(split.index) / "checkpoints")
        (work / "job.json").write_text(json.dumps(job))
        log = log_dir / f"{split.set_name}-{split.index}-{system.key}.log"
        with log.open("w") as out, suite_load.Watch() as watch:
            try:
                subprocess.run([sys.executable, str(REPO / "bench" / "accuracy_suite.py"), "--child",
                                str(work / "job.json")], stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
                               timeout=CHILD_TIMEOUT_S, check=False)
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"no result within {CHILD_TIMEOUT_S:.0f} s (log {log})") from None
        load |= watch.summary()
        if (work / "error.json").exists():
            error = json.loads((work / "error.json").read_text())
            raise RuntimeError(f"{error['type']}: {' '.join(error['message'].split())[:300]} (log {log})")
        if not (work / "result.json").exists():
            raise RuntimeError(f"the child process died without a result (log {log})")
        report = json.loads((work / "result.json").read_text())
        prediction = np.load(work / "prediction.npy", allow_pickle=False)
    record = {"set": split.set_name, "split": split.index, "system": system.key, "fingerprint": fingerprint,
              "settings": settings, "scores": scores(split, prediction), "load": load,
              "quiet": suite_load.is_quiet(load), "finished": dt.datetime.now(dt.timezone.utc).isoformat(),
              **report}
    store(split, system.key, record, prediction)
    return record, prediction


def derive(system: System, split: Split, parts: list[tuple[dict[str, Any], Any]]) -> tuple[dict, Any]:
    """The plain mean of other rows' test predictions (same split, same folds); times add up."""
    import numpy as np

    prediction = np.mean([p for _, p in parts], axis=0)
    record = {"set": split.set_name, "split": split.index, "system": system.key,
              "scores": scores(split, prediction),
              "fit_seconds": sum(r["fit_seconds"] for r, _ in parts),
              "predict_seconds": sum(r["predict_seconds"] for r, _ in parts),
              "quiet": all(r.get("quiet", False) for r, _ in parts),
              "note": "mean of " + " and ".join(r["system"] for r, _ in parts) + " test predictions"}
    return record, prediction


def child_main(job_file: Path) -> int:
    """In the child: fit one system, write result.json and prediction.npy (or error.json)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    job = json.loads(job_file.read_text())
    work = Path(job["work_dir"])
    try:
        import numpy as np
        import pandas as pd

        train, test = pd.read_parquet(job["train"]), pd.read_parquet(job["test"])
        if job["kind"] == "ours":
            import suite_product

            report, prediction = suite_product.fit_ours(job, train, test)
        else:
            report, prediction = avg._fit_autogluon(job, train, test)
        np.save(work / "prediction.npy", np.asarray(prediction, dtype=np.float64), allow_pickle=False)
        (work / "result.json").write_text(json.dumps(report))
    except Exception as exc:  # noqa: BLE001 - any failure of the system is reported to the parent
        traceback.print_exc()
        (work / "error.json").write_text(json.dumps({"type": type(exc).__name__, "message": str(exc)}))
        return 1
    return 0
