"""Reading training channels as SageMaker delivers them: CSV (with or without header) and Parquet."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ensemble_byoc.errors import UserError
from ensemble_byoc.training.data_checks import cell_text, check_cells, check_label_column
from ensemble_byoc.training.data_files import FilePart, read_file, separator_hint
from ensemble_byoc.training.data_size import check_fits_in_memory

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


@dataclass(frozen=True)
class Dataset:
    """Features as a float64 matrix, the label as a float64 vector, and the names of both."""

    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    target_name: str
    categories: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Categorical features (by name) and their levels; in ``X`` such a column holds the level's index
    as a float, NaN when missing."""

    @property
    def categorical_indices(self) -> tuple[int, ...]:
        return tuple(self.feature_names.index(name) for name in self.categories)

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    def digest(self) -> str:
        """A digest of the rows, the label and the column names: the same data gives the same digest."""
        digest = hashlib.sha256()
        digest.update(json.dumps([self.target_name, *self.feature_names]).encode())
        # The arrays' own buffers, read in place: hashing the features costs no copy of them.
        digest.update(np.ascontiguousarray(self.X).data.cast("B"))
        if self.y.dtype == object:  # text labels: their values (the array holds pointers to them)
            digest.update(json.dumps([str(label) for label in self.y]).encode())
        else:
            digest.update(np.ascontiguousarray(self.y).data.cast("B"))
        return digest.hexdigest()


def channel_format(input_data_config: Mapping[str, Any], channel: str) -> str | None:
    """The format a channel declares through ``ContentType``, or ``None`` when it declares none."""
    declared = input_data_config.get(channel, {}).get("ContentType")
    if declared is None or not str(declared).strip():
        return None
    media_type = str(declared).split(";", 1)[0].strip().lower()
    if media_type not in CONTENT_TYPES:
        accepted = ", ".join(sorted(k for k in CONTENT_TYPES if "/" in k))
        msg = f"Channel {channel!r}: ContentType {declared!r} is not supported; accepted: {accepted}."
        raise UserError(msg)
    return CONTENT_TYPES[media_type]


def check_input_mode(input_data_config: Mapping[str, Any], channel: str, data_dir: Path) -> None:
    """Refuse Pipe mode at once (its FIFOs would block a reader forever); File and FastFile are read."""
    mode = str(input_data_config.get(channel, {}).get("TrainingInputMode", "File"))
    fifo = data_dir / f"{channel}_0"
    if mode.lower() == "pipe" or (not (data_dir / channel).exists() and fifo.is_fifo()):
        msg = (
            f"Channel {channel!r} uses Pipe input mode, which this image does not read; "
            "set the channel's input mode to File or FastFile."
        )
        raise UserError(msg)


def list_data_files(directory: Path) -> list[Path]:
    """Every data file under ``directory``, recursively, sorted; dot files and ``_SUCCESS``-style markers
    skipped."""
    files = []
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory).parts
        if any(part.startswith((".", "_")) for part in relative):
            continue
        if path.is_file():
            files.append(path)
    return files


def load_channel(
    directory: Path, *, channel: str, file_format: str | None, target: str | None, numeric_label: bool = True,
    label_check: bool = True,
) -> Dataset:
    """Read every file of a channel into one ``Dataset``.

    With ``numeric_label`` the label must be a finite number in every row; without it (classification,
    or a problem type still to be inferred) it may be text, but never missing.

    Without ``target``, CSV files have no header and the label is the first column (the convention of
    SageMaker's built-in algorithms). With ``target``, CSV files have a header row and the label is the
    column of that name. Parquet files always carry names; the label is ``target`` or the first column.
    A label taken from the first column must not count the rows (a row id), unless ``label_check`` is off.
    """
    parts = _read_parts(directory, channel=channel, file_format=file_format, header=target is not None)
    columns = list(parts[0].frame.columns)
    target_name = _target_name(columns, target, channel)
    categorical = _categorical_columns(pd.concat([p.frame for p in parts], ignore_index=True), target_name)
    for part in parts:
        check_cells(part, target_name, numeric_label=numeric_label, label_first=target is None,
                    categorical=categorical)
    frame = pd.concat([p.frame for p in parts], ignore_index=True) if len(parts) > 1 else parts[0].frame
    if frame.shape[0] == 0:
        msg = f"Channel {channel!r} has no rows."
        raise UserError(msg)
    check_label_column(frame[target_name], channel=channel, label_first=target is None,
                       label_check=label_check)
    features = frame.drop(columns=[target_name])
    categories = _encode_text_columns(features, categorical)
    if categories:
        logger.info("Channel %r: categorical features %s.", channel,
                    ", ".join(f"{name} ({len(levels)} levels)" for name, levels in categories.items()))
    labels = frame[target_name]
    return Dataset(
        X=features.to_numpy(dtype=np.float64),
        y=labels.to_numpy(dtype=np.float64) if numeric_label else labels.to_numpy(),
        feature_names=tuple(str(c) for c in features.columns),
        target_name=str(target_name),
        categories=categories,
    )


def _read_parts(directory: Path, *, channel: str, file_format: str | None, header: bool) -> list[FilePart]:
    """Every file of the channel, read after checking it can fit in memory; all with the same columns."""
    if not directory.is_dir():
        msg = f"Channel {channel!r} is missing: no directory {directory}."
        raise UserError(msg)
    files = list_data_files(directory)
    if not files:
        msg = f"Channel {channel!r} is empty: no data files under {directory}."
        raise UserError(msg)
    parquet = [_is_parquet(path, file_format) for path in files]
    check_fits_in_memory(channel, files, parquet)
    parts = [read_file(path, is_parquet=is_parquet, header=header)
             for path, is_parquet in zip(files, parquet, strict=True)]
    columns = list(parts[0].frame.columns)
    if len(columns) < 2:
        hint = "" if parts[0].is_parquet else separator_hint(files[0])
        msg = f"Channel {channel!r} has {len(columns)} column; need a label and at least one feature.{hint}"
        raise UserError(msg)
    for part in parts:
        if list(part.frame.columns) != columns:
            msg = (f"Channel {channel!r}: {part.path.name} has {part.frame.shape[1]} columns "
                   f"{_names(part.frame.columns)}, but {files[0].name} has {len(columns)} {_names(columns)}.")
            raise UserError(msg)
    return parts


def _target_name(columns: list[Any], target: str | None, channel: str) -> str:
    if target is None:
        return str(columns[0])
    if target in columns:
        return target
    msg = (f"Hyperparameter 'target' == {target!r} names no column of channel {channel!r}; "
           f"its columns are {_names(columns)}.")
    raise UserError(msg)


def encode_categories(values: np.ndarray, levels: tuple[str, ...]) -> np.ndarray:
    """Category text to float codes (the level's index); missing and unseen values become NaN."""
    index = {level: float(i) for i, level in enumerate(levels)}
    return np.array([index.get(v, np.nan) if isinstance(v, str) else np.nan for v in values],
                    dtype=np.float64)


def concat_datasets(first: Dataset, second: Dataset) -> Dataset:
    """Rows of ``first`` then ``second`` (same columns); category levels are merged and codes remapped."""
    categories = merged_categories([first.categories, second.categories], first.feature_names)
    first, second = recode_categories(first, categories), recode_categories(second, categories)
    return Dataset(
        X=np.vstack([first.X, second.X]),
        y=np.concatenate([first.y, second.y]),
        feature_names=first.feature_names,
        target_name=first.target_name,
        categories=categories,
    )


def merged_categories(
    parts: Sequence[Mapping[str, Sequence[str]]], feature_names: Sequence[str]
) -> dict[str, tuple[str, ...]]:
    """Every categorical feature of ``parts`` (their ``categories``) with the sorted union of its levels,
    in the order of ``feature_names``."""
    names = {name for part in parts for name in part}
    return {name: tuple(sorted({level for part in parts for level in part.get(name, ())}))
            for name in sorted(names, key=list(feature_names).index)}


def recode_categories(data: Dataset, categories: Mapping[str, tuple[str, ...]]) -> Dataset:
    """``data`` with its category codes remapped to ``categories``' levels (a superset of its own).

    A feature that is categorical elsewhere but empty here stays missing; one that holds numbers here is
    a ``UserError``: the same column cannot be text in one part of the data and numbers in another.
    """
    X = data.X.copy()
    for name, levels in categories.items():
        column = data.feature_names.index(name)
        old = data.categories.get(name)
        if old is None:
            if np.isfinite(X[:, column]).any():
                msg = f"Feature {cell_text(name)} holds text in one part of the data and numbers in another."
                raise UserError(msg)
            continue
        index = {level: float(i) for i, level in enumerate(levels)}
        new_code = np.array([index[level] for level in old] + [np.nan], dtype=np.float64)
        codes = X[:, column]
        X[:, column] = new_code[np.where(np.isfinite(codes), codes, len(old)).astype(np.int64)]
    return Dataset(X=X, y=data.y, feature_names=data.feature_names, target_name=data.target_name,
                   categories=dict(categories))


def _encode_text_columns(features: pd.DataFrame, categorical: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Each text column of ``features`` replaced, in place, by its levels' codes; the levels by column."""
    categories = {}
    for column in categorical:
        text = features[column].map(lambda v: v if pd.isna(v) else str(v).strip()).replace("", np.nan)
        levels = tuple(sorted(text.dropna().unique()))
        categories[str(column)] = levels
        features[column] = encode_categories(text.to_numpy(dtype=object), levels)
    return categories


def _categorical_columns(frame: pd.DataFrame, target_name: str) -> tuple[str, ...]:
    """Feature columns of text: fewer than half of their non-empty values read as numbers.

    A column that is mostly numbers with a few words is a numeric column with bad cells, reported as such.
    """
    found = []
    for column in frame.columns:
        values = frame[column]
        if (column == target_name or pd.api.types.is_numeric_dtype(values)
                or pd.api.types.is_bool_dtype(values)):
            continue
        present = values.notna()
        if not present.any():
            continue
        numeric_share = pd.to_numeric(values[present], errors="coerce").notna().mean()
        if numeric_share < 0.5:
            found.append(column)
    return tuple(found)


def _names(columns: Any, limit: int = 8) -> str:
    """Column names for a message, each cut like a cell (a header-less file's first row gives the names)."""
    names = [cell_text(c)[1:-1] for c in columns]
    shown = ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")
    return f"[{shown}]"


def _is_parquet(path: Path, file_format: str | None) -> bool:
    return file_format == PARQUET or (file_format is None and path.name.lower().endswith(_PARQUET_SUFFIXES))
