"""Leases: rescue of expired ones, zombie workers fenced off, heartbeats, and apply-phase writes
that never happen once the lease is lost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from automechanica.agents.base import AgentContext, AgentResult, TaskView
from automechanica.agents.registry import AgentRegistry
from automechanica.clock import FrozenClock
from automechanica.db.pool import Database
from automechanica.queue import tasks
from automechanica.queue.maintenance.rescuer import LeaseRescuer
from automechanica.queue.tasks import Finished, NewTask
from automechanica.queue.worker import Worker
from tests.integration.engine.harness import T0, eventually, fetch, quick_config, running, scalar


async def _row(db: Database, task_id: UUID) -> dict[str, Any]:
    async with db.connection() as conn:
        return await tasks.get(conn, task_id)


async def test_rescued_lease_rejects_zombie_completion(db: Database) -> None:
    clock = FrozenClock(T0)
    async with db.transaction() as conn:
        task_id = await tasks.enqueue_one(conn, NewTask("probe", "probe"), now=clock.now())
        [a] = await tasks.claim(conn, owner="A", limit=1, lease_ms=1000, now=clock.db_now())

    clock.advance(seconds=2)
    assert await LeaseRescuer(db, clock=clock).run_once() == {"rescued": 1, "dead": 0}
    async with db.transaction() as conn:
        [b] = await tasks.claim(conn, owner="B", limit=1, lease_ms=1000, now=clock.db_now())
    assert (b.id, b.lease_epoch, b.attempts) == (task_id, a.lease_epoch + 1, 1)

    async with db.transaction() as conn:
        zombie = [Finished(task_id, a.lease_epoch, result={"by": "A"})]
        assert await tasks.complete_many(conn, "A", zombie, now=clock.db_now()) == []
        # Even a zombie that guessed the new epoch is not the owner.
        guessed = [Finished(task_id, b.lease_epoch, result={"by": "A"})]
        assert await tasks.complete_many(conn, "A", guessed, now=clock.db_now()) == []
        failed = [Finished(task_id, a.lease_epoch, error={"type": "E", "message": "zombie"})]
        assert await tasks.fail_many(conn, "A", failed, retry_base_ms=1, now=clock.db_now()) == []
        lease_before = (await tasks.get(conn, task_id))["lease_expires_at"]
        later = clock.now() + timedelta(milliseconds=500)
        held = [(task_id, a.lease_epoch)]
        assert await tasks.heartbeat(conn, "A", held, lease_ms=60_000, now=later) == set()
        assert (await tasks.get(conn, task_id))["lease_expires_at"] == lease_before

    async with db.transaction() as conn:
        done = [Finished(task_id, b.lease_epoch, result={"by": "B"})]
        assert [c.id for c in await tasks.complete_many(conn, "B", done)] == [task_id]
        history = await tasks.history(conn, task_id)
    row = await _row(db, task_id)
    assert (row["status"], row["result"], row["lease_owner"]) == ("completed", {"by": "B"}, "B")
    assert [(e["from_status"], e["to_status"], e["actor"]) for e in history] == [
        (None, "pending", "producer"),
        ("pending", "running", "A"),
        ("running", "pending", "system:rescuer"),
        ("pending", "running", "B"),
        ("running", "completed", "B"),
    ]
    assert "lease of A expired" in history[2]["reason"]


async def test_rescue_counts_an_attempt_and_kills_a_task_out_of_attempts(db: Database) -> None:
    clock = FrozenClock(T0)
    async with db.transaction() as conn:
        last_try = await tasks.enqueue_one(
            conn, NewTask("probe", "probe", max_attempts=1), now=clock.now()
        )
        more = await tasks.enqueue_one(
            conn, NewTask("probe", "probe", max_attempts=2), now=clock.now()
        )
        await tasks.claim(conn, owner="A", limit=2, lease_ms=1000, now=clock.db_now())

    rescuer = LeaseRescuer(db, clock=clock)
    assert await rescuer.run_once() == {"rescued": 0, "dead": 0}  # leases still valid
    clock.advance(seconds=1, milliseconds=1)
    assert await rescuer.run_once() == {"rescued": 1, "dead": 1}

    dead = await _row(db, last_try)
    assert (dead["status"], dead["attempts"], dead["finished_at"]) == ("dead", 1, clock.now())
    assert dead["error_info"]["type"] == "LeaseExpired"
    assert dead["error_info"]["attempt"] == 1
    assert "lease of A expired" in dead["error_info"]["message"]
    retried = await _row(db, more)
    assert (retried["status"], retried["attempts"]) == ("pending", 1)
    assert retried["available_at"] == clock.now()
    assert retried["lease_expires_at"] is None


class Gate:
    """An agent that registers an apply-phase write, then blocks until the test opens the gate."""

    name = "gate"
    task_types: tuple[str, ...] = ("wait",)

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.open = asyncio.Event()
        self.cancelled = 0

    async def run(self, task: TaskView, ctx: AgentContext) -> AgentResult:
        ctx.apply(
            lambda conn: conn.execute("INSERT INTO gate_writes (task_id) VALUES (%s)", (task.id,))
        )
        self.started.set()
        try:
            await self.open.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return AgentResult(output={"by": "gate"})


@pytest.fixture
async def gate_writes(db: Database) -> AsyncIterator[None]:
    async with db.transaction() as conn:
        await conn.execute("CREATE TABLE IF NOT EXISTS gate_writes (task_id uuid NOT NULL)")
        await conn.execute("TRUNCATE gate_writes")
    yield


def _blocked_worker(db: Database, gate: Gate, clock: FrozenClock) -> Worker:
    # One slot, so the worker cannot claim the task again once it is rescued; no heartbeat
    # during the test unless the test calls heartbeat_once itself.
    config = quick_config(concurrency=1, lease_ms=1000, heartbeat_ms=600_000)
    return Worker(db, AgentRegistry([gate]), config, clock=clock, owner="A")


async def _steal(db: Database, clock: FrozenClock, task_id: UUID) -> int:
    """Let A's lease expire, rescue it and claim the task as B; return B's epoch."""
    clock.advance(seconds=2)
    assert await LeaseRescuer(db, clock=clock).run_once() == {"rescued": 1, "dead": 0}
    async with db.transaction() as conn:
        [b] = await tasks.claim(conn, owner="B", limit=1, lease_ms=60_000, now=clock.db_now())
    assert b.id == task_id
    return b.lease_epoch


async def _agent_events(db: Database, task_id: UUID) -> list[dict[str, Any]]:
    return await fetch(
        db, "SELECT event_type, error FROM agent_events WHERE task_id = %s ORDER BY id", (task_id,)
    )


@pytest.mark.usefixtures("gate_writes")
async def test_apply_phase_writes_nothing_when_the_lease_was_lost_before_the_flush(
    db: Database,
) -> None:
    clock = FrozenClock(T0)
    gate = Gate()
    worker = _blocked_worker(db, gate, clock)
    async with db.transaction() as conn:
        task_id = await tasks.enqueue_one(conn, NewTask("gate", "wait"), now=clock.now())

    async with running(worker):
        await asyncio.wait_for(gate.started.wait(), timeout=30)
        b_epoch = await _steal(db, clock, task_id)
        gate.open.set()  # A's run now returns a result for a lease it no longer holds

        async def recorded() -> list[dict[str, Any]]:
            return await _agent_events(db, task_id)

        events = await eventually(recorded, what="A's run to be recorded")
        assert await scalar(db, "SELECT count(*) FROM gate_writes") == 0
        row = await _row(db, task_id)
        assert (row["status"], row["lease_owner"], row["result"]) == ("running", "B", None)

        async with db.transaction() as conn:
            done = [Finished(task_id, b_epoch, result={"by": "B"})]
            assert len(await tasks.complete_many(conn, "B", done)) == 1

    assert [e["event_type"] for e in events] == ["lease_lost"]
    assert events[0]["error"]["type"] == "LeaseLost"
    assert worker.stats["lease_lost"] == 1
    assert worker.stats["completed"] == 0
    assert await scalar(db, "SELECT count(*) FROM gate_writes") == 0
    assert (await _row(db, task_id))["result"] == {"by": "B"}


@pytest.mark.usefixtures("gate_writes")
async def test_heartbeat_extends_held_leases_on_the_workers_clock(db: Database) -> None:
    clock = FrozenClock(T0)
    gate = Gate()
    worker = _blocked_worker(db, gate, clock)
    async with db.transaction() as conn:
        task_id = await tasks.enqueue_one(conn, NewTask("gate", "wait"), now=clock.now())

    async with running(worker):
        await asyncio.wait_for(gate.started.wait(), timeout=30)
        assert (await _row(db, task_id))["lease_expires_at"] == T0 + timedelta(seconds=1)
        clock.advance(milliseconds=700)
        assert await worker.heartbeat_once() == set()
        assert (await _row(db, task_id))["lease_expires_at"] == T0 + timedelta(seconds=1.7)
        assert await scalar(db, "SELECT running FROM workers WHERE id = 'A'") == 1
        # The extended lease survives a rescuer pass that the old one would not have.
        clock.advance(milliseconds=500)
        assert await LeaseRescuer(db, clock=clock).run_once() == {"rescued": 0, "dead": 0}
        gate.open.set()

        async def completed() -> bool:
            return (await _row(db, task_id))["status"] == "completed"

        await eventually(completed, what="the task to complete")
    assert await scalar(db, "SELECT count(*) FROM gate_writes WHERE task_id = %s", (task_id,)) == 1


@pytest.mark.usefixtures("gate_writes")
async def test_heartbeat_cancels_a_run_whose_lease_is_gone(db: Database) -> None:
    clock = FrozenClock(T0)
    gate = Gate()
    worker = _blocked_worker(db, gate, clock)
    async with db.transaction() as conn:
        task_id = await tasks.enqueue_one(conn, NewTask("gate", "wait"), now=clock.now())

    async with running(worker):
        await asyncio.wait_for(gate.started.wait(), timeout=30)
        await _steal(db, clock, task_id)
        assert await worker.heartbeat_once() == {task_id}

        async def recorded() -> list[dict[str, Any]]:
            return await _agent_events(db, task_id)

        events = await eventually(recorded, what="the cancelled run to be recorded")
    assert gate.cancelled == 1
    assert [e["event_type"] for e in events] == ["lease_lost"]
    assert worker.stats["lease_lost"] == 1
    assert await scalar(db, "SELECT count(*) FROM gate_writes") == 0
    row = await _row(db, task_id)
    assert (row["status"], row["lease_owner"]) == ("running", "B")
