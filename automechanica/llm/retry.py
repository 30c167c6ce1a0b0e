"""Which provider failures are worth retrying, and how long to wait before the next try.

Every provider failure is a ``ProviderError`` whose ``details`` carry an ``error_class``:

    error_class     retryable   cause
    timeout         yes         no answer within LLM_TIMEOUT_MS, or HTTP 408
    connection      yes         refused, reset, DNS, TLS: the request may not have arrived
    rate_limited    yes         HTTP 429 (``Retry-After`` is honoured up to the backoff cap)
    server_error    yes         HTTP 5xx (Anthropic's 529 "overloaded" included)
    auth            no          HTTP 401/403: a wrong or revoked key will not fix itself
    not_found       no          HTTP 404: usually an unknown model name
    bad_request     no          any other 4xx: the request itself is wrong
    bad_response    no          a 2xx whose body is not the API shape we expect
    unexpected      no          a bug in the provider code (any other exception)

A non-retryable failure moves the router straight to the next provider in the chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from automechanica.errors import ProviderError

RETRYABLE_CLASSES = frozenset({"timeout", "connection", "rate_limited", "server_error"})


def provider_error(
    error_class: str,
    message: str,
    *,
    status: int | None = None,
    retry_after_s: float | None = None,
) -> ProviderError:
    """A ``ProviderError`` whose retryability follows from ``error_class``."""
    exc = ProviderError(message, retryable=error_class in RETRYABLE_CLASSES)
    exc.details = {"error_class": error_class, "status": status, "retry_after_s": retry_after_s}
    return exc


def error_class_of(exc: ProviderError) -> str:
    details: Any = exc.details
    if isinstance(details, dict) and isinstance(details.get("error_class"), str):
        return str(details["error_class"])
    return "server_error" if exc.retryable else "bad_request"


def classify_status(status: int) -> str:
    """The ``error_class`` of a non-2xx HTTP status."""
    if status == 429:
        return "rate_limited"
    if status == 408:
        return "timeout"
    if status >= 500:
        return "server_error"
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "not_found"
    return "bad_request"


def classify_transport(exc: httpx.TransportError) -> str:
    """The ``error_class`` of an httpx failure that produced no HTTP response."""
    return "timeout" if isinstance(exc, httpx.TimeoutException) else "connection"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header; HTTP dates are ignored (None)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(seconds, 0.0)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries of one provider, with exponential backoff between tries."""

    max_retries: int = 2
    backoff_base_s: float = 0.25
    backoff_max_s: float = 5.0

    @property
    def max_attempts(self) -> int:
        return 1 + self.max_retries

    def backoff_s(self, attempt: int, retry_after_s: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        delay = self.backoff_base_s * 2 ** (attempt - 1)
        if retry_after_s is not None:
            delay = max(delay, retry_after_s)
        return min(delay, self.backoff_max_s)
