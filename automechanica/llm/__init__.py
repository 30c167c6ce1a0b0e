"""Calling language models: a router over the ``local``, ``openai``, ``anthropic`` and
``ollama`` providers, with per-task routing, timeouts, retries, fallback and circuit breakers.

    router = LLMRouter.from_settings(settings)
    result = await router.complete(LLMRequest(task_kind="diagnose", prompt="..."))
    await router.aclose()

See docs/llm.md.
"""

from automechanica.llm.breaker import BreakerConfig, BreakerState, CircuitBreaker
from automechanica.llm.health import install_health_check, llm_health
from automechanica.llm.pricing import estimate_cost
from automechanica.llm.request import LLMRequest, LLMResult, Message
from automechanica.llm.retry import RetryPolicy
from automechanica.llm.router import LLMRouter
from automechanica.llm.routing import Route, RoutingTable

__all__ = [
    "BreakerConfig",
    "BreakerState",
    "CircuitBreaker",
    "LLMRequest",
    "LLMResult",
    "LLMRouter",
    "Message",
    "RetryPolicy",
    "Route",
    "RoutingTable",
    "estimate_cost",
    "install_health_check",
    "llm_health",
]
