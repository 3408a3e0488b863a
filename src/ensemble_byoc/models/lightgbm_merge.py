"""LightGBM fold models merged into one model text: every fold's trees, leaf values scaled by 1/k.

Works on the models' text (``Booster.model_to_string()``) only; the adapter reads the merged text back.
"""

from __future__ import annotations

import re

_IDENTITY_OBJECTIVES = frozenset({"regression", "regression_l1", "huber", "fair", "quantile", "mape"})
"""Objectives whose prediction is the raw score, so the mean of predictions is the mean of raw scores."""
_SCALED_KEYS = ("leaf_value=", "internal_value=", "shrinkage=")
_TREE_START = re.compile(r"^Tree=", re.MULTILINE)
_END_OF_TREES = "end of trees\n"


def merged_model_text(texts: list[str]) -> str | None:
    """One model text predicting the mean of the fold models' predictions; None when they cannot merge.

    LightGBM's text format keeps each tree's leaf values (shrinkage already applied; the first tree
    carries the boost-from-average score), so the mean of k folds is the sum of every fold's trees with
    ``leaf_value`` (and ``internal_value``, ``shrinkage``) divided by k; ``tree_sizes`` is recomputed.
    Values are doubles written at full precision, so the merge is exact up to double rounding. Other
    objectives (a link function), several trees per iteration, averaged (rf) and linear trees stay
    unmerged.
    """
    try:
        return _merged(texts)
    except ValueError:
        return None  # a model layout this code does not know: keep the folds


def _merged(texts: list[str]) -> str | None:
    k = len(texts)
    parts = [_split_model_text(text) for text in texts]
    first_fields = _header_fields(parts[0][0])
    blocks: list[str] = []
    for header, trees, _ in parts:
        fields = _header_fields(header)
        objective = fields.get("objective", "").split()
        if (
            not objective
            or objective[0] not in _IDENTITY_OBJECTIVES
            or "sqrt" in objective[1:]
            or fields.get("num_tree_per_iteration") != "1"
            or "average_output" in fields
            or fields.get("feature_names") != first_fields.get("feature_names")
        ):
            return None
        for tree in trees:
            if "\nis_linear=1" in tree:
                return None
            blocks.append(_scaled_tree(tree, len(blocks), k))
    sizes = " ".join(str(len(block.encode("utf-8"))) for block in blocks)
    header = re.sub(r"^tree_sizes=.*$", lambda _: f"tree_sizes={sizes}", parts[0][0], flags=re.MULTILINE)
    return header + "".join(blocks) + parts[0][2]


def _split_model_text(text: str) -> tuple[str, list[str], str]:
    """The header, each ``Tree=`` block (up to the next one), and the rest from ``end of trees``."""
    starts = [match.start() for match in _TREE_START.finditer(text)]
    end = text.find("\n" + _END_OF_TREES) + 1
    if not starts or end <= starts[-1]:
        msg = "no trees or no end-of-trees line"
        raise ValueError(msg)
    bounds = [*starts, end]
    return text[: starts[0]], [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)], text[end:]


def _header_fields(header: str) -> dict[str, str]:
    fields = {}
    for line in header.splitlines():
        key, _, value = line.partition("=")
        fields[key.strip()] = value.strip()
    return fields


def _scaled_tree(block: str, index: int, k: int) -> str:
    lines = block.split("\n")
    lines[0] = f"Tree={index}"
    for i, line in enumerate(lines):
        for key in _SCALED_KEYS:
            if line.startswith(key):
                values = line[len(key):].split(" ")
                lines[i] = key + " ".join(repr(float(value) / k) for value in values)
    return "\n".join(lines)
