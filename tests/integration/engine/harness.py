"""What the engine tests share: running workers, waiting for database conditions, and agents
that measure how their runs overlap."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from automechanica.agents.base import AgentContext, AgentResult, TaskView
from automechanica.db.pool import Database
from automechanica.queue.worker import Worker, WorkerConfig

T = TypeVar("T")

T0 = datetime(2030, 1, 1, tzinfo=UTC)
"""Where every ``FrozenClock`` in these tests starts (after any real ``now()``)."""


def quick_config(**overrides: Any) -> WorkerConfig:
    """A worker config that reacts in milliseconds; failed tasks are retryable at once unless
    the test sets ``retry_base_ms``."""
    values: dict[str, Any] = {
        "concurrency": 10,
        "poll_interval_ms": 50,
        "flush_ms": 1.0,
        "retry_base_ms": 0,
        "drain_timeout_ms": 2000,
    }
    values.update(overrides)
    return WorkerConfig(**values)


@asynccontextmanager
async def running(*workers: Worker) -> AsyncIterator[asyncio.Event]:
    """Run ``workers`` in this event loop; on exit stop them and wait for them to drain."""
    stop = asyncio.Event()
    body = asyncio.current_task()

    def crashed(run: asyncio.Task[None]) -> None:
        # A worker that dies early interrupts the test at once instead of letting it wait.
        if not stop.is_set() and not run.cancelled() and run.exception() and body is not None:
            body.cancel()

    runs = [asyncio.create_task(w.run(stop), name=f"worker:{w.owner}") for w in workers]
    for run in runs:
        run.add_done_callback(crashed)
    try:
        yield stop
    finally:
        stop.set()
        done, pending = await asyncio.wait(runs, timeout=30)
        for run in pending:
            run.cancel()
        assert not pending, "a worker did not stop within 30 s"
        for run in done:
            run.result()  # a worker that crashed fails the test


async def eventually(
    check: Callable[[], Awaitable[T]],
    *,
    what: str,
    timeout: float = 30.0,
    interval: float = 0.02,
) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)


async def scalar(db: Database, query: str, params: Any = ()) -> Any:
    async with db.connection() as conn:
        cur = await conn.execute(query, params)
        row = await cur.fetchone()
    return row[0] if row else None


async def fetch(db: Database, query: str, params: Any = ()) -> list[dict[str, Any]]:
    async with db.connection() as conn:
        cur = await conn.execute(query, params)
        names = [d.name for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]


async def wait_count(db: Database, query: str, params: Any, expected: int, *, what: str) -> None:
    """Wait until ``query`` (a ``count(*)``) returns ``expected``."""

    async def check() -> bool:
        return await scalar(db, query, params) == expected

    await eventually(check, what=what)


class OverlapProbe:
    """An agent that measures how many of its runs overlap, across every worker sharing it."""

    def __init__(
        self,
        name: str = "probe",
        *,
        task_type: str = "probe",
        seconds: tuple[float, float] = (0.005, 0.02),
        seed: int = 7,
    ) -> None:
        self.name = name
        self.task_types: tuple[str, ...] = (task_type,)
        self.seconds = seconds
        self._rng = random.Random(seed)
        self.current = 0
        self.max_seen = 0
        self.runs = 0

    async def run(self, task: TaskView, ctx: AgentContext) -> AgentResult:
        self.current += 1
        self.max_seen = max(self.max_seen, self.current)
        try:
            await asyncio.sleep(self._rng.uniform(*self.seconds))
        finally:
            self.current -= 1
        self.runs += 1
        return AgentResult(output={"n": task.payload.get("n")})


class RunningSampler:
    """Samples how many tasks (of one agent, if given) are running, until stopped; keeps the max."""

    def __init__(self, db: Database, agent: str | None = None) -> None:
        self.db = db
        self.agent = agent
        self.max_seen = 0
        self.samples = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        conn = await self.db.connect_direct()
        try:
            while not self._stop.is_set():
                cur = await conn.execute(
                    "SELECT count(*) FROM tasks WHERE status = 'running' "
                    "AND (%s::text IS NULL OR agent_name = %s)",
                    (self.agent, self.agent),
                )
                row = await cur.fetchone()
                self.max_seen = max(self.max_seen, row[0] if row else 0)
                self.samples += 1
                await asyncio.sleep(0.002)
        finally:
            await conn.close()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="running-sampler")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
