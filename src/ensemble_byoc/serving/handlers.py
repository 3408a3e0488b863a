"""The four handlers SageMaker users know: ``model_fn``, ``input_fn``, ``predict_fn``, ``output_fn``.

They are plain functions of their arguments, so they can be called without a server.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from ensemble_byoc.bundle.artifacts import load_bundle
from ensemble_byoc.bundle.ensemble import Ensemble, blend, merge_folds, probe_rows
from ensemble_byoc.bundle.explain import Explanation
from ensemble_byoc.bundle.explain import explain as shap_values
from ensemble_byoc.errors import NotAcceptableError, UserError
from ensemble_byoc.models import load_spec
from ensemble_byoc.serving.classification import classification_fields
from ensemble_byoc.serving.codecs.inputs import DecodeOptions, InputBatch, check_names, check_width
from ensemble_byoc.serving.codecs.request_codecs import Decoder, decoder_for
from ensemble_byoc.serving.codecs.response_codecs import ENCODERS, Prediction


def model_fn(model_dir: Path, *, merge: bool = True, n_threads: int = 1) -> Ensemble:
    """Load and verify the model directory, then merge each library's fold models into one where exact.

    ``n_threads``: the threads each library predicts with (the server gives each worker its share of the
    cores, ``ServeSettings.library_threads``).

    Raises:
        PlatformError: the model directory is missing, incomplete, or fails a checksum or schema check.
    """
    ensemble, _ = load_bundle(model_dir, n_threads=n_threads)
    if not merge:
        return ensemble
    # A member is named after its library (``lightgbm``, ``lightgbm-2``); its models know which.
    mergers = {name: load_spec(models[0].name).merge_folds for name, models in ensemble.members.items()}
    return merge_folds(ensemble, mergers, probe_rows(ensemble.n_features))


def decode_options(
    model: Ensemble, *, keep_blank_lines: bool = False, max_bytes: int = DecodeOptions.max_bytes
) -> DecodeOptions:
    """How requests for ``model`` are decoded: its categorical features may arrive as text."""
    categories = {name: {level: float(i) for i, level in enumerate(levels)}
                  for name, levels in model.categories.items()}
    return DecodeOptions(keep_blank_lines=keep_blank_lines, max_bytes=max_bytes, categories=categories,
                         feature_names=model.feature_names)


def input_fn(request_body: bytes, request_content_type: str | None,
             options: DecodeOptions | None = None) -> InputBatch:
    """Decode a request body by its Content-Type (415 for an unsupported one, 400 for bad rows).

    A body without rows is a 400 in real time; in batch transform (``options.keep_blank_lines``) it is
    answered with an empty body, one line per input line.
    """
    return decode_input(decoder_for(request_content_type), request_body, options or DecodeOptions())


def decode_input(decode: Decoder, request_body: bytes, options: DecodeOptions) -> InputBatch:
    """``input_fn`` once the Content-Type has given its decoder (``decoder_for``)."""
    if not request_body or not request_body.strip():
        if options.keep_blank_lines:
            return InputBatch()
        msg = "The request body is empty; send one or more rows of features."
        raise UserError(msg)
    batch = decode(request_body, options)
    if batch.n_rows == 0 and not options.keep_blank_lines:
        msg = "The request body holds no rows; send one or more rows of features."
        raise UserError(msg)
    return batch


def predict_fn(
    input_data: InputBatch, model: Ensemble, libraries: Sequence[str] = (), outputs: Sequence[str] = (),
    *, explain: bool = False,
) -> Prediction:
    """The blend for every row (and each library in ``libraries`` on its own), one answer per input line.

    Rows are put in the model's feature order and checked for width first; a blank batch-transform line
    gets a missing answer. A classification model answers with the ``outputs`` fields (default
    ``predicted_label, probability``); each library's own answer is its probabilities. With ``explain``,
    each answer carries the SHAP values of its row (``bundle.explain``), computed on the same matrix.
    """
    width = (len(model.classes),) if model.problem_type == "multiclass" else ()
    if input_data.n_rows:
        X = feature_matrix(input_data, model.feature_names)
        members = model.predict_members(X)
        scores = blend(members, model.weights)
    else:
        X = np.empty((0, model.n_features))
        members = {library: np.empty((0, *width)) for library in model.members}
        scores = np.empty((0, *width))
    chosen = {library: members[library] for library in libraries}
    explanation = _explained(model, X, input_data.gaps) if explain else None
    if len(input_data.gaps):
        scores = _with_gaps(scores, input_data.gaps)
        chosen = {library: _with_gaps(values, input_data.gaps) for library, values in chosen.items()}
    if model.problem_type == "regression":
        return Prediction(scores=scores, members=chosen, explanation=explanation)
    return Prediction(scores=scores, members=chosen, explanation=explanation,
                      fields=classification_fields(scores, model.classes, outputs))


def output_fn(prediction: Prediction, accept: str, *, batch: bool = False) -> tuple[bytes, str]:
    """Encode predictions as ``accept`` (an already negotiated media type); returns body and Content-Type."""
    if accept not in ENCODERS:
        msg = f"Accept {accept!r} is not supported; ask for one of {', '.join(ENCODERS)}."
        raise NotAcceptableError(msg)
    return ENCODERS[accept](prediction, batch=batch), accept


def feature_matrix(batch: InputBatch, feature_names: tuple[str, ...]) -> np.ndarray:
    """The float matrix in model order: positional rows are checked for width, named ones matched by name."""
    if batch.values is not None and batch.columns is None:
        check_width(batch.values.shape[1], feature_names)
        return batch.values
    if batch.values is not None and batch.columns is not None:
        if batch.columns == tuple(feature_names):
            return batch.values
        index = {name: i for i, name in enumerate(batch.columns)}
        check_names(batch.columns, feature_names, "Named columns")
        return batch.values[:, [index[name] for name in feature_names]]
    records = batch.records or []
    position = {name: i for i, name in enumerate(feature_names)}
    values = np.full((len(records), len(feature_names)), np.nan)
    for r, record in enumerate(records):
        check_names(record, feature_names, f"Record {r + 1}")
        for name, value in record.items():
            values[r, position[name]] = value
    return values


def _with_gaps(values: np.ndarray, gaps: np.ndarray | tuple[int, ...]) -> np.ndarray:
    out = np.full((values.shape[0] + len(gaps), *values.shape[1:]), np.nan)
    keep = np.ones(out.shape[0], dtype=bool)
    keep[np.asarray(gaps, dtype=np.intp)] = False
    out[keep] = values
    return out


def _explained(model: Ensemble, X: np.ndarray, gaps: np.ndarray | tuple[int, ...]) -> Explanation:
    explanation = shap_values(model, X)
    if not len(gaps):
        return explanation
    return replace(explanation, values=_with_gaps(explanation.values, gaps),
                   base_values=_with_gaps(explanation.base_values, gaps))
