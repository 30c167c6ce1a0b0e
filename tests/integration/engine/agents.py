"""Agents for the engine tests that run ``automechanica`` as a process (``AGENT_MODULES``)."""

from __future__ import annotations

import asyncio

from automechanica.agents.base import Agent, AgentContext, AgentResult, TaskView


class SleepyAgent:
    """Sleeps for ``payload["seconds"]``: a task whose duration the test chooses."""

    name = "sleepy"
    task_types: tuple[str, ...] = ("sleep",)

    async def run(self, task: TaskView, ctx: AgentContext) -> AgentResult:
        seconds = float(task.payload["seconds"])
        await asyncio.sleep(seconds)
        return AgentResult(output={"slept": seconds})


AGENTS: list[Agent] = [SleepyAgent()]
