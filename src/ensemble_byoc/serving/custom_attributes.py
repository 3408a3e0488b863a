"""SageMaker's X-Amzn-SageMaker-Custom-Attributes header: which libraries' own predictions to add."""

from __future__ import annotations

from collections.abc import Sequence

from ensemble_byoc.errors import UserError

HEADER = "X-Amzn-SageMaker-Custom-Attributes"
"""SageMaker passes InvokeEndpoint's CustomAttributes in this header, and the one in the answer back."""


def requested_libraries(header: str | None, available: Sequence[str]) -> tuple[str, ...]:
    """The libraries named by ``models=`` among the header's ``;``-separated ``key=value`` pairs.

    ``models=all`` names every library of the model, ``models=catboost,xgboost`` some of them, and
    ``models=none`` or no ``models`` key none. Other keys belong to the caller and are ignored.

    Raises:
        UserError: ``models=`` names a library the model does not have.
    """
    if not header:
        return ()
    for pair in header.split(";"):
        key, _, value = pair.partition("=")
        if key.strip().lower() != "models":
            continue
        value = value.strip().lower()
        if value in ("all", "*"):
            return tuple(available)
        names = [name.strip() for name in value.split(",") if name.strip() and name.strip() != "none"]
        unknown = [name for name in names if name not in available]
        if unknown:
            raise UserError(
                f"{HEADER} asks for models {unknown}; this model has {list(available)} (or send models=all)."
            )
        return tuple(dict.fromkeys(names))
    return ()
