"""The one exception module of the package.

Every error carries the HTTP status a serving client sees and the kind of failure a training job reports::

    EnsembleError(Exception)           500   base; the message is safe to show a caller
    ├── UserError                      400   bad hyperparameter, channel, file or payload; the user can fix it
    │   ├── UnsupportedMediaTypeError  415
    │   ├── NotAcceptableError         406
    │   ├── PayloadTooLargeError       413
    │   ├── TooManyRowsToExplainError  413   more rows asked to be explained than the cap
    │   ├── ModelNotFoundError         404   multi-model: no model of that name is loaded
    │   ├── ModelAlreadyLoadedError    409   multi-model: the name is taken
    │   └── ModelLoadError             400   multi-model: the directory is missing or fails its checks
    ├── PlatformError                  503   the /opt/ml layout or the model directory is missing or broken
    ├── InsufficientMemoryError        507   multi-model: loading would pass the memory budget
    ├── TrainingStoppedError           503   a training job asked to stop (SIGTERM) before it finished
    └── AlgorithmError                 500   our bug or a library crash; always raised ``from`` the cause
        └── NotFittedError             500   a model used before ``fit``
"""

from __future__ import annotations


class EnsembleError(Exception):
    """Base of every error this package raises on purpose."""

    status_code = 500
    kind = "AlgorithmError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UserError(EnsembleError):
    """A failure the user can prevent: a hyperparameter, a channel, a file or a request is wrong."""

    status_code = 400
    kind = "UserError"


class UnsupportedMediaTypeError(UserError):
    status_code = 415


class NotAcceptableError(UserError):
    status_code = 406


class PayloadTooLargeError(UserError):
    status_code = 413


class TooManyRowsToExplainError(UserError):
    """A request asks to explain more rows than ``ENSEMBLE_BYOC_EXPLAIN_MAX_ROWS`` allows."""

    status_code = 413


class ModelNotFoundError(UserError):
    """A multi-model endpoint was asked for a model it has not loaded."""

    status_code = 404


class ModelAlreadyLoadedError(UserError):
    """A multi-model endpoint was asked to load a name it already holds."""

    status_code = 409


class ModelLoadError(UserError):
    """A model directory to load is missing, or fails its manifest, checksum or library checks."""


class PlatformError(EnsembleError):
    """The environment is not as the container contract says (missing /opt/ml layout, broken model)."""

    status_code = 503
    kind = "PlatformError"


class TrainingStoppedError(EnsembleError):
    """SageMaker asked the job to stop (StopTrainingJob, spot interruption, AMT early stopping)."""

    status_code = 503
    kind = "TrainingStopped"


class AlgorithmError(EnsembleError):
    """An unexpected failure inside training or prediction."""

    status_code = 500
    kind = "AlgorithmError"


class InsufficientMemoryError(EnsembleError):
    """Loading a model would pass the multi-model memory budget; SageMaker unloads a model and tries again."""

    status_code = 507
    kind = "PlatformError"


class NotFittedError(AlgorithmError):
    """A model was asked to predict or save before it was fitted."""


def short(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (its type's name when it has none), cut to ``limit``
    characters: what a library said, fit for a one-line error."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for a message that quotes what it was given."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
