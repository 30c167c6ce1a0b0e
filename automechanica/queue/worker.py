"""The worker: claims tasks in batches, runs their agents, completes them in batches.

One asyncio process runs at most ``concurrency`` tasks at once. Its loops:

- claim: whenever slots are free, one statement claims up to that many tasks; when the queue is
  empty it waits for a NOTIFY from an enqueue (polling every ``poll_interval_ms`` as fallback);
- run: one asyncio task per claimed task, bounded by ``task_timeout_ms``;
- flush: finished runs go to the completer (``completer.py``), which writes them in batches
  (every ``flush_ms`` or ``batch_max`` results), one transaction each; a slot is freed only
  once its task's outcome is committed;
- heartbeat: extends all held leases in one statement and refreshes the ``workers`` row; a
  task whose lease was taken away is cancelled (its result would be rejected anyway).

On stop it claims nothing more, lets running tasks finish for up to ``drain_timeout_ms``, then
releases the rest back to ``pending`` without counting an attempt. Database errors never crash
it: every loop logs, backs off and carries on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg

from automechanica import __version__
from automechanica.agents import events as agent_events
from automechanica.agents.base import AgentContext, AgentResult, TaskView
from automechanica.agents.registry import AgentRegistry
from automechanica.clock import Clock, SystemClock
from automechanica.db.pool import Database, DedicatedConnection, served_by
from automechanica.logs import get_logger
from automechanica.queue import tasks, workers
from automechanica.queue.completer import (
    Completer,
    CompletionHooks,
    Outcome,
    error_info,
    one_line,
    opt_str,
)
from automechanica.queue.tasks import ClaimedTask, Finished

log = get_logger("automechanica.worker")


@dataclass
class WorkerConfig:
    concurrency: int = 10
    agents: list[str] | None = None
    agent_limits: dict[str, int] = field(default_factory=dict)
    lease_ms: int = 30000
    heartbeat_ms: int | None = None
    poll_interval_ms: int = 1000
    task_timeout_ms: int = 300000
    retry_base_ms: int = 5000
    drain_timeout_ms: int = 10000
    batch_max: int = 500
    flush_ms: float = 1.0
    max_backoff_s: float = 5.0

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> WorkerConfig:
        cfg = cls(
            concurrency=settings.max_concurrent_tasks,
            agent_limits=dict(settings.agent_concurrency),
            lease_ms=settings.task_lease_ms,
            poll_interval_ms=settings.task_poll_interval_ms,
            task_timeout_ms=settings.task_timeout_ms,
            retry_base_ms=settings.task_retry_base_ms,
            drain_timeout_ms=settings.worker_drain_timeout_ms,
        )
        for key, value in overrides.items():
            if value is not None:
                setattr(cfg, key, value)
        return cfg


# How long each shutdown-time write waits for a pooled connection: a worker stopped during a
# database outage must still exit within seconds (what it could not write, the rescuer fixes).
_SHUTDOWN_WAIT_S = 1.0


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    def __init__(
        self,
        db: Database,
        registry: AgentRegistry,
        config: WorkerConfig | None = None,
        *,
        llm: Any = None,
        hooks: CompletionHooks | None = None,
        clock: Clock | None = None,
        owner: str | None = None,
    ) -> None:
        self.db = db
        self.registry = registry
        self.config = config or WorkerConfig()
        self.llm = llm
        self.hooks = hooks
        self.clock = clock or SystemClock()
        self.owner = owner or default_owner()
        self.stats = {"claimed": 0, "completed": 0, "failed": 0, "dead": 0, "lease_lost": 0}
        self._running: dict[UUID, tuple[ClaimedTask, asyncio.Task[None]]] = {}
        self._held: dict[UUID, int] = {}  # task id -> lease epoch, until its outcome commits
        self._slot_freed = asyncio.Event()
        self._wake = asyncio.Event()
        self._stopping = False
        self._deadlines: dict[UUID, float] = {}
        self._timed_out: set[UUID] = set()
        self._claim_conn = DedicatedConnection(db)
        self._completer = Completer(
            db,
            owner=self.owner,
            clock=self.clock,
            hooks=hooks,
            on_written=self._free_slots,
            stats=self.stats,
            retry_base_ms=self.config.retry_base_ms,
            batch_max=self.config.batch_max,
            flush_ms=self.config.flush_ms,
            max_backoff_s=self.config.max_backoff_s,
        )

    def _free_slots(self, task_ids: list[UUID]) -> None:
        """The outcomes of these runs are committed (or given up): their slots are free."""
        for task_id in task_ids:
            self._held.pop(task_id, None)
        self._slot_freed.set()

    # -- lifecycle -----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set, then drain and release; never raises on DB trouble."""
        await self._retrying("register", self._register, stop=stop)
        if stop.is_set():
            return
        loops = [
            asyncio.create_task(self._listen(stop), name="listen"),
            asyncio.create_task(self._completer.run(), name="flush"),
            asyncio.create_task(self._heartbeat_loop(stop), name="heartbeat"),
            asyncio.create_task(self._watchdog(), name="watchdog"),
        ]
        log.info(
            "worker_started",
            worker=self.owner,
            concurrency=self.config.concurrency,
            agents=self.config.agents or self.registry.names(),
        )
        try:
            await self._claim_loop(stop)
        finally:
            self._stopping = True
            await self._drain()
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            await self._retrying("unregister", self._unregister, attempts=3)
            await self._claim_conn.close()
            await self._completer.close()
            log.info("worker_stopped", worker=self.owner, **self.stats)

    async def _drain(self) -> None:
        await self._retrying("mark_draining", self._mark_draining, attempts=3)
        pending = [t for _, t in self._running.values()]
        if pending:
            log.info("worker_draining", worker=self.owner, running=len(pending))
            await asyncio.wait(pending, timeout=self.config.drain_timeout_ms / 1000)
        leftovers = [(c, t) for c, t in self._running.values() if not t.done()]
        for _, t in leftovers:
            t.cancel()
        await asyncio.gather(*(t for _, t in leftovers), return_exceptions=True)
        # Outcomes of tasks that did finish are written before anything is released. If the
        # database stays unreachable they are given up: their leases expire, the rescuer takes
        # the tasks back, and since nothing was committed nothing happens twice.
        for attempt in range(3):
            if not self._completer.pending:
                break
            try:
                await self._completer.flush_all()
            except (psycopg.Error, OSError, TimeoutError) as exc:
                log.warning(
                    "drain_flush_failed",
                    worker=self.owner,
                    pending=self._completer.pending,
                    error=one_line(exc),
                    attempt=attempt + 1,
                )
                await asyncio.sleep(0.5 * (attempt + 1))
        release = [(c.id, c.lease_epoch) for c, _ in leftovers if c.id in self._held]
        if release:

            async def _release() -> None:
                async with self.db.transaction(timeout=_SHUTDOWN_WAIT_S) as conn:
                    released = await tasks.release_many(
                        conn, self.owner, release, now=self.clock.db_now()
                    )
                log.info("tasks_released", worker=self.owner, count=len(released))
                for task_id, _epoch in release:
                    self._held.pop(task_id, None)

            await self._retrying("release", _release, attempts=5)

    # -- claiming -------------------------------------------------------------------------------

    async def _claim_loop(self, stop: asyncio.Event) -> None:
        backoff = 0.1
        while not stop.is_set():
            free = self.config.concurrency - len(self._held)
            if free <= 0:
                self._slot_freed.clear()
                await _wait_any(stop, self._slot_freed, timeout=self.config.poll_interval_ms / 1000)
                continue
            self._wake.clear()
            try:
                claimed = await self._claim(free)
                backoff = 0.1
            except (psycopg.Error, OSError, TimeoutError) as exc:
                log.warning(
                    "claim_failed", worker=self.owner, error=one_line(exc), retry_in_s=backoff
                )
                await _wait_any(stop, timeout=backoff)
                backoff = min(backoff * 2, self.config.max_backoff_s)
                continue
            for task in claimed:
                self._start(task)
            if len(claimed) < free:
                await _wait_any(stop, self._wake, timeout=self.config.poll_interval_ms / 1000)

    async def _claim(self, free: int) -> list[ClaimedTask]:
        cfg = self.config
        now = self.clock.db_now()
        claimed: list[ClaimedTask] = []
        limited = {
            a: n for a, n in cfg.agent_limits.items() if cfg.agents is None or a in cfg.agents
        }
        try:
            conn = await self._claim_conn.get()
            await self._claim_on(conn, free, now, limited, claimed)
        except (psycopg.Error, OSError):
            await self._claim_conn.drop()
            if not claimed:
                raise
            # Keep what an earlier statement of this round did claim; the next round retries.
        if claimed:
            self.stats["claimed"] += len(claimed)
            if _debug_enabled():
                by_agent: dict[str, int] = {}
                for t in claimed:
                    by_agent[t.agent_name] = by_agent.get(t.agent_name, 0) + 1
                log.debug(
                    "tasks_claimed",
                    worker=self.owner,
                    count=len(claimed),
                    by_agent=by_agent,
                    task_ids=[str(t.id) for t in claimed[:50]],
                    workflow_ids=sorted({str(t.workflow_id) for t in claimed if t.workflow_id})[
                        :50
                    ],
                )
        return claimed

    async def _claim_on(
        self,
        conn: Any,
        free: int,
        now: Any,
        limited: dict[str, int],
        claimed: list[ClaimedTask],
    ) -> None:
        cfg = self.config
        for agent, limit in limited.items():
            if free - len(claimed) <= 0:
                break
            async with conn.transaction():
                claimed += await tasks.claim_limited_agent(
                    conn,
                    agent=agent,
                    agent_limit=limit,
                    owner=self.owner,
                    limit=free - len(claimed),
                    lease_ms=cfg.lease_ms,
                    now=now,
                )
        unlimited_agents = (
            [a for a in cfg.agents if a not in limited] if cfg.agents is not None else None
        )
        if free - len(claimed) > 0 and unlimited_agents != []:
            claimed += await tasks.claim(
                conn,
                owner=self.owner,
                limit=free - len(claimed),
                lease_ms=cfg.lease_ms,
                agents=unlimited_agents,
                exclude_agents=list(cfg.agent_limits),
                now=now,
            )

    def _start(self, task: ClaimedTask) -> None:
        self._held[task.id] = task.lease_epoch
        loop = asyncio.get_running_loop()
        self._deadlines[task.id] = loop.time() + self.config.task_timeout_ms / 1000
        runner = asyncio.create_task(self._run_one(task), name=f"task:{task.id}")
        self._running[task.id] = (task, runner)

    # -- running --------------------------------------------------------------------------------

    async def _run_one(self, task: ClaimedTask) -> None:
        view = TaskView(
            id=task.id,
            agent_name=task.agent_name,
            task_type=task.task_type,
            payload=task.payload,
            attempt=task.attempts + 1,
            max_attempts=task.max_attempts,
            workflow_id=task.workflow_id,
            step=task.step,
            step_index=task.step_index,
        )
        ctx = AgentContext(
            db=self.db,
            llm=self.llm,
            clock=self.clock,
            log_fields=lambda: {
                "task_id": str(task.id),
                "agent": task.agent_name,
                "workflow_id": opt_str(task.workflow_id),
            },
        )
        # Each run is its own asyncio task with its own copy of the context: no reset needed.
        served_by.set(_ServedTask(task.id))
        started = time.perf_counter()
        result: AgentResult | None = None
        error: BaseException | None = None
        event_type = "succeeded"
        try:
            agent = self.registry.get(task.agent_name, task.task_type)
            result = await agent.run(view, ctx)
            if not isinstance(result, AgentResult):
                raise TypeError(
                    f"agent {task.agent_name} returned {type(result).__name__}, "
                    "expected AgentResult"
                )
        except asyncio.CancelledError:
            if task.id not in self._timed_out:
                self._deadlines.pop(task.id, None)
                self._running.pop(task.id, None)
                if self._stopping:
                    raise  # drained: released by _drain
                # Lease lost (heartbeat found it gone): nothing to write but the run's event.
                self._held.pop(task.id, None)
                self._slot_freed.set()
                await self._record_lease_lost(task, started, ctx)
                return
            # The watchdog cancelled it: TASK_TIMEOUT_MS passed. The cancellation was ours and
            # is handled here, so the task goes on as a normal (failed) run.
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            self._timed_out.discard(task.id)
            error = TimeoutError(
                f"task exceeded TASK_TIMEOUT_MS ({self.config.task_timeout_ms} ms)"
            )
            event_type = "timed_out"
        except Exception as exc:
            error = exc
            event_type = "failed"
        finally:
            self._deadlines.pop(task.id, None)
        latency = (time.perf_counter() - started) * 1000
        usage = ctx.usage
        info = error_info(error, task) if error is not None else None
        event = agent_events.AgentEvent(
            agent_name=task.agent_name,
            task_id=task.id,
            workflow_id=task.workflow_id,
            event_type=event_type,
            reasoning=result.reasoning if result else None,
            error=info,
            input_summary=task.input_summary,
            output=result.output if result else None,
            confidence=result.confidence if result else None,
            provider=usage.provider,
            model=usage.model,
            prompt_version=usage.prompt_version,
            tokens_in=usage.tokens_in if usage.provider else None,
            tokens_out=usage.tokens_out if usage.provider else None,
            cost_estimate=usage.cost_estimate if usage.provider else None,
            latency_ms=round(latency, 3),
        )
        if info is None:
            assert result is not None
            finished = Finished(task.id, task.lease_epoch, result=result.output)
            outcome = Outcome(task, finished, True, ctx.applies, event)
        else:
            finished = Finished(task.id, task.lease_epoch, error=info, retryable=info["retryable"])
            outcome = Outcome(task, finished, False, [], event)
        self._running.pop(task.id, None)
        self._completer.add(outcome)

    async def _record_lease_lost(
        self, task: ClaimedTask, started: float, ctx: AgentContext
    ) -> None:
        self.stats["lease_lost"] += 1
        log.warning(
            "lease_lost",
            worker=self.owner,
            task_id=str(task.id),
            agent=task.agent_name,
            workflow_id=opt_str(task.workflow_id),
            when="heartbeat",
        )
        event = agent_events.AgentEvent(
            agent_name=task.agent_name,
            task_id=task.id,
            workflow_id=task.workflow_id,
            event_type="lease_lost",
            error={"type": "LeaseLost", "message": "lease taken away while running"},
            input_summary=task.input_summary,
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
        )

        async def _write() -> None:
            async with self.db.transaction() as conn:
                await agent_events.record_many(conn, [event])

        await self._retrying("record_lease_lost", _write, attempts=3)

    async def _watchdog(self) -> None:
        """Cancel runs past TASK_TIMEOUT_MS (one timer for all tasks, not one per task)."""
        tick = min(1.0, self.config.task_timeout_ms / 1000 / 5)
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            for task_id, deadline in list(self._deadlines.items()):
                entry = self._running.get(task_id)
                if deadline <= now and entry is not None and not entry[1].done():
                    self._deadlines.pop(task_id, None)
                    self._timed_out.add(task_id)
                    entry[1].cancel()

    # -- heartbeats and notifications ------------------------------------------------------------

    async def _heartbeat_loop(self, stop: asyncio.Event) -> None:
        interval = (self.config.heartbeat_ms or self.config.lease_ms // 3) / 1000
        while True:
            await asyncio.sleep(interval)
            try:
                await self.heartbeat_once()
            except (psycopg.Error, OSError, TimeoutError) as exc:
                log.warning("heartbeat_failed", worker=self.owner, error=one_line(exc))

    async def heartbeat_once(self) -> set[UUID]:
        """Extend held leases; cancel runs whose lease is gone. Returns the ids lost."""
        held = list(self._held.items())
        async with self.db.transaction() as conn:
            extended = await tasks.heartbeat(
                conn, self.owner, held, lease_ms=self.config.lease_ms, now=self.clock.db_now()
            )
            await workers.heartbeat(conn, self.owner, running=len(self._held))
        lost = set()
        for task_id, _epoch in held:
            entry = self._running.get(task_id)
            # Only a task still executing can be cancelled; a finished one is the flush's call.
            if task_id not in extended and entry is not None and not entry[1].done():
                lost.add(task_id)
                entry[1].cancel()
        return lost

    async def _listen(self, stop: asyncio.Event) -> None:
        backoff = 0.1
        while not stop.is_set():
            try:
                conn = await self.db.connect_direct()
                try:
                    await conn.execute(f"LISTEN {tasks.NOTIFY_CHANNEL}")
                    backoff = 0.1
                    self._wake.set()  # anything enqueued while we were not listening
                    async for _note in conn.notifies():
                        self._wake.set()
                finally:
                    await conn.close()
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError, TimeoutError) as exc:
                log.warning(
                    "listen_failed", worker=self.owner, error=one_line(exc), retry_in_s=backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.config.max_backoff_s)

    # -- the workers table ----------------------------------------------------------------------

    async def _register(self) -> None:
        host, _, pid = self.owner.rpartition(":")
        async with self.db.transaction() as conn:
            await workers.register(
                conn,
                worker_id=self.owner,
                host=host or socket.gethostname(),
                pid=int(pid) if pid.isdigit() else os.getpid(),
                version=__version__,
                agents=self.config.agents,
                concurrency=self.config.concurrency,
            )

    async def _mark_draining(self) -> None:
        async with self.db.transaction(timeout=_SHUTDOWN_WAIT_S) as conn:
            await workers.set_status(conn, self.owner, "draining")

    async def _unregister(self) -> None:
        async with self.db.transaction(timeout=_SHUTDOWN_WAIT_S) as conn:
            await workers.set_status(conn, self.owner, "stopped")

    async def _retrying(
        self,
        what: str,
        fn: Any,
        attempts: int | None = None,
        stop: asyncio.Event | None = None,
    ) -> None:
        backoff = 0.1
        n = 0
        while stop is None or not stop.is_set():
            n += 1
            try:
                await fn()
                return
            except (psycopg.Error, OSError, TimeoutError) as exc:
                if attempts is not None and n >= attempts:
                    log.error(f"{what}_gave_up", worker=self.owner, error=one_line(exc))
                    return
                log.warning(
                    f"{what}_failed", worker=self.owner, error=one_line(exc), retry_in_s=backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.config.max_backoff_s)


# -- helpers ------------------------------------------------------------------------------------


async def _wait_any(*events: asyncio.Event, timeout: float) -> None:
    waits = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


class _ServedTask:
    __slots__ = ("task_id",)

    def __init__(self, task_id: UUID) -> None:
        self.task_id = task_id

    def __str__(self) -> str:
        return f"task:{self.task_id}"


def _debug_enabled() -> bool:
    return logging.getLogger("automechanica.worker").isEnabledFor(logging.DEBUG)
