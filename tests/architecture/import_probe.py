"""Imports each group of modules named on the command line in a fresh child process; prints one JSON line
per group with the modules the import loaded.

Run as a script: ``python import_probe.py NAME NAME,NAME...`` (a comma joins modules into one group). Each
child is forked from a parent that has imported only third-party packages every layer may use (NumPy,
pandas, Arrow, SciPy, scikit-learn, Flask) and none of the package, so a child sees what importing its
group alone loads, without paying for those packages again.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback

SHARED = ("numpy", "pandas", "pyarrow", "pyarrow.parquet", "scipy", "sklearn", "flask", "werkzeug")
WATCHED = ("ensemble_byoc", "catboost", "xgboost", "lightgbm", "dask", "distributed",
           "sagemaker", "boto3", "botocore", "moto")


def watched_modules() -> list[str]:
    return sorted(name for name in sys.modules if name.split(".")[0] in WATCHED)


def probe(group: str) -> dict[str, object]:
    try:
        for name in group.split(","):
            importlib.import_module(name)
    except Exception:  # noqa: BLE001 - reported to the test, which fails on it
        return {"group": group, "error": traceback.format_exc()}
    return {"group": group, "loaded": watched_modules()}


def main(groups: list[str]) -> int:
    for shared in SHARED:
        importlib.import_module(shared)
    if watched_modules():
        print(json.dumps({"group": "", "error": f"the shared imports loaded {watched_modules()}"}))
        return 1
    for group in groups:
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            print(json.dumps(probe(group)), flush=True)
            os._exit(0)
        os.waitpid(pid, 0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
