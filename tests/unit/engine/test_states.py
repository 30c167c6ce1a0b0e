"""The state machine's table: ``check`` agrees with ``TRANSITIONS`` for every pair."""

from __future__ import annotations

import pytest

from automechanica.errors import IllegalTransition
from automechanica.queue import states
from automechanica.queue.states import TRANSITIONS, TaskStatus, Transition

PAIRS = [(t, s) for t in Transition for s in [None, *TaskStatus]]


@pytest.mark.parametrize(("transition", "current"), PAIRS, ids=[f"{t}-{s}" for t, s in PAIRS])
def test_check_allows_exactly_the_listed_sources(
    transition: Transition, current: TaskStatus | None
) -> None:
    sources, target = TRANSITIONS[transition]
    if current in sources:
        assert states.check(transition, current) is target
    else:
        with pytest.raises(IllegalTransition) as raised:
            states.check(transition, current)
        allowed = ", ".join(sorted(str(s) for s in sources if s is not None)) or "(new)"
        assert raised.value.message.endswith(f"it must be one of: {allowed}")


def test_completed_is_final_and_only_operators_leave_dead_and_cancelled() -> None:
    leaving = {
        state: {t for t, (sources, _) in TRANSITIONS.items() if state in sources}
        for state in TaskStatus
    }
    assert leaving[TaskStatus.COMPLETED] == set()
    assert leaving[TaskStatus.DEAD] == {Transition.QUARANTINE, Transition.REQUEUE}
    assert leaving[TaskStatus.CANCELLED] == {Transition.REQUEUE}


def test_sources_are_sql_ready_names() -> None:
    assert states.sources(Transition.CANCEL) == ["pending", "quarantined", "running"]
    assert states.sources(Transition.ENQUEUE) == []


@pytest.mark.parametrize(("attempts", "expected"), [(1, 250), (2, 1000), (3, 2250), (10, 25000)])
def test_retry_delay_is_attempts_squared_times_base(attempts: int, expected: int) -> None:
    assert states.retry_delay_ms(attempts, 250) == expected
