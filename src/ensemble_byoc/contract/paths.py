"""The SageMaker /opt/ml layout, resolved once at an entry point and passed down."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ensemble_byoc.errors import PlatformError

BASE_DIR_VARIABLE = "SAGEMAKER_BASE_DIR"
"""The SageMaker training toolkit's own variable that relocates /opt/ml."""

DEFAULT_BASE_DIR = Path("/opt/ml")


@dataclass(frozen=True)
class SageMakerPaths:
    """Every path of the container contract, derived from one base directory."""

    base_dir: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> SageMakerPaths:
        """Use ``SAGEMAKER_BASE_DIR`` when it is set and not empty, else ``/opt/ml``."""
        base = environ.get(BASE_DIR_VARIABLE, "").strip()
        return cls(Path(base) if base else DEFAULT_BASE_DIR)

    @property
    def config_dir(self) -> Path:
        return self.base_dir / "input" / "config"

    @property
    def hyperparameters_file(self) -> Path:
        return self.config_dir / "hyperparameters.json"

    @property
    def input_data_config_file(self) -> Path:
        return self.config_dir / "inputdataconfig.json"

    @property
    def resource_config_file(self) -> Path:
        return self.config_dir / "resourceconfig.json"

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "input" / "data"

    def channel(self, name: str) -> Path:
        return self.data_dir / name

    @property
    def model_dir(self) -> Path:
        return self.base_dir / "model"

    @property
    def output_dir(self) -> Path:
        return self.base_dir / "output"

    @property
    def output_data_dir(self) -> Path:
        return self.output_dir / "data"

    @property
    def failure_file(self) -> Path:
        return self.output_dir / "failure"

    @property
    def checkpoint_dir(self) -> Path:
        return self.base_dir / "checkpoints"


def read_json_config(path: Path, *, default: Any) -> Any:
    """Read one of the ``input/config`` files; a missing file gives ``default``."""
    if not path.exists():
        return default
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        msg = f"{path.name} is not readable JSON: {exc}"
        raise PlatformError(msg) from exc


def is_multi_host(resource_config: Mapping[str, Any]) -> bool:
    """Whether ``resourceconfig.json`` describes a job of two or more hosts that names the current one."""
    return len(resource_config.get("hosts") or []) >= 2 and resource_config.get("current_host") is not None
