"""Each provider against a real HTTP server speaking its API: request shape and reply parsing."""

from __future__ import annotations

import pytest

from automechanica.llm import LLMRequest, Message
from automechanica.llm.pricing import estimate_cost
from tests.integration.llm.conftest import ANTHROPIC_KEY, OPENAI_KEY
from tests.integration.llm.fake_server import FakeLLMServer

REQUEST = LLMRequest(
    task_kind="diagnose",
    system="You are a parts expert.",
    messages=(Message("user", "Hi"), Message("assistant", "Hello")),
    prompt="Does rotor R-12 fit a 2012 Civic?",
    max_tokens=256,
    temperature=0.3,
    prompt_version="diagnose-v3",
)


async def test_openai_reply_is_parsed_with_usage_and_dated_model(
    server: FakeLLMServer, make_router
):
    router = make_router(["openai"])

    result = await router.complete(REQUEST)

    assert result.text == "openai answer"
    assert result.provider == "openai"
    assert result.model == "gpt-4o-mini-2024-07-18"
    assert (result.tokens_in, result.tokens_out) == (17, 9)
    assert result.cost_estimate == pytest.approx(17 / 1000 * 0.00015 + 9 / 1000 * 0.0006)
    assert result.prompt_version == "diagnose-v3"
    assert result.task_kind == "diagnose"
    assert result.latency_ms > 0
    [sent] = server.received("openai")
    assert sent.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert sent.body["model"] == "gpt-4o-mini"
    assert sent.body["messages"] == [
        {"role": "system", "content": "You are a parts expert."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Does rotor R-12 fit a 2012 Civic?"},
    ]
    assert sent.body["max_completion_tokens"] == 256
    assert sent.body["temperature"] == 0.3


async def test_anthropic_reply_is_parsed_and_system_is_a_top_level_field(
    server: FakeLLMServer, make_router
):
    router = make_router(["anthropic:claude-sonnet-4-5"])

    result = await router.complete(REQUEST)

    assert (result.text, result.provider, result.model) == (
        "anthropic answer",
        "anthropic",
        "claude-sonnet-4-5",
    )
    assert (result.tokens_in, result.tokens_out) == (21, 6)
    assert result.cost_estimate == pytest.approx(
        estimate_cost("anthropic", "claude-sonnet-4-5", 21, 6)
    )
    assert result.cost_estimate > 0
    [sent] = server.received("anthropic")
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    assert sent.body["system"] == "You are a parts expert."
    assert [m["role"] for m in sent.body["messages"]] == ["user", "assistant", "user"]
    assert sent.body["max_tokens"] == 256


async def test_ollama_reply_is_parsed_without_streaming_and_costs_nothing(
    server: FakeLLMServer, make_router
):
    router = make_router(["ollama:llama3.2:3b"])

    result = await router.complete(REQUEST)

    assert (result.text, result.provider, result.model) == (
        "ollama answer",
        "ollama",
        "llama3.2:3b",
    )
    assert (result.tokens_in, result.tokens_out) == (13, 4)
    assert result.cost_estimate == 0.0
    [sent] = server.received("ollama")
    assert sent.body["stream"] is False
    assert sent.body["options"] == {"temperature": 0.3, "num_predict": 256}
    assert sent.body["messages"][0] == {"role": "system", "content": "You are a parts expert."}
    assert "authorization" not in sent.headers
