"""``/api/workflows`` over ASGI: start, read back, and the 422/404 answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import httpx
import pytest

from automechanica.api.app import create_app
from automechanica.db.target import DatabaseTarget
from automechanica.runtime import Runtime
from automechanica.settings import load_settings

INPUT = {"vehicle": "2018 Toyota Corolla", "complaint": "Car overheats and coolant smells sweet."}


@pytest.fixture
async def client(engine_dsn: str) -> AsyncIterator[httpx.AsyncClient]:
    rt = Runtime.build(load_settings(database_url=engine_dsn), DatabaseTarget(engine_dsn, None))
    await rt.db.open()  # ASGITransport runs no lifespan: the test owns the pool
    app = create_app(rt)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http
    finally:
        await rt.db.close()


async def test_post_starts_a_workflow_and_get_returns_it_with_its_tasks(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post(
        "/api/workflows", json={"type": "vehicle_diagnosis", "input": INPUT}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["type"], body["status"]) == ("vehicle_diagnosis", "running")
    assert body["input"] == {**INPUT, "mileage": None}  # validated and normalised
    assert body["created_by"] == "api"

    shown = await client.get(f"/api/workflows/{body['id']}")
    assert shown.status_code == 200, shown.text
    detail = shown.json()
    assert detail["id"] == body["id"]
    assert [(t["step"], t["status"]) for t in detail["tasks"]] == [("intake", "pending")]
    assert detail["agent_events"] == []


async def test_post_with_an_unknown_type_is_422_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/workflows", json={"type": "boat_repair", "input": {}})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert "unknown workflow type 'boat_repair'" in error["message"]
    assert "vehicle_diagnosis" in error["message"]


async def test_post_with_invalid_input_is_422_with_details_naming_fields(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/workflows",
        json={"type": "vehicle_diagnosis", "input": {"vehicle": "", "mileage": -1}},
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert {d["field"] for d in error["details"]} == {"vehicle", "complaint", "mileage"}


async def test_post_without_a_type_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/workflows", json={"input": INPUT})
    assert response.status_code == 422
    assert response.json()["error"]["details"] == [{"field": "type", "problem": "Field required"}]


async def test_get_with_a_malformed_id_is_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/workflows/not-a-uuid")
    assert response.status_code == 422
    assert "'not-a-uuid' is not a workflow id" in response.json()["error"]["message"]


async def test_get_of_a_missing_workflow_is_404(client: httpx.AsyncClient) -> None:
    missing = uuid4()
    response = await client.get(f"/api/workflows/{missing}")
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "not_found",
        "message": f"no workflow {missing}",
        "details": None,
    }
