"""Failed attempts: backoff of attempts^2 x base on an injected clock, dead after max_attempts,
at once on a non-retryable error or an unknown agent, and the task timeout."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any
from uuid import UUID

from automechanica.agents.base import AgentContext, AgentResult, TaskView
from automechanica.agents.registry import AgentRegistry
from automechanica.clock import FrozenClock
from automechanica.db.pool import Database
from automechanica.errors import NonRetryableError
from automechanica.queue import tasks
from automechanica.queue.tasks import Finished, NewTask
from automechanica.queue.worker import Worker
from tests.integration.engine.harness import T0, eventually, fetch, quick_config, running

BASE_MS = 1000


async def _task(db: Database, task_id: UUID) -> dict[str, Any]:
    async with db.connection() as conn:
        return await tasks.get(conn, task_id)


async def test_failed_attempts_back_off_attempts_squared_times_base_then_die(
    db: Database,
) -> None:
    async with db.transaction() as conn:
        task_id = await tasks.enqueue_one(conn, NewTask("probe", "probe", max_attempts=3), now=T0)

    async def attempt(now: Any) -> Any:
        async with db.transaction() as conn:
            [claimed] = await tasks.claim(conn, owner="w", limit=1, lease_ms=1000, now=now)
            error = {"type": "ValueError", "message": f"bad reading at {now:%S}"}
            [out] = await tasks.fail_many(
                conn,
                "w",
                [Finished(claimed.id, claimed.lease_epoch, error=error)],
                retry_base_ms=BASE_MS,
                now=now,
            )
            return out

    first = await attempt(T0)
    assert (first.status, first.attempts) == ("pending", 1)
    assert first.available_at == T0 + timedelta(milliseconds=1 * BASE_MS)
    row = await _task(db, task_id)
    assert row["error_info"] == {"type": "ValueError", "message": "bad reading at 00", "attempt": 1}
    assert row["finished_at"] is None

    # Not claimable a millisecond before its backoff ends.
    async with db.transaction() as conn:
        early = T0 + timedelta(milliseconds=BASE_MS - 1)
        assert await tasks.claim(conn, owner="w", limit=1, lease_ms=1000, now=early) == []

    t1 = first.available_at
    second = await attempt(t1)
    assert (second.status, second.attempts) == ("pending", 2)
    assert second.available_at == t1 + timedelta(milliseconds=4 * BASE_MS)

    t2 = second.available_at
    third = await attempt(t2)
    assert (third.status, third.attempts) == ("dead", 3)
    row = await _task(db, task_id)
    assert row["error_info"]["attempt"] == 3
    assert row["finished_at"] == t2
    async with db.connection() as conn:
        history = await tasks.history(conn, task_id)
    assert [(e["from_status"], e["to_status"], e["attempt"]) for e in history[1:]] == [
        ("pending", "running", 1),
        ("running", "pending", 1),
        ("pending", "running", 2),
        ("running", "pending", 2),
        ("pending", "running", 3),
        ("running", "dead", 3),
    ]
    assert history[2]["reason"] == "ValueError: bad reading at 00"


class AlwaysFails:
    name = "broken"
    task_types: tuple[str, ...] = ("probe",)

    def __init__(self) -> None:
        self.attempts_seen: list[int] = []

    async def run(self, task: TaskView, ctx: AgentContext) -> AgentResult:
        self.attempts_seen.append(task.attempt)
        raise ConnectionError(f"scanner unreachable on attempt {task.attempt}")


async def test_worker_backs_off_on_its_clock_and_kills_the_task_after_max_attempts(
    db: Database,
) -> None:
    clock = FrozenClock(T0)
    agent = AlwaysFails()
    worker = Worker(
        db, AgentRegistry([agent]), quick_config(retry_base_ms=BASE_MS), clock=clock, owner="w1"
    )
    async with db.transaction() as conn:
        task_id = await tasks.enqueue_one(
            conn, NewTask("broken", "probe", max_attempts=3), now=clock.now()
        )

    async def state(status: str, attempts: int) -> Any:
        async def check() -> Any:
            row = await _task(db, task_id)
            return row if (row["status"], row["attempts"]) == (status, attempts) else None

        return await eventually(check, what=f"task {status} after {attempts} attempt(s)")

    async with running(worker):
        row = await state("pending", 1)
        assert row["available_at"] == clock.now() + timedelta(milliseconds=1 * BASE_MS)
        assert row["error_info"]["type"] == "ConnectionError"
        assert row["error_info"]["message"] == "scanner unreachable on attempt 1"
        assert row["error_info"]["attempt"] == 1

        clock.advance(milliseconds=BASE_MS)
        row = await state("pending", 2)
        assert row["available_at"] == clock.now() + timedelta(milliseconds=4 * BASE_MS)

        clock.advance(milliseconds=4 * BASE_MS)
        row = await state("dead", 3)
        assert row["error_info"]["attempt"] == 3
        assert row["finished_at"] == clock.now()
    assert agent.attempts_seen == [1, 2, 3]


class Refuses:
    name = "refuser"
    task_types: tuple[str, ...] = ("probe",)

    def __init__(self) -> None:
        self.runs = 0

    async def run(self, task: TaskView, ctx: AgentContext) -> AgentResult:
        self.runs += 1
        raise NonRetryableError("VIN fails its checksum; retrying cannot help")


async def test_non_retryable_error_kills_the_task_after_one_attempt(db: Database) -> None:
    agent = Refuses()
    worker = Worker(db, AgentRegistry([agent]), quick_config(), owner="w1")
    async with db.transaction() as conn:
        task_id = await tasks.enqueue_one(conn, NewTask("refuser", "probe", max_attempts=5))

    async def dead() -> bool:
        return (await _task(db, task_id))["status"] == "dead"

    async with running(worker):
        await eventually(dead, what="the task to go dead")
    row = await _task(db, task_id)
    assert row["attempts"] == 1
    assert row["error_info"]["type"] == "NonRetryableError"
    assert row["error_info"]["message"] == "VIN fails its checksum; retrying cannot help"
    assert row["error_info"]["retryable"] is False
    assert agent.runs == 1
    events = await fetch(db, "SELECT event_type FROM agent_events WHERE task_id = %s", (task_id,))
    assert events == [{"event_type": "failed"}]


async def test_task_for_an_unknown_agent_goes_dead_naming_agent_and_task_type(
    db: Database,
) -> None:
    worker = Worker(db, AgentRegistry([Refuses()]), quick_config(), owner="w1")
    async with db.transaction() as conn:
        task_id = await tasks.enqueue_one(conn, NewTask("ghost", "haunt", max_attempts=3))

    async def dead() -> bool:
        return (await _task(db, task_id))["status"] == "dead"

    async with running(worker):
        await eventually(dead, what="the task for an unknown agent to go dead")
    row = await _task(db, task_id)
    assert row["attempts"] == 1
    assert row["error_info"]["type"] == "UnknownAgent"
    assert "'ghost'" in row["error_info"]["message"]
    assert "'haunt'" in row["error_info"]["message"]
    assert "refuser/probe" in row["error_info"]["message"]  # what is registered instead


class Sleeper:
    name = "sleeper"
    task_types: tuple[str, ...] = ("probe",)

    def __init__(self) -> None:
        self.cancelled = 0

    async def run(self, task: TaskView, ctx: AgentContext) -> AgentResult:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return AgentResult(output={"woke": True})


async def test_task_timeout_fails_the_attempt_as_timeout_error_and_records_timed_out(
    db: Database,
) -> None:
    clock = FrozenClock(T0)
    agent = Sleeper()
    config = quick_config(task_timeout_ms=150, retry_base_ms=60_000)
    worker = Worker(db, AgentRegistry([agent]), config, clock=clock, owner="w1")
    async with db.transaction() as conn:
        task_id = await tasks.enqueue_one(
            conn, NewTask("sleeper", "probe", max_attempts=3), now=clock.now()
        )

    async def failed_once() -> bool:
        row = await _task(db, task_id)
        return (row["status"], row["attempts"]) == ("pending", 1)

    started = time.monotonic()
    async with running(worker):
        await eventually(failed_once, what="the timed-out attempt to be recorded")
        elapsed = time.monotonic() - started
    row = await _task(db, task_id)
    assert row["error_info"]["type"] == "TimeoutError"
    assert "150 ms" in row["error_info"]["message"]
    # Backoff on the frozen clock: not retried while the test ran.
    assert row["available_at"] == T0 + timedelta(minutes=1)
    assert elapsed < 10, "the run was not cut at the timeout"
    assert agent.cancelled == 1
    events = await fetch(
        db, "SELECT event_type, error FROM agent_events WHERE task_id = %s", (task_id,)
    )
    assert [e["event_type"] for e in events] == ["timed_out"]
    assert events[0]["error"]["type"] == "TimeoutError"
