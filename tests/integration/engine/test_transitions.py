"""The task state machine through the real SQL: every legal transition in ``TRANSITIONS`` moves
the task and writes exactly one ``task_events`` row; illegal ones change nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from automechanica.db.pool import Database
from automechanica.errors import IllegalTransition, NotFound
from automechanica.queue import tasks
from automechanica.queue.states import TRANSITIONS, TaskStatus, Transition
from automechanica.queue.tasks import Finished, NewTask
from tests.integration.engine.harness import T0, fetch

OWNER = "worker-a"
OPERATOR = "operator:alice"
LATER = T0 + timedelta(hours=1)  # long after any lease taken at T0 expired
# BUG (see test_operator_transitions_work_without_an_until_time): every operator transition
# fails unless ``until`` is a datetime, so the matrix passes one to reach the state machine.
UNTIL = T0 + timedelta(days=1)

ACTORS = {
    Transition.ENQUEUE: "producer",
    Transition.CLAIM: OWNER,
    Transition.COMPLETE: OWNER,
    Transition.RETRY: OWNER,
    Transition.DIE: OWNER,
    Transition.RELEASE: OWNER,
    Transition.RESCUE: "system:rescuer",
    Transition.RESCUE_DEAD: "system:rescuer",
    Transition.QUARANTINE: OPERATOR,
    Transition.CANCEL: OPERATOR,
    Transition.REQUEUE: OPERATOR,
}
OPERATOR_TRANSITIONS = (Transition.QUARANTINE, Transition.CANCEL, Transition.REQUEUE)


async def _epoch(conn: Any, task_id: UUID) -> int:
    return int((await tasks.get(conn, task_id))["lease_epoch"])


async def _claim(conn: Any, task_id: UUID) -> None:
    claimed = await tasks.claim(conn, owner=OWNER, limit=1, lease_ms=1000, now=T0)
    assert [c.id for c in claimed] == [task_id]


async def _finish(conn: Any, task_id: UUID, *, retryable: bool) -> None:
    error = {"type": "ValueError", "message": "no"}
    finished = [Finished(task_id, await _epoch(conn, task_id), error=error, retryable=retryable)]
    assert await tasks.fail_many(conn, OWNER, finished, retry_base_ms=1000, now=T0)


async def _operator(conn: Any, task_id: UUID, transition: Transition) -> None:
    await tasks.apply_operator_transition(
        conn, task_id, transition, actor=OPERATOR, until=UNTIL, now=T0
    )


async def put_in_state(conn: Any, state: TaskStatus, *, max_attempts: int = 3) -> UUID:
    """A new task brought to ``state`` through the real transitions."""
    task_id = await tasks.enqueue_one(
        conn, NewTask("probe", "probe", {"n": 1}, max_attempts=max_attempts), now=T0
    )
    if state is TaskStatus.PENDING:
        return task_id
    if state is TaskStatus.QUARANTINED:
        await _operator(conn, task_id, Transition.QUARANTINE)
        return task_id
    if state is TaskStatus.CANCELLED:
        await _operator(conn, task_id, Transition.CANCEL)
        return task_id
    await _claim(conn, task_id)
    if state is TaskStatus.COMPLETED:
        finished = [Finished(task_id, await _epoch(conn, task_id), result={"ok": True})]
        assert await tasks.complete_many(conn, OWNER, finished, now=T0)
    elif state is TaskStatus.DEAD:
        await _finish(conn, task_id, retryable=False)
    return task_id


async def _complete(conn: Any, task_id: UUID) -> None:
    finished = [Finished(task_id, await _epoch(conn, task_id), result={"ok": True})]
    assert await tasks.complete_many(conn, OWNER, finished, now=T0)


async def _release(conn: Any, task_id: UUID) -> None:
    released = await tasks.release_many(conn, OWNER, [(task_id, await _epoch(conn, task_id))])
    assert released == {task_id}


async def _rescue(conn: Any, task_id: UUID) -> None:
    assert [r.id for r in await tasks.rescue_expired(conn, now=LATER)] == [task_id]


PERFORM: dict[Transition, Callable[[Any, UUID], Awaitable[None]]] = {
    Transition.CLAIM: _claim,
    Transition.COMPLETE: _complete,
    Transition.RETRY: lambda conn, tid: _finish(conn, tid, retryable=True),
    Transition.DIE: lambda conn, tid: _finish(conn, tid, retryable=False),
    Transition.RELEASE: _release,
    Transition.RESCUE: _rescue,
    Transition.RESCUE_DEAD: _rescue,
    Transition.QUARANTINE: lambda conn, tid: _operator(conn, tid, Transition.QUARANTINE),
    Transition.CANCEL: lambda conn, tid: _operator(conn, tid, Transition.CANCEL),
    Transition.REQUEUE: lambda conn, tid: _operator(conn, tid, Transition.REQUEUE),
}

LEGAL = [
    (transition, source)
    for transition, (sources, _target) in TRANSITIONS.items()
    for source in sorted(sources, key=str)
]


@pytest.mark.parametrize(
    ("transition", "source"), LEGAL, ids=[f"{t.value}-from-{s}" for t, s in LEGAL]
)
async def test_every_legal_transition_moves_the_task_and_writes_one_event(
    db: Database, transition: Transition, source: TaskStatus | None
) -> None:
    target = TRANSITIONS[transition][1]
    async with db.transaction() as conn:
        if transition is Transition.ENQUEUE:
            task_id = await tasks.enqueue_one(conn, NewTask("probe", "probe"), now=T0)
            before = 0
        else:
            assert source is not None
            # Only a task on its last attempt is rescued to dead.
            last_try = transition is Transition.RESCUE_DEAD
            task_id = await put_in_state(conn, source, max_attempts=1 if last_try else 3)
            before = len(await tasks.history(conn, task_id))
            await PERFORM[transition](conn, task_id)
        status = await tasks.get_status(conn, task_id)
        events = (await tasks.history(conn, task_id))[before:]

    assert status == target
    assert [(e["from_status"], e["to_status"], e["actor"]) for e in events] == [
        (source, str(target), ACTORS[transition])
    ]


def test_the_parametrisation_covers_every_transition() -> None:
    assert {t for t, _ in LEGAL} == set(Transition)
    assert set(PERFORM) | {Transition.ENQUEUE} == set(Transition)


ILLEGAL_OPERATOR = [
    (transition, state)
    for transition in OPERATOR_TRANSITIONS
    for state in TaskStatus
    if state not in TRANSITIONS[transition][0]
]


@pytest.mark.parametrize(
    ("transition", "state"),
    ILLEGAL_OPERATOR,
    ids=[f"{t.value}-from-{s}" for t, s in ILLEGAL_OPERATOR],
)
async def test_operator_transition_from_a_forbidden_state_raises_and_changes_nothing(
    db: Database, transition: Transition, state: TaskStatus
) -> None:
    async with db.transaction() as conn:
        task_id = await put_in_state(conn, state)
    async with db.connection() as conn:
        before = await tasks.get(conn, task_id)
        history_before = await tasks.history(conn, task_id)

    with pytest.raises(IllegalTransition) as raised:
        async with db.transaction() as conn:
            await _operator(conn, task_id, transition)

    allowed = sorted(str(s) for s in TRANSITIONS[transition][0] if s is not None)
    assert f"a task that is {state}" in raised.value.message
    assert f"must be one of: {', '.join(allowed)}" in raised.value.message
    async with db.connection() as conn:
        assert await tasks.get(conn, task_id) == before
        assert await tasks.history(conn, task_id) == history_before


async def test_quarantining_a_completed_task_names_the_allowed_states(db: Database) -> None:
    async with db.transaction() as conn:
        task_id = await put_in_state(conn, TaskStatus.COMPLETED)
    with pytest.raises(IllegalTransition, match="must be one of: dead, pending, running"):
        async with db.transaction() as conn:
            await _operator(conn, task_id, Transition.QUARANTINE)


@pytest.mark.parametrize("transition", [Transition.COMPLETE, Transition.RESCUE, Transition.CLAIM])
async def test_lease_holder_transitions_are_not_operator_transitions(
    db: Database, transition: Transition
) -> None:
    async with db.transaction() as conn:
        task_id = await put_in_state(conn, TaskStatus.RUNNING)
    with pytest.raises(IllegalTransition, match="not an operator transition"):
        async with db.transaction() as conn:
            await _operator(conn, task_id, transition)
    async with db.connection() as conn:
        assert await tasks.get_status(conn, task_id) == "running"


async def test_operator_transition_of_a_missing_task_raises_not_found(db: Database) -> None:
    with pytest.raises(NotFound):
        async with db.transaction() as conn:
            await _operator(conn, uuid4(), Transition.CANCEL)


NOT_RUNNING = [s for s in TaskStatus if s is not TaskStatus.RUNNING]


@pytest.mark.parametrize("state", NOT_RUNNING, ids=[str(s) for s in NOT_RUNNING])
async def test_lease_holder_writes_to_a_task_that_is_not_running_change_nothing(
    db: Database, state: TaskStatus
) -> None:
    async with db.transaction() as conn:
        task_id = await put_in_state(conn, state)
    async with db.transaction() as conn:
        before = await tasks.get(conn, task_id)
        history_before = await tasks.history(conn, task_id)
        # The owner and epoch are right for the tasks that were claimed: only the state differs.
        held = [(task_id, before["lease_epoch"])]
        done = Finished(task_id, before["lease_epoch"], result={"late": True})
        failed = Finished(task_id, before["lease_epoch"], error={"type": "E", "message": "m"})
        assert await tasks.complete_many(conn, OWNER, [done], now=LATER) == []
        assert await tasks.fail_many(conn, OWNER, [failed], retry_base_ms=1, now=LATER) == []
        assert await tasks.release_many(conn, OWNER, held, now=LATER) == set()
        assert await tasks.heartbeat(conn, OWNER, held, lease_ms=1000, now=LATER) == set()
        assert await tasks.rescue_expired(conn, now=LATER) == []
        assert await tasks.lock_held(conn, OWNER, held) == set()
        assert await tasks.get(conn, task_id) == before
        assert await tasks.history(conn, task_id) == history_before


async def test_a_running_task_whose_lease_has_not_expired_is_not_rescued(db: Database) -> None:
    async with db.transaction() as conn:
        task_id = await put_in_state(conn, TaskStatus.RUNNING)  # lease 1 s from T0
        assert await tasks.rescue_expired(conn, now=T0 + timedelta(milliseconds=999)) == []
        assert await tasks.get_status(conn, task_id) == "running"


async def test_a_quarantined_running_task_refuses_its_workers_completion(db: Database) -> None:
    async with db.transaction() as conn:
        task_id = await put_in_state(conn, TaskStatus.RUNNING)
        epoch = await _epoch(conn, task_id)
        await tasks.apply_operator_transition(
            conn,
            task_id,
            Transition.QUARANTINE,
            actor=OPERATOR,
            reason="poison payload",
            until=UNTIL,
        )
        late = [Finished(task_id, epoch, result={"late": True})]
        assert await tasks.complete_many(conn, OWNER, late) == []
        row = await tasks.get(conn, task_id)
    assert row["status"] == "quarantined"
    assert row["result"] is None
    assert (row["quarantine_reason"], row["quarantined_by"]) == ("poison payload", OPERATOR)
    assert row["quarantined_until"] == UNTIL


OPERATOR_SOURCES = [
    (Transition.QUARANTINE, TaskStatus.PENDING),
    (Transition.CANCEL, TaskStatus.PENDING),
    (Transition.REQUEUE, TaskStatus.DEAD),
]


@pytest.mark.parametrize(
    ("transition", "source"), OPERATOR_SOURCES, ids=[t.value for t, _ in OPERATOR_SOURCES]
)
async def test_operator_transitions_work_without_an_until_time(
    db: Database, transition: Transition, source: TaskStatus
) -> None:
    async with db.transaction() as conn:
        task_id = await put_in_state(conn, source)
    async with db.transaction() as conn:
        await tasks.apply_operator_transition(
            conn, task_id, transition, actor=OPERATOR, reason="by hand"
        )
    async with db.connection() as conn:
        row = await tasks.get(conn, task_id)
    assert row["status"] == str(TRANSITIONS[transition][1])
    assert row["quarantined_until"] is None


async def test_requeue_of_a_dead_task_resets_attempts_and_makes_it_claimable(
    db: Database,
) -> None:
    async with db.transaction() as conn:
        task_id = await put_in_state(conn, TaskStatus.DEAD)
        assert (await tasks.get(conn, task_id))["attempts"] == 1
        await tasks.apply_operator_transition(
            conn, task_id, Transition.REQUEUE, actor=OPERATOR, until=UNTIL, now=LATER
        )
        row = await tasks.get(conn, task_id)
        claimed = await tasks.claim(conn, owner=OWNER, limit=5, lease_ms=1000, now=LATER)
    assert (row["status"], row["attempts"], row["available_at"]) == ("pending", 0, LATER)
    assert [c.id for c in claimed] == [task_id]


async def test_requeue_of_a_pending_task_raises(db: Database) -> None:
    async with db.transaction() as conn:
        task_id = await put_in_state(conn, TaskStatus.PENDING)
    with pytest.raises(IllegalTransition, match="cannot requeue a task that is pending"):
        async with db.transaction() as conn:
            await _operator(conn, task_id, Transition.REQUEUE)
    rows = await fetch(db, "SELECT count(*) AS n FROM task_events WHERE task_id = %s", (task_id,))
    assert rows == [{"n": 1}]
