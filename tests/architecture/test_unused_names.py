"""No unused function: every function, class and method the package defines is named somewhere else."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from package_tree import PACKAGE, ROOT, Module, package_modules

ENTRY_SCRIPTS = (ROOT / "container" / "train", ROOT / "container" / "serve")

CALLED_BY_NAME = {
    "after_iteration": "CatBoost's and XGBoost's training callbacks: the library calls it each round",
    "_get_help_string": "argparse.HelpFormatter's hook, overridden by the launcher's help formatter",
}
"""Methods that a library calls by name on an object we hand it. Also allowed without a listing: dunder
methods, the members of a ``Protocol`` (an interface, used through its implementations), names listed in a
module's ``__all__`` (the public API), and the functions of ``serving/gunicorn_conf.py`` (gunicorn reads its
server hooks from the config module by name)."""

GUNICORN_CONFIG = f"{PACKAGE}.serving.gunicorn_conf"
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _references(path: Path, tree: ast.AST) -> Iterator[tuple[Path, int, str]]:
    """Every name ``tree`` uses: names, attributes, imported names, keywords, and words in strings (gunicorn's
    ``logger_class``, ``module:attribute`` specs)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            yield path, node.lineno, node.id
        elif isinstance(node, ast.Attribute):
            yield path, node.lineno, node.attr
        elif isinstance(node, ast.alias):
            yield path, node.lineno, node.name.rsplit(".", 1)[-1]
        elif isinstance(node, ast.keyword) and node.arg:
            yield path, node.lineno, node.arg
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield from ((path, node.lineno, word) for word in _WORD.findall(node.value))


def _entry_point_words() -> set[str]:
    """The words of pyproject.toml's ``[project.scripts]`` (``name = "module:function"`` lines; tomllib is
    not in Python 3.10)."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    section = text.split("[project.scripts]", 1)[1].split("\n[", 1)[0]
    return set(_WORD.findall(section))


Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def _definitions(module: Module) -> Iterator[tuple[Definition, bool]]:
    """Top-level functions and classes, and the methods of those classes, each with whether it is exempt."""
    tree = module.tree()
    exported = _all_names(tree)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node, node.name in exported or module.name == GUNICORN_CONFIG
        if isinstance(node, ast.ClassDef):
            protocol = any(_base_name(base) == "Protocol" for base in node.bases)
            for member in node.body:
                if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    dunder = member.name.startswith("__") and member.name.endswith("__")
                    yield member, protocol or dunder or member.name in CALLED_BY_NAME


def _all_names(tree: ast.Module) -> set[str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return set(ast.literal_eval(node.value))
    return set()


def _base_name(base: ast.expr) -> str:
    return base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")


def test_every_function_class_and_method_of_the_package_is_used_somewhere_else() -> None:
    modules = package_modules()
    references = [ref for m in modules for ref in _references(m.path, m.tree())]
    references += [ref for path in ENTRY_SCRIPTS for ref in _references(path, ast.parse(path.read_text()))]
    entry_words = _entry_point_words()

    def used(module: Module, node: Definition, name: str) -> bool:
        inside = range(node.lineno, (node.end_lineno or node.lineno) + 1)
        return name in entry_words or any(
            word == name and not (path == module.path and line in inside) for path, line, word in references
        )

    unused = [
        f"{module.path.relative_to(ROOT)}:{node.lineno}: {node.name}"
        for module in modules
        for node, exempt in _definitions(module)
        if not exempt and not used(module, node, node.name)
    ]

    rule = "defined in src/ but named nowhere else in src/, container/ or the entry points"
    assert unused == [], f"{rule}:\n" + "\n".join(unused)
