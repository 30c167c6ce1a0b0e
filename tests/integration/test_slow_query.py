"""The slow-query warning: fires at the threshold, names the statement without literals."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client import REGISTRY

from automechanica.db.errorlog import ErrorLog
from automechanica.db.pool import Database, served_by
from tests.helpers.logcapture import LogCapture
from tests.helpers.service import serving

pytest_plugins = ["tests.helpers.fixtures"]


def _slow_total() -> float:
    return REGISTRY.get_sample_value("automechanica_db_slow_queries_total") or 0.0


@pytest.fixture
def open_database(db_dsn: str) -> Callable[..., Any]:
    @asynccontextmanager
    async def opener(**kwargs: Any) -> AsyncIterator[Database]:
        db = Database(db_dsn, min_size=1, max_size=2, **kwargs)
        await db.open()
        try:
            yield db
        finally:
            await db.close()

    return opener


async def test_a_statement_over_the_threshold_logs_one_slow_query_line(
    open_database: Callable[..., Any], log_capture: LogCapture, tmp_path: Path
) -> None:
    error_log = ErrorLog(tmp_path / "db-errors.jsonl")
    before = _slow_total()
    async with open_database(slow_query_threshold_ms=20, error_log=error_log) as db:
        token = served_by.set("task:test-slow")
        try:
            async with db.connection() as conn:
                await conn.execute("SELECT pg_sleep(0.05), 'private-literal', 12345")
        finally:
            served_by.reset(token)
        stats = db.stats()
    [line] = log_capture.records("slow_query")
    assert line["level"] == "warning"
    assert line["statement"] == "SELECT pg_sleep(?), ?, ?"
    assert line["duration_ms"] >= 50
    assert line["threshold_ms"] == 20
    assert line["served_by"] == "task:test-slow"
    assert line["failed"] is False
    assert "private-literal" not in log_capture.text
    assert stats["slow_queries"] == 1
    assert _slow_total() == before + 1
    [recorded] = error_log.tail(10)
    assert recorded["kind"] == "slow_query"
    assert recorded["statement"] == "SELECT pg_sleep(?), ?, ?"


async def test_statements_under_the_threshold_log_nothing(
    open_database: Callable[..., Any], log_capture: LogCapture
) -> None:
    before = _slow_total()
    async with open_database(slow_query_threshold_ms=10_000) as db:
        async with db.connection() as conn:
            await conn.execute("SELECT 1")
            await conn.execute("SELECT pg_sleep(0.05)")
        stats = db.stats()
    assert log_capture.records("slow_query") == []
    assert stats["slow_queries"] == 0
    assert _slow_total() == before


async def test_a_statement_cancelled_by_the_statement_timeout_is_timed_and_counted(
    open_database: Callable[..., Any], log_capture: LogCapture
) -> None:
    async with open_database(slow_query_threshold_ms=5, statement_timeout_ms=20) as db:
        async with db.connection() as conn:
            with pytest.raises(psycopg.errors.QueryCanceled):
                await conn.execute("SELECT pg_sleep(1)")
        stats = db.stats()
    [line] = log_capture.records("slow_query")
    assert line["failed"] is True
    assert line["statement"] == "SELECT pg_sleep(?)"
    assert stats["query_errors"] == 1


async def test_a_slow_query_in_a_request_names_the_route_template(
    db_dsn: str, tmp_path: Path, log_capture: LogCapture
) -> None:
    async with serving(db_dsn, tmp_path, slow_query_threshold_ms=20) as svc:

        @svc.app.get("/api/test/sleep/{ms}")
        async def sleep(ms: int) -> dict[str, int]:
            async with svc.rt.db.connection() as conn:
                await conn.execute("SELECT pg_sleep(%s)", (ms / 1000,))
            return {"slept_ms": ms}

        assert (await svc.client.get("/api/test/sleep/50")).status_code == 200
        health = (await svc.client.get("/api/health")).json()
    [line] = log_capture.records("slow_query")
    assert line["served_by"] == "GET /api/test/sleep/{ms}"
    assert line["statement"] == "SELECT pg_sleep(%s)"
    assert health["pool"]["slow_queries"] == 1
