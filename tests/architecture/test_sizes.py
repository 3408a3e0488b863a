"""Sizes that keep the package readable: no module over 300 lines, no function longer than a screen."""

from __future__ import annotations

import ast

from package_tree import ROOT, package_modules

MODULE_LINES = 300
"""The house limit (STYLE.md): a module longer than this holds more than one job."""

FUNCTION_LINES = 50
"""A screen (COMMON.md: "no function longer than a screen (~50 lines)"), counted from ``def`` to the
function's last line, docstring, comments and blank lines included: what a reader has to hold at once.
A nested function counts inside the function that holds it."""


def test_no_module_of_the_package_is_over_300_lines() -> None:
    sizes = {str(m.path.relative_to(ROOT)): len(m.path.read_text(encoding="utf-8").splitlines())
             for m in package_modules()}
    over = [f"{path}: {lines} lines" for path, lines in sorted(sizes.items()) if lines > MODULE_LINES]

    assert over == [], f"modules over {MODULE_LINES} lines:\n" + "\n".join(over)


def test_no_function_of_the_package_is_longer_than_a_screen() -> None:
    over = [
        f"{m.path.relative_to(ROOT)}:{node.lineno}: {node.name} is {node.end_lineno - node.lineno + 1} lines"
        for m in package_modules()
        for node in ast.walk(m.tree())
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > FUNCTION_LINES
    ]

    assert over == [], f"functions over {FUNCTION_LINES} lines:\n" + "\n".join(over)
