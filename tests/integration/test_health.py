"""``/api/health``, ``/live`` and ``/ready`` against real databases that work, stop and hang."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from automechanica import __version__
from automechanica.db import migrate
from tests.helpers.logcapture import LogCapture
from tests.helpers.network import black_hole, free_port
from tests.helpers.scram import PASSWORD, ScramCluster
from tests.helpers.service import serving

pytest_plugins = ["tests.helpers.fixtures"]

POOL_TOTALS = {"size", "min", "max", "idle", "in_use", "requests_waiting", "slow_queries"}


async def test_health_is_ok_with_latency_pool_totals_version_and_schema(
    db_dsn: str, tmp_path: Path
) -> None:
    async with serving(db_dsn, tmp_path, db_pool_max=4) as svc:
        response = await svc.client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    database = body["checks"]["database"]
    assert database["ok"] is True
    assert database["latency_ms"] >= 0
    assert "error_class" not in database
    assert set(body["pool"]) >= POOL_TOTALS
    assert body["pool"]["max"] == 4
    assert body["version"] == __version__
    assert body["uptime_s"] >= 0
    assert body["schema"] == {"revision": migrate.head(), "head": migrate.head(), "at_head": True}


async def test_health_goes_down_when_the_database_stops_and_recovers_without_a_restart(
    scram_cluster: ScramCluster, tmp_path: Path
) -> None:
    server = scram_cluster.server
    async with serving(scram_cluster.url(), tmp_path) as svc:
        before = await svc.client.get("/api/health")
        assert before.status_code == 200
        assert before.json()["status"] == "ok"
        try:
            server.stop()
            down = await svc.client.get("/api/health")
            assert down.status_code == 503
            body = down.json()
            assert body["status"] == "down"
            assert body["checks"]["database"]["ok"] is False
            assert body["checks"]["database"]["error_class"] == "connection_refused"
            assert body["schema"]["at_head"] is False
            assert set(body["pool"]) >= POOL_TOTALS
            assert (await svc.client.get("/api/health/ready")).status_code == 503
            assert (await svc.client.get("/api/health/live")).status_code == 200
        finally:
            server.ensure_running()
        # The same app and pool must find the database again on their own.
        statuses = []
        for _ in range(30):
            after = await svc.client.get("/api/health")
            statuses.append(after.json()["status"])
            if after.status_code == 200:
                break
            await asyncio.sleep(0.5)  # waiting for a real server restart to be noticed
        assert statuses[-1] == "ok", statuses
        assert after.json()["checks"]["database"]["ok"] is True
        assert after.json()["uptime_s"] >= before.json()["uptime_s"]
        assert (await svc.client.get("/api/health/ready")).status_code == 200


async def test_health_answers_within_2s_when_the_database_host_black_holes(
    tmp_path: Path,
) -> None:
    with black_hole() as port:
        dsn = f"postgresql://app:{PASSWORD}@127.0.0.1:{port}/app"
        async with serving(dsn, tmp_path, db_connect_timeout_ms=1000) as svc:
            started = time.perf_counter()
            response = await svc.client.get("/api/health")
            elapsed = time.perf_counter() - started
            ready = await svc.client.get("/api/health/ready")
    assert elapsed < 2.0
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["checks"]["database"]["error_class"] == "timeout"
    assert ready.status_code == 503
    assert ready.json() == {"ready": False, "reason": "database unavailable (timeout)"}


async def test_health_is_degraded_and_not_ready_while_the_schema_is_behind(
    empty_dsn: str, tmp_path: Path
) -> None:
    async with serving(empty_dsn, tmp_path) as svc:
        health = await svc.client.get("/api/health")
        ready = await svc.client.get("/api/health/ready")
    assert health.status_code == 200
    assert health.json()["status"] == "degraded"
    assert health.json()["checks"]["database"]["ok"] is True
    assert health.json()["schema"] == {"revision": None, "head": migrate.head(), "at_head": False}
    assert ready.status_code == 503
    assert ready.json() == {
        "ready": False,
        "reason": f"schema at base, code expects {migrate.head()}",
    }


async def test_ready_is_200_when_the_database_answers_at_head(db_dsn: str, tmp_path: Path) -> None:
    async with serving(db_dsn, tmp_path) as svc:
        ready = await svc.client.get("/api/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "reason": None}


async def test_live_answers_and_ready_refuses_while_nothing_listens(tmp_path: Path) -> None:
    dsn = f"postgresql://app:{PASSWORD}@127.0.0.1:{free_port()}/app"
    async with serving(dsn, tmp_path) as svc:
        live = await svc.client.get("/api/health/live")
        ready = await svc.client.get("/api/health/ready")
        health = await svc.client.get("/api/health")
    assert live.status_code == 200
    assert live.json()["status"] == "ok"
    assert ready.status_code == 503
    assert ready.json()["reason"] == "database unavailable (connection_refused)"
    assert health.status_code == 503
    assert health.json()["checks"]["database"]["error_class"] == "connection_refused"


async def test_a_failed_connection_is_logged_with_its_class_and_redacted_url(
    tmp_path: Path, log_capture: LogCapture
) -> None:
    port = free_port()
    dsn = f"postgresql://app:{PASSWORD}@127.0.0.1:{port}/app"
    async with serving(dsn, tmp_path) as svc:
        assert (await svc.client.get("/api/health")).status_code == 503
    failures = log_capture.records("db_connect_failed")
    assert failures, log_capture.text
    assert failures[0]["error_class"] == "connection_refused"
    assert failures[0]["url"] == f"postgresql://app:***@127.0.0.1:{port}/app"
    assert failures[0]["level"] == "warning"
    assert PASSWORD not in log_capture.text
