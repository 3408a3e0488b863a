"""What a person reads after a job: a leaderboard, feature importance, blend weights and a report.

Everything is written to ``output/data/`` (SageMaker uploads it as ``output.tar.gz``): JSON for
programs, and ``report.html``, a single self-contained page with inline SVG plots for a browser.
"""

from __future__ import annotations

import html
import io
import json
import logging
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ensemble_byoc.training.report_files import ReportFiles
from ensemble_byoc.training.report_shap import SHAP_KEY, ShapImportance
from ensemble_byoc.training.task import Task
from ensemble_byoc.training.units import UnitResult

logger = logging.getLogger(__name__)

TOP_FEATURES = 20
REPORT_SECONDS = 5.0
"""Time the HTML report may take (plotting library import and rendering); skipped when time_limit has less."""
LABEL_CHARS = 40
"""A feature name or class label longer than this is cut (with an ellipsis) on a plot."""
PLOT_POINTS = 5000
"""At most this many rows are drawn in a scatter plot (an even sample), so the page stays small."""
_PLAIN_TEXT = {"text.parse_math": False, "text.usetex": False}
"""Every label is drawn as written: ``$`` in a feature name is not the start of math text."""


def leaderboard(
    library_scores: Mapping[str, float],
    results: Sequence[UnitResult],
    weights: Mapping[str, float],
    ensemble_score: float,
    metric: str,
    greater_is_better: bool,
) -> list[dict[str, Any]]:
    """Each library alone and the ensemble, with CV score, fit time and blend weight, best first."""
    rows = []
    for library, score in library_scores.items():
        units = [r for r in results if r.unit.name == library]
        rows.append({
            "model": library,
            metric: score,
            "fit_seconds": round(sum(r.seconds for r in units), 4),
            "mean_best_iteration": float(np.mean([r.best_iteration for r in units])) if units else None,
            "blend_weight": weights.get(library, 0.0),
        })
    rows.append({
        "model": "ensemble",
        metric: ensemble_score,
        "fit_seconds": round(sum(r.seconds for r in results), 4),
        "mean_best_iteration": None,
        "blend_weight": None,
    })
    return sorted(rows, key=lambda row: -row[metric] if greater_is_better else row[metric])


def feature_importance(
    results: Sequence[UnitResult], feature_names: Sequence[str], weights: Mapping[str, float]
) -> dict[str, dict[str, float]]:
    """Per library, the mean over its fold models of each feature's share of the total gain; and the
    blend, those shares weighted by the blend weights."""
    shares: dict[str, np.ndarray] = {}
    for library in dict.fromkeys(r.unit.name for r in results):
        per_fold = []
        for result in (r for r in results if r.unit.name == library):
            gains = result.model.feature_importance()
            total = gains.sum()
            per_fold.append(gains / total if total > 0 else gains)
        shares[library] = np.mean(per_fold, axis=0)
    blended = sum((weights.get(lib, 0.0) * share for lib, share in shares.items()),
                  np.zeros(len(feature_names)))
    out = {lib: dict(zip(feature_names, map(float, share), strict=True)) for lib, share in shares.items()}
    out["ensemble"] = dict(zip(feature_names, map(float, blended), strict=True))
    return out


@dataclass(frozen=True)
class ReportData:
    """What the report shows: the leaderboard, importance, weights, and the out-of-fold predictions."""

    task: Task
    board: list[dict[str, Any]]
    importance: Mapping[str, Mapping[str, float]]
    weights: Mapping[str, float]
    y: np.ndarray
    oof_ensemble: np.ndarray
    shap: ShapImportance | None = None


def write_insight(
    files: ReportFiles,
    *,
    task: Task,
    board: list[dict[str, Any]],
    importance: Mapping[str, Mapping[str, float]],
    weights: Mapping[str, float],
    y: np.ndarray,
    oof_ensemble: np.ndarray,
    with_report: bool = True,
    shap: ShapImportance | None = None,
) -> None:
    """``leaderboard.json``, ``feature_importance.json``, ``blend_weights.json`` and (``with_report``)
    ``report.html``. A report that cannot be drawn is a warning in the log, never a failed job: the
    model is saved before, and the JSON reports hold the same numbers. The mean |SHAP| importance
    (``shap``), when computed, is ``feature_importance.json``'s ``SHAP_KEY`` beside the gain shares."""
    if shap is not None and shap.values is not None:
        importance = {**importance, SHAP_KEY: shap.values}
    files.write_text("leaderboard.json", json.dumps(board, indent=2) + "\n")
    files.write_text("feature_importance.json", json.dumps(importance, indent=2) + "\n")
    files.write_text("blend_weights.json", json.dumps(dict(weights), indent=2) + "\n")
    if not with_report:
        return
    data = ReportData(task, board, importance, weights, y, oof_ensemble, shap)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            page = render_report(data)
    except Exception as exc:  # noqa: BLE001 - a plot is never worth the job; the JSON reports are written
        logger.warning("report.html not written: drawing it failed (%s: %s); the JSON reports in %s hold "
                       "the same numbers.", type(exc).__name__, " ".join(str(exc).split())[:300],
                       files.directory)
        return
    for warning in {str(w.message) for w in caught}:
        logger.debug("report.html: %s", warning)
    files.write_text("report.html", page)


Draw = Callable[[Any], None]
"""Draws one plot on the matplotlib axes it is given."""


def render_report(data: ReportData) -> str:
    """The whole report as one HTML page; plots are inline SVG (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    with matplotlib.rc_context(_PLAIN_TEXT):  # type: ignore[arg-type]  # its stubs list every rc key
        plots = [*_task_plots(data), ("Feature importance", _importance_bars(data.importance)),
                 ("Blend weights", _weight_bars(data.weights))]
        figures = [(title, _svg(title, draw)) for title, draw in plots]
    notes = {"Feature importance": data.shap.describe()} if data.shap is not None else {}
    return _page(data.task, data.board, figures, notes)


def _svg(title: str, draw: Draw) -> str:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    buffer = io.StringIO()
    try:
        draw(axes)
        axes.set_title(title)
        figure.tight_layout()
        figure.savefig(buffer, format="svg")
    finally:
        plt.close(figure)  # also when drawing fails: the job goes on
    svg = buffer.getvalue()
    return svg[svg.index("<svg"):]


def _task_plots(data: ReportData) -> list[tuple[str, Draw]]:
    y, oof = data.y, data.oof_ensemble
    if data.task.problem_type == "regression":
        return [("Out-of-fold prediction vs actual", lambda axes: _scatter(axes, y, oof)),
                ("Residuals", lambda axes: _residuals(axes, y, oof))]
    if data.task.problem_type == "binary":
        return [("ROC curve (out-of-fold)", lambda axes: _roc(axes, y, oof))]
    return [("Confusion matrix (out-of-fold)", lambda axes: _confusion(axes, data.task, y, oof))]


def _scatter(axes: Any, y: np.ndarray, oof: np.ndarray) -> None:
    shown = np.linspace(0, len(y) - 1, num=min(len(y), PLOT_POINTS)).round().astype(int)
    axes.scatter(y[shown], oof[shown], s=8, alpha=0.5)
    low, high = float(min(y.min(), oof.min())), float(max(y.max(), oof.max()))
    axes.plot([low, high], [low, high], color="grey", linewidth=1)
    axes.set_xlabel("actual")
    axes.set_ylabel("out-of-fold prediction")


def _residuals(axes: Any, y: np.ndarray, oof: np.ndarray) -> None:
    axes.hist(oof - y, bins=40)
    axes.set_xlabel("prediction - actual")


def _roc(axes: Any, y: np.ndarray, oof: np.ndarray) -> None:
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(y, oof)
    axes.plot(fpr, tpr, label=f"AUC {roc_auc_score(y, oof):.4f}")
    axes.plot([0, 1], [0, 1], color="grey", linewidth=1)
    axes.set_xlabel("false positive rate")
    axes.set_ylabel("true positive rate")
    axes.legend()


def _confusion(axes: Any, task: Task, y: np.ndarray, oof: np.ndarray) -> None:
    predicted = np.argmax(oof, axis=1)
    k = task.n_classes
    matrix = np.zeros((k, k), dtype=int)
    np.add.at(matrix, (np.asarray(y, dtype=int), predicted), 1)
    axes.imshow(matrix, cmap="Blues")
    labels = [_label(c) for c in task.classes]
    axes.set_xticks(range(k), labels, rotation=45)
    axes.set_yticks(range(k), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("actual")
    for i in range(k):
        for j in range(k):
            axes.text(j, i, str(matrix[i, j]), ha="center", va="center")


def _importance_bars(importance: Mapping[str, Mapping[str, float]]) -> Draw:
    """The blend's share of total gain per feature and, beside it when computed, its share of the total
    mean |SHAP| (the most important features by gain)."""
    blended = sorted(importance["ensemble"].items(), key=lambda item: item[1], reverse=True)[:TOP_FEATURES]
    shap = importance.get(SHAP_KEY)

    def draw(axes: Any) -> None:
        # positions, not the names, place the bars: two names cut alike keep a bar each
        shown = list(reversed(blended))
        places = np.arange(len(shown), dtype=float)
        if shap is None:
            axes.barh(places, [value for _, value in shown])
            axes.set_xlabel("share of total gain (blend-weighted)")
        else:
            total = sum(shap.values()) or 1.0
            axes.barh(places + 0.2, [value for _, value in shown], height=0.4, label="share of total gain")
            axes.barh(places - 0.2, [shap[name] / total for name, _ in shown], height=0.4,
                      label="share of total mean |SHAP|")
            axes.set_xlabel("share (blend-weighted)")
            axes.legend()
        axes.set_yticks(places, [_label(name) for name, _ in shown])

    return draw


def _weight_bars(weights: Mapping[str, float]) -> Draw:
    def draw(axes: Any) -> None:
        axes.bar(range(len(weights)), list(weights.values()))
        axes.set_xticks(range(len(weights)), [_label(name) for name in weights])
        axes.set_ylabel("blend weight")

    return draw


def _page(
    task: Task, board: list[dict[str, Any]], figures: list[tuple[str, str]], notes: Mapping[str, str]
) -> str:
    columns = list(board[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(row[c]))}</td>" for c in columns) + "</tr>" for row in board
    )
    plots = "".join(f"<section><h2>{html.escape(title)}</h2>{svg}"
                    + (f"<p>{html.escape(notes[title])}</p>" if title in notes else "") + "</section>"
                    for title, svg in figures)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>ensemble_byoc training report</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}section{margin-top:2em}</style></head>"
        f"<body><h1>Training report</h1><p>Problem type: {html.escape(task.problem_type)}; "
        f"metric: {html.escape(task.eval_metric)} (out-of-fold).</p>"
        f"<h2>Leaderboard</h2><table><tr>{head}</tr>{body}</table>{plots}</body></html>\n"
    )


def _label(text: Any) -> str:
    """``text`` as a plot label: as written, cut to ``LABEL_CHARS`` characters."""
    label = str(text)
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "\u2026"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
