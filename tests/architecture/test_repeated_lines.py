"""No run of six or more lines repeated in src/: a piece of logic is written once."""

from __future__ import annotations

import ast
import io
import tokenize
from collections import defaultdict
from pathlib import Path

from package_tree import ROOT, package_modules

RUN = 6
"""Lines in a run. Lines are compared after dropping blank lines, comments, docstrings, import statements
and lines of punctuation alone, and folding white space: identical code, not code of the same shape (names,
strings and numbers are kept), because same-shape runs in src/ are data tables, dataclass fields and
argparse declarations. Calibrated on ``duplicates`` over src/: it finds every pair that tool calls
identical, and none of the pairs it finds by shape alone."""

_SKIPPED = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENDMARKER}


def code_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text with white space folded) of each line that counts, in order."""
    text = path.read_text(encoding="utf-8")
    skipped: set[int] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.Import, ast.ImportFrom)) or (
            isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)  # docstrings, `...`
        ):
            skipped.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    tokens: dict[int, list[tokenize.TokenInfo]] = defaultdict(list)
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type not in _SKIPPED and token.start[0] not in skipped:
            tokens[token.start[0]].append(token)
    return [(line, " ".join(t.string for t in tokens[line])) for line in sorted(tokens)
            if any(t.type != tokenize.OP for t in tokens[line])]


def repeated_runs() -> list[str]:
    """``a.py:L1-L2 ~ b.py:M1-M2`` for each run of ``RUN`` or more lines that stands in two places."""
    lines = {m.path: code_lines(m.path) for m in package_modules()}
    places: dict[tuple[str, ...], list[tuple[Path, int]]] = defaultdict(list)
    for path, numbered in lines.items():
        for start in range(len(numbered) - RUN + 1):
            places[tuple(text for _, text in numbered[start:start + RUN])].append((path, start))
    windows: dict[tuple[Path, Path], set[tuple[int, int]]] = defaultdict(set)
    for found in places.values():
        for i, (path_a, a) in enumerate(found):
            for path_b, b in found[i + 1:]:
                if path_a != path_b or abs(a - b) >= RUN:
                    windows[path_a, path_b].add((a, b))
    runs = []
    for (path_a, path_b), starts in sorted(windows.items()):
        for a, b in sorted(starts):
            if (a - 1, b - 1) in starts:
                continue  # inside a run already reported
            extra = next(n for n in range(1, len(lines[path_a]) + 1) if (a + n, b + n) not in starts)
            length = RUN - 1 + extra
            first, second = _place(lines[path_a], path_a, a, length), _place(lines[path_b], path_b, b, length)
            runs.append(f"{first} ~ {second}")
    return runs


def _place(numbered: list[tuple[int, str]], path: Path, start: int, length: int) -> str:
    return f"{path.relative_to(ROOT)}:{numbered[start][0]}-{numbered[start + length - 1][0]}"


def test_no_run_of_six_or_more_lines_is_repeated_in_src() -> None:
    runs = repeated_runs()

    assert runs == [], f"runs of {RUN} or more identical lines in two places:\n" + "\n".join(runs)
