"""``db start/stop/restart/logs`` on an embedded server of this module, and what they say about
an external database (``DATABASE_URL`` set) instead."""

from __future__ import annotations

import json
import queue
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from automechanica.db.embedded import EmbeddedServer
from automechanica.db.errorlog import error_log_for
from automechanica.db.pool import Database
from tests.helpers.cli import AUTOMECHANICA, cli_env, run_cli
from tests.helpers.dirs import server_dir
from tests.helpers.network import free_port


@pytest.fixture(scope="module")
def data_dir() -> Iterator[Path]:
    """A data dir whose embedded server `db start` starts; stopped when the module ends."""
    with server_dir("am-test-embedded-") as path:
        try:
            yield path
        finally:
            EmbeddedServer(path).stop()


@pytest.fixture(scope="module")
def first_start(data_dir: Path) -> str:
    result = run_cli(cli_env(data_dir), "db", "start")
    assert result.code == 0, result.output
    return result.stdout


@pytest.fixture
def env(data_dir: Path, first_start: str) -> dict[str, str]:
    """The environment of a running embedded server (no DATABASE_URL)."""
    server = EmbeddedServer(data_dir)
    if not server.status().running:
        server.ensure_running()
    return cli_env(data_dir)


def _pid(text: str) -> int:
    match = re.search(r"\(pid (\d+)", text)
    assert match, text
    return int(match.group(1))


def _fail_a_connection(data_dir: Path, database: str) -> None:
    """Make the server log a FATAL line of its own."""
    dsn = EmbeddedServer(data_dir).dsn(database)
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        psycopg.connect(dsn).close()


def test_db_start_initialises_and_starts_the_server_then_is_a_no_op(
    env: dict[str, str], data_dir: Path, first_start: str
) -> None:
    assert first_start.startswith("embedded PostgreSQL started (pid ")
    assert str(data_dir / "pgdata") in first_start
    again = run_cli(env, "db", "start")
    assert again.code == 0
    assert again.stdout.startswith("embedded PostgreSQL already running")
    assert _pid(again.stdout) == _pid(first_start) == EmbeddedServer(data_dir).status().pid


def test_db_test_and_migrate_work_on_the_embedded_server(env: dict[str, str]) -> None:
    assert run_cli(env, "db", "migrate").code == 0
    result = run_cli(env, "db", "test", "--json")
    assert result.code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["embedded"] is True
    assert report["database"] == "automechanica"


def test_db_logs_shows_the_servers_side_of_a_failed_connection(
    env: dict[str, str], data_dir: Path
) -> None:
    _fail_a_connection(data_dir, "am_no_such_db_logs")
    result = run_cli(env, "db", "logs", "-n", "5")
    assert result.code == 0, result.output
    lines = result.stdout.splitlines()
    assert 0 < len(lines) <= 5
    assert any('FATAL:  database "am_no_such_db_logs" does not exist' in line for line in lines)


def test_db_logs_follow_prints_lines_as_the_server_writes_them(
    env: dict[str, str], data_dir: Path
) -> None:
    proc = subprocess.Popen(
        [AUTOMECHANICA, "db", "logs", "-f", "-n", "1"],
        env=env,
        cwd=data_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(
        target=lambda: [lines.put(line) for line in proc.stdout or []], daemon=True
    )
    reader.start()
    try:
        lines.get(timeout=30)  # the last existing line: the follower is at the end now
        seen = ""
        for attempt in range(20):
            _fail_a_connection(data_dir, f"am_follow_{attempt}")
            try:
                seen = lines.get(timeout=1)
            except queue.Empty:
                continue
            break
        assert re.search(r'FATAL:  database "am_follow_\d+" does not exist', seen)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_db_restart_brings_the_server_back_with_a_new_process(
    env: dict[str, str], data_dir: Path
) -> None:
    before = EmbeddedServer(data_dir).status().pid
    result = run_cli(env, "db", "restart")
    assert result.code == 0, result.output
    assert "restarted" in result.stdout and "accepting connections" in result.stdout
    after = EmbeddedServer(data_dir).status()
    assert after.running and after.pid == _pid(result.stdout) != before
    assert run_cli(env, "db", "test").code == 0


def test_db_stop_stops_the_server_and_db_test_says_so(env: dict[str, str], data_dir: Path) -> None:
    stopped = run_cli(env, "db", "stop")
    assert (stopped.code, stopped.stdout.strip()) == (0, "embedded PostgreSQL stopped")
    assert not EmbeddedServer(data_dir).status().running
    again = run_cli(env, "db", "stop")
    assert (again.code, again.stdout.strip()) == (0, "embedded PostgreSQL was not running")
    probe = run_cli(env, "db", "test")
    assert probe.code == 3
    assert "error: connection_refused: the embedded PostgreSQL server" in probe.stderr
    assert "automechanica db start" in probe.stderr
    assert not EmbeddedServer(data_dir).status().running  # `db test` never starts it


@pytest.mark.parametrize("action", ["restart", "start", "stop"])
def test_server_control_refuses_an_external_database_and_explains(
    tmp_path: Path, action: str
) -> None:
    url = f"postgresql://app:hunter22-pw@127.0.0.1:{free_port()}/app"
    result = run_cli(cli_env(tmp_path, database_url=url), "db", action)
    assert result.code == 2
    assert f"`db {action}` controls the embedded server only" in result.stderr
    assert "postgresql://app:***@127.0.0.1" in result.stderr
    assert "automechanica db test" in result.stderr
    assert "hunter22-pw" not in result.output
    assert not (tmp_path / "pgdata").exists()


async def test_db_logs_for_an_external_database_says_where_server_logs_live_and_lists_failures(
    tmp_path: Path,
) -> None:
    port = free_port()
    url = f"postgresql://app:hunter22-pw@127.0.0.1:{port}/app"
    # A process of this installation fails to connect; it records that under the data dir.
    db = Database(url, min_size=1, error_log=error_log_for(tmp_path))
    await db.open()
    ping = await db.ping(0.5)
    await db.close()
    assert ping.failure == "connection_refused"

    result = run_cli(cli_env(tmp_path, database_url=url), "db", "logs", "-n", "3")
    assert result.code == 0, result.output
    header, *entries = result.stdout.splitlines()
    assert header.startswith(f"# external database postgresql://app:***@127.0.0.1:{port}/app")
    assert "server logs live with whoever runs it" in header
    assert 1 <= len(entries) <= 3
    failure = json.loads(entries[-1])
    assert failure["kind"] == "connect_failed"
    assert failure["failure"] == "connection_refused"
    assert failure["url"] == f"postgresql://app:***@127.0.0.1:{port}/app"
    assert "hunter22-pw" not in result.output
