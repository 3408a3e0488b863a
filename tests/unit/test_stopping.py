"""The time budget and the stop request, on a fake clock."""

from __future__ import annotations

import asyncio
import os
import signal
from concurrent import futures

import pytest

from ensemble_byoc.contract.cpus import training_threads
from ensemble_byoc.errors import TrainingStoppedError
from ensemble_byoc.training.runners import wait_for_unit
from ensemble_byoc.training.stopping import StopRequest, TimeBudget, UnitGuard, expected_seconds, fold_starts


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_no_time_limit_never_stops_and_leaves_infinite_time() -> None:
    budget = TimeBudget(None, clock=FakeClock())
    assert budget.remaining() == float("inf")
    assert budget.unit_deadline(5) is None


def test_without_what_later_units_need_each_unit_gets_an_even_share_of_the_time_left() -> None:
    clock = FakeClock()
    budget = TimeBudget(100.0, clock=clock)
    assert budget.reserve == 5.0
    assert budget.unit_deadline(9) == pytest.approx(clock.now + 95.0 / 9)
    clock.now += 35.0
    assert budget.remaining() == pytest.approx(60.0)
    assert budget.unit_deadline(6) == pytest.approx(clock.now + 10.0)


def test_a_slow_librarys_unit_may_use_what_the_units_after_it_are_not_expected_to_need() -> None:
    """txhousing under a 21 s limit: CatBoost's units take ~2 s and the others' ~0.2 s; an even share per
    unit (1.5 s here) cut every CatBoost unit short although the whole plan fitted in the time."""
    clock = FakeClock()
    budget = TimeBudget(20.0, clock=clock)  # 19 s for units after the 1 s reserve
    finished = [("catboost", 2.0), ("lightgbm", 0.2), ("xgboost", 0.2)]  # fold 0 done
    later = expected_seconds(finished, ["catboost", "lightgbm", "xgboost"], "catboost", 3, budget.remaining())
    assert later == pytest.approx(0.4 + 3 * 2.4)
    assert budget.unit_deadline(12, later) == pytest.approx(clock.now + 19.0 - 7.6)
    assert budget.unit_deadline(12) == pytest.approx(clock.now + 19.0 / 12)  # the even share alone


def test_a_unit_never_gets_less_than_an_even_share_of_the_time_left() -> None:
    clock = FakeClock()
    budget = TimeBudget(20.0, clock=clock)
    assert budget.unit_deadline(12, later_seconds=100.0) == pytest.approx(clock.now + 19.0 / 12)


def test_before_any_unit_finished_the_first_fold_may_spend_its_own_share() -> None:
    assert expected_seconds([], ["catboost", "lightgbm"], "catboost", 4, 50.0) == pytest.approx(40.0)
    assert expected_seconds([], ["catboost", "lightgbm"], "lightgbm", 0, 50.0) == 0.0


def test_a_member_not_seen_yet_is_expected_to_take_the_mean_of_every_finished_unit() -> None:
    finished = [("catboost", 3.0), ("lightgbm", 1.0)]
    members = ["catboost", "lightgbm", "xgboost"]
    assert expected_seconds(finished, members, "lightgbm", 1, 9.0) == pytest.approx(2.0 + (3.0 + 1.0 + 2.0))


def test_save_reserve_is_capped_for_long_budgets_and_small_for_short_ones() -> None:
    assert TimeBudget(36_000.0, clock=FakeClock()).reserve == 60.0
    assert TimeBudget(2.0, clock=FakeClock()).reserve == 0.25


def test_save_reserve_is_a_twentieth_of_the_limit_for_the_rows_of_a_small_data_set() -> None:
    """ames under a 64 s limit: a tenth of it (6.4 s) kept back for a save that took 0.6 s, while the job
    dropped its last fold for want of 0.5 s."""
    budget = TimeBudget(64.0, clock=FakeClock())
    budget.rows = 2_344
    assert budget.reserve == pytest.approx(3.2)


def test_save_reserve_grows_with_the_rows_where_the_share_of_the_limit_would_be_too_little() -> None:
    budget = TimeBudget(60.0, clock=FakeClock())
    assert budget.reserve == pytest.approx(3.0)
    budget.rows = 1_000_000  # everything after the units took 10.9 s at this size
    assert budget.reserve == pytest.approx(0.25 + 10.0)
    assert budget.remaining() == pytest.approx(60.0 - 10.25)


def test_unit_guard_stops_at_its_deadline_and_says_so() -> None:
    clock = FakeClock()
    guard = UnitGuard(StopRequest(), deadline=clock.now + 5, clock=clock)
    assert guard() is False
    clock.now += 5
    assert guard() is True
    assert guard.hit_deadline


def test_unit_guard_stops_on_a_stop_request_without_claiming_the_deadline() -> None:
    stop = StopRequest()
    guard = UnitGuard(stop, deadline=None, clock=FakeClock())
    stop.request("SIGTERM")
    assert guard() is True
    assert not guard.hit_deadline


def test_first_reason_to_stop_is_kept() -> None:
    stop = StopRequest()
    stop.request("SIGTERM")
    stop.request("other")
    assert stop.reason == "SIGTERM"


def test_sigterm_becomes_a_stop_request_once_the_handler_is_installed() -> None:
    previous = signal.getsignal(signal.SIGTERM)
    stop = StopRequest()
    try:
        stop.install_signal_handler()
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested
        assert stop.reason == "SIGTERM"
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize(("rows", "cpus", "threads"),
                         [(442, 8, 1), (19_999, 2, 1), (20_000, 2, 2), (1_000_000, 8, 8)])
def test_small_data_trains_on_fewer_threads_than_cores(rows: int, cpus: int, threads: int) -> None:
    assert training_threads(rows, cpus) == threads


@pytest.mark.parametrize(("left", "starts"), [(17.2, True), (16.7, True), (13.8, True), (13.7, False)])
def test_a_fold_starts_with_most_of_its_time_left_and_its_units_are_cut_to_fit(left: float,
                                                                               starts: bool) -> None:
    """ames, a fold of 17.2 s: with 16.7 s left it was dropped, though its units could be cut by 3%."""
    assert fold_starts(17.2, left) is starts


class SlowUnit:
    """A unit's result that is not ready for its first ``late`` asks, each raising ``timeout``."""

    def __init__(self, late: int, timeout: type[BaseException]) -> None:
        self.asks: list[float | None] = []
        self.late = late
        self.timeout = timeout

    def result(self, timeout: float | None = None) -> str:
        self.asks.append(timeout)
        if len(self.asks) <= self.late:
            raise self.timeout
        return "outcome"

    def done(self) -> bool:
        return len(self.asks) > self.late


class FailedUnit:
    """A unit that has ended with ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def result(self, timeout: float | None = None) -> str:
        raise self.error

    def done(self) -> bool:
        return True


@pytest.mark.parametrize("timeout", [TimeoutError, futures.TimeoutError, asyncio.TimeoutError])
def test_waiting_for_a_unit_asks_again_after_each_timeout_and_checks_between_the_asks(
        timeout: type[BaseException]) -> None:
    checks: list[int] = []
    result = SlowUnit(late=3, timeout=timeout)
    assert wait_for_unit(result, StopRequest(), check=lambda: checks.append(1)) == "outcome"
    assert len(result.asks) == 4
    assert all(ask is not None and ask > 0 for ask in result.asks)
    assert len(checks) == 3


def test_waiting_for_a_unit_ends_at_a_stop_request_naming_its_reason() -> None:
    stop = StopRequest()
    result = SlowUnit(late=100, timeout=TimeoutError)

    def sigterm_after_the_second_ask() -> None:
        if len(result.asks) == 2:
            stop.request("SIGTERM")

    with pytest.raises(TrainingStoppedError, match="stopped by SIGTERM"):
        wait_for_unit(result, stop, check=sigterm_after_the_second_ask)
    assert len(result.asks) == 2


def test_waiting_for_a_unit_passes_on_the_units_own_failure_and_a_failed_host_check() -> None:
    checks: list[int] = []
    with pytest.raises(ValueError, match="unit failed"):
        wait_for_unit(FailedUnit(ValueError("unit failed")), StopRequest(), check=lambda: checks.append(1))
    assert checks == [1]  # the hosts are checked before the unit's failure is passed on

    def host_lost() -> None:
        raise RuntimeError("host algo-2 left")

    with pytest.raises(RuntimeError, match="algo-2"):
        wait_for_unit(SlowUnit(late=1, timeout=TimeoutError), StopRequest(), check=host_lost)


class FinishedAsThePollRanOut:
    """A unit that ends while the first ask waits (so that ask runs out and ``done()`` is then true) and
    whose result takes ``fetch`` seconds to arrive from its host (Dask's ``result(timeout)`` includes it)."""

    def __init__(self, fetch: float) -> None:
        self.asks: list[float | None] = []
        self.fetch = fetch

    def result(self, timeout: float | None = None) -> str:
        self.asks.append(timeout)
        if len(self.asks) == 1 or (timeout is not None and timeout < self.fetch):
            raise TimeoutError
        return "outcome"

    def done(self) -> bool:
        return bool(self.asks)


@pytest.mark.parametrize("fetch", [0.0, 1.0])
def test_a_unit_that_finishes_as_a_poll_runs_out_gives_its_result_not_the_polls_timeout(fetch: float) -> None:
    """CI, a two-host job: a CatBoost unit ended 0.5 s in, as the first ask ran out, and the job failed
    with that ask's TimeoutError."""
    unit = FinishedAsThePollRanOut(fetch)
    assert wait_for_unit(unit, StopRequest()) == "outcome"
    assert len(unit.asks) == 2


def test_a_unit_that_failed_with_a_timeout_error_of_its_own_fails_the_wait_at_once() -> None:
    unit = FailedUnit(TimeoutError("LightGBM's network timed out"))

    with pytest.raises(TimeoutError, match="network timed out"):
        wait_for_unit(unit, StopRequest())
