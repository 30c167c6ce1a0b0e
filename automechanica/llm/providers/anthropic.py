"""Anthropic messages: ``POST {ANTHROPIC_BASE_URL}/v1/messages`` with ``x-api-key``."""

from __future__ import annotations

from typing import Any

from automechanica.llm.providers.base import HTTPProvider, ProviderReply, reported_or_counted
from automechanica.llm.request import LLMRequest

API_VERSION = "2023-06-01"


class AnthropicProvider(HTTPProvider):
    name = "anthropic"
    default_model = "claude-haiku-4-5"

    @property
    def not_configured_reason(self) -> str | None:
        if not self._api_key:
            return "ANTHROPIC_API_KEY is not set"
        if not self._base_url:
            return "ANTHROPIC_BASE_URL is not set"
        return None

    async def complete(self, request: LLMRequest, model: str) -> ProviderReply:
        turns = request.conversation()
        body: dict[str, Any] = {
            "model": model,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "messages": [{"role": m.role, "content": m.content} for m in turns],
        }
        if request.system:
            body["system"] = request.system
        headers = {"x-api-key": self._api_key or "", "anthropic-version": API_VERSION}
        data = await self._post_json("/v1/messages", body, headers)
        blocks = data.get("content")
        if not isinstance(blocks, list):
            raise self._bad_shape("content")
        texts = [
            b["text"]
            for b in blocks
            if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
        ]
        if not texts:
            raise self._bad_shape("text content block")
        text = "".join(texts)
        usage = data.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        prompt_texts = [request.system or "", *(m.content for m in turns)]
        return ProviderReply(
            text=text,
            model=str(data.get("model") or model),
            tokens_in=reported_or_counted(usage.get("input_tokens"), *prompt_texts),
            tokens_out=reported_or_counted(usage.get("output_tokens"), text),
        )
