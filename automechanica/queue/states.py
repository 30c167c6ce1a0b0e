"""Task states and the transitions between them: the one definition of the state machine.

    (enqueue) --> pending --claim--> running --complete--> completed
                     ^                  |
                     |   fail (attempts left; backoff attempts^2 x TASK_RETRY_BASE_MS)
                     +------------------+
                     |   release (worker shutdown; not an attempt)
                     +------------------+
                     |   rescue (lease expired; counts as an attempt)
                     +------------------+
                                        |--fail (out of attempts / non-retryable)--> dead
                                        |--rescue (out of attempts)--> dead
    pending | dead | running --quarantine (operator)--> quarantined --release/requeue--> pending
    pending | running | quarantined --cancel (operator)--> cancelled
    dead | cancelled --requeue (operator)--> pending

Who moves a task out of each state:
- ``pending``: a worker's claim; an operator's quarantine or cancel.
- ``running``: the worker holding the lease (complete, fail, release); the lease rescuer once the
  lease expires; an operator's quarantine or cancel.
- ``dead`` / ``quarantined`` / ``cancelled``: only an operator (requeue / release).
- ``completed``: nobody; the pruner deletes it after ``TASK_RETENTION_DAYS``.

Every transition is one SQL statement guarded by the expected current state (and, for the lease
holder's transitions, by the lease owner and epoch) and writes one ``task_events`` row.
"""

from __future__ import annotations

from enum import StrEnum

from automechanica.errors import IllegalTransition


class TaskStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    DEAD = "dead"
    QUARANTINED = "quarantined"
    CANCELLED = "cancelled"


class Transition(StrEnum):
    ENQUEUE = "enqueue"
    CLAIM = "claim"
    COMPLETE = "complete"
    RETRY = "retry"
    DIE = "die"
    RELEASE = "release"
    RESCUE = "rescue"
    RESCUE_DEAD = "rescue_dead"
    QUARANTINE = "quarantine"
    CANCEL = "cancel"
    REQUEUE = "requeue"


S = TaskStatus

TRANSITIONS: dict[Transition, tuple[frozenset[TaskStatus | None], TaskStatus]] = {
    Transition.ENQUEUE: (frozenset({None}), S.PENDING),
    Transition.CLAIM: (frozenset({S.PENDING}), S.RUNNING),
    Transition.COMPLETE: (frozenset({S.RUNNING}), S.COMPLETED),
    Transition.RETRY: (frozenset({S.RUNNING}), S.PENDING),
    Transition.DIE: (frozenset({S.RUNNING}), S.DEAD),
    Transition.RELEASE: (frozenset({S.RUNNING}), S.PENDING),
    Transition.RESCUE: (frozenset({S.RUNNING}), S.PENDING),
    Transition.RESCUE_DEAD: (frozenset({S.RUNNING}), S.DEAD),
    Transition.QUARANTINE: (frozenset({S.PENDING, S.RUNNING, S.DEAD}), S.QUARANTINED),
    Transition.CANCEL: (frozenset({S.PENDING, S.RUNNING, S.QUARANTINED}), S.CANCELLED),
    Transition.REQUEUE: (frozenset({S.DEAD, S.QUARANTINED, S.CANCELLED}), S.PENDING),
}

TERMINAL = frozenset({S.COMPLETED, S.DEAD, S.CANCELLED})


def sources(transition: Transition) -> list[str]:
    """The states ``transition`` may start from, as SQL parameters."""
    return sorted(str(s) for s in TRANSITIONS[transition][0] if s is not None)


def target(transition: Transition) -> TaskStatus:
    return TRANSITIONS[transition][1]


def check(transition: Transition, current: TaskStatus | str | None) -> TaskStatus:
    """The state ``transition`` leads to from ``current``; raise ``IllegalTransition`` if none."""
    allowed, to = TRANSITIONS[transition]
    state = TaskStatus(current) if current is not None else None
    if state not in allowed:
        names = ", ".join(sorted(str(s) for s in allowed if s is not None)) or "(new)"
        raise IllegalTransition(
            f"cannot {transition.value} a task that is {current}; it must be one of: {names}"
        )
    return to


def retry_delay_ms(attempts: int, base_ms: int) -> int:
    """Backoff before the next try after ``attempts`` failed attempts: attempts^2 x base."""
    return attempts * attempts * base_ms
