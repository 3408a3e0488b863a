"""When to stop: a SIGTERM from SageMaker, and the ``time_limit`` budget of a job.

Both are asked between boosting rounds (through the adapters' ``should_stop``) and between units, so a
job stops within one boosting round of being asked.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType

logger = logging.getLogger(__name__)

SAVE_RESERVE_FRACTION = 0.05
"""Share of ``time_limit`` kept back for blending and writing the model and reports. What comes after the
units took 0.6 s of a 64 s limit on 2,344 rows (ames, the SHAP importance aside) and 4.1 s of a 60 s job on
200,000 rows (SHAP and the HTML report included; bench/RESULTS.md, "Training overhead"): 10% of the limit
left 5.8 s unused while the job dropped a fold it needed 0.5 s more for. The SHAP importance and the HTML
report use only time outside the reserve, and are skipped without it."""
SAVE_RESERVE_MIN_SECONDS = 0.25
"""Writing a small model takes well under this; a whole second was half of a 2 s budget, which cut every
unit of a job whose units needed 0.6 s."""
SAVE_SECONDS_PER_ROW = 10e-6
"""What saving needs grows with the rows (out-of-fold predictions blended and written): everything after the
units took 4.1 s at 200,000 rows and 10.9 s at 1,000,000, 8.5 microseconds a row more (train_overhead)."""
SAVE_RESERVE_MAX_SECONDS = 60.0


class StopRequest:
    """Set once, by a signal handler or a caller; read by the training loop and the boosting callbacks."""

    def __init__(self) -> None:
        self.reason: str | None = None

    @property
    def requested(self) -> bool:
        return self.reason is not None

    def request(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason

    def install_signal_handler(self, signum: int = signal.SIGTERM) -> None:
        """Turn ``signum`` (SIGTERM: StopTrainingJob, spot interruption, AMT early stopping) into a
        request."""

        def handle(received: int, frame: FrameType | None) -> None:
            name = signal.Signals(received).name
            logger.warning("%s received: stopping after the current boosting round.", name)
            self.request(name)

        signal.signal(signum, handle)


@dataclass
class TimeBudget:
    """A job's ``time_limit`` in seconds, counted from ``started``; ``None`` means no limit."""

    limit: float | None
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)
    rows: int = 0
    """The training rows, once read: the save reserve grows with them."""

    def __post_init__(self) -> None:
        self.started = self.clock()

    @property
    def reserve(self) -> float:
        """Seconds kept back for saving: a share of the limit, at least what the rows are expected to need,
        at most a minute and never more than half the limit."""
        if self.limit is None:
            return 0.0
        needed = SAVE_RESERVE_MIN_SECONDS + self.rows * SAVE_SECONDS_PER_ROW
        share = self.limit * SAVE_RESERVE_FRACTION
        return min(max(share, needed), SAVE_RESERVE_MAX_SECONDS, self.limit / 2)

    def left(self) -> float:
        """Seconds left of the whole limit (the save reserve included); infinite without a limit."""
        return float("inf") if self.limit is None else self.limit - self.elapsed()

    def elapsed(self) -> float:
        return self.clock() - self.started

    def remaining(self) -> float:
        """Seconds left for training units (the save reserve already taken off); infinite without a limit."""
        if self.limit is None:
            return float("inf")
        return self.limit - self.reserve - self.elapsed()

    def unit_deadline(self, units_left: int, later_seconds: float | None = None) -> float | None:
        """A clock value by which the next unit should end: what is left less what the units after it are
        expected to take (``later_seconds``), and never less than an even share of what is left."""
        if self.limit is None:
            return None
        left = max(self.remaining(), 0.0)
        share = left / max(units_left, 1)
        if later_seconds is not None:
            share = max(share, left - later_seconds)
        return self.clock() + share


def expected_seconds(
    finished: Sequence[tuple[str, float]], members: Sequence[str], member: str, folds_after: int, left: float
) -> float:
    """What the units after ``member``'s unit of this fold are expected to take: the members after it in
    this fold and every member in each fold after it, at each member's mean unit time so far (the mean of
    every finished unit for a member not yet seen). Before any unit has finished, the folds after this one
    are expected to take an even share of ``left`` each, so the first fold may spend its own share as its
    units need: an even share per unit would cut a slow library's units short while faster ones leave
    time unused."""
    if not finished:
        return max(left, 0.0) * folds_after / (folds_after + 1)
    overall = sum(seconds for _, seconds in finished) / len(finished)
    per_member = {}
    for name in members:
        own = [seconds for done, seconds in finished if done == name]
        per_member[name] = sum(own) / len(own) if own else overall
    this_fold = sum(per_member[name] for name in members[members.index(member) + 1:])
    return this_fold + folds_after * sum(per_member.values())


FOLD_START_SHARE = 0.8
"""A fold starts when at least this share of the time a fold has taken is left; its units' deadlines then
cut them to fit. On ames under a limit equal to the default's own fit time, every split dropped its last
fold with 89-97% of a fold's time left: a fold of units cut a little short keeps every row scored out of
fold and a fifth more fold models, where a dropped one loses both."""


def fold_starts(fold_seconds: float, left: float) -> bool:
    """Whether a fold that has been taking ``fold_seconds`` should start with ``left`` seconds left."""
    return fold_seconds * FOLD_START_SHARE <= left


class UnitGuard:
    """The ``should_stop`` handed to one unit's fit: a stop request, or the unit's deadline passing."""

    def __init__(
        self, stop: StopRequest, deadline: float | None, clock: Callable[[], float] = time.monotonic
    ):
        self.stop = stop
        self.deadline = deadline
        self.clock = clock
        self.hit_deadline = False

    def __call__(self) -> bool:
        if self.stop.requested:
            return True
        if self.deadline is not None and self.clock() >= self.deadline:
            self.hit_deadline = True
            return True
        return False
