"""What a caller asks the LLM router (``LLMRequest``) and what it gets back (``LLMResult``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from automechanica.errors import InvalidInput

Role = Literal["user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class LLMRequest:
    """One completion request.

    ``task_kind`` picks the provider chain from the routing table. Give ``messages`` (a
    conversation), ``prompt`` (appended as the last user message), or both; ``system`` is sent
    the way each API expects it (a system message, or Anthropic's top-level field).
    """

    task_kind: str = "default"
    prompt: str | None = None
    messages: tuple[Message, ...] = ()
    system: str | None = None
    max_tokens: int = 1024
    temperature: float = 0.0
    prompt_version: str | None = None

    def __post_init__(self) -> None:
        if not self.messages and not self.prompt:
            raise InvalidInput("an LLM request needs a prompt or at least one message")
        if self.max_tokens < 1:
            raise InvalidInput(f"max_tokens must be >= 1, got {self.max_tokens}")
        if not 0.0 <= self.temperature <= 2.0:
            raise InvalidInput(f"temperature must be between 0 and 2, got {self.temperature}")

    def conversation(self) -> list[Message]:
        """The messages to send, with ``prompt`` as the final user turn."""
        turns = list(self.messages)
        if self.prompt:
            turns.append(Message("user", self.prompt))
        return turns


@dataclass(frozen=True)
class LLMResult:
    """A completion, with what an ``agent_events`` row records about it.

    ``cost_estimate`` is in US dollars from the price table (``llm/pricing.py``); it is 0 for
    ``local`` and ``ollama`` and None for a paid model the table does not know. ``attempts``
    counts every provider call this result took, failed ones and fallbacks included.
    """

    text: str
    provider: str
    model: str
    tokens_in: int
    tokens_out: int
    latency_ms: float
    cost_estimate: float | None
    prompt_version: str | None
    task_kind: str
    attempts: int = 1

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
