"""The pruner deletes completed tasks older than the retention, with their history, and
nothing else."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from automechanica.clock import FrozenClock
from automechanica.db.pool import Database
from automechanica.queue import tasks
from automechanica.queue.maintenance.pruner import Pruner, PrunerConfig
from automechanica.queue.states import Transition
from automechanica.queue.tasks import Finished, NewTask
from tests.integration.engine.harness import T0, scalar


async def _task_finished(db: Database, at: datetime, outcome: str) -> UUID:
    """A task that reached ``outcome`` (completed, dead or cancelled) at ``at``."""
    async with db.transaction() as conn:
        task_id = await tasks.enqueue_one(conn, NewTask("probe", "probe"), now=at)
        if outcome == "cancelled":
            await tasks.apply_operator_transition(
                conn, task_id, Transition.CANCEL, actor="op", until=at, now=at
            )
            return task_id
        [c] = await tasks.claim(conn, owner="w", limit=1, lease_ms=1000, now=at)
        if outcome == "completed":
            await tasks.complete_many(conn, "w", [Finished(c.id, c.lease_epoch, result={})], now=at)
        else:
            error = {"type": "E", "message": "x"}
            finished = [Finished(c.id, c.lease_epoch, error=error, retryable=False)]
            await tasks.fail_many(conn, "w", finished, retry_base_ms=0, now=at)
    return task_id


async def _ids(db: Database) -> list[UUID]:
    async with db.connection() as conn:
        cur = await conn.execute("SELECT id FROM tasks")
        return [row[0] for row in await cur.fetchall()]


async def test_pruner_deletes_only_completed_tasks_older_than_retention_with_their_events(
    db: Database,
) -> None:
    old = T0 - timedelta(days=8)
    old_completed = await _task_finished(db, old, "completed")
    recent_completed = await _task_finished(db, T0 - timedelta(days=6), "completed")
    old_dead = await _task_finished(db, old, "dead")
    old_cancelled = await _task_finished(db, old, "cancelled")
    async with db.transaction() as conn:
        old_pending = await tasks.enqueue_one(conn, NewTask("probe", "probe"), now=old)

    pruner = Pruner(db, PrunerConfig(retention_days=7), clock=FrozenClock(T0))
    assert await pruner.run_once() == {"deleted": 1}

    remaining = set(await _ids(db))
    assert remaining == {recent_completed, old_dead, old_cancelled, old_pending}
    events = "SELECT count(*) FROM task_events WHERE task_id = %s"
    assert await scalar(db, events, (old_completed,)) == 0
    for kept in remaining:
        assert await scalar(db, events, (kept,)) > 0
    assert await pruner.run_once() == {"deleted": 0}


async def test_pruner_works_through_a_backlog_in_batches(db: Database) -> None:
    for _ in range(5):
        await _task_finished(db, T0 - timedelta(days=30), "completed")
    pruner = Pruner(db, PrunerConfig(retention_days=7, batch=2), clock=FrozenClock(T0))
    assert await pruner.run_once() == {"deleted": 5}
    assert await scalar(db, "SELECT count(*) FROM tasks") == 0
    assert await scalar(db, "SELECT count(*) FROM task_events") == 0
