"""The worker: claims tasks in batches, runs their agents, completes them in batches.

One asyncio process runs at most ``concurrency`` tasks at once. Its loops:

- claim: whenever slots are free, one statement claims up to that many tasks; when the queue is
  empty it waits for a NOTIFY from an enqueue (polling every ``poll_interval_ms`` as fallback);
- run: one asyncio task per claimed task, bounded by ``task_timeout_ms``;
- flush: finished runs are written in batches (every ``flush_ms`` or ``batch_max`` results),
  each batch one transaction: lock the still-held leases, run the agents' apply phases, complete
  and fail in one statement each (with their ``task_events``), advance workflows, write
  ``agent_events``. A slot is freed only once its task's outcome is committed;
- heartbeat: extends all held leases in one statement and refreshes the ``workers`` row; a
  task whose lease was taken away is cancelled (its result would be rejected anyway).

On stop it claims nothing more, lets running tasks finish for up to ``drain_timeout_ms``, then
releases the rest back to ``pending`` without counting an attempt. Database errors never crash
it: every loop logs, backs off and carries on.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

import psycopg

from automechanica import __version__
from automechanica.agents import events as agent_events
from automechanica.agents.base import AgentContext, AgentResult, ApplyFn, TaskView
from automechanica.agents.registry import AgentRegistry
from automechanica.clock import Clock, SystemClock
from automechanica.db.pool import Database, served_by
from automechanica.errors import NonRetryableError, UnknownAgent
from automechanica.logs import get_logger
from automechanica.queue import tasks, workers
from automechanica.queue.tasks import ClaimedTask, Completed, FailOutcome, Finished

log = get_logger("automechanica.worker")


class CompletionHooks(Protocol):
    """Called inside the transaction that completes or fails tasks (the orchestrator)."""

    async def on_completed(self, conn: Any, completed: Sequence[Completed]) -> None: ...

    async def on_failed(self, conn: Any, failed: Sequence[FailOutcome]) -> None: ...


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


@dataclass
class _Outcome:
    task: ClaimedTask
    finished: Finished
    ok: bool
    applies: list[ApplyFn]
    event: agent_events.AgentEvent
    attempts_to_flush: int = 0


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
        self._outbox: list[_Outcome] = []
        self._outbox_event = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._wake = asyncio.Event()
        self._stopping = False
        self._flush_lock = asyncio.Lock()

    # -- lifecycle -----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set, then drain and release; never raises on DB trouble."""
        await self._retrying("register", self._register)
        loops = [
            asyncio.create_task(self._listen(stop), name="listen"),
            asyncio.create_task(self._flush_loop(), name="flush"),
            asyncio.create_task(self._heartbeat_loop(stop), name="heartbeat"),
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
        # Outcomes of tasks that did finish are written before anything is released.
        for _ in range(3):
            if not self._outbox:
                break
            await self._flush_all()
        release = [(c.id, c.lease_epoch) for c, _ in leftovers if c.id in self._held]
        if release:

            async def _release() -> None:
                async with self.db.transaction() as conn:
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
                    "claim_failed", worker=self.owner, error=_one_line(exc), retry_in_s=backoff
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
        for agent, limit in limited.items():
            if free - len(claimed) <= 0:
                break
            async with self.db.transaction() as conn:
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
            async with self.db.connection() as conn:
                claimed += await tasks.claim(
                    conn,
                    owner=self.owner,
                    limit=free - len(claimed),
                    lease_ms=cfg.lease_ms,
                    agents=unlimited_agents,
                    exclude_agents=list(cfg.agent_limits),
                    now=now,
                )
                await conn.commit()
        if claimed:
            self.stats["claimed"] += len(claimed)
            log.debug("claimed", worker=self.owner, count=len(claimed))
        return claimed

    def _start(self, task: ClaimedTask) -> None:
        self._held[task.id] = task.lease_epoch
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
        bound = log.bind(
            task_id=str(task.id), agent=task.agent_name, workflow_id=_s(task.workflow_id)
        )
        ctx = AgentContext(db=self.db, llm=self.llm, log=bound, clock=self.clock)
        token = served_by.set(f"task:{task.id}")
        started = time.perf_counter()
        result: AgentResult | None = None
        error: BaseException | None = None
        event_type = "succeeded"
        try:
            agent = self.registry.get(task.agent_name, task.task_type)
            async with asyncio.timeout(self.config.task_timeout_ms / 1000):
                result = await agent.run(view, ctx)
            if not isinstance(result, AgentResult):
                raise TypeError(
                    f"agent {task.agent_name} returned {type(result).__name__}, "
                    "expected AgentResult"
                )
        except asyncio.CancelledError:
            served_by.reset(token)
            self._running.pop(task.id, None)
            if self._stopping:
                raise  # drained: released by _drain
            # Lease lost (heartbeat found it gone): nothing to write but the run's event.
            self._held.pop(task.id, None)
            self._slot_freed.set()
            await self._record_lease_lost(task, started, ctx)
            return
        except TimeoutError:
            error = TimeoutError(
                f"task exceeded TASK_TIMEOUT_MS ({self.config.task_timeout_ms} ms)"
            )
            event_type = "timed_out"
        except Exception as exc:
            error = exc
            event_type = "failed"
        finally:
            if served_by.get() == f"task:{task.id}":
                served_by.reset(token)
        latency = (time.perf_counter() - started) * 1000
        usage = ctx.usage
        event = agent_events.AgentEvent(
            agent_name=task.agent_name,
            task_id=task.id,
            workflow_id=task.workflow_id,
            event_type=event_type,
            reasoning=result.reasoning if result else None,
            error=_error_info(error, task) if error else None,
            input_summary=tasks.summarise_payload(task.payload),
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
        if error is None:
            assert result is not None
            finished = Finished(task.id, task.lease_epoch, result=result.output)
            outcome = _Outcome(task, finished, True, ctx.applies, event)
        else:
            retryable = not isinstance(error, NonRetryableError | UnknownAgent)
            finished = Finished(
                task.id, task.lease_epoch, error=_error_info(error, task), retryable=retryable
            )
            outcome = _Outcome(task, finished, False, [], event)
        self._running.pop(task.id, None)
        self._outbox.append(outcome)
        self._outbox_event.set()

    async def _record_lease_lost(
        self, task: ClaimedTask, started: float, ctx: AgentContext
    ) -> None:
        self.stats["lease_lost"] += 1
        log.warning(
            "lease_lost",
            worker=self.owner,
            task_id=str(task.id),
            agent=task.agent_name,
            workflow_id=_s(task.workflow_id),
            when="heartbeat",
        )
        event = agent_events.AgentEvent(
            agent_name=task.agent_name,
            task_id=task.id,
            workflow_id=task.workflow_id,
            event_type="lease_lost",
            error={"type": "LeaseLost", "message": "lease taken away while running"},
            input_summary=tasks.summarise_payload(task.payload),
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
        )

        async def _write() -> None:
            async with self.db.transaction() as conn:
                await agent_events.record_many(conn, [event])

        await self._retrying("record_lease_lost", _write, attempts=3)

    # -- flushing -------------------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        backoff = 0.05
        while True:
            await self._outbox_event.wait()
            if len(self._outbox) < self.config.batch_max and self.config.flush_ms > 0:
                await asyncio.sleep(self.config.flush_ms / 1000)
            self._outbox_event.clear()
            try:
                await self._flush_all()
                backoff = 0.05
            except (psycopg.Error, OSError, TimeoutError) as exc:
                log.warning(
                    "flush_failed",
                    worker=self.owner,
                    pending=len(self._outbox),
                    error=_one_line(exc),
                    retry_in_s=backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.config.max_backoff_s)
                self._outbox_event.set()

    async def _flush_all(self) -> None:
        async with self._flush_lock:
            while self._outbox:
                batch = self._outbox[: self.config.batch_max]
                for item in batch:
                    item.attempts_to_flush += 1
                await self._flush(batch)
                del self._outbox[: len(batch)]

    async def _flush(self, batch: list[_Outcome]) -> None:
        ok = [o for o in batch if o.ok]
        failed = [o for o in batch if not o.ok]
        now = self.clock.db_now()
        async with self.db.transaction() as conn:
            with_applies = [o for o in ok if o.applies]
            if with_applies:
                held = await tasks.lock_held(
                    conn, self.owner, [(o.task.id, o.task.lease_epoch) for o in with_applies]
                )
                for outcome in with_applies:
                    if outcome.task.id not in held:
                        continue
                    try:
                        async with conn.transaction():
                            for fn in outcome.applies:
                                await fn(conn)
                    except Exception as exc:
                        # The apply phase failed: the task fails instead of completing.
                        outcome.ok = False
                        info = _error_info(exc, outcome.task)
                        outcome.finished = Finished(
                            outcome.task.id, outcome.task.lease_epoch, error=info, retryable=True
                        )
                        outcome.event = _replace_event(outcome.event, "failed", info)
                ok = [o for o in ok if o.ok]
                failed = [o for o in batch if not o.ok]
            completed = await tasks.complete_many(
                conn, self.owner, [o.finished for o in ok], now=now
            )
            fail_out = await tasks.fail_many(
                conn,
                self.owner,
                [o.finished for o in failed],
                retry_base_ms=self.config.retry_base_ms,
                now=now,
            )
            if self.hooks is not None:
                if completed:
                    await self.hooks.on_completed(conn, completed)
                if fail_out:
                    await self.hooks.on_failed(conn, fail_out)
            confirmed = {c.id for c in completed} | {f.id for f in fail_out}
            lost = [o for o in batch if o.task.id not in confirmed]
            if lost and any(o.attempts_to_flush > 1 for o in lost):
                lost = await self._not_already_written(conn, lost)
            for o in lost:
                o.event = _replace_event(
                    o.event,
                    "lease_lost",
                    {
                        "type": "LeaseLost",
                        "message": "lease was lost before the outcome was written; discarded",
                    },
                )
            await agent_events.record_many(
                conn, [o.event for o in batch if o.task.id in confirmed] + [o.event for o in lost]
            )
        # Committed: free the slots.
        for o in batch:
            self._held.pop(o.task.id, None)
        self._slot_freed.set()
        self.stats["completed"] += len(completed)
        for f in fail_out:
            self.stats["dead" if f.status == "dead" else "failed"] += 1
            outcome = next(o for o in failed if o.task.id == f.id)
            info = outcome.finished.error or {}
            fields = dict(
                worker=self.owner,
                task_id=str(f.id),
                agent=f.agent_name,
                workflow_id=_s(f.workflow_id),
                attempt=f.attempts,
                error_type=info.get("type"),
                error=info.get("message"),
            )
            if f.status == "dead":
                log.error("task_dead", **fields)
            else:
                log.warning("task_failed", next_retry_at=f.available_at.isoformat(), **fields)
        for o in lost:
            self.stats["lease_lost"] += 1
            log.warning(
                "lease_lost",
                worker=self.owner,
                task_id=str(o.task.id),
                agent=o.task.agent_name,
                workflow_id=_s(o.task.workflow_id),
                when="completion",
            )

    async def _not_already_written(self, conn: Any, lost: list[_Outcome]) -> list[_Outcome]:
        """After an ambiguous commit, drop the outcomes our earlier try did write."""
        cur = await conn.execute(
            "SELECT t.id FROM tasks t JOIN unnest(%s::uuid[], %s::bigint[]) AS i(id, epoch) "
            "ON t.id = i.id AND t.lease_epoch = i.epoch "
            "WHERE t.lease_owner = %s AND t.status <> 'running'",
            ([o.task.id for o in lost], [o.task.lease_epoch for o in lost], self.owner),
        )
        written = {row[0] for row in await cur.fetchall()}
        return [o for o in lost if o.task.id not in written]

    # -- heartbeats and notifications ------------------------------------------------------------

    async def _heartbeat_loop(self, stop: asyncio.Event) -> None:
        interval = (self.config.heartbeat_ms or self.config.lease_ms // 3) / 1000
        while True:
            await asyncio.sleep(interval)
            try:
                await self.heartbeat_once()
            except (psycopg.Error, OSError, TimeoutError) as exc:
                log.warning("heartbeat_failed", worker=self.owner, error=_one_line(exc))

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
                    "listen_failed", worker=self.owner, error=_one_line(exc), retry_in_s=backoff
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
        async with self.db.transaction() as conn:
            await workers.set_status(conn, self.owner, "draining")

    async def _unregister(self) -> None:
        async with self.db.transaction() as conn:
            await workers.set_status(conn, self.owner, "stopped")

    async def _retrying(self, what: str, fn: Any, attempts: int | None = None) -> None:
        backoff = 0.1
        n = 0
        while True:
            n += 1
            try:
                await fn()
                return
            except (psycopg.Error, OSError, TimeoutError) as exc:
                if attempts is not None and n >= attempts:
                    log.error(f"{what}_gave_up", worker=self.owner, error=_one_line(exc))
                    return
                log.warning(
                    f"{what}_failed", worker=self.owner, error=_one_line(exc), retry_in_s=backoff
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


def _error_info(error: BaseException, task: ClaimedTask) -> dict[str, Any]:
    tb = traceback.format_exception(type(error), error, error.__traceback__, limit=-3)
    return {
        "type": type(error).__name__,
        "message": str(error)[:2000],
        "traceback": "".join(tb)[-2000:],
        "retryable": not isinstance(error, NonRetryableError | UnknownAgent),
        "attempt": task.attempts + 1,
    }


def _replace_event(
    event: agent_events.AgentEvent, event_type: str, error: dict[str, Any]
) -> agent_events.AgentEvent:
    from dataclasses import replace

    return replace(event, event_type=event_type, error=error, output=None)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _s(value: Any) -> str | None:
    return str(value) if value is not None else None
