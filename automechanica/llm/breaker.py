"""A circuit breaker per provider, so a failing provider is skipped instead of waited on.

    closed --(failure_threshold consecutive failures)--> open
    open --(cooldown_s elapsed on the clock)--> half_open
    half_open --(the one trial call succeeds)--> closed
    half_open --(the trial call fails)--> open (the cool-down starts again)

``closed`` lets every call through. ``open`` lets none through: the router moves on to the next
provider in the chain without making a request. ``half_open`` lets exactly one trial call
through at a time; concurrent callers see it as open. The router is the only component that
records outcomes; reading ``state`` moves an open breaker to half-open once the cool-down has
passed. Every transition logs one ``llm_breaker_transition`` line.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from automechanica.logs import get_logger

log = get_logger("automechanica.llm")

Clock = Callable[[], float]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerConfig:
    failure_threshold: int = 5
    cooldown_s: float = 30.0
    window: int = 20
    """How many recent calls ``recent_error_rate`` is computed over."""


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        config: BreakerConfig | None = None,
        *,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
    ) -> None:
        self.name = name
        self.config = config or BreakerConfig()
        self._clock = clock
        self._wall_clock = wall_clock
        self._state = BreakerState.CLOSED
        self._consecutive_failures = 0
        self._opened_at: float | None = None  # on ``clock``, for the cool-down
        self._opened_at_wall: float | None = None  # for people
        self._trial_in_flight = False
        self._recent: deque[bool] = deque(maxlen=self.config.window)  # True = failed

    @property
    def state(self) -> BreakerState:
        if (
            self._state is BreakerState.OPEN
            and self._opened_at is not None
            and self._clock() - self._opened_at >= self.config.cooldown_s
        ):
            self._move(BreakerState.HALF_OPEN)
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._consecutive_failures

    def try_acquire(self) -> bool:
        """May a call go to this provider now? In half-open, True once, for the trial call."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        self._recent.append(False)
        self._consecutive_failures = 0
        self._trial_in_flight = False
        if self._state is not BreakerState.CLOSED:
            self._move(BreakerState.CLOSED)

    def record_failure(self) -> None:
        self._recent.append(True)
        self._consecutive_failures += 1
        was_trial = self._trial_in_flight
        self._trial_in_flight = False
        if was_trial or (
            self._state is BreakerState.CLOSED
            and self._consecutive_failures >= self.config.failure_threshold
        ):
            self._move(BreakerState.OPEN)

    def release(self) -> None:
        """Give back a granted call that ended without an outcome (the caller was cancelled)."""
        self._trial_in_flight = False

    def recent_error_rate(self) -> float | None:
        """Failed share of the last ``window`` calls; None before the first call."""
        if not self._recent:
            return None
        return round(sum(self._recent) / len(self._recent), 3)

    def snapshot(self) -> dict[str, Any]:
        state = self.state
        retry_in_s = None
        if state is BreakerState.OPEN and self._opened_at is not None:
            retry_in_s = round(self.config.cooldown_s - (self._clock() - self._opened_at), 3)
        opened_at = None
        if state is not BreakerState.CLOSED and self._opened_at_wall is not None:
            opened_at = datetime.fromtimestamp(self._opened_at_wall, UTC).isoformat()
        return {
            "state": state.value,
            "consecutive_failures": self._consecutive_failures,
            "recent_error_rate": self.recent_error_rate(),
            "recent_calls": len(self._recent),
            "opened_at": opened_at,
            "half_open_in_s": retry_in_s,
        }

    def _move(self, to: BreakerState) -> None:
        before = self._state
        self._state = to
        if to is BreakerState.OPEN:
            self._opened_at = self._clock()
            self._opened_at_wall = self._wall_clock()
        elif to is BreakerState.CLOSED:
            self._opened_at = None
            self._opened_at_wall = None
        event = log.warning if to is BreakerState.OPEN else log.info
        event(
            "llm_breaker_transition",
            provider=self.name,
            from_state=before.value,
            to_state=to.value,
            consecutive_failures=self._consecutive_failures,
            cooldown_s=self.config.cooldown_s,
        )
