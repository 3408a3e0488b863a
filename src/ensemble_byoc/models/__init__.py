"""The model zoo: one adapter module per library, found by its file name ``<library>_model.py``.

Adding a library is adding one file that ends with ``SPEC = ModelSpec(...)`` (its ``Model`` subclass built
from the helpers in ``base``). Discovery reads file names only; a library is imported the first time its
spec is asked for. An adapter that lives outside the package (a test's toy library) joins them for the
length of a ``registered(spec)`` block.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from tempfile import TemporaryDirectory

from ensemble_byoc.errors import UserError
from ensemble_byoc.models.base import Model, ModelSpec

_SUFFIX = "_model"
_LIBRARY_NAME = re.compile(r"[a-z][a-z0-9]*")
"""A registered library's name: it must not hold the ``-`` of member names (``xgboost-2``) nor the ``__``
of per-library hyperparameters (``xgboost__max_bin``)."""
_registered: dict[str, ModelSpec] = {}


@cache
def _packaged_libraries() -> tuple[str, ...]:
    names = [
        module.name[: -len(_SUFFIX)]
        for module in pkgutil.iter_modules(__path__)
        if module.name.endswith(_SUFFIX)
    ]
    return tuple(sorted(names))


def available_libraries() -> tuple[str, ...]:
    """Names of the libraries that have an adapter, sorted, without importing any of them."""
    return tuple(sorted({*_packaged_libraries(), *_registered}))


def load_spec(library: str) -> ModelSpec:
    """Import the adapter of ``library`` and return its ``SPEC``."""
    if library in _registered:
        return _registered[library]
    if library not in _packaged_libraries():
        msg = f"Unknown library {library!r}; the image has {', '.join(available_libraries())}."
        raise UserError(msg)
    module = importlib.import_module(f"{__name__}.{library}{_SUFFIX}")
    spec: ModelSpec = module.SPEC
    return spec


@contextmanager
def registered(spec: ModelSpec) -> Iterator[None]:
    """Within the block, ``spec``'s library is available like the packaged ones: the hyperparameters,
    the training job and the model directory accept it. It must not reuse a packaged library's name."""
    name = spec.name
    if not _LIBRARY_NAME.fullmatch(name) or name in available_libraries():
        msg = f"Cannot register library {name!r}: a new lower-case name of letters and digits is needed."
        raise ValueError(msg)
    _registered[name] = spec
    try:
        yield
    finally:
        del _registered[name]


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
