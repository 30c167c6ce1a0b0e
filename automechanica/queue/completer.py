"""The completer: writes finished runs in batches, each batch one transaction.

A batch locks the rows of the leases the worker still holds (so a rescuer waits for it), runs
the agents' apply phases in savepoints, completes and fails tasks in one statement each (each
also writing its ``task_events``), lets the hooks advance workflows, and writes the runs'
``agent_events``. Only when that commits does ``on_written`` free the runs' slots. A connection
error keeps the batch for a retry; an outcome the database refuses is written on its own, as a
failure if need be, so it cannot block the others.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol
from uuid import UUID

import psycopg

from automechanica.agents import events as agent_events
from automechanica.agents.base import ApplyFn
from automechanica.clock import Clock
from automechanica.db.pool import Database, DedicatedConnection
from automechanica.errors import NonRetryableError, UnknownAgent
from automechanica.logs import get_logger
from automechanica.queue import tasks
from automechanica.queue.tasks import ClaimedTask, Completed, FailOutcome, Finished

log = get_logger("automechanica.worker")


class CompletionHooks(Protocol):
    """Called inside the transaction that completes or fails tasks (the orchestrator)."""

    async def on_completed(self, conn: Any, completed: Sequence[Completed]) -> None: ...

    async def on_failed(self, conn: Any, failed: Sequence[FailOutcome]) -> None: ...


@dataclass
class Outcome:
    """One finished run waiting to be written."""

    task: ClaimedTask
    finished: Finished
    ok: bool
    applies: list[ApplyFn]
    event: agent_events.AgentEvent
    attempts_to_flush: int = 0


class Completer:
    def __init__(
        self,
        db: Database,
        *,
        owner: str,
        clock: Clock,
        hooks: CompletionHooks | None,
        on_written: Callable[[list[UUID]], None],
        stats: dict[str, int],
        retry_base_ms: int,
        batch_max: int,
        flush_ms: float,
        max_backoff_s: float,
    ) -> None:
        self.owner = owner
        self.clock = clock
        self.hooks = hooks
        self.stats = stats
        self.retry_base_ms = retry_base_ms
        self.batch_max = batch_max
        self.flush_ms = flush_ms
        self.max_backoff_s = max_backoff_s
        self._on_written = on_written
        self._conn = DedicatedConnection(db)
        self._outbox: list[Outcome] = []
        self._event = asyncio.Event()
        self._lock = asyncio.Lock()

    @property
    def pending(self) -> int:
        return len(self._outbox)

    def add(self, outcome: Outcome) -> None:
        self._outbox.append(outcome)
        self._event.set()

    async def close(self) -> None:
        await self._conn.close()

    async def run(self) -> None:
        """Flush whenever outcomes wait: every ``flush_ms`` or ``batch_max`` of them."""
        backoff = 0.05
        while True:
            await self._event.wait()
            if len(self._outbox) < self.batch_max and self.flush_ms > 0:
                await asyncio.sleep(self.flush_ms / 1000)
            self._event.clear()
            try:
                await self.flush_all()
                backoff = 0.05
            except (psycopg.Error, OSError, TimeoutError) as exc:
                log.warning(
                    "flush_failed",
                    worker=self.owner,
                    pending=len(self._outbox),
                    error=one_line(exc),
                    retry_in_s=backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                self._event.set()

    async def flush_all(self) -> None:
        """Write everything waiting (raises when the database is unreachable)."""
        async with self._lock:
            while self._outbox:
                batch = self._outbox[: self.batch_max]
                for item in batch:
                    item.attempts_to_flush += 1
                try:
                    await self._flush(batch)
                except (psycopg.OperationalError, psycopg.InterfaceError, OSError):
                    raise  # the database is unreachable: keep everything, retry later
                except psycopg.Error as exc:
                    # Something in this batch cannot be written (say a result jsonb rejects):
                    # write the rest one by one so one bad outcome cannot block the worker.
                    log.error("flush_rejected", worker=self.owner, error=one_line(exc))
                    await self._flush_singly(batch)
                del self._outbox[: len(batch)]

    async def _flush_singly(self, batch: list[Outcome]) -> None:
        for outcome in batch:
            try:
                await self._flush([outcome])
                continue
            except (psycopg.OperationalError, psycopg.InterfaceError, OSError):
                raise
            except psycopg.Error as exc:
                info = {
                    "type": "OutcomeNotStored",
                    "message": f"the outcome could not be written: {one_line(exc)}",
                    "retryable": False,
                    "attempt": outcome.task.attempts + 1,
                }
            # Record the run as a non-retryable failure instead; if even that cannot be
            # written, drop it: the lease expires and the rescuer takes the task back.
            outcome.ok = False
            outcome.applies = []
            outcome.finished = Finished(
                outcome.task.id, outcome.task.lease_epoch, error=info, retryable=False
            )
            outcome.event = replace_event(outcome.event, "failed", info)
            try:
                await self._flush([outcome])
            except (psycopg.OperationalError, psycopg.InterfaceError, OSError):
                raise
            except psycopg.Error as exc:
                log.error(
                    "outcome_dropped",
                    worker=self.owner,
                    task_id=str(outcome.task.id),
                    error=one_line(exc),
                )
                self._on_written([outcome.task.id])

    async def _flush(self, batch: list[Outcome]) -> None:
        conn = await self._conn.get()
        try:
            written = await self._flush_on(conn, batch)
        except (psycopg.OperationalError, psycopg.InterfaceError, OSError):
            await self._conn.drop()
            raise
        self._after_flush(batch, *written)

    async def _flush_on(
        self, conn: Any, batch: list[Outcome]
    ) -> tuple[list[Completed], list[FailOutcome], list[Outcome]]:
        now = self.clock.db_now()
        async with conn.transaction():
            with_applies = [o for o in batch if o.ok and o.applies]
            if with_applies:
                held = await tasks.lock_held(
                    conn, self.owner, [(o.task.id, o.task.lease_epoch) for o in with_applies]
                )
                for outcome in with_applies:
                    if outcome.task.id in held:
                        await self._apply(conn, outcome)
            ok = [o for o in batch if o.ok]
            failed = [o for o in batch if not o.ok]
            completed = await tasks.complete_many(
                conn, self.owner, [o.finished for o in ok], now=now
            )
            fail_out = await tasks.fail_many(
                conn,
                self.owner,
                [o.finished for o in failed],
                retry_base_ms=self.retry_base_ms,
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
                o.event = replace_event(
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
        return completed, fail_out, lost

    async def _apply(self, conn: Any, outcome: Outcome) -> None:
        """Run one task's apply phase in a savepoint; an error turns the run into a failure."""
        try:
            async with conn.transaction():
                for fn in outcome.applies:
                    await fn(conn)
        except (psycopg.OperationalError, psycopg.InterfaceError):
            raise  # the connection, not the agent: the whole batch is retried
        except Exception as exc:
            info = error_info(exc, outcome.task)
            outcome.ok = False
            outcome.finished = Finished(
                outcome.task.id, outcome.task.lease_epoch, error=info, retryable=True
            )
            outcome.event = replace_event(outcome.event, "failed", info)

    def _after_flush(
        self,
        batch: list[Outcome],
        completed: list[Completed],
        fail_out: list[FailOutcome],
        lost: list[Outcome],
    ) -> None:
        self._on_written([o.task.id for o in batch])
        self.stats["completed"] += len(completed)
        by_id = {o.task.id: o for o in batch}
        for f in fail_out:
            self.stats["dead" if f.status == "dead" else "failed"] += 1
            info = by_id[f.id].finished.error or {}
            fields = dict(
                worker=self.owner,
                task_id=str(f.id),
                agent=f.agent_name,
                workflow_id=opt_str(f.workflow_id),
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
                workflow_id=opt_str(o.task.workflow_id),
                when="completion",
            )

    async def _not_already_written(self, conn: Any, lost: list[Outcome]) -> list[Outcome]:
        """After an ambiguous commit, drop the outcomes an earlier try of ours did write.

        Our write left a ``task_events`` row out of ``running`` with us as the actor for this
        attempt; a rescue is recorded by ``system:rescuer`` instead.
        """
        cur = await conn.execute(
            "SELECT e.task_id FROM task_events e "
            "JOIN unnest(%s::uuid[], %s::int[]) AS i(id, attempt) "
            "ON e.task_id = i.id AND e.attempt = i.attempt "
            "WHERE e.actor = %s AND e.from_status = 'running'",
            ([o.task.id for o in lost], [o.task.attempts + 1 for o in lost], self.owner),
        )
        written = {row[0] for row in await cur.fetchall()}
        return [o for o in lost if o.task.id not in written]


def error_info(error: BaseException, task: ClaimedTask) -> dict[str, Any]:
    tb = traceback.format_exception(type(error), error, error.__traceback__, limit=-3)
    return {
        "type": type(error).__name__,
        "message": str(error)[:2000],
        "traceback": "".join(tb)[-2000:],
        "retryable": not isinstance(error, NonRetryableError | UnknownAgent),
        "attempt": task.attempts + 1,
    }


def replace_event(
    event: agent_events.AgentEvent, event_type: str, error: dict[str, Any]
) -> agent_events.AgentEvent:
    return replace(event, event_type=event_type, error=error, output=None)


def one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def opt_str(value: Any) -> str | None:
    return str(value) if value is not None else None
