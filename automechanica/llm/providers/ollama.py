"""Ollama: ``POST {OLLAMA_BASE_URL}/api/chat`` with ``stream: false``; no key, no cost."""

from __future__ import annotations

from typing import Any

from automechanica.llm.providers.base import (
    HTTPProvider,
    ProviderReply,
    chat_messages,
    reported_or_counted,
)
from automechanica.llm.request import LLMRequest


class OllamaProvider(HTTPProvider):
    name = "ollama"
    default_model = "llama3.2"

    @property
    def not_configured_reason(self) -> str | None:
        return None if self._base_url else "OLLAMA_BASE_URL is not set"

    async def complete(self, request: LLMRequest, model: str) -> ProviderReply:
        messages = chat_messages(request)
        body: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "stream": False,
            "options": {"temperature": request.temperature, "num_predict": request.max_tokens},
        }
        data = await self._post_json("/api/chat", body, {})
        message = data.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str):
            raise self._bad_shape("message.content")
        return ProviderReply(
            text=content,
            model=str(data.get("model") or model),
            tokens_in=reported_or_counted(
                data.get("prompt_eval_count"), *(m["content"] for m in messages)
            ),
            tokens_out=reported_or_counted(data.get("eval_count"), content),
        )
