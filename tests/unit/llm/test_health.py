from __future__ import annotations

from automechanica.llm import BreakerConfig, LLMRouter, Route, RoutingTable, llm_health
from automechanica.llm.providers import LocalProvider
from tests.unit.llm.fakes import FakeClock, ScriptedProvider


def _router(chain, *providers, clock=None) -> LLMRouter:
    return LLMRouter(
        {p.name: p for p in providers},
        RoutingTable([Route.parse(s) for s in chain]),
        breaker=BreakerConfig(failure_threshold=1, cooldown_s=30),
        clock=clock or FakeClock(),
    )


def test_fresh_router_is_healthy():
    section = llm_health(_router(["local"], LocalProvider()))

    assert section["ok"] is True
    assert section["providers"]["local"]["state"] == "closed"
    assert section["default_chain"] == ["local:local-echo-1"]


def test_open_or_half_open_breaker_on_default_chain_degrades():
    clock = FakeClock()
    router = _router(["openai", "local"], ScriptedProvider("openai"), LocalProvider(), clock=clock)
    router.breaker("openai").record_failure()

    assert llm_health(router)["problems"] == ["openai breaker is open"]
    clock.advance(30)
    assert llm_health(router)["problems"] == ["openai breaker is half_open"]
    router.breaker("openai").record_success()
    assert llm_health(router)["ok"] is True


def test_open_breaker_off_the_default_chain_does_not_degrade():
    router = _router(["local"], ScriptedProvider("openai"), LocalProvider())
    router.breaker("openai").record_failure()

    section = llm_health(router)

    assert section["ok"] is True
    assert section["providers"]["openai"]["state"] == "open"


def test_default_chain_with_nothing_configured_degrades():
    router = _router(["openai"], ScriptedProvider("openai", configured=False))

    section = llm_health(router)

    assert section["ok"] is False
    assert section["problems"] == ["no provider on the default chain is configured"]
    assert section["providers"]["openai"]["reason"] == "OPENAI_API_KEY is not set"
