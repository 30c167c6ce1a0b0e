"""What every HTTP answer shares: the error shape, the request id, one log line per request."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.helpers.logcapture import LogCapture
from tests.helpers.service import Service, serving

pytest_plugins = ["tests.helpers.fixtures"]


@pytest.fixture
async def svc(db_dsn: str, tmp_path: Path) -> AsyncIterator[Service]:
    async with serving(db_dsn, tmp_path) as service:
        yield service


async def test_unknown_route_is_404_in_the_error_shape(svc: Service) -> None:
    response = await svc.client.get("/api/no/such/thing")
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "code": "not_found",
            "message": "no route for GET /api/no/such/thing",
            "details": None,
        }
    }


async def test_wrong_method_is_405_in_the_error_shape(svc: Service) -> None:
    response = await svc.client.post("/api/health")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


async def test_an_unexpected_exception_is_a_500_in_the_error_shape_without_traceback(
    svc: Service, log_capture: LogCapture
) -> None:
    @svc.app.get("/api/test/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom")

    response = await svc.client.get("/api/test/boom", headers={"X-Request-ID": "boom-1"})
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "kaboom" not in response.text
    assert response.headers["x-request-id"] == "boom-1"
    [logged] = log_capture.records("unhandled_error")
    assert logged["request_id"] == "boom-1"
    assert logged["error_type"] == "RuntimeError"
    assert "Traceback" not in log_capture.text


async def test_a_given_request_id_is_echoed_back(svc: Service) -> None:
    response = await svc.client.get("/api/health/live", headers={"X-Request-ID": "abc-123.x"})
    assert response.headers["x-request-id"] == "abc-123.x"


async def test_a_request_id_is_generated_when_absent_or_unusable(svc: Service) -> None:
    first = await svc.client.get("/api/health/live")
    second = await svc.client.get("/api/health/live", headers={"X-Request-ID": "bad id\t<x>"})
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert ids[0] != ids[1]


async def test_each_request_logs_one_json_line_with_route_template_status_duration_and_id(
    svc: Service, log_capture: LogCapture
) -> None:
    @svc.app.get("/api/test/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        return {"id": item_id}

    await svc.client.get("/api/test/items/42", headers={"X-Request-ID": "req-42"})
    await svc.client.get("/api/health")
    await svc.client.get("/nowhere")
    lines = log_capture.records("request")
    assert len(lines) == 3
    first, second, third = lines
    assert first["method"] == "GET"
    assert first["route"] == "/api/test/items/{item_id}"
    assert first["status"] == 200
    assert first["request_id"] == "req-42"
    assert isinstance(first["duration_ms"], float | int) and first["duration_ms"] >= 0
    assert first["level"] == "info"
    assert (second["route"], second["status"]) == ("/api/health", 200)
    assert (third["route"], third["status"]) == ("<unmatched>", 404)
    assert len({line["request_id"] for line in lines}) == 3
