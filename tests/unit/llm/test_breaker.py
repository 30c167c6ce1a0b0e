from __future__ import annotations

from automechanica.llm import BreakerConfig, BreakerState, CircuitBreaker
from tests.unit.llm.fakes import FakeClock


def _breaker(clock: FakeClock, **config) -> CircuitBreaker:
    return CircuitBreaker("openai", BreakerConfig(**config), clock=clock, wall_clock=lambda: 0.0)


def _fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        assert breaker.try_acquire()
        breaker.record_failure()


def test_opens_after_threshold_consecutive_failures():
    breaker = _breaker(FakeClock(), failure_threshold=5)

    _fail(breaker, 4)
    assert breaker.state is BreakerState.CLOSED
    _fail(breaker, 1)

    assert breaker.state is BreakerState.OPEN
    assert breaker.try_acquire() is False


def test_a_success_resets_the_consecutive_count():
    breaker = _breaker(FakeClock(), failure_threshold=3)

    _fail(breaker, 2)
    breaker.record_success()
    _fail(breaker, 2)

    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 2


def test_half_open_after_cooldown_allows_exactly_one_trial():
    clock = FakeClock()
    breaker = _breaker(clock, failure_threshold=1, cooldown_s=30)
    _fail(breaker, 1)

    clock.advance(29.999)
    assert breaker.try_acquire() is False
    clock.advance(0.001)

    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.try_acquire() is True
    assert breaker.try_acquire() is False  # a second caller while the trial is in flight


def test_successful_trial_closes():
    clock = FakeClock()
    breaker = _breaker(clock, failure_threshold=1, cooldown_s=30)
    _fail(breaker, 1)
    clock.advance(30)

    assert breaker.try_acquire()
    breaker.record_success()

    assert breaker.state is BreakerState.CLOSED
    assert breaker.try_acquire() and breaker.try_acquire()


def test_failed_trial_reopens_and_restarts_the_cooldown():
    clock = FakeClock()
    breaker = _breaker(clock, failure_threshold=3, cooldown_s=30)
    _fail(breaker, 3)
    clock.advance(30)

    _fail(breaker, 1)  # one failed trial is enough, whatever the threshold

    assert breaker.state is BreakerState.OPEN
    clock.advance(29)
    assert breaker.state is BreakerState.OPEN
    clock.advance(1)
    assert breaker.state is BreakerState.HALF_OPEN


def test_released_trial_lets_the_next_caller_try():
    clock = FakeClock()
    breaker = _breaker(clock, failure_threshold=1, cooldown_s=1)
    _fail(breaker, 1)
    clock.advance(1)
    assert breaker.try_acquire()

    breaker.release()

    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.try_acquire() is True


def test_snapshot_reports_state_error_rate_and_open_time():
    clock = FakeClock()
    breaker = CircuitBreaker(
        "anthropic",
        BreakerConfig(failure_threshold=2, cooldown_s=30, window=4),
        clock=clock,
        wall_clock=lambda: 1_700_000_000.0,
    )
    assert breaker.snapshot()["recent_error_rate"] is None

    breaker.record_success()
    breaker.record_success()
    _fail(breaker, 2)
    clock.advance(10)
    snapshot = breaker.snapshot()

    assert snapshot["state"] == "open"
    assert snapshot["consecutive_failures"] == 2
    assert snapshot["recent_error_rate"] == 0.5
    assert snapshot["opened_at"] == "2023-11-14T22:13:20+00:00"
    assert snapshot["half_open_in_s"] == 20


def test_error_rate_covers_only_the_window():
    breaker = _breaker(FakeClock(), failure_threshold=100, window=4)

    _fail(breaker, 4)
    for _ in range(3):
        breaker.record_success()

    assert breaker.recent_error_rate() == 0.25
