"""The model zoo: one adapter module per library, found by its file name ``<library>_model.py``.

Adding a library is adding one file that ends with ``SPEC = ModelSpec(...)``. Discovery reads file
names only; a library is imported the first time its spec is asked for.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from ensemble_byoc.errors import UserError
from ensemble_byoc.models.base import ModelSpec

_SUFFIX = "_model"


@cache
def available_libraries() -> tuple[str, ...]:
    """Names of the libraries that have an adapter, sorted, without importing any of them."""
    names = [
        module.name[: -len(_SUFFIX)]
        for module in pkgutil.iter_modules(__path__)
        if module.name.endswith(_SUFFIX)
    ]
    return tuple(sorted(names))


def load_spec(library: str) -> ModelSpec:
    """Import the adapter of ``library`` and return its ``SPEC``."""
    if library not in available_libraries():
        msg = f"Unknown library {library!r}; the image has {', '.join(available_libraries())}."
        raise UserError(msg)
    module = importlib.import_module(f"{__name__}.{library}{_SUFFIX}")
    spec: ModelSpec = module.SPEC
    return spec
