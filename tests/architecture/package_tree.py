"""The package as the architecture tests see it: its modules, their layers, and what they import."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
PACKAGE = "ensemble_byoc"
PACKAGE_DIR = SRC / PACKAGE

LAYERS = ("errors", "contract", "models", "bundle", "training", "serving", "launcher")
"""The package's top-level parts, lowest first (``errors`` is the module ``errors.py``)."""

MAY_IMPORT: dict[str, frozenset[str]] = {
    "errors": frozenset({"errors"}),
    "contract": frozenset({"errors", "contract"}),
    "models": frozenset({"errors", "contract", "models"}),
    "bundle": frozenset({"errors", "contract", "models", "bundle"}),
    "training": frozenset({"errors", "contract", "models", "bundle", "training"}),
    "serving": frozenset({"errors", "contract", "models", "bundle", "serving"}),
    "launcher": frozenset(LAYERS),
}
"""errors <- contract <- models <- bundle <- {training, serving} <- launcher: each layer may import itself
and the layers below it; training and serving are side by side and never import each other. The package's
own ``__init__`` (``__version__`` only) may be imported by every layer."""

LIBRARIES = ("catboost", "xgboost", "lightgbm")
DASK = ("dask", "distributed")
LAUNCHER_ONLY = ("sagemaker", "boto3", "botocore", "moto")
MULTIHOST = f"{PACKAGE}.training.multihost"


@dataclass(frozen=True)
class Module:
    name: str
    path: Path

    @property
    def layer(self) -> str:
        return layer_of(self.name)

    def tree(self) -> ast.Module:
        return ast.parse(self.path.read_text(encoding="utf-8"), filename=str(self.path))


@dataclass(frozen=True)
class Import:
    """One imported name: ``target`` is the module (or ``module.name``) as written, made absolute."""

    module: Module
    target: str
    line: int
    lazy: bool  # inside a function (or a class body), so it runs only when that code runs

    @property
    def where(self) -> str:
        return f"{self.module.path.relative_to(ROOT)}:{self.line}"


def package_modules() -> list[Module]:
    """Every module of the package, by its dotted name (a package by its ``__init__``)."""
    modules = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules.append(Module(".".join(parts), path))
    return modules


def layer_of(name: str) -> str:
    """The layer of the package module ``name``; ``""`` for the package itself."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def imports_of(module: Module) -> Iterator[Import]:
    """Every import statement of ``module``, at module level and inside functions."""
    tree = module.tree()
    top_level = {id(node) for node in _module_level(tree.body)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno, id(node) not in top_level)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, node.module, node.level)
            for alias in node.names:
                yield Import(module, f"{base}.{alias.name}", node.lineno, id(node) not in top_level)


def _module_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements that run when the module is imported (including under ``if``/``try``/``with``)."""
    for node in body:
        yield node
        if isinstance(node, (ast.If, ast.Try, ast.With)):
            for field in ("body", "orelse", "finalbody"):
                yield from _module_level(getattr(node, field, []))
            for handler in getattr(node, "handlers", []):
                yield from _module_level(handler.body)


def _absolute(module: Module, name: str | None, level: int) -> str:
    if not level:
        return name or ""
    package = module.name.split(".")
    if module.path.name != "__init__.py":
        package = package[:-1]
    base = package[: len(package) - level + 1]
    return ".".join([*base, name] if name else base)


def top_name(target: str) -> str:
    return target.split(".")[0]
