"""Multi-model serving in one worker: the budget, the size of a model, and the models this worker holds.

Every worker keeps its own copy of the models it has served (``WorkerModels``), loaded lazily from the
shared ``ModelRegistry`` on a model's first request to that worker, and dropped once the registry no
longer lists it (or lists a newer load of the same name).
"""

from __future__ import annotations

import logging
import math
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ensemble_byoc.contract.memory import memory_limit
from ensemble_byoc.errors import EnsembleError, ModelLoadError, PlatformError
from ensemble_byoc.serving.classification import check_outputs
from ensemble_byoc.serving.handlers import model_fn
from ensemble_byoc.serving.model_registry import Entry, ModelRegistry
from ensemble_byoc.serving.routes import ModelRoutes, WsgiApp
from ensemble_byoc.serving.settings import ServeSettings

logger = logging.getLogger(__name__)

MEMORY_BUDGET = "ENSEMBLE_BYOC_MODELS_MEMORY_MB"
DEFAULT_BUDGET_FRACTION = 0.6
"""Without ``MEMORY_BUDGET``, the models may take this share of the memory the server may use."""
MEMORY_FACTOR = 4
"""A loaded model takes about this many times its files' bytes in each worker (measured: 2 to 3.6 times,
after the libraries' own one-time start-up memory; see docs/serving.md)."""
_MIB = 1024 * 1024


@dataclass(frozen=True)
class MultiModelSettings:
    budget_bytes: int
    budget_source: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> MultiModelSettings:
        raw = environ.get(MEMORY_BUDGET, "").strip()
        if not raw:
            limit = memory_limit()
            return cls(int(limit.bytes * DEFAULT_BUDGET_FRACTION),
                       f"{DEFAULT_BUDGET_FRACTION:.0%} of {limit.source}")
        try:
            mib = float(raw)
        except ValueError:
            mib = -1.0
        if not (mib > 0 and math.isfinite(mib)):
            msg = f"{MEMORY_BUDGET} == {raw!r}, must be a number of MiB above 0."
            raise PlatformError(msg)
        return cls(int(mib * _MIB), MEMORY_BUDGET)


def estimated_bytes(model_dir: Path) -> int:
    """The memory a model is counted for in each worker: its files' bytes times ``MEMORY_FACTOR``. Only
    the model directory's own top level and its library folders are counted, never a whole tree a wrong
    ``url`` may point at (a directory without ``manifest.json`` is refused before this)."""
    files = [path for path in model_dir.iterdir() if path.is_file()]
    files += [path for folder in model_dir.iterdir() if folder.is_dir() for path in folder.iterdir()
              if path.is_file()]
    return MEMORY_FACTOR * sum(path.stat().st_size for path in files)


def resident_bytes() -> int:
    """This process's resident memory (Linux ``/proc/self/statm``; 0 where there is none)."""
    try:
        pages = int(Path("/proc/self/statm").read_text(encoding="ascii").split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def check_directory(name: str, url: str) -> Path:
    path = Path(url)
    if not path.is_dir():
        msg = f"Model {name!r}: url {url!r} is not a directory; give the directory of the extracted model."
        raise ModelLoadError(msg)
    if not (path / "manifest.json").is_file():
        msg = (f"Model {name!r}: url {url!r} holds no manifest.json; give the directory of a model this "
               "image trained (model.tar.gz extracted).")
        raise ModelLoadError(msg)
    return path


class WorkerModels:
    """The models this worker holds, each as the ``ModelRoutes`` that answers its invocations."""

    def __init__(self, app: WsgiApp, registry: ModelRegistry, settings: ServeSettings) -> None:
        self.app = app
        self.registry = registry
        self.settings = settings
        self.held: dict[str, tuple[str, ModelRoutes]] = {}

    def load(self, name: str, url: str) -> tuple[Entry, ModelRoutes]:
        """Load and verify ``url`` in this worker, with the memory it took; not registered yet."""
        path = check_directory(name, url)
        before = resident_bytes()
        routes = self._routes(name, path)
        entry = Entry(name=name, url=url, memory_bytes=estimated_bytes(path),
                      measured_bytes=max(0, resident_bytes() - before), token=uuid.uuid4().hex)
        return entry, routes

    def keep(self, entry: Entry, routes: ModelRoutes) -> None:
        self.held[entry.name] = (entry.token, routes)

    def routes_for(self, name: str) -> ModelRoutes:
        """The model registered as ``name`` (404 if none), loaded in this worker on its first request."""
        entry = self.registry.get(name)
        held = self.held.get(name)
        if held is not None and held[0] == entry.token:
            return held[1]
        routes = self._routes(name, check_directory(name, entry.url))
        self.keep(entry, routes)
        logger.info("Model %r loaded in this worker from %s.", name, entry.url)
        return routes

    def drop_unregistered(self) -> None:
        """Forget the models the registry no longer lists, or lists from a newer load."""
        entries = self.registry.entries()
        for name, (token, _) in list(self.held.items()):
            entry = entries.get(name)
            if entry is None or entry.token != token:
                del self.held[name]
                logger.info("Model %r dropped by this worker (unloaded).", name)

    def _routes(self, name: str, path: Path) -> ModelRoutes:
        try:
            model = model_fn(path, n_threads=self.settings.library_threads)
            check_outputs(self.settings.inference_output, model.problem_type)
        except EnsembleError as exc:
            msg = f"Model {name!r} in {path} cannot be loaded: {exc}"
            raise ModelLoadError(msg) from exc
        return ModelRoutes(self.app, model, self.settings)


def describe(entry: Entry) -> dict[str, Any]:
    """A model as the list and describe answers give it (the contract's two names, then ours)."""
    return {"modelName": entry.name, "modelUrl": entry.url, "memoryBytes": entry.memory_bytes,
            "measuredBytes": entry.measured_bytes}
