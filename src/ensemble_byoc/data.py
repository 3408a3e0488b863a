"""Reading training channels as SageMaker delivers them: CSV (with or without header) and Parquet."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ensemble_byoc.errors import PlatformError, UserError

logger = logging.getLogger(__name__)

CSV = "text/csv"
PARQUET = "application/x-parquet"
CONTENT_TYPES: Mapping[str, str] = {
    "text/csv": CSV,
    "csv": CSV,
    "application/x-parquet": PARQUET,
    "application/parquet": PARQUET,
    "application/vnd.apache.parquet": PARQUET,
    "parquet": PARQUET,
}
"""Accepted channel content types (parameters such as ``; charset=utf-8`` are allowed) and their format."""

_PARQUET_SUFFIXES = (".parquet", ".pq")
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class Dataset:
    """Features as a float64 matrix, the label as a float64 vector, and the names of both."""

    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    target_name: str

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])


def read_json_config(path: Path, *, default: Any) -> Any:
    """Read one of the ``input/config`` files; a missing file gives ``default``."""
    if not path.exists():
        return default
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PlatformError(f"{path.name} is not readable JSON: {exc}") from exc


def channel_format(input_data_config: Mapping[str, Any], channel: str) -> str | None:
    """The format a channel declares through ``ContentType``, or ``None`` when it declares none."""
    declared = input_data_config.get(channel, {}).get("ContentType")
    if declared is None or not str(declared).strip():
        return None
    media_type = str(declared).split(";", 1)[0].strip().lower()
    if media_type not in CONTENT_TYPES:
        accepted = ", ".join(sorted(k for k in CONTENT_TYPES if "/" in k))
        raise UserError(
            f"Channel {channel!r}: ContentType {declared!r} is not supported; accepted: {accepted}."
        )
    return CONTENT_TYPES[media_type]


def list_data_files(directory: Path) -> list[Path]:
    """Every data file under ``directory``, recursively, sorted; dot files and ``_SUCCESS``-style markers skipped."""
    files = []
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory).parts
        if any(part.startswith((".", "_")) for part in relative):
            continue
        if path.is_file():
            files.append(path)
    return files


def load_channel(directory: Path, *, channel: str, file_format: str | None, target: str | None) -> Dataset:
    """Read every file of a channel into one ``Dataset``.

    Without ``target``, CSV files have no header and the label is the first column (the convention of
    SageMaker's built-in algorithms). With ``target``, CSV files have a header row and the label is the
    column of that name. Parquet files always carry names; the label is ``target`` or the first column.
    """
    if not directory.is_dir():
        raise UserError(f"Channel {channel!r} is missing: no directory {directory}.")
    files = list_data_files(directory)
    if not files:
        raise UserError(f"Channel {channel!r} is empty: no data files under {directory}.")
    frames = [_read_file(path, file_format=file_format, header=target is not None) for path in files]
    columns = list(frames[0].columns)
    for path, frame in zip(files[1:], frames[1:]):
        if list(frame.columns) != columns:
            raise UserError(
                f"Channel {channel!r}: {path.name} has {frame.shape[1]} columns {_names(frame.columns)}, "
                f"but {files[0].name} has {len(columns)} {_names(columns)}."
            )
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if frame.shape[0] == 0:
        raise UserError(f"Channel {channel!r} has no rows.")
    if frame.shape[1] < 2:
        raise UserError(f"Channel {channel!r} has {frame.shape[1]} column; need a label and at least one feature.")
    if target is None:
        target_name = str(columns[0])
    elif target in frame.columns:
        target_name = target
    else:
        raise UserError(
            f"Hyperparameter 'target' == {target!r} names no column of channel {channel!r}; "
            f"its columns are {_names(columns)}."
        )
    _check_numeric(frame, files, frames, header=target is not None)
    y = frame[target_name].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(y)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise UserError(
            f"Channel {channel!r}: the label {target_name!r} is {y[row]} in row {row + 1}; labels must be finite numbers."
        )
    features = frame.drop(columns=[target_name])
    return Dataset(
        X=features.to_numpy(dtype=np.float64),
        y=y,
        feature_names=tuple(str(c) for c in features.columns),
        target_name=str(target_name),
    )


def _read_file(path: Path, *, file_format: str | None, header: bool) -> pd.DataFrame:
    is_parquet = file_format == PARQUET or (file_format is None and path.name.lower().endswith(_PARQUET_SUFFIXES))
    try:
        if is_parquet:
            return pd.read_parquet(path)
        with path.open("rb") as handle:
            compression = "gzip" if handle.read(2) == _GZIP_MAGIC else None
        frame = pd.read_csv(path, header=0 if header else None, compression=compression, skip_blank_lines=True)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        kind = "Parquet" if is_parquet else "CSV"
        raise UserError(f"{path.name} is not readable {kind}: {str(exc).strip().splitlines()[0]}") from exc
    if not header:
        frame.columns = [f"f{i - 1}" if i else "label" for i in range(frame.shape[1])]
    return frame


def _check_numeric(frame: pd.DataFrame, files: list[Path], frames: list[pd.DataFrame], *, header: bool) -> None:
    for column in frame.columns:
        if pd.api.types.is_numeric_dtype(frame[column]):
            continue
        for path, part in zip(files, frames):
            values = part[column]
            numeric = pd.to_numeric(values, errors="coerce")
            bad = numeric.isna() & values.notna()
            if bad.any():
                index = int(np.flatnonzero(bad.to_numpy())[0])
                line = index + 1 + (1 if header else 0)
                hint = (
                    " It looks like a header row: set the hyperparameter 'target' to the label column's name."
                    if not header and index == 0
                    else ""
                )
                raise UserError(
                    f"{path.name}, line {line}: column {column!r} holds {values.iloc[index]!r}, "
                    f"which is not a number.{hint}"
                )


def _names(columns: Any, limit: int = 8) -> str:
    names = [str(c) for c in columns]
    shown = ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")
    return f"[{shown}]"
