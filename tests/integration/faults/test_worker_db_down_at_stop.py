"""A worker told to stop while the database is down exits cleanly, and nothing is lost."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg

from automechanica.agents.base import AgentContext, AgentResult, TaskView
from automechanica.agents.registry import AgentRegistry
from automechanica.db.pool import Database
from automechanica.queue import tasks
from automechanica.queue.maintenance.rescuer import LeaseRescuer
from automechanica.queue.tasks import NewTask
from automechanica.queue.worker import Worker, WorkerConfig
from tests.integration.faults.server import FaultServer


class GatedAgent:
    """Runs until the test opens the gate, then writes its effect in the completion."""

    name = "effect"
    task_types: tuple[str, ...] = ("write",)

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.started = 0

    async def run(self, task: TaskView, ctx: AgentContext) -> AgentResult:
        self.started += 1
        await self.gate.wait()
        n = task.payload["n"]

        async def write(conn: Any) -> None:
            await conn.execute(
                "INSERT INTO fault_effects (task_id, n) VALUES (%s, %s)", (task.id, n)
            )

        ctx.apply(write)
        return AgentResult(output={"n": n})


def _config(**overrides: Any) -> WorkerConfig:
    base = {
        "concurrency": 10,
        "lease_ms": 1000,
        "heartbeat_ms": 200,
        "poll_interval_ms": 50,
        "drain_timeout_ms": 200,
        "max_backoff_s": 0.2,
    }
    return WorkerConfig(**{**base, **overrides})


async def _wait_for(predicate: Any, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_worker_stopping_while_database_is_down_exits_cleanly_and_loses_nothing(
    fault_db: FaultServer,
) -> None:
    with psycopg.connect(fault_db.url, autocommit=True) as conn:
        conn.execute("TRUNCATE tasks, task_events, agent_events, fault_effects, workers")
    db = Database(fault_db.url, min_size=1, max_size=4, connect_timeout_ms=2000)
    await db.open()
    async with db.transaction() as conn:
        await tasks.enqueue(
            conn, [NewTask("effect", "write", {"n": i}, max_attempts=5) for i in range(10)]
        )
    agent = GatedAgent()
    worker = Worker(db, AgentRegistry([agent]), _config(), owner="test:down-at-stop")
    stop = asyncio.Event()
    run = asyncio.create_task(worker.run(stop))
    try:

        async def all_started() -> bool:
            return agent.started == 10

        await _wait_for(all_started)
        fault_db.server.stop()
        agent.gate.set()  # the runs finish while their outcomes cannot be written
        stop.set()
        # The worker must come back on its own, without raising, although nothing it wants
        # to write (outcomes, releases, its own row) can reach the database.
        await asyncio.wait_for(run, timeout=60)
    finally:
        stop.set()
        if not run.done():
            run.cancel()
        fault_db.server.ensure_running()
    await db.close()

    # Nothing was committed by that worker; its leases expire and the rescuer takes them back.
    with psycopg.connect(fault_db.url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM fault_effects").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM tasks WHERE status = 'running'").fetchone() == (
            10,
        )
    db = Database(fault_db.url, min_size=1, max_size=4)
    await db.open()
    try:

        async def rescued() -> bool:
            counts = await LeaseRescuer(db).run_once()
            return counts.get("rescued", 0) > 0 or await _none_running(db)

        await _wait_for(rescued)
        await _wait_for(lambda: _none_running(db))

        agent2 = GatedAgent()
        agent2.gate.set()
        stop2 = asyncio.Event()
        worker2 = Worker(db, AgentRegistry([agent2]), _config(), owner="test:after")
        run2 = asyncio.create_task(worker2.run(stop2))

        async def all_completed() -> bool:
            async with db.connection() as conn:
                cur = await conn.execute("SELECT count(*) FROM tasks WHERE status = 'completed'")
                row = await cur.fetchone()
                return bool(row and row[0] == 10)

        await _wait_for(all_completed)
        stop2.set()
        await asyncio.wait_for(run2, timeout=30)
    finally:
        await db.close()

    with psycopg.connect(fault_db.url, autocommit=True) as conn:
        duplicates = conn.execute(
            "SELECT task_id FROM fault_effects GROUP BY task_id HAVING count(*) <> 1"
        ).fetchall()
        assert duplicates == []
        assert conn.execute("SELECT count(DISTINCT task_id) FROM fault_effects").fetchone() == (10,)


async def _none_running(db: Database) -> bool:
    async with db.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM tasks WHERE status = 'running'")
        row = await cur.fetchone()
        return bool(row and row[0] == 0)
