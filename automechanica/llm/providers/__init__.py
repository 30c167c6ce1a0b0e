"""The LLM providers, by the name routes use: ``local``, ``openai``, ``anthropic``, ``ollama``."""

from __future__ import annotations

import httpx

from automechanica.llm.providers.anthropic import AnthropicProvider
from automechanica.llm.providers.base import Provider, ProviderReply
from automechanica.llm.providers.local import LocalProvider
from automechanica.llm.providers.ollama import OllamaProvider
from automechanica.llm.providers.openai import OpenAIProvider
from automechanica.settings import Settings

PROVIDER_TYPES: dict[str, type[Provider]] = {
    LocalProvider.name: LocalProvider,
    OpenAIProvider.name: OpenAIProvider,
    AnthropicProvider.name: AnthropicProvider,
    OllamaProvider.name: OllamaProvider,
}


def build_providers(settings: Settings, client: httpx.AsyncClient) -> dict[str, Provider]:
    """Every provider, configured from ``settings``; unconfigured ones are kept (and skipped)."""
    return {
        "local": LocalProvider(),
        "openai": OpenAIProvider(client, settings.openai_base_url, settings.openai_api_key),
        "anthropic": AnthropicProvider(
            client, settings.anthropic_base_url, settings.anthropic_api_key
        ),
        "ollama": OllamaProvider(client, settings.ollama_base_url),
    }


__all__ = [
    "PROVIDER_TYPES",
    "AnthropicProvider",
    "LocalProvider",
    "OllamaProvider",
    "OpenAIProvider",
    "Provider",
    "ProviderReply",
    "build_providers",
]
