from __future__ import annotations

import json

import pytest

from automechanica.errors import ConfigError
from automechanica.llm import Route, RoutingTable
from automechanica.settings import Settings


def test_task_kind_uses_its_own_chain_and_others_use_the_default():
    table = RoutingTable(
        [Route("openai", "gpt-4o-mini")],
        {"diagnose": [Route("anthropic", "claude-sonnet-4-5"), Route("local", "local-echo-1")]},
    )

    assert [str(r) for r in table.chain_for("diagnose")] == [
        "anthropic:claude-sonnet-4-5",
        "local:local-echo-1",
    ]
    assert [str(r) for r in table.chain_for("summarise")] == ["openai:gpt-4o-mini"]


def test_no_configuration_routes_everything_to_local():
    table = RoutingTable.from_settings(Settings(_env_file=None))

    assert [str(r) for r in table.chain_for("anything")] == ["local:local-echo-1"]


def test_default_provider_setting_picks_its_default_model():
    table = RoutingTable.from_settings(Settings(_env_file=None, llm_default_provider="anthropic"))

    assert [str(r) for r in table.default_chain] == ["anthropic:claude-haiku-4-5"]


def test_json_routes_parse_bare_providers_and_models_with_colons():
    table = RoutingTable.parse(
        json.dumps(
            {
                "default": ["openai:gpt-4.1", "anthropic", "local"],
                "extract": "ollama:llama3.2:3b",
            }
        )
    )

    assert table.describe() == {
        "default": ["openai:gpt-4.1", "anthropic:claude-haiku-4-5", "local:local-echo-1"],
        "extract": ["ollama:llama3.2:3b"],
    }


def test_json_without_default_keeps_the_given_default():
    table = RoutingTable.parse({"extract": ["ollama"]}, default=[Route("openai", "gpt-4o")])

    assert [str(r) for r in table.chain_for("other")] == ["openai:gpt-4o"]


def test_bad_routes_are_reported_all_at_once():
    with pytest.raises(ConfigError) as caught:
        RoutingTable.parse({"default": ["gemini:pro"], "extract": [], "tag": [42]})

    problems = caught.value.problems
    assert len(problems) == 3
    assert "unknown provider 'gemini'" in problems[0]
    assert all(p.startswith("LLM_ROUTES[") for p in problems)


def test_invalid_json_is_a_config_error():
    with pytest.raises(ConfigError, match="LLM_ROUTES: not valid JSON"):
        RoutingTable.parse("{default: local}")


class _SettingsWithRoutes(Settings):
    """Settings as they will be once LLM_ROUTES exists (see docs/llm.md)."""

    llm_routes: dict[str, list[str]] | None = None


def test_llm_routes_setting_overlays_the_default_provider(monkeypatch):
    monkeypatch.setenv("LLM_ROUTES", '{"diagnosis": ["anthropic:claude-sonnet-4-5", "local"]}')

    table = RoutingTable.from_settings(
        _SettingsWithRoutes(_env_file=None, llm_default_provider="openai")
    )

    assert table.describe() == {
        "default": ["openai:gpt-4o-mini"],
        "diagnosis": ["anthropic:claude-sonnet-4-5", "local:local-echo-1"],
    }
