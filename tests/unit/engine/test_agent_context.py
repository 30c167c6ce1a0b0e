"""The agent context: LLM usage adds up across calls; applies are kept in order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from automechanica.agents.base import AgentContext
from automechanica.clock import FrozenClock


@dataclass
class Completion:
    provider: str
    model: str
    tokens_in: int | None
    tokens_out: int | None
    cost_estimate: float | None
    prompt_version: str | None = None


class ScriptedLLM:
    def __init__(self, *answers: Completion) -> None:
        self.answers = list(answers)

    async def complete(self, request: Any) -> Completion:
        return self.answers.pop(0)


async def test_usage_sums_tokens_and_cost_and_keeps_the_last_provider() -> None:
    llm = ScriptedLLM(
        Completion("openai", "gpt-4o-mini", 100, 20, 0.001, "v1"),
        Completion("local", "echo", 7, None, None),  # a fallback that reports no usage
    )
    ctx = AgentContext(db=None, llm=llm, log=None, clock=FrozenClock())
    await ctx.complete("first")
    await ctx.complete("second")
    usage = ctx.usage
    assert (usage.provider, usage.model, usage.prompt_version) == ("local", "echo", "v1")
    assert (usage.tokens_in, usage.tokens_out) == (107, 20)
    assert usage.cost_estimate == pytest.approx(0.001)


async def test_complete_without_a_router_says_so() -> None:
    ctx = AgentContext(db=None, llm=None, log=None, clock=FrozenClock())
    with pytest.raises(RuntimeError, match="no LLM router configured"):
        await ctx.complete("anything")


async def test_frozen_clock_sleep_advances_instead_of_waiting() -> None:
    clock = FrozenClock()
    start = clock.now()
    await clock.sleep(3600)
    assert (clock.now() - start).total_seconds() == 3600
    assert clock.db_now() == clock.now()
