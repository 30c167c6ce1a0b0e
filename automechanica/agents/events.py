"""The ``agent_events`` repository: one row per agent run, success or failure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg.rows import dict_row


@dataclass(frozen=True)
class AgentEvent:
    agent_name: str
    task_id: UUID | None
    workflow_id: UUID | None
    event_type: str  # succeeded | failed | timed_out | lease_lost
    reasoning: str | None = None
    error: dict[str, Any] | None = None
    input_summary: str | None = None
    output: dict[str, Any] | None = None
    confidence: float | None = None
    provider: str | None = None
    model: str | None = None
    prompt_version: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_estimate: float | None = None
    latency_ms: float | None = None


_COLUMNS = (
    "agent_name, task_id, workflow_id, event_type, reasoning, error, input_summary, output, "
    "confidence, provider, model, prompt_version, tokens_in, tokens_out, cost_estimate, "
    "latency_ms"
)

_INSERT = f"""
INSERT INTO agent_events ({_COLUMNS})
SELECT {_COLUMNS} FROM jsonb_to_recordset(%s::jsonb)
    AS e(agent_name text, task_id uuid, workflow_id uuid, event_type text, reasoning text,
         error jsonb, input_summary text, output jsonb, confidence float8, provider text,
         model text, prompt_version text, tokens_in int, tokens_out int,
         cost_estimate numeric, latency_ms float8)
"""


async def record_many(conn: Any, events: Sequence[AgentEvent]) -> None:
    """Insert ``events`` in one statement (in the caller's transaction)."""
    if not events:
        return
    # One JSON document for the batch: much cheaper to build than 16 typed arrays.
    doc = json.dumps([e.__dict__ for e in events], default=str, separators=(",", ":"))
    await conn.execute(_INSERT, (doc,))


async def for_task(conn: Any, task_id: UUID) -> list[dict[str, Any]]:
    return await _select(conn, "task_id = %s", task_id)


async def for_workflow(conn: Any, workflow_id: UUID) -> list[dict[str, Any]]:
    return await _select(conn, "workflow_id = %s", workflow_id)


async def _select(conn: Any, where: str, value: Any) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT id, agent_name, task_id, workflow_id, event_type, reasoning, error, "
        "input_summary, output, confidence, provider, model, prompt_version, tokens_in, "
        f"tokens_out, cost_estimate, latency_ms, at FROM agent_events WHERE {where} ORDER BY id",
        (value,),
    )
    return list(await cur.fetchall())
