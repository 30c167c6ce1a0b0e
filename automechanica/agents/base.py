"""The agent protocol, the context an agent runs with, and what it returns.

An agent runs in two phases so that its database writes happen exactly once per completed task:
``run`` computes with no transaction open (reads through ``ctx.db``, LLM calls through
``ctx.llm``), and registers writes with ``ctx.apply(fn)``; each ``fn(conn)`` then runs inside the
transaction that completes the task, after the lease has been checked and locked. If the lease
was lost, or the worker died before committing, none of the writes happen.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from automechanica.clock import Clock

ApplyFn = Callable[[Any], Awaitable[None]]


@dataclass
class AgentResult:
    output: dict[str, Any] = field(default_factory=dict)
    reasoning: str | None = None
    confidence: float | None = None


@dataclass(frozen=True)
class TaskView:
    """What an agent sees of its task."""

    id: UUID
    agent_name: str
    task_type: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int
    workflow_id: UUID | None
    step: str | None
    step_index: int | None


@dataclass
class LLMUsage:
    provider: str | None = None
    model: str | None = None
    prompt_version: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_estimate: float = 0.0


class AgentContext:
    """Handed to ``Agent.run``: database, LLM router, logger, clock, and the apply hook."""

    def __init__(
        self,
        *,
        db: Any,
        llm: Any,
        clock: Clock,
        log: Any = None,
        log_fields: dict[str, Any] | Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.db = db
        self._llm = llm
        self._log = log
        self._log_fields = log_fields or {}
        self.clock = clock
        self.applies: list[ApplyFn] = []
        self.usage = LLMUsage()

    @property
    def log(self) -> Any:
        """A logger bound to the task (built on first use: most runs never log)."""
        if self._log is None:
            from automechanica.logs import get_logger

            fields = self._log_fields() if callable(self._log_fields) else self._log_fields
            self._log = get_logger("automechanica.agent").bind(**fields)
        return self._log

    def apply(self, fn: ApplyFn) -> None:
        """Run ``fn(conn)`` in the task's completion transaction (exactly once per completion)."""
        self.applies.append(fn)

    async def complete(self, request: Any) -> Any:
        """Call the LLM router and account the usage in this run's ``agent_events`` row."""
        if self._llm is None:
            raise RuntimeError("no LLM router configured for this worker")
        result = await self._llm.complete(request)
        u = self.usage
        u.provider, u.model = result.provider, result.model
        u.prompt_version = getattr(result, "prompt_version", None) or u.prompt_version
        u.tokens_in += int(result.tokens_in or 0)
        u.tokens_out += int(result.tokens_out or 0)
        u.cost_estimate += float(result.cost_estimate or 0.0)
        return result


@runtime_checkable
class Agent(Protocol):
    name: str
    task_types: tuple[str, ...]

    async def run(self, task: TaskView, ctx: AgentContext) -> AgentResult: ...
