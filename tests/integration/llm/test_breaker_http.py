"""Circuit breakers against a real HTTP server: opening, skipping without a request, recovery."""

from __future__ import annotations

from automechanica.llm import LLMRequest, install_health_check
from automechanica.ops import health
from tests.integration.llm.fake_server import FakeLLMServer, Reply
from tests.unit.llm.fakes import FakeClock

REQUEST = LLMRequest(prompt="Cross-reference part 4471.")


async def _open_openai_breaker(server: FakeLLMServer, router) -> None:
    server.always("openai", Reply(500))
    for _ in range(3):
        assert (await router.complete(REQUEST)).provider == "local"


async def test_breaker_opens_after_consecutive_failures_and_skips_without_a_request(
    server: FakeLLMServer, make_router
):
    router = make_router(["openai", "local"], retries=0, failures=3)

    await _open_openai_breaker(server, router)
    assert server.count("openai") == 3
    assert router.state()["providers"]["openai"]["state"] == "open"

    server.always("openai", None)  # healthy again, but the breaker has not cooled down
    result = await router.complete(REQUEST)

    assert result.provider == "local"
    assert server.count("openai") == 3


async def test_breaker_opening_mid_chain_stops_retries(server: FakeLLMServer, make_router, sleeps):
    server.always("openai", Reply(503))
    router = make_router(["openai", "local"], retries=5, failures=2)

    result = await router.complete(REQUEST)

    assert result.provider == "local"
    assert server.count("openai") == 2
    assert len(sleeps.delays) == 1


async def test_half_open_after_cooldown_and_a_successful_trial_closes(
    server: FakeLLMServer, make_router, clock: FakeClock
):
    router = make_router(["openai", "local"], retries=0, failures=3, cooldown_s=30)
    await _open_openai_breaker(server, router)

    clock.advance(29.9)
    assert router.state()["providers"]["openai"]["state"] == "open"
    clock.advance(0.1)
    assert router.state()["providers"]["openai"]["state"] == "half_open"

    server.always("openai", None)
    result = await router.complete(REQUEST)

    assert result.provider == "openai"
    assert server.count("openai") == 4
    snapshot = router.state()["providers"]["openai"]
    assert (snapshot["state"], snapshot["consecutive_failures"]) == ("closed", 0)


async def test_failed_trial_reopens_for_another_cooldown(
    server: FakeLLMServer, make_router, clock: FakeClock
):
    router = make_router(["openai", "local"], retries=2, failures=3, cooldown_s=30)
    await _open_openai_breaker(server, router)
    clock.advance(30)

    result = await router.complete(REQUEST)  # the trial fails: no retries in half-open

    assert result.provider == "local"
    assert server.count("openai") == 4
    assert router.state()["providers"]["openai"]["state"] == "open"
    clock.advance(29)
    await router.complete(REQUEST)
    assert server.count("openai") == 4


async def test_health_degrades_while_a_default_chain_breaker_is_open(
    server: FakeLLMServer, make_router, clock: FakeClock
):
    router = make_router(["openai", "local"], retries=0, failures=3, cooldown_s=30)
    install_health_check(router)
    check = health._dependency_checks["llm"]
    assert check(None)["ok"] is True

    await _open_openai_breaker(server, router)
    section = check(None)

    assert section["ok"] is False
    assert section["problems"] == ["openai breaker is open"]
    assert section["default_chain"] == ["openai:gpt-4o-mini", "local:local-echo-1"]
    openai = section["providers"]["openai"]
    assert openai["configured"] is True
    assert openai["consecutive_failures"] == 3
    assert openai["recent_error_rate"] == 1.0
    assert openai["opened_at"] is not None

    clock.advance(30)
    server.always("openai", None)
    await router.complete(REQUEST)
    assert check(None)["ok"] is True
    health._dependency_checks.pop("llm", None)
