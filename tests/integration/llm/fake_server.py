"""A real HTTP server on 127.0.0.1 that speaks the OpenAI, Anthropic and Ollama chat APIs.

Uvicorn runs a small Starlette app in a thread. Tests script what each API answers next
(``script``) or always (``always``): a status, a delay that outlasts the client's timeout, a
``Retry-After`` header, or an error body that echoes the API key it received. Every request is
recorded so tests can count what actually reached the server.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

PATHS = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages", "ollama": "/api/chat"}


@dataclass(frozen=True)
class Reply:
    status: int = 200
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    echo_key: bool = False
    """Put the received API key into the error message, as a careless server might."""


@dataclass(frozen=True)
class Recorded:
    api: str
    headers: dict[str, str]
    body: dict[str, Any]


def _success(api: str, body: dict[str, Any]) -> dict[str, Any]:
    model = body.get("model", "?")
    if api == "openai":
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": f"{model}-2024-07-18",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "openai answer"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 17, "completion_tokens": 9, "total_tokens": 26},
        }
    if api == "anthropic":
        return {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": "anthropic answer"}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 21, "output_tokens": 6},
        }
    return {
        "model": model,
        "created_at": "2026-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": "ollama answer"},
        "done": True,
        "prompt_eval_count": 13,
        "eval_count": 4,
    }


def _received_key(headers: dict[str, str]) -> str:
    return headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")


class FakeLLMServer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: dict[str, deque[Reply]] = {api: deque() for api in PATHS}
        self._always: dict[str, Reply | None] = dict.fromkeys(PATHS)
        self.requests: list[Recorded] = []
        self._stopping = False
        routes = [Route(path, self._handler(api), methods=["POST"]) for api, path in PATHS.items()]
        self._server = uvicorn.Server(
            uvicorn.Config(
                Starlette(routes=routes),
                log_config=None,
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=2,
            )
        )
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake LLM server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._stopping = True
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def reset(self) -> None:
        with self._lock:
            for queue in self._scripts.values():
                queue.clear()
            self._always = dict.fromkeys(PATHS)
            self.requests.clear()

    def script(self, api: str, *replies: Reply) -> None:
        """Answer the next requests to ``api`` with ``replies``, then normally."""
        with self._lock:
            self._scripts[api].extend(replies)

    def always(self, api: str, reply: Reply | None) -> None:
        """Answer every request to ``api`` with ``reply`` (None: succeed) once scripts run out."""
        with self._lock:
            self._always[api] = reply

    def count(self, api: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.api == api)

    def received(self, api: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.api == api]

    def _next_reply(self, api: str) -> Reply:
        with self._lock:
            if self._scripts[api]:
                return self._scripts[api].popleft()
            return self._always[api] or Reply()

    def _handler(self, api: str) -> Any:
        async def handle(request: Request) -> JSONResponse:
            body = await request.json()
            headers = {k.lower(): v for k, v in request.headers.items()}
            with self._lock:
                self.requests.append(Recorded(api, headers, body))
            reply = self._next_reply(api)
            waited = 0.0
            while waited < reply.delay_s and not self._stopping:
                await asyncio.sleep(0.02)
                waited += 0.02
            if reply.status < 300:
                return JSONResponse(_success(api, body), headers=reply.headers)
            message = f"scripted failure {reply.status}"
            if reply.echo_key:
                message = f"Incorrect API key provided: {_received_key(headers)}"
            error: dict[str, Any] = (
                {"error": message}
                if api == "ollama"
                else {"type": "error", "error": {"type": "api_error", "message": message}}
            )
            return JSONResponse(error, status_code=reply.status, headers=reply.headers)

        return handle
