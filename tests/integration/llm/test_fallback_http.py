"""Retries, fallback along the chain and timeouts, against a real HTTP server."""

from __future__ import annotations

import socket
import time

import pytest

from automechanica.errors import AllProvidersFailed
from automechanica.llm import LLMRequest
from tests.integration.llm.fake_server import FakeLLMServer, Reply
from tests.unit.llm.fakes import SleepRecorder

REQUEST = LLMRequest(prompt="Which brake pads fit?")


async def test_retryable_failures_are_retried_with_backoff_then_succeed(
    server: FakeLLMServer, make_router, sleeps: SleepRecorder
):
    server.script("openai", Reply(500), Reply(429, headers={"Retry-After": "1"}))
    router = make_router(["openai", "local"], retries=2)

    result = await router.complete(REQUEST)

    assert result.provider == "openai"
    assert result.attempts == 3
    assert server.count("openai") == 3
    # 0.25 s after the first failure; the second honours Retry-After (1 s) over its 0.5 s.
    assert sleeps.delays == [0.25, 1.0]


async def test_unauthorised_goes_straight_to_the_next_provider_without_retrying(
    server: FakeLLMServer, make_router, sleeps: SleepRecorder
):
    server.always("openai", Reply(401))
    router = make_router(["openai", "anthropic"], retries=2)

    result = await router.complete(REQUEST)

    assert result.provider == "anthropic"
    assert server.count("openai") == 1
    assert server.count("anthropic") == 1
    assert sleeps.delays == []


async def test_bad_request_is_not_retried(server: FakeLLMServer, make_router):
    server.always("anthropic", Reply(400))
    router = make_router(["anthropic"], retries=3)

    with pytest.raises(AllProvidersFailed) as caught:
        await router.complete(REQUEST)

    assert server.count("anthropic") == 1
    [attempt] = caught.value.details["attempts"]
    assert (attempt["error_class"], attempt["status"], attempt["retryable"]) == (
        "bad_request",
        400,
        False,
    )


async def test_failing_openai_falls_back_to_anthropic_then_to_local(
    server: FakeLLMServer, make_router, sleeps: SleepRecorder
):
    server.always("openai", Reply(500))
    server.always("anthropic", Reply(503))
    router = make_router(["openai", "anthropic", "local"], retries=1)

    result = await router.complete(REQUEST)

    assert result.provider == "local"
    assert result.model == "local-echo-1"
    assert result.attempts == 5
    assert server.count("openai") == 2
    assert server.count("anthropic") == 2
    assert sleeps.delays == [0.25, 0.25]


async def test_a_hung_provider_is_cut_off_at_the_llm_timeout(server: FakeLLMServer, make_router):
    server.always("openai", Reply(delay_s=3.0))
    router = make_router(["openai"], timeout_ms=200, retries=1)

    started = time.monotonic()
    with pytest.raises(AllProvidersFailed) as caught:
        await router.complete(REQUEST)
    elapsed = time.monotonic() - started

    assert 0.35 <= elapsed < 1.5, elapsed
    attempts = caught.value.details["attempts"]
    assert [a["error_class"] for a in attempts] == ["timeout", "timeout"]
    assert server.count("openai") == 2


async def test_a_timeout_falls_back_to_the_next_provider(server: FakeLLMServer, make_router):
    server.always("ollama", Reply(delay_s=3.0))
    router = make_router(["ollama", "anthropic"], timeout_ms=200, retries=0)

    result = await router.complete(REQUEST)

    assert result.provider == "anthropic"
    assert result.latency_ms < 1000


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_refused_connection_is_retried_then_falls_back(
    server: FakeLLMServer, make_router, sleeps: SleepRecorder
):
    router = make_router(
        ["ollama", "local"], retries=1, ollama_base_url=f"http://127.0.0.1:{_closed_port()}"
    )

    result = await router.complete(REQUEST)

    assert result.provider == "local"
    assert len(sleeps.delays) == 1  # one retry of the connection error, then fallback


async def test_unconfigured_provider_is_skipped_with_its_reason(server: FakeLLMServer, make_router):
    router = make_router(["openai", "anthropic"], openai_api_key=None)

    result = await router.complete(REQUEST)

    assert result.provider == "anthropic"
    assert server.count("openai") == 0
    assert router.state()["providers"]["openai"]["reason"] == "OPENAI_API_KEY is not set"


async def test_all_providers_failing_reports_every_attempt(server: FakeLLMServer, make_router):
    server.always("openai", Reply(500))
    server.always("anthropic", Reply(401))
    router = make_router(["openai", "anthropic", "ollama"], retries=1, ollama_base_url=None)

    with pytest.raises(AllProvidersFailed) as caught:
        await router.complete(REQUEST)

    attempts = caught.value.details["attempts"]
    assert [(a["provider"], a["attempt"], a["error_class"]) for a in attempts] == [
        ("openai", 1, "server_error"),
        ("openai", 2, "server_error"),
        ("anthropic", 1, "auth"),
        ("ollama", 0, "not_configured"),
    ]
    message = str(caught.value)
    assert "openai:gpt-4o-mini server_error (HTTP 500)" in message
    assert "anthropic:claude-haiku-4-5 auth (HTTP 401)" in message
    assert "ollama:llama3.2 not_configured" in message
