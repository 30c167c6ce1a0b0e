"""``automechanica serve`` as a real process: the schema gate, and starting while the DB is down."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from automechanica.db import migrate
from tests.helpers.cli import ServeProcess, cli_env, run_cli
from tests.helpers.network import free_port


def test_serve_refuses_an_out_of_date_external_schema_naming_db_migrate(
    empty_dsn: str, tmp_path: Path
) -> None:
    result = run_cli(cli_env(tmp_path, database_url=empty_dsn, port=free_port()), "serve")
    assert result.code == 3
    assert "automechanica db migrate" in result.stderr
    assert "--migrate" in result.stderr
    assert f"expects {migrate.head()}" in result.stderr
    assert "Traceback" not in result.output
    assert migrate.status(empty_dsn).current is None


@pytest.mark.parametrize(
    ("args", "settings"),
    [(("--migrate",), {}), ((), {"migrate_on_start": "true"})],
    ids=["--migrate", "MIGRATE_ON_START"],
)
def test_serve_migrates_an_out_of_date_schema_when_told_to(
    empty_dsn: str, tmp_path: Path, args: tuple[str, ...], settings: dict[str, str]
) -> None:
    service = ServeProcess(cli_env(tmp_path, database_url=empty_dsn, **settings), *args)
    try:
        service.wait_live()
        health = httpx.get(f"{service.url}/api/health", timeout=5)
    finally:
        code, out, err = service.stop()
    assert health.status_code == 200, health.text
    assert health.json()["status"] == "ok"
    assert health.json()["schema"]["at_head"] is True
    assert migrate.status(empty_dsn).at_head
    assert code == 0, err
    events = [json.loads(line)["event"] for line in out.splitlines()]
    assert "schema_migrated" in events


def test_serve_starts_while_the_database_is_down_and_reports_it(tmp_path: Path) -> None:
    port = free_port()
    env = cli_env(tmp_path, database_url=f"postgresql://app@127.0.0.1:{port}/app")
    service = ServeProcess(env)
    try:
        service.wait_live()
        health = httpx.get(f"{service.url}/api/health", timeout=5)
        ready = httpx.get(f"{service.url}/api/health/ready", timeout=5)
    finally:
        code, out, _err = service.stop()
    assert health.status_code == 503
    assert health.json()["status"] == "down"
    assert health.json()["checks"]["database"]["error_class"] == "connection_refused"
    assert ready.status_code == 503
    assert code == 0
    logged = [json.loads(line) for line in out.splitlines()]
    [at_start] = [e for e in logged if e["event"] == "database_unreachable_at_start"]
    assert at_start["error_class"] == "connection_refused"
    assert at_start["url"] == f"postgresql://app@127.0.0.1:{port}/app"
    requests = [e for e in logged if e["event"] == "request" and e["route"] != "/api/health/live"]
    assert [(e["route"], e["status"]) for e in requests] == [
        ("/api/health", 503),
        ("/api/health/ready", 503),
    ]
