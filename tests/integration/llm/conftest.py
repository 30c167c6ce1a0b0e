from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from automechanica.llm import BreakerConfig, LLMRouter, RoutingTable
from automechanica.logs import configure_logging
from automechanica.settings import Settings
from tests.integration.llm.fake_server import FakeLLMServer
from tests.unit.llm.fakes import FakeClock, SleepRecorder

OPENAI_KEY = "sk-test-OPENAI-7f3a9c1e5b0d"
ANTHROPIC_KEY = "sk-ant-test-ANTHROPIC-2d8e4f6a"


@pytest.fixture(scope="session")
def _llm_server() -> Iterator[FakeLLMServer]:
    server = FakeLLMServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def server(_llm_server: FakeLLMServer) -> FakeLLMServer:
    _llm_server.reset()
    return _llm_server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
async def make_router(server: FakeLLMServer, clock: FakeClock, sleeps: SleepRecorder) -> Any:
    """Build routers aimed at the fake server; all are closed after the test."""
    routers: list[LLMRouter] = []

    def build(
        chain: list[str],
        *,
        timeout_ms: int = 5000,
        retries: int = 2,
        failures: int = 5,
        cooldown_s: float = 30.0,
        **overrides: Any,
    ) -> LLMRouter:
        values: dict[str, Any] = {
            "openai_api_key": OPENAI_KEY,
            "openai_base_url": f"{server.url}/v1",
            "anthropic_api_key": ANTHROPIC_KEY,
            "anthropic_base_url": server.url,
            "ollama_base_url": server.url,
            "llm_timeout_ms": timeout_ms,
            "llm_max_retries": retries,
        }
        values.update(overrides)
        settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
        router = LLMRouter.from_settings(
            settings,
            routes=RoutingTable.parse({"default": chain}),
            breaker=BreakerConfig(failure_threshold=failures, cooldown_s=cooldown_s),
            clock=clock,
            sleep=sleeps,
        )
        routers.append(router)
        return router

    yield build
    for router in routers:
        await router.aclose()


@pytest.fixture
def log_output() -> Iterator[Callable[[], str]]:
    """Everything logged during the test, through the real JSON pipeline (redaction included)."""
    stream = io.StringIO()
    configure_logging("debug", "json", stream=stream)
    yield stream.getvalue
    configure_logging("warning", "json")
