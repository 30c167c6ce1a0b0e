"""An agent that does nothing: for smoke tests, benchmarks and checking the plumbing."""

from __future__ import annotations

from automechanica.agents.base import AgentContext, AgentResult, TaskView


class NoopAgent:
    name = "noop"
    task_types: tuple[str, ...] = ("noop",)

    async def run(self, task: TaskView, ctx: AgentContext) -> AgentResult:
        return AgentResult(output={})
