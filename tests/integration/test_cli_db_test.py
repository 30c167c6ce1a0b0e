"""``automechanica db test`` as a real subprocess: each failure class, its message, exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from automechanica.db import migrate
from tests.helpers.cli import cli_env, run_cli, run_many
from tests.helpers.network import UNRESOLVABLE_HOST, black_hole, free_port
from tests.helpers.scram import PASSWORD, WRONG_PASSWORD, ScramCluster

pytest_plugins = ["tests.helpers.fixtures"]


@pytest.fixture(scope="module")
def black_hole_port() -> Iterator[int]:
    with black_hole() as port:
        yield port


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def _url(request: pytest.FixtureRequest, case: str) -> str:
    if case == "connection_refused":
        return f"postgresql://app:{PASSWORD}@127.0.0.1:{free_port()}/app"
    if case == "auth_failed":
        cluster: ScramCluster = request.getfixturevalue("scram_cluster")
        return cluster.url(password=WRONG_PASSWORD)
    if case == "database_missing":
        cluster = request.getfixturevalue("scram_cluster")
        return cluster.url(database="am_no_such_database")
    if case == "timeout":
        return f"postgresql://app:{PASSWORD}@127.0.0.1:{request.getfixturevalue('black_hole_port')}/app"
    if case == "host_unresolvable":
        return f"postgresql://app:{PASSWORD}@{UNRESOLVABLE_HOST}:5432/app"
    if case == "schema_behind":
        return str(request.getfixturevalue("empty_dsn"))
    raise AssertionError(case)


FAILURES = {
    # failure class: (what the error line says, what the fix line says)
    "connection_refused": ("Connection refused", "automechanica db start"),
    "auth_failed": ("password authentication failed", "check the user and password"),
    "database_missing": ('database "am_no_such_database" does not exist', "createdb"),
    "timeout": ("timeout expired", "DB_CONNECT_TIMEOUT_MS"),
    "host_unresolvable": (UNRESOLVABLE_HOST, "check the host in DATABASE_URL"),
    "schema_behind": ("migration(s) pending", "automechanica db migrate"),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_db_test_names_the_failure_class_with_its_fix_and_exits_3(
    request: pytest.FixtureRequest, data_dir: Path, case: str
) -> None:
    url = _url(request, case)
    env = cli_env(data_dir, database_url=url, db_connect_timeout_ms=1000)

    human, as_json = run_many(env, ("db", "test"), ("db", "test", "--json"))
    assert human.code == 3, human.output
    said, fix = FAILURES[case]
    error_line, fix_line = human.stderr.strip().splitlines()[-2:]
    assert error_line.startswith(f"error: {case}: ")
    assert said in error_line
    assert fix_line.startswith("  fix: ") and fix in fix_line
    assert "Traceback" not in human.output
    assert PASSWORD not in human.output and WRONG_PASSWORD not in human.output

    assert as_json.code == 3, as_json.output
    report = json.loads(as_json.stdout)
    assert report["ok"] is False
    assert report["failure"] == case
    assert said in report["error"]
    assert fix in report["fix"]
    assert PASSWORD not in as_json.output and WRONG_PASSWORD not in as_json.output


def test_db_test_reports_what_is_there_as_json(scram_cluster: ScramCluster, data_dir: Path) -> None:
    env = cli_env(data_dir, database_url=scram_cluster.url(), db_pool_max=7)
    result = run_cli(env, "db", "test", "--json")
    assert result.code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["database"] == "am_app"
    assert report["user"] == "am_app"
    assert report["server_version"].split(".")[0].isdigit()
    assert datetime.fromisoformat(report["now"]).tzinfo is not None
    assert report["latency_ms"] >= 0
    assert report["url"] == f"postgresql://am_app:***@127.0.0.1:{scram_cluster.port}/am_app"
    assert report["embedded"] is False
    assert report["schema"] == {
        "revision": migrate.head(),
        "head": migrate.head(),
        "at_head": True,
        "pending": [],
    }
    assert report["pool"]["max"] == 7
    assert {"min", "timeout_ms", "connect_timeout_ms", "statement_timeout_ms"} <= set(
        report["pool"]
    )
    assert PASSWORD not in result.output


def test_db_test_prints_a_readable_summary_and_exits_0(db_dsn: str, data_dir: Path) -> None:
    result = run_cli(cli_env(data_dir, database_url=db_dsn), "db", "test")
    assert result.code == 0, result.output
    assert result.stdout.strip().endswith("database ok")
    for label in ("url", "database", "user", "server version", "now()", "round trip", "schema"):
        assert any(line.startswith(label) for line in result.stdout.splitlines()), label
    assert f"(head {migrate.head()})" in result.stdout


def test_db_test_on_a_stopped_embedded_server_says_how_to_start_it(data_dir: Path) -> None:
    # No DATABASE_URL and an empty data dir: `db test` must not start a server by itself.
    result = run_cli(cli_env(data_dir), "db", "test")
    assert result.code == 3
    assert "error: connection_refused: " in result.stderr
    assert "automechanica db start" in result.stderr
    assert not (data_dir / "pgdata" / "PG_VERSION").exists()
