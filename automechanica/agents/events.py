"""The ``agent_events`` repository: one row per agent run, success or failure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb


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


_INSERT = """
INSERT INTO agent_events (agent_name, task_id, workflow_id, event_type, reasoning, error,
                          input_summary, output, confidence, provider, model, prompt_version,
                          tokens_in, tokens_out, cost_estimate, latency_ms)
SELECT * FROM unnest(%s::text[], %s::uuid[], %s::uuid[], %s::text[], %s::text[], %s::jsonb[],
                     %s::text[], %s::jsonb[], %s::float8[], %s::text[], %s::text[], %s::text[],
                     %s::int[], %s::int[], %s::numeric[], %s::float8[])
"""


async def record_many(conn: Any, events: Sequence[AgentEvent]) -> None:
    """Insert ``events`` in one statement (in the caller's transaction)."""
    if not events:
        return
    cols: list[list[Any]] = [[] for _ in range(16)]
    for e in events:
        values = (
            e.agent_name,
            e.task_id,
            e.workflow_id,
            e.event_type,
            e.reasoning,
            Jsonb(e.error) if e.error is not None else None,
            e.input_summary,
            Jsonb(e.output) if e.output is not None else None,
            e.confidence,
            e.provider,
            e.model,
            e.prompt_version,
            e.tokens_in,
            e.tokens_out,
            e.cost_estimate,
            e.latency_ms,
        )
        for col, value in zip(cols, values, strict=True):
            col.append(value)
    await conn.execute(_INSERT, cols)


async def for_task(conn: Any, task_id: UUID) -> list[dict[str, Any]]:
    return await _select(conn, "task_id = %s", task_id)


async def for_workflow(conn: Any, workflow_id: UUID) -> list[dict[str, Any]]:
    return await _select(conn, "workflow_id = %s", workflow_id)


async def _select(conn: Any, where: str, value: Any) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT id, agent_name, task_id, workflow_id, event_type, reasoning, error, "
        "input_summary, output, confidence, provider, model, prompt_version, tokens_in, "
        f"tokens_out, cost_estimate, latency_ms, at FROM agent_events WHERE {where} ORDER BY id",
        (value,),
    )
    return [
        {d.name: v for d, v in zip(cur.description, row, strict=True)}
        for row in await cur.fetchall()
    ]
