"""Concurrency limits hold under load: measured as the most runs ever in flight at once."""

from __future__ import annotations

from automechanica.agents.registry import AgentRegistry
from automechanica.db.pool import Database
from automechanica.queue import tasks
from automechanica.queue.tasks import NewTask
from automechanica.queue.worker import Worker
from tests.integration.engine.harness import (
    OverlapProbe,
    RunningSampler,
    quick_config,
    running,
    wait_count,
)

DONE = "SELECT count(*) FROM tasks WHERE status = 'completed' AND agent_name = %s"


async def test_one_worker_never_runs_more_than_its_concurrency(db: Database) -> None:
    probe = OverlapProbe("probe", seconds=(0.005, 0.02))
    worker = Worker(db, AgentRegistry([probe]), quick_config(concurrency=7), owner="w1")
    async with db.transaction() as conn:
        await tasks.enqueue(conn, [NewTask("probe", "probe", {"n": n}) for n in range(300)])

    sampler = RunningSampler(db)
    sampler.start()
    try:
        async with running(worker):
            await wait_count(db, DONE, ("probe",), 300, what="300 tasks to complete")
    finally:
        await sampler.stop()

    assert probe.runs == 300
    assert probe.max_seen == 7
    assert 0 < sampler.max_seen <= 7


async def test_agent_limit_holds_across_workers(db: Database) -> None:
    slow = OverlapProbe("slow", seconds=(0.01, 0.03), seed=1)
    fast = OverlapProbe("fast", seconds=(0.005, 0.02), seed=2)
    workers = [
        Worker(
            db,
            AgentRegistry([slow, fast]),  # the same agents: their counts span all workers
            quick_config(concurrency=5, agent_limits={"slow": 3}),
            owner=f"w{i}",
        )
        for i in range(3)
    ]
    async with db.transaction() as conn:
        await tasks.enqueue(
            conn,
            [NewTask("slow", "probe", {"n": n}) for n in range(60)]
            + [NewTask("fast", "probe", {"n": n}) for n in range(120)],
        )

    sampler = RunningSampler(db, agent="slow")
    sampler.start()
    try:
        async with running(*workers):
            await wait_count(db, DONE, ("slow",), 60, what="60 slow tasks to complete")
            await wait_count(db, DONE, ("fast",), 120, what="120 fast tasks to complete")
    finally:
        await sampler.stop()

    assert slow.runs == 60
    assert slow.max_seen == 3
    assert 0 < sampler.max_seen <= 3
    # The limit is the slow agent's alone: the others use the rest of the 15 slots.
    assert fast.max_seen > 3
    assert all(w.stats["claimed"] > 0 for w in workers)
