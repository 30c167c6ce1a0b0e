"""Test doubles for the LLM router: a clock that moves only when told, a sleep that only records,
and a provider that answers from a script (no I/O)."""

from __future__ import annotations

from collections import deque
from typing import Any

from automechanica.errors import ProviderError
from automechanica.llm.providers.base import Provider, ProviderReply
from automechanica.llm.request import LLMRequest


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SleepRecorder:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class ScriptedProvider(Provider):
    """Raises or returns the scripted outcomes in order, then succeeds."""

    default_model = "scripted-1"

    def __init__(self, name: str, *outcomes: Any, configured: bool = True) -> None:
        self.name = name  # type: ignore[misc]
        self.outcomes: deque[Any] = deque(outcomes)
        self.calls = 0
        self._configured = configured

    @property
    def not_configured_reason(self) -> str | None:
        return None if self._configured else f"{self.name.upper()}_API_KEY is not set"

    async def complete(self, request: LLMRequest, model: str) -> ProviderReply:
        self.calls += 1
        outcome = self.outcomes.popleft() if self.outcomes else None
        if isinstance(outcome, BaseException):
            raise outcome
        if callable(outcome):
            return await outcome()
        return ProviderReply(text=f"{self.name} ok", model=model, tokens_in=3, tokens_out=2)


def failing(error: ProviderError, times: int) -> list[ProviderError]:
    return [error] * times
