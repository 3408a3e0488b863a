"""The container never imports the launcher or its SDK: they are not in the image."""

from __future__ import annotations

import subprocess
import sys

CONTAINER_MODULES = ("ensemble_byoc.training.cli", "ensemble_byoc.serving.app",
                     "ensemble_byoc.serving.gunicorn_conf")
LAUNCHER_ONLY = ("ensemble_byoc.launcher", "sagemaker", "boto3", "botocore", "moto")


def test_train_and_serve_entry_modules_import_nothing_of_the_launcher_or_the_sdk() -> None:
    code = (
        "import sys\n"
        f"for name in {CONTAINER_MODULES!r}: __import__(name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {LAUNCHER_ONLY!r}"
        f" or m.startswith('ensemble_byoc.launcher')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=300
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
