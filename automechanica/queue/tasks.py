"""The task repository: the only module that issues SQL against ``tasks`` and ``task_events``.

The caller owns the transaction: every function takes a connection and never commits. Each
state change is one statement guarded by the expected current state (and, for the lease holder,
by owner and epoch) that also writes its ``task_events`` rows, so history costs no extra round
trip. ``now`` parameters are for an injected clock; ``None`` means the database's ``now()``.

It is longer than our usual module on purpose: it is the one home of the task SQL, so every
statement that can change a task's state can be read (and its guards compared) in one place.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.rows import dict_row

from automechanica.errors import IllegalTransition, NotFound
from automechanica.queue import states
from automechanica.queue.ids import uuid7_many
from automechanica.queue.states import Transition

NOTIFY_CHANNEL = "automechanica_tasks"


@dataclass(frozen=True)
class NewTask:
    agent_name: str
    task_type: str
    payload: dict[str, Any] = field(default_factory=dict)
    priority: int = 5
    available_at: datetime | None = None
    max_attempts: int = 3
    idempotency_key: str | None = None
    workflow_id: UUID | None = None
    step: str | None = None
    step_index: int | None = None


@dataclass(frozen=True)
class ClaimedTask:
    id: UUID
    agent_name: str
    task_type: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    lease_epoch: int
    workflow_id: UUID | None
    step: str | None
    step_index: int | None
    priority: int
    created_at: datetime
    input_summary: str = ""


@dataclass(frozen=True)
class Finished:
    """One lease holder's outcome for a task, for the batched complete/fail statements."""

    id: UUID
    epoch: int
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    retryable: bool = True


@dataclass(frozen=True)
class FailOutcome:
    id: UUID
    status: str
    attempts: int
    available_at: datetime
    workflow_id: UUID | None
    agent_name: str


# -- enqueue -------------------------------------------------------------------------------

_ENQUEUE = f"""
WITH input AS (
    SELECT * FROM jsonb_to_recordset(%(tasks)s::jsonb)
        AS i(id uuid, agent_name text, task_type text, payload jsonb, priority smallint,
             available_at timestamptz, max_attempts int, idempotency_key text,
             workflow_id uuid, step text, step_index int)
), ins AS (
    INSERT INTO tasks (id, agent_name, task_type, payload, priority, available_at,
                       max_attempts, idempotency_key, workflow_id, step, step_index,
                       created_at, updated_at)
    SELECT id, agent_name, task_type, payload, priority,
           coalesce(available_at, coalesce(%(now)s, now())), max_attempts, idempotency_key,
           workflow_id, step, step_index, coalesce(%(now)s, now()), coalesce(%(now)s, now())
    FROM input
    ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id
), ev AS (
    INSERT INTO task_events (task_id, from_status, to_status, actor, reason, at)
    SELECT id, NULL, 'pending', %(actor)s, 'enqueued', coalesce(%(now)s, now()) FROM ins
), note AS (
    SELECT pg_notify('{NOTIFY_CHANNEL}', '') FROM (SELECT 1 FROM ins LIMIT 1) AS one
)
SELECT ins.id FROM ins, (SELECT count(*) FROM note) AS notified
"""

# Without idempotency keys every row is inserted (the ids are fresh), so there is nothing to
# map back: count instead of shipping every id back to the client.
_ENQUEUE_UNKEYED = _ENQUEUE.replace(
    "SELECT ins.id FROM ins, (SELECT count(*) FROM note) AS notified",
    "SELECT count(*) FROM ins, (SELECT count(*) FROM note) AS notified",
)


async def enqueue(
    conn: Any,
    tasks: Sequence[NewTask],
    *,
    actor: str = "producer",
    now: datetime | None = None,
) -> list[UUID]:
    """Insert ``tasks`` in one statement; return their ids in input order.

    A task whose idempotency key already exists is not inserted again: its slot in the result
    holds the id of the existing task. One NOTIFY wakes idle workers per call.
    """
    if not tasks:
        return []
    ids = uuid7_many(len(tasks))
    # One JSON document carries the whole batch: far cheaper to build than typed arrays.
    doc = [_task_doc(i, t) for i, t in zip(ids, tasks, strict=True)]
    params = {"tasks": _json(doc), "actor": actor, "now": now}
    if all(t.idempotency_key is None for t in tasks):
        await conn.execute(_ENQUEUE_UNKEYED, params)
        return ids
    cur = await conn.execute(_ENQUEUE, params)
    inserted = {row[0] for row in await cur.fetchall()}
    if len(inserted) == len(ids):
        return ids
    missing = [t.idempotency_key for i, t in zip(ids, tasks, strict=True) if i not in inserted]
    cur = await conn.execute(
        "SELECT idempotency_key, id FROM tasks WHERE idempotency_key = ANY(%s)", (missing,)
    )
    existing = {row[0]: row[1] for row in await cur.fetchall()}
    return [
        i if i in inserted else existing[t.idempotency_key] for i, t in zip(ids, tasks, strict=True)
    ]


def _task_doc(task_id: UUID, t: NewTask) -> dict[str, Any]:
    # Keys left out are NULL for jsonb_to_recordset; most tasks have most of them unset.
    doc: dict[str, Any] = {
        "id": str(task_id),
        "agent_name": t.agent_name,
        "task_type": t.task_type,
        "payload": t.payload,
        "priority": t.priority,
        "max_attempts": t.max_attempts,
    }
    if t.available_at is not None:
        doc["available_at"] = t.available_at.isoformat()
    if t.idempotency_key is not None:
        doc["idempotency_key"] = t.idempotency_key
    if t.workflow_id is not None:
        doc["workflow_id"] = str(t.workflow_id)
        doc["step"] = t.step
        doc["step_index"] = t.step_index
    return doc


async def enqueue_one(conn: Any, task: NewTask, **kwargs: Any) -> UUID:
    return (await enqueue(conn, [task], **kwargs))[0]


# -- claim ---------------------------------------------------------------------------------

_CLAIM = """
WITH picked AS (
    SELECT id FROM tasks
    WHERE status = 'pending'
      AND available_at <= coalesce(%(now)s, now())
      AND (%(agents)s::text[] IS NULL OR agent_name = ANY(%(agents)s::text[]))
      AND NOT (agent_name = ANY(%(excluded)s::text[]))
    ORDER BY priority, available_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE tasks AS t
    SET status = 'running', lease_owner = %(owner)s, lease_epoch = t.lease_epoch + 1,
        lease_expires_at = coalesce(%(now)s, now()) + %(lease_ms)s * interval '1 millisecond',
        started_at = coalesce(%(now)s, now()), updated_at = coalesce(%(now)s, now())
    -- = ANY(ARRAY(...)) keeps the plan a primary-key lookup per picked row; a join lets the
    -- planner hash a scan of the whole table once it believes the table is small.
    WHERE t.id = ANY(ARRAY(SELECT id FROM picked))
    RETURNING t.id, t.agent_name, t.task_type, t.payload, t.attempts, t.max_attempts,
              t.lease_epoch, t.workflow_id, t.step, t.step_index, t.priority, t.created_at,
              left(t.payload::text, 500) AS input_summary
), ev AS (
    INSERT INTO task_events (task_id, from_status, to_status, actor, attempt, at)
    SELECT id, 'pending', 'running', %(owner)s, attempts + 1, coalesce(%(now)s, now())
    FROM claimed
)
SELECT * FROM claimed
"""


async def claim(
    conn: Any,
    *,
    owner: str,
    limit: int,
    lease_ms: int,
    agents: Sequence[str] | None = None,
    exclude_agents: Sequence[str] = (),
    now: datetime | None = None,
) -> list[ClaimedTask]:
    """Take up to ``limit`` available tasks in one statement, highest priority then oldest."""
    if limit <= 0:
        return []
    cur = await conn.execute(
        _CLAIM,
        {
            "owner": owner,
            "limit": limit,
            "lease_ms": lease_ms,
            "agents": list(agents) if agents is not None else None,
            "excluded": list(exclude_agents),
            "now": now,
        },
    )
    return [ClaimedTask(*row) for row in await cur.fetchall()]


async def claim_limited_agent(
    conn: Any,
    *,
    agent: str,
    agent_limit: int,
    owner: str,
    limit: int,
    lease_ms: int,
    now: datetime | None = None,
) -> list[ClaimedTask]:
    """Claim for an agent with a cluster-wide concurrency limit. Must run inside a transaction.

    The advisory lock serialises claimers of this agent until commit, so two workers cannot
    both see a free slot and together exceed the limit.
    """
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('automechanica.agent_limit'), hashtext(%s))",
        (agent,),
    )
    cur = await conn.execute(
        "SELECT count(*) FROM tasks WHERE status = 'running' AND agent_name = %s", (agent,)
    )
    row = await cur.fetchone()
    free = agent_limit - (row[0] if row else 0)
    return await claim(
        conn, owner=owner, limit=min(limit, free), lease_ms=lease_ms, agents=[agent], now=now
    )


# -- the lease holder's transitions ----------------------------------------------------------

_LOCK_HELD = """
SELECT t.id FROM tasks AS t
JOIN unnest(%(ids)s::uuid[], %(epochs)s::bigint[]) AS i(id, epoch)
  ON t.id = i.id AND t.lease_epoch = i.epoch
WHERE t.status = 'running' AND t.lease_owner = %(owner)s
ORDER BY t.id
FOR UPDATE OF t
"""


async def lock_held(conn: Any, owner: str, held: Sequence[tuple[UUID, int]]) -> set[UUID]:
    """Lock the rows of the tasks whose lease ``owner`` still holds; return their ids.

    Inside a transaction this fences the lease until commit: a rescuer's update waits.
    """
    if not held:
        return set()
    cur = await conn.execute(
        _LOCK_HELD,
        {"ids": [h[0] for h in held], "epochs": [h[1] for h in held], "owner": owner},
    )
    return {row[0] for row in await cur.fetchall()}


_COMPLETE = """
WITH input AS (
    SELECT * FROM jsonb_to_recordset(%(finished)s::jsonb) AS i(id uuid, epoch bigint, result jsonb)
), done AS (
    UPDATE tasks AS t
    SET status = 'completed', result = i.result, lease_expires_at = NULL,
        finished_at = coalesce(%(now)s, now()), updated_at = coalesce(%(now)s, now())
    FROM input AS i
    WHERE t.id = i.id AND t.lease_epoch = i.epoch AND t.lease_owner = %(owner)s
      AND t.status = 'running'
    RETURNING t.id, t.workflow_id, t.step, t.step_index, t.attempts,
              -- Only the orchestrator reads results back; don't ship them otherwise.
              CASE WHEN t.workflow_id IS NOT NULL THEN t.result END AS result
), ev AS (
    INSERT INTO task_events (task_id, from_status, to_status, actor, attempt, at)
    SELECT id, 'running', 'completed', %(owner)s, attempts + 1, coalesce(%(now)s, now())
    FROM done
)
SELECT id, workflow_id, step, step_index, result FROM done
"""


@dataclass(frozen=True)
class Completed:
    id: UUID
    workflow_id: UUID | None
    step: str | None
    step_index: int | None
    result: Any


async def complete_many(
    conn: Any, owner: str, finished: Sequence[Finished], *, now: datetime | None = None
) -> list[Completed]:
    """Complete tasks whose lease ``owner`` still holds; the rest are absent (lease lost)."""
    if not finished:
        return []
    doc = [{"id": str(f.id), "epoch": f.epoch, "result": f.result} for f in finished]
    cur = await conn.execute(_COMPLETE, {"finished": _json(doc), "owner": owner, "now": now})
    return [Completed(*row) for row in await cur.fetchall()]


_FAIL = """
WITH input AS (
    SELECT * FROM jsonb_to_recordset(%(finished)s::jsonb)
        AS i(id uuid, epoch bigint, error jsonb, retryable boolean)
), failed AS (
    UPDATE tasks AS t
    SET attempts = t.attempts + 1,
        status = CASE WHEN i.retryable AND t.attempts + 1 < t.max_attempts
                      THEN 'pending' ELSE 'dead' END,
        available_at = CASE WHEN i.retryable AND t.attempts + 1 < t.max_attempts
                            THEN coalesce(%(now)s, now())
                                 + (t.attempts + 1) * (t.attempts + 1) * %(base_ms)s
                                   * interval '1 millisecond'
                            ELSE t.available_at END,
        finished_at = CASE WHEN i.retryable AND t.attempts + 1 < t.max_attempts
                           THEN NULL ELSE coalesce(%(now)s, now()) END,
        error_info = i.error || jsonb_build_object('attempt', t.attempts + 1),
        lease_expires_at = NULL, updated_at = coalesce(%(now)s, now())
    FROM input AS i
    WHERE t.id = i.id AND t.lease_epoch = i.epoch AND t.lease_owner = %(owner)s
      AND t.status = 'running'
    RETURNING t.id, t.status, t.attempts, t.available_at, t.workflow_id, t.agent_name,
              t.error_info
), ev AS (
    INSERT INTO task_events (task_id, from_status, to_status, actor, reason, attempt, at)
    SELECT id, 'running', status, %(owner)s,
           left(coalesce(error_info ->> 'type', 'Error') || ': '
                || coalesce(error_info ->> 'message', ''), 500),
           attempts, coalesce(%(now)s, now())
    FROM failed
)
SELECT id, status, attempts, available_at, workflow_id, agent_name FROM failed
"""


async def fail_many(
    conn: Any,
    owner: str,
    finished: Sequence[Finished],
    *,
    retry_base_ms: int,
    now: datetime | None = None,
) -> list[FailOutcome]:
    """Record failed attempts: back to ``pending`` with backoff, or ``dead`` when out of tries."""
    if not finished:
        return []
    doc = [
        {"id": str(f.id), "epoch": f.epoch, "error": f.error or {}, "retryable": f.retryable}
        for f in finished
    ]
    cur = await conn.execute(
        _FAIL,
        {
            "finished": _json(doc),
            "owner": owner,
            "base_ms": retry_base_ms,
            "now": now,
        },
    )
    return [FailOutcome(*row) for row in await cur.fetchall()]


_HEARTBEAT = """
UPDATE tasks AS t
SET lease_expires_at = coalesce(%(now)s, now()) + %(lease_ms)s * interval '1 millisecond'
FROM unnest(%(ids)s::uuid[], %(epochs)s::bigint[]) AS i(id, epoch)
WHERE t.id = i.id AND t.lease_epoch = i.epoch AND t.lease_owner = %(owner)s
  AND t.status = 'running'
RETURNING t.id
"""


async def heartbeat(
    conn: Any,
    owner: str,
    held: Sequence[tuple[UUID, int]],
    *,
    lease_ms: int,
    now: datetime | None = None,
) -> set[UUID]:
    """Extend every lease ``owner`` still holds in one statement; return the ids extended."""
    if not held:
        return set()
    cur = await conn.execute(
        _HEARTBEAT,
        {
            "ids": [h[0] for h in held],
            "epochs": [h[1] for h in held],
            "owner": owner,
            "lease_ms": lease_ms,
            "now": now,
        },
    )
    return {row[0] for row in await cur.fetchall()}


_RELEASE = """
WITH released AS (
    UPDATE tasks AS t
    SET status = 'pending', lease_expires_at = NULL, available_at = coalesce(%(now)s, now()),
        updated_at = coalesce(%(now)s, now())
    FROM unnest(%(ids)s::uuid[], %(epochs)s::bigint[]) AS i(id, epoch)
    WHERE t.id = i.id AND t.lease_epoch = i.epoch AND t.lease_owner = %(owner)s
      AND t.status = 'running'
    RETURNING t.id, t.attempts
), ev AS (
    INSERT INTO task_events (task_id, from_status, to_status, actor, reason, attempt, at)
    SELECT id, 'running', 'pending', %(owner)s, %(reason)s, attempts + 1,
           coalesce(%(now)s, now())
    FROM released
), note AS (
    SELECT pg_notify('automechanica_tasks', '') FROM (SELECT 1 FROM released LIMIT 1) AS one
)
SELECT released.id FROM released, (SELECT count(*) FROM note) AS notified
"""


async def release_many(
    conn: Any,
    owner: str,
    held: Sequence[tuple[UUID, int]],
    *,
    reason: str = "worker shutting down",
    now: datetime | None = None,
) -> set[UUID]:
    """Give tasks back to ``pending`` without counting an attempt (graceful shutdown)."""
    if not held:
        return set()
    cur = await conn.execute(
        _RELEASE,
        {
            "ids": [h[0] for h in held],
            "epochs": [h[1] for h in held],
            "owner": owner,
            "reason": reason,
            "now": now,
        },
    )
    return {row[0] for row in await cur.fetchall()}


# -- maintenance -----------------------------------------------------------------------------

_RESCUE = """
WITH expired AS (
    SELECT id FROM tasks
    WHERE status = 'running' AND lease_expires_at < coalesce(%(now)s, now())
    ORDER BY lease_expires_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), rescued AS (
    UPDATE tasks AS t
    SET attempts = t.attempts + 1,
        status = CASE WHEN t.attempts + 1 < t.max_attempts THEN 'pending' ELSE 'dead' END,
        available_at = coalesce(%(now)s, now()),
        finished_at = CASE WHEN t.attempts + 1 < t.max_attempts
                           THEN NULL ELSE coalesce(%(now)s, now()) END,
        error_info = jsonb_build_object(
            'type', 'LeaseExpired',
            'message', format('lease of %%s expired at %%s without a heartbeat',
                              t.lease_owner, t.lease_expires_at),
            'attempt', t.attempts + 1),
        lease_expires_at = NULL, updated_at = coalesce(%(now)s, now())
    FROM expired
    WHERE t.id = expired.id
    RETURNING t.id, t.status, t.attempts, t.workflow_id, t.agent_name, t.lease_owner,
              t.error_info
), ev AS (
    INSERT INTO task_events (task_id, from_status, to_status, actor, reason, attempt, at)
    SELECT id, 'running', status, 'system:rescuer', error_info ->> 'message', attempts,
           coalesce(%(now)s, now())
    FROM rescued
), note AS (
    SELECT pg_notify('automechanica_tasks', '')
    FROM (SELECT 1 FROM rescued WHERE status = 'pending' LIMIT 1) AS one
)
SELECT id, status, attempts, workflow_id, agent_name, lease_owner
FROM rescued, (SELECT count(*) FROM note) AS notified
"""


@dataclass(frozen=True)
class Rescued:
    id: UUID
    status: str
    attempts: int
    workflow_id: UUID | None
    agent_name: str
    previous_owner: str | None


async def rescue_expired(
    conn: Any, *, limit: int = 1000, now: datetime | None = None
) -> list[Rescued]:
    """Return tasks with expired leases to ``pending`` (or ``dead`` when out of attempts)."""
    cur = await conn.execute(_RESCUE, {"limit": limit, "now": now})
    return [Rescued(*row) for row in await cur.fetchall()]


_PRUNE = """
WITH old AS (
    SELECT id FROM tasks
    WHERE status = 'completed' AND finished_at < %(before)s
    ORDER BY finished_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), gone_events AS (
    DELETE FROM task_events WHERE task_id IN (SELECT id FROM old)
), gone AS (
    DELETE FROM tasks WHERE id IN (SELECT id FROM old) RETURNING id
)
SELECT count(*) FROM gone
"""


async def prune_completed(conn: Any, *, before: datetime, limit: int = 1000) -> int:
    """Delete up to ``limit`` tasks completed before ``before``, with their history."""
    cur = await conn.execute(_PRUNE, {"before": before, "limit": limit})
    row = await cur.fetchone()
    return int(row[0]) if row else 0


# -- operator transitions ---------------------------------------------------------------------

_OPERATOR = """
WITH moved AS (
    UPDATE tasks AS t
    SET status = %(to)s,
        lease_expires_at = NULL,
        available_at = CASE WHEN %(to)s = 'pending' THEN coalesce(%(now)s, now())
                            ELSE t.available_at END,
        attempts = CASE WHEN %(reset_attempts)s THEN 0 ELSE t.attempts END,
        quarantine_reason = CASE WHEN %(to)s = 'quarantined' THEN %(reason)s END,
        quarantined_by = CASE WHEN %(to)s = 'quarantined' THEN %(actor)s END,
        quarantined_until = CASE WHEN %(to)s = 'quarantined' THEN %(until)s::timestamptz END,
        finished_at = CASE WHEN %(to)s = 'cancelled' THEN coalesce(%(now)s, now()) END,
        updated_at = coalesce(%(now)s, now())
    FROM (SELECT id, status AS from_status FROM tasks WHERE id = %(id)s FOR UPDATE) AS before
    WHERE t.id = before.id AND t.status = ANY(%(sources)s::text[])
    RETURNING t.id, before.from_status, t.attempts
), ev AS (
    INSERT INTO task_events (task_id, from_status, to_status, actor, reason, attempt, at)
    SELECT id, from_status, %(to)s, %(actor)s, %(reason)s, attempts, coalesce(%(now)s, now())
    FROM moved
), note AS (
    SELECT pg_notify('automechanica_tasks', '')
    FROM (SELECT 1 FROM moved WHERE %(to)s = 'pending' LIMIT 1) AS one
)
SELECT moved.id FROM moved, (SELECT count(*) FROM note) AS notified
"""


async def apply_operator_transition(
    conn: Any,
    task_id: UUID,
    transition: Transition,
    *,
    actor: str,
    reason: str | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
) -> None:
    """Quarantine, cancel or requeue one task; raise if its current state forbids it."""
    if transition not in (Transition.QUARANTINE, Transition.CANCEL, Transition.REQUEUE):
        raise IllegalTransition(f"{transition.value} is not an operator transition")
    cur = await conn.execute(
        _OPERATOR,
        {
            "id": task_id,
            "to": str(states.target(transition)),
            "sources": states.sources(transition),
            "actor": actor,
            "reason": reason,
            "until": until,
            "reset_attempts": transition is Transition.REQUEUE,
            "now": now,
        },
    )
    if await cur.fetchone():
        return
    current = await get_status(conn, task_id)
    states.check(transition, current)  # raises IllegalTransition naming the allowed states
    raise IllegalTransition(f"task {task_id} changed state concurrently; try again")


# -- reads -------------------------------------------------------------------------------------


async def get_status(conn: Any, task_id: UUID) -> str:
    cur = await conn.execute("SELECT status FROM tasks WHERE id = %s", (task_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no task {task_id}")
    return str(row[0])


_TASK_COLUMNS = (
    "id, workflow_id, step, step_index, agent_name, task_type, payload, priority, status, "
    "attempts, max_attempts, available_at, lease_owner, lease_expires_at, lease_epoch, "
    "idempotency_key, error_info, result, quarantine_reason, quarantined_by, "
    "quarantined_until, created_at, updated_at, started_at, finished_at"
)


async def get(conn: Any, task_id: UUID) -> dict[str, Any]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(f"SELECT {_TASK_COLUMNS} FROM tasks WHERE id = %s", (task_id,))
    row: dict[str, Any] | None = await cur.fetchone()
    if row is None:
        raise NotFound(f"no task {task_id}")
    return row


async def list_for_workflow(conn: Any, workflow_id: UUID) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT {_TASK_COLUMNS} FROM tasks WHERE workflow_id = %s "
        "ORDER BY created_at, step, step_index",
        (workflow_id,),
    )
    return list(await cur.fetchall())


async def step_counts(conn: Any, workflow_id: UUID) -> dict[str, dict[str, int]]:
    """Per step of a workflow, how many of its tasks are in each status."""
    cur = await conn.execute(
        "SELECT step, status, count(*) FROM tasks WHERE workflow_id = %s GROUP BY step, status",
        (workflow_id,),
    )
    out: dict[str, dict[str, int]] = {}
    for step, status, n in await cur.fetchall():
        out.setdefault(step, {})[status] = n
    return out


async def step_results(conn: Any, workflow_id: UUID, step: str) -> list[Any]:
    cur = await conn.execute(
        "SELECT result FROM tasks WHERE workflow_id = %s AND step = %s AND status = 'completed' "
        "ORDER BY step_index NULLS FIRST",
        (workflow_id, step),
    )
    return [row[0] for row in await cur.fetchall()]


async def history(conn: Any, task_id: UUID) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT from_status, to_status, actor, reason, attempt, at FROM task_events "
        "WHERE task_id = %s ORDER BY id",
        (task_id,),
    )
    return list(await cur.fetchall())


def _json(doc: Any) -> str:
    return json.dumps(doc, default=str, separators=(",", ":"))
