"""Maps ``(agent_name, task_type)`` to the agent that runs it."""

from __future__ import annotations

from automechanica.agents.base import Agent
from automechanica.errors import UnknownAgent


class AgentRegistry:
    def __init__(self, agents: list[Agent] | None = None) -> None:
        self._by_key: dict[tuple[str, str], Agent] = {}
        for agent in agents or []:
            self.register(agent)

    def register(self, agent: Agent) -> None:
        for task_type in agent.task_types:
            key = (agent.name, task_type)
            if key in self._by_key and self._by_key[key] is not agent:
                raise ValueError(f"agent {agent.name!r} already handles {task_type!r}")
            self._by_key[key] = agent

    def get(self, agent_name: str, task_type: str) -> Agent:
        agent = self._by_key.get((agent_name, task_type))
        if agent is None:
            known = ", ".join(f"{a}/{t}" for a, t in sorted(self._by_key)) or "none"
            raise UnknownAgent(
                f"no agent registered for agent {agent_name!r} and task type {task_type!r} "
                f"(registered: {known})"
            )
        return agent

    def names(self) -> list[str]:
        return sorted({a for a, _ in self._by_key})
