"""Per-request logging and request ids, as plain ASGI (no extra task per request)."""

from __future__ import annotations

import time
import uuid
from collections.abc import MutableMapping
from typing import Any

import structlog

from automechanica.api.errors import internal_error_response
from automechanica.db.pool import served_by
from automechanica.logs import get_logger

log = get_logger("automechanica.http")

_REQUEST_ID_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")


def _request_id(headers: list[tuple[bytes, bytes]]) -> str:
    for key, value in headers:
        if key == b"x-request-id":
            text = value.decode("latin-1")[:128]
            if text and set(text) <= _REQUEST_ID_OK:
                return text
    return uuid.uuid4().hex


class RequestLogMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope.get("headers", []))
        start = time.perf_counter()
        status = 500
        method = scope.get("method", "")
        token = served_by.set(f"{method} {scope.get('path', '')}")
        structlog.contextvars.bind_contextvars(request_id=request_id)

        started = False

        async def send_with_id(message: MutableMapping[str, Any]) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # Answered here rather than by Starlette's outermost handler, which would send the
            # 500 without the request id and re-raise it for the server to print a traceback.
            if started:
                raise
            await internal_error_response(exc)(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "<unmatched>"
            log.info(
                "request",
                method=method,
                route=template,
                status=status,
                duration_ms=round((time.perf_counter() - start) * 1000, 2),
            )
            structlog.contextvars.unbind_contextvars("request_id")
            served_by.reset(token)
