"""The cap on explanations (``explain=shap``), checked once the rows are decoded, before any work."""

from __future__ import annotations

from ensemble_byoc.errors import TooManyRowsToExplainError
from ensemble_byoc.serving.settings import EXPLAIN_MAX_ROWS


def check_rows_to_explain(n_rows: int, max_rows: int) -> None:
    """Refuse (413) a request asking to explain more than ``max_rows`` rows, before anything is predicted."""
    if n_rows > max_rows:
        msg = (f"The request asks to explain {n_rows} rows; at most {max_rows} rows are explained per "
               f"request ({EXPLAIN_MAX_ROWS}). Split it into requests of at most {max_rows} rows, or send it "
               "without explain=shap.")
        raise TooManyRowsToExplainError(msg)
