"""Producer-facing workflow operations shared by the CLI and the API (no SQL here)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from automechanica.agents import events as agent_events
from automechanica.db.pool import Database
from automechanica.errors import InvalidInput
from automechanica.queue import tasks
from automechanica.workflows import store
from automechanica.workflows.orchestrator import Orchestrator


def parse_id(value: str, what: str = "workflow") -> UUID:
    try:
        return UUID(value)
    except (ValueError, AttributeError):
        raise InvalidInput(f"{value!r} is not a {what} id (expected a UUID)") from None


async def start_workflow(
    db: Database, orchestrator: Orchestrator, workflow_type: str, data: Any, *, actor: str
) -> dict[str, Any]:
    async with db.transaction() as conn:
        workflow_id = await orchestrator.start(conn, workflow_type, data, actor=actor)
        return await store.get(conn, workflow_id)


async def describe_workflow(db: Database, workflow_id: UUID) -> dict[str, Any]:
    """The workflow with its tasks and the agent events of its runs."""
    async with db.connection() as conn:
        workflow = await store.get(conn, workflow_id)
        workflow["tasks"] = await tasks.list_for_workflow(conn, workflow_id)
        workflow["agent_events"] = await agent_events.for_workflow(conn, workflow_id)
    return workflow
