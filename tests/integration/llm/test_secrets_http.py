"""API keys never reach error messages or log lines, even when a server echoes them back."""

from __future__ import annotations

import json

import pytest

from automechanica.errors import AllProvidersFailed
from automechanica.llm import LLMRequest
from tests.integration.llm.conftest import ANTHROPIC_KEY, OPENAI_KEY
from tests.integration.llm.fake_server import FakeLLMServer, Reply


async def test_echoed_keys_stay_out_of_errors_and_logs(
    server: FakeLLMServer, make_router, log_output
):
    server.always("openai", Reply(401, echo_key=True))
    server.always("anthropic", Reply(500, echo_key=True))
    router = make_router(["openai", "anthropic"], retries=1, failures=2)

    with pytest.raises(AllProvidersFailed) as caught:
        await router.complete(LLMRequest(prompt="hello"))

    # The keys were really sent, so there was something to leak.
    assert server.received("openai")[0].headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert server.received("anthropic")[0].headers["x-api-key"] == ANTHROPIC_KEY
    error_text = str(caught.value) + json.dumps(caught.value.details)
    logs = log_output()
    for key in (OPENAI_KEY, ANTHROPIC_KEY):
        assert key not in error_text
        assert key not in logs
    assert "Incorrect API key provided: ***" in json.dumps(caught.value.details)

    lines = [json.loads(line) for line in logs.splitlines() if line.strip()]
    failed = [line for line in lines if line["event"] == "llm_attempt_failed"]
    assert [(f["provider"], f["error_class"], f["attempt"], f["will_retry"]) for f in failed] == [
        ("openai", "auth", 1, False),
        ("anthropic", "server_error", 1, True),
        ("anthropic", "server_error", 2, False),
    ]
    transitions = [line for line in lines if line["event"] == "llm_breaker_transition"]
    assert [(t["provider"], t["from_state"], t["to_state"]) for t in transitions] == [
        ("anthropic", "closed", "open")
    ]
    assert any(line["event"] == "llm_all_providers_failed" for line in lines)
