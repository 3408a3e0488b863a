"""The four handlers SageMaker users know: ``model_fn``, ``input_fn``, ``predict_fn``, ``output_fn``.

They are plain functions of their arguments, so they can be called without a server.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ensemble_byoc.artifacts import load_bundle
from ensemble_byoc.ensemble import Ensemble
from ensemble_byoc.errors import NotAcceptableError, UserError
from ensemble_byoc.serving.codecs import ENCODERS, InputBatch, decoder_for

SERVING_THREADS = 1
"""Each gunicorn worker runs every library on one thread; workers give the parallelism."""


def model_fn(model_dir: Path) -> Ensemble:
    """Load and verify the model directory (raises ``PlatformError`` when it is broken)."""
    ensemble, _ = load_bundle(model_dir, n_threads=SERVING_THREADS)
    return ensemble


def input_fn(request_body: bytes, request_content_type: str | None) -> InputBatch:
    """Decode a request body by its Content-Type (415 for an unsupported one, 400 for bad rows)."""
    decode = decoder_for(request_content_type)
    if not request_body or not request_body.strip():
        raise UserError("The request body is empty; send one or more rows of features.")
    return decode(request_body)


def predict_fn(input_data: InputBatch, model: Ensemble) -> np.ndarray:
    """Put the rows in the model's feature order, check their width, and predict the blend."""
    return model.predict(feature_matrix(input_data, model.feature_names))


def output_fn(prediction: np.ndarray, accept: str) -> tuple[bytes, str]:
    """Encode predictions as ``accept`` (an already negotiated media type); returns body and Content-Type."""
    if accept not in ENCODERS:
        raise NotAcceptableError(f"Accept {accept!r} is not supported; ask for one of {', '.join(ENCODERS)}.")
    return ENCODERS[accept](prediction), accept


def feature_matrix(batch: InputBatch, feature_names: tuple[str, ...]) -> np.ndarray:
    """The float matrix in model order: rows are checked for width, records are matched by name."""
    expected = len(feature_names)
    if batch.values is not None:
        got = batch.values.shape[1]
        if got != expected:
            hint = " Rows must not include the label." if got == expected + 1 else ""
            raise UserError(f"Expected {expected} features per row, got {got}.{hint}")
        return batch.values
    records = batch.records or []
    index = {name: i for i, name in enumerate(feature_names)}
    values = np.full((len(records), expected), np.nan)
    for r, record in enumerate(records):
        unknown = sorted(set(record) - set(index))
        if unknown:
            raise UserError(f"Record {r + 1} has unknown features {unknown}; the model's features are {list(feature_names)}.")
        missing = [name for name in feature_names if name not in record]
        if missing:
            raise UserError(f"Record {r + 1} lacks features {missing}.")
        for name, value in record.items():
            values[r, index[name]] = value
    return values
