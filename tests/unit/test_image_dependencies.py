"""Every library the image's code imports is pinned in the image's locks, so the image can import it.

The image installs exactly ``requirements/image.lock`` (or ``image-gpu.lock``); an import that no locked
distribution provides works in a developer's virtual environment and fails only inside the image (as the
multi-host TLS module's ``cryptography`` once did). The launcher runs where jobs are launched, never in
the image, and is left out.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "ensemble_byoc"
NOT_IN_IMAGE = PACKAGE / "launcher"
SAME_MODULES = {"xgboost-cpu": "xgboost"}
"""Locked distributions that install the modules of another one (the CPU wheel of XGBoost)."""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_top_levels() -> dict[str, str]:
    """Third-party top-level modules imported anywhere in the image's code (functions included), with
    one file that imports each."""
    found: dict[str, str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if NOT_IN_IMAGE in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            for name in _module_names(node):
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "ensemble_byoc" and top != "__future__":
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def _module_names(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return [node.module]
    return []


def same_modules(names: set[str]) -> set[str]:
    """Distribution names, with those whose modules another distribution also installs."""
    return names | {canonical(SAME_MODULES[n]) for n in names if n in SAME_MODULES}


def locked(lock: Path) -> set[str]:
    return same_modules({canonical(m[1]) for m in re.finditer(r"^([A-Za-z0-9_.-]+)==", lock.read_text(),
                                                              re.MULTILINE)})


@pytest.mark.parametrize("lock", ["image.lock", "image-gpu.lock"])
def test_every_library_the_image_code_imports_is_pinned_in_the_image_lock(lock: str) -> None:
    providers = importlib.metadata.packages_distributions()
    pinned = locked(ROOT / "requirements" / lock)
    missing = {module: where for module, where in imported_top_levels().items()
               if not same_modules({canonical(d) for d in providers.get(module, [module])}) & pinned}
    assert missing == {}, f"imported by the image's code but not in requirements/{lock}: {missing}"


def test_the_import_scan_sees_imports_inside_functions_and_the_libraries() -> None:
    modules = imported_top_levels()
    assert {"numpy", "catboost", "xgboost", "lightgbm", "distributed", "cryptography"} <= set(modules)
    assert "sagemaker_core" not in modules  # the launcher's, not the image's
