"""The model zoo: one adapter module per library, found by its file name ``<library>_model.py``.

Adding a library is adding one file that ends with ``SPEC = ModelSpec(...)``. Discovery reads file
names only; a library is imported the first time its spec is asked for.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from pathlib import Path
from tempfile import TemporaryDirectory

from ensemble_byoc.errors import UserError
from ensemble_byoc.models.base import Model, ModelSpec

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


def model_bytes(library: str, model: Model) -> bytes:
    """``model``'s file in its library's native format, as bytes (to send between hosts; never pickled)."""
    spec = load_spec(library)
    with TemporaryDirectory() as tmp:
        path = Path(tmp) / f"model{spec.file_suffix}"
        model.save(path)
        return path.read_bytes()


def model_from_bytes(library: str, blob: bytes, n_threads: int) -> Model:
    """The model whose native file ``model_bytes`` gave."""
    spec = load_spec(library)
    with TemporaryDirectory() as tmp:
        path = Path(tmp) / f"model{spec.file_suffix}"
        path.write_bytes(blob)
        return spec.load(path, n_threads)
