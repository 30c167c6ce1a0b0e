"""The router's policy with scripted providers (no I/O); tests/integration/llm covers HTTP."""

from __future__ import annotations

import asyncio

import pytest

from automechanica.errors import AllProvidersFailed, InvalidInput
from automechanica.llm import BreakerConfig, LLMRequest, LLMRouter, Route, RoutingTable
from automechanica.llm.providers import LocalProvider
from automechanica.llm.retry import provider_error
from tests.unit.llm.fakes import FakeClock, ScriptedProvider, SleepRecorder

REQUEST = LLMRequest(prompt="hello")


def _router(*providers, chain, kinds=None, **kwargs) -> LLMRouter:
    table = RoutingTable(
        [Route.parse(s) for s in chain],
        {kind: [Route.parse(s) for s in specs] for kind, specs in (kinds or {}).items()},
    )
    return LLMRouter({p.name: p for p in providers}, table, **kwargs)


async def test_a_provider_bug_is_reported_as_unexpected_and_falls_back():
    broken = ScriptedProvider("openai", KeyError("choices"))
    router = _router(broken, LocalProvider(), chain=["openai", "local"], sleep=SleepRecorder())

    result = await router.complete(REQUEST)

    assert result.provider == "local"
    assert broken.calls == 1  # not retried


async def test_slow_provider_is_cut_off_by_the_router_timeout():
    async def never() -> None:
        await asyncio.sleep(10)

    slow = ScriptedProvider("ollama", never)
    router = _router(slow, chain=["ollama"], timeout_s=0.05, sleep=SleepRecorder())
    router.retry = router.retry.__class__(max_retries=0)

    with pytest.raises(AllProvidersFailed) as caught:
        await router.complete(REQUEST)

    assert caught.value.details["attempts"][0]["error_class"] == "timeout"
    assert "50 ms" in caught.value.details["attempts"][0]["message"]


async def test_cancelled_half_open_trial_frees_the_slot():
    clock = FakeClock()
    started = asyncio.Event()

    async def hang() -> None:
        started.set()
        await asyncio.sleep(10)

    provider = ScriptedProvider("openai", provider_error("server_error", "boom"), hang)
    router = _router(
        provider,
        chain=["openai"],
        breaker=BreakerConfig(failure_threshold=1, cooldown_s=5),
        clock=clock,
        sleep=SleepRecorder(),
    )
    with pytest.raises(AllProvidersFailed):
        await router.complete(REQUEST)
    clock.advance(5)

    trial = asyncio.create_task(router.complete(REQUEST))
    await started.wait()
    trial.cancel()
    with pytest.raises(asyncio.CancelledError):
        await trial

    assert router.breaker("openai").state.value == "half_open"
    result = await router.complete(REQUEST)
    assert result.provider == "openai"
    assert router.breaker("openai").state.value == "closed"


async def test_breakers_are_per_provider_and_shared_across_task_kinds():
    openai = ScriptedProvider("openai", *[provider_error("auth", "no")] * 2)
    router = _router(
        openai,
        ScriptedProvider("anthropic"),
        chain=["openai", "anthropic"],
        kinds={"extract": ["openai", "anthropic"]},
        breaker=BreakerConfig(failure_threshold=2),
        sleep=SleepRecorder(),
    )

    await router.complete(REQUEST)
    await router.complete(LLMRequest(task_kind="extract", prompt="x"))
    result = await router.complete(LLMRequest(task_kind="extract", prompt="y"))

    assert result.provider == "anthropic"
    assert openai.calls == 2
    assert router.state()["providers"]["openai"]["state"] == "open"
    assert router.state()["providers"]["anthropic"]["state"] == "closed"


async def test_route_to_a_provider_the_router_lacks_is_skipped():
    router = _router(LocalProvider(), chain=["anthropic", "local"])

    result = await router.complete(REQUEST)

    assert result.provider == "local"
    assert result.attempts == 1


async def test_all_skipped_still_raises_with_reasons():
    router = _router(ScriptedProvider("openai", configured=False), chain=["openai"])

    with pytest.raises(AllProvidersFailed) as caught:
        await router.complete(REQUEST)

    [entry] = caught.value.details["attempts"]
    assert entry["error_class"] == "not_configured"
    assert entry["message"] == "OPENAI_API_KEY is not set"


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"prompt": ""}, {"prompt": "x", "max_tokens": 0}, {"prompt": "x", "temperature": 3}],
)
def test_invalid_requests_are_refused(kwargs):
    with pytest.raises(InvalidInput):
        LLMRequest(**kwargs)


async def test_router_from_settings_reads_timeout_retries_and_breaker_settings():
    from automechanica.settings import Settings

    class _Future(Settings):
        llm_breaker_failures: int = 7
        llm_breaker_cooldown_ms: int = 1500

    router = LLMRouter.from_settings(_Future(_env_file=None, llm_timeout_ms=250, llm_max_retries=4))
    try:
        assert router.timeout_s == 0.25
        assert router.retry.max_attempts == 5
        config = router.breaker("openai").config
        assert (config.failure_threshold, config.cooldown_s) == (7, 1.5)
        assert router.state()["default_chain"] == ["local:local-echo-1"]
    finally:
        await router.aclose()
        await router.aclose()  # twice is fine
