"""OpenAI chat completions: ``POST {OPENAI_BASE_URL}/chat/completions`` with a Bearer key.

Any server speaking the same API works through ``OPENAI_BASE_URL``. The token limit is sent
as ``max_completion_tokens``, which current OpenAI models require (reasoning models reject the
older ``max_tokens``).
"""

from __future__ import annotations

from typing import Any

from automechanica.llm.providers.base import (
    HTTPProvider,
    ProviderReply,
    chat_messages,
    reported_or_counted,
)
from automechanica.llm.request import LLMRequest


class OpenAIProvider(HTTPProvider):
    name = "openai"
    default_model = "gpt-4o-mini"

    @property
    def not_configured_reason(self) -> str | None:
        if not self._api_key:
            return "OPENAI_API_KEY is not set"
        if not self._base_url:
            return "OPENAI_BASE_URL is not set"
        return None

    async def complete(self, request: LLMRequest, model: str) -> ProviderReply:
        messages = chat_messages(request)
        body: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "max_completion_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        headers = {"Authorization": f"Bearer {self._api_key}"}
        data = await self._post_json("/chat/completions", body, headers)
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise self._bad_shape("choices")
        message = choices[0].get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str):
            raise self._bad_shape("choices[0].message.content")
        usage = data.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        return ProviderReply(
            text=content,
            model=str(data.get("model") or model),
            tokens_in=reported_or_counted(
                usage.get("prompt_tokens"), *(m["content"] for m in messages)
            ),
            tokens_out=reported_or_counted(usage.get("completion_tokens"), content),
        )
