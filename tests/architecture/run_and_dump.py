"""Runs a Python script as ``__main__`` and, when the process exits, writes the watched modules it loaded.

``python run_and_dump.py OUT.json SCRIPT ARG...``: as ``python SCRIPT ARG...``, plus OUT.json, a list of
the loaded modules of the package and of the libraries the import rules watch.
"""

from __future__ import annotations

import atexit
import json
import runpy
import sys
from pathlib import Path

from import_probe import watched_modules


def main() -> None:
    out, script, *args = sys.argv[1:]
    atexit.register(lambda: Path(out).write_text(json.dumps(watched_modules())))
    sys.argv = [script, *args]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
