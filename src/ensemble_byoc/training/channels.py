"""A job's channels: ``train``, joined by ``validation`` when that channel has data."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ensemble_byoc.contract.paths import SageMakerPaths
from ensemble_byoc.errors import UserError
from ensemble_byoc.training.config import TrainConfig
from ensemble_byoc.training.data import (
    Dataset,
    channel_format,
    check_input_mode,
    concat_datasets,
    list_data_files,
    load_channel,
)
from ensemble_byoc.training.runners import TrainingRows
from ensemble_byoc.training.scores import REGRESSION

logger = logging.getLogger("ensemble_byoc.training.job")  # every phase of the job logs as the job

TRAIN_CHANNEL = "train"
VALIDATION_CHANNEL = "validation"
HOLDOUT = "holdout"
"""The ``validation_mode`` that keeps the validation channel out of training to score the final model."""


def load_training_data(
    paths: SageMakerPaths, config: TrainConfig, input_data_config: Mapping[str, Any]
) -> Dataset:
    """The ``train`` channel, joined by the ``validation`` channel's rows when that channel has data.

    With k-fold cross-validation every row is held out once, so validation rows join the pool rather
    than being scored a second time; with ``validation_mode`` holdout they stay out (``train`` only).
    """
    for name in sorted(set(input_data_config) - {TRAIN_CHANNEL, VALIDATION_CHANNEL}):
        logger.warning("Channel %r is not used by this image; only 'train' and 'validation' are read.", name)
    for name in (TRAIN_CHANNEL, VALIDATION_CHANNEL):
        check_input_mode(input_data_config, name, paths.data_dir)
    train = read_channel(paths, config, input_data_config, TRAIN_CHANNEL)
    if config.validation_mode == HOLDOUT:
        return train  # the validation rows are read apart, to score the final ensemble
    declared = VALIDATION_CHANNEL in input_data_config
    if not declared and not has_data_files(paths.channel(VALIDATION_CHANNEL)):
        return train
    return join_channels(train, read_channel(paths, config, input_data_config, VALIDATION_CHANNEL))


def load_holdout_channel(
    paths: SageMakerPaths, config: TrainConfig, input_data_config: Mapping[str, Any]
) -> Dataset:
    """The ``validation`` channel's rows, which ``validation_mode`` holdout scores the final ensemble on."""
    check_input_mode(input_data_config, VALIDATION_CHANNEL, paths.data_dir)
    directory = paths.channel(VALIDATION_CHANNEL)
    if not has_data_files(directory):
        msg = (f"Hyperparameter 'validation_mode' == 'holdout' needs a 'validation' channel with data, but "
               f"there are no data files under {directory}; add the channel or leave validation_mode at "
               "'cv'.")
        raise UserError(msg)
    return read_channel(paths, config, input_data_config, VALIDATION_CHANNEL)


def read_channel(
    paths: SageMakerPaths, config: TrainConfig, input_data_config: Mapping[str, Any], name: str
) -> Dataset:
    """Channel ``name`` of ``paths`` in the format its configuration declares, with the job's label."""
    return load_channel(
        paths.channel(name),
        channel=name,
        file_format=channel_format(input_data_config, name),
        target=config.target,
        numeric_label=config.problem_type == REGRESSION,
        label_check=config.label_check,
    )


def has_data_files(directory: Path) -> bool:
    """Whether ``directory`` exists and holds at least one data file."""
    return directory.is_dir() and bool(list_data_files(directory))


def join_channels(train: Dataset, validation: Dataset) -> Dataset:
    """The training rows followed by the validation rows, which must have the same columns."""
    check_same_columns(train, validation)
    logger.info("Validation channel: %d rows join the %d training rows for cross-validation.",
                validation.n_rows, train.n_rows)
    return concat_datasets(train, validation)


def check_same_columns(train: TrainingRows, validation: Dataset) -> None:
    """Refuse validation rows whose label and feature columns are not the training rows'."""
    if validation.feature_names != train.feature_names or validation.target_name != train.target_name:
        msg = (
            f"Channels 'train' and 'validation' have different columns: "
            f"{[train.target_name, *train.feature_names]} vs "
            f"{[validation.target_name, *validation.feature_names]}."
        )
        raise UserError(msg)
