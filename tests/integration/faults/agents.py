"""Agents for the fault tests, loaded into worker processes through ``AGENT_MODULES``.

``EffectAgent`` writes one ``fault_effects`` row per task through ``ctx.apply``, so the table
shows whether a task's effect landed exactly once. The table has no unique constraint on
purpose: a duplicate must be visible, not prevented.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from automechanica.agents.base import AgentContext, AgentResult, TaskView

EFFECTS_TABLE_DDL = """
CREATE TABLE fault_effects (
    task_id uuid NOT NULL,
    n       int,
    at      timestamptz DEFAULT now()
)
"""


class EffectAgent:
    """Works 1-20 ms (so runs overlap a kill or a restart), then records its effect."""

    name = "effect"
    task_types: tuple[str, ...] = ("write",)

    async def run(self, task: TaskView, ctx: AgentContext) -> AgentResult:
        await asyncio.sleep(random.uniform(0.001, 0.020))
        n = task.payload["n"]

        async def record_effect(conn: Any) -> None:
            await conn.execute(
                "INSERT INTO fault_effects (task_id, n) VALUES (%s, %s)", (task.id, n)
            )

        ctx.apply(record_effect)
        return AgentResult(output={"n": n})


AGENTS = [EffectAgent()]
