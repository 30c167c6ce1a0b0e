"""What every provider offers the router, and the HTTP call the remote ones share.

A provider turns an ``LLMRequest`` into a ``ProviderReply`` or raises a ``ProviderError``
classified as in ``llm/retry.py``. It does not retry, time itself out or track its health: the
router does all three, the same way for every provider. A provider without its key or URL is
not configured; the router skips it with the reason from ``not_configured_reason``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from automechanica.errors import ProviderError
from automechanica.llm.request import LLMRequest
from automechanica.llm.retry import (
    classify_status,
    classify_transport,
    parse_retry_after,
    provider_error,
)
from automechanica.redaction import redact_text, register_secret

_ERROR_SNIPPET = 200


@dataclass(frozen=True)
class ProviderReply:
    text: str
    model: str
    tokens_in: int
    tokens_out: int


class Provider(ABC):
    name: ClassVar[str]
    default_model: ClassVar[str]

    @property
    def not_configured_reason(self) -> str | None:
        """Why this provider cannot be called (a missing setting), or None when it can."""
        return None

    @property
    def configured(self) -> bool:
        return self.not_configured_reason is None

    @abstractmethod
    async def complete(self, request: LLMRequest, model: str) -> ProviderReply:
        """One call, no retries; raise ``ProviderError`` on failure."""


class HTTPProvider(Provider):
    """A provider behind a JSON-over-HTTP API, called through the router's shared client."""

    def __init__(
        self, client: httpx.AsyncClient, base_url: str | None, api_key: str | None = None
    ) -> None:
        self._client = client
        self._base_url = base_url.rstrip("/") if base_url else None
        self._api_key = api_key or None
        # Belt and braces: settings.load_settings registers keys too, but a router built from
        # hand-made settings (tests, scripts) must not leak one either.
        register_secret(self._api_key)

    def _url(self, path: str) -> str:
        if self._base_url is None:
            raise provider_error("bad_request", f"{self.name} has no base URL configured")
        return self._base_url + path

    def _scrub(self, text: str) -> str:
        """``text`` without this provider's key, even if it was never registered as a secret."""
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return redact_text(text)

    async def _post_json(
        self, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> dict[str, Any]:
        url = self._url(path)
        try:
            response = await self._client.post(url, json=body, headers=headers)
        except httpx.TransportError as exc:
            detail = self._scrub(str(exc)) or type(exc).__name__
            raise provider_error(
                classify_transport(exc),
                f"{self.name}: {type(exc).__name__} calling {self._scrub(url)}: {detail}",
            ) from None
        if response.status_code >= 300:
            raise provider_error(
                classify_status(response.status_code),
                f"{self.name} returned HTTP {response.status_code}: "
                f"{self._scrub(_error_text(response))[:_ERROR_SNIPPET]}",
                status=response.status_code,
                retry_after_s=parse_retry_after(response.headers.get("retry-after")),
            )
        try:
            data = response.json()
        except ValueError:
            raise provider_error(
                "bad_response", f"{self.name} returned a body that is not JSON"
            ) from None
        if not isinstance(data, dict):
            raise provider_error("bad_response", f"{self.name} returned JSON that is not an object")
        return data

    def _bad_shape(self, what: str) -> ProviderError:
        return provider_error("bad_response", f"{self.name} response has no {what}")


def _error_text(response: httpx.Response) -> str:
    """The API's own error message when it sent one (OpenAI, Anthropic, Ollama shapes).

    Not truncated here: a key must be masked before the text is cut, or half a key survives.
    """
    try:
        data = response.json()
    except ValueError:
        return response.text or response.reason_phrase
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
    return response.text


def chat_messages(request: LLMRequest) -> list[dict[str, str]]:
    """The request as chat-completion messages: the system prompt first, then the turns.

    The OpenAI and Ollama chat APIs share this shape (Anthropic takes ``system`` apart).
    """
    messages: list[dict[str, str]] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    messages += [{"role": m.role, "content": m.content} for m in request.conversation()]
    return messages


def count_words(text: str) -> int:
    """Token count stand-in where a provider reports none: one token per word."""
    return len(text.split())


def reported_or_counted(reported: Any, *texts: str) -> int:
    """The provider's token count when it sent an integer, else the words in ``texts``."""
    if isinstance(reported, int) and not isinstance(reported, bool) and reported >= 0:
        return reported
    return sum(count_words(text) for text in texts)
