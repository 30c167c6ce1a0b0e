"""The ``workflows`` repository (the caller owns the transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from automechanica.errors import NotFound
from automechanica.queue.ids import uuid7

_COLUMNS = (
    "id, type, status, input, context, current_steps, error, created_by, created_at, "
    "updated_at, finished_at"
)


async def insert(conn: Any, *, workflow_type: str, input: dict[str, Any], created_by: str) -> UUID:
    workflow_id = uuid7()
    await conn.execute(
        "INSERT INTO workflows (id, type, input, context, created_by) VALUES (%s, %s, %s, %s, %s)",
        (workflow_id, workflow_type, Jsonb(input), Jsonb({"results": {}, "steps": {}}), created_by),
    )
    return workflow_id


async def lock_many(conn: Any, ids: Sequence[UUID]) -> dict[UUID, dict[str, Any]]:
    """Lock workflow rows in id order (a fixed order, so concurrent flushes cannot deadlock)."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT {_COLUMNS} FROM workflows WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
        (sorted(ids),),
    )
    return {row["id"]: row for row in await cur.fetchall()}


async def save_progress(
    conn: Any,
    workflow_id: UUID,
    *,
    context: dict[str, Any],
    current_steps: list[str],
    status: str,
    error: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        "UPDATE workflows SET context = %s, current_steps = %s, status = %s, "
        "error = coalesce(%s, error), updated_at = now(), "
        "finished_at = CASE WHEN %s IN ('completed', 'failed', 'cancelled') "
        "THEN coalesce(finished_at, now()) END WHERE id = %s",
        (
            Jsonb(context),
            current_steps,
            status,
            Jsonb(error) if error is not None else None,
            status,
            workflow_id,
        ),
    )


async def get(conn: Any, workflow_id: UUID) -> dict[str, Any]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(f"SELECT {_COLUMNS} FROM workflows WHERE id = %s", (workflow_id,))
    row: dict[str, Any] | None = await cur.fetchone()
    if row is None:
        raise NotFound(f"no workflow {workflow_id}")
    return row


async def list_recent(
    conn: Any, *, limit: int = 20, status: str | None = None
) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT {_COLUMNS} FROM workflows WHERE (%s::text IS NULL OR status = %s) "
        "ORDER BY created_at DESC LIMIT %s",
        (status, status, limit),
    )
    return list(await cur.fetchall())
