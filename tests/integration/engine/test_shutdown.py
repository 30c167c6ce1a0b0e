"""SIGTERM drains the ``automechanica worker`` process: running tasks get
``WORKER_DRAIN_TIMEOUT_MS`` to finish, the rest go back to ``pending`` without spending an
attempt, and it exits 0."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from automechanica.queue import tasks
from automechanica.queue.tasks import NewTask
from tests.helpers.cli import AUTOMECHANICA, cli_env

REPO = Path(__file__).resolve().parents[3]
SHORT_S = 1.0  # well inside the drain timeout, long enough to be running when SIGTERM lands
LONG_S = 60.0


async def _value(conn: psycopg.AsyncConnection[Any], query: str) -> Any:
    row = await (await conn.execute(query)).fetchone()
    return row[0] if row else None


async def _until(
    conn: psycopg.AsyncConnection[Any], query: str, what: str, timeout: float = 30
) -> Any:
    """Poll ``query`` until its value is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = await _value(conn, query)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.mark.usefixtures("db")  # an empty queue and workers table
async def test_sigterm_lets_short_tasks_finish_and_releases_long_ones(
    engine_dsn: str, tmp_path: Path
) -> None:
    env = cli_env(
        tmp_path,
        database_url=engine_dsn,
        agent_modules=json.dumps(["tests.integration.engine.agents"]),
        worker_drain_timeout_ms=1500,
        task_poll_interval_ms=50,
        log_level="info",
    )
    env["PYTHONPATH"] = str(REPO)
    out = (tmp_path / "worker.out").open("w+")
    err = (tmp_path / "worker.err").open("w+")
    proc = subprocess.Popen(
        [AUTOMECHANICA, "worker", "--concurrency", "4"],
        env=env,
        cwd=tmp_path,
        stdout=out,
        stderr=err,
    )
    try:
        async with await psycopg.AsyncConnection.connect(engine_dsn, autocommit=True) as conn:
            await _until(
                conn, "SELECT count(*) FROM workers WHERE status = 'running'", "the worker"
            )
            ids = await tasks.enqueue(
                conn,
                [NewTask("sleepy", "sleep", {"seconds": SHORT_S}) for _ in range(2)]
                + [NewTask("sleepy", "sleep", {"seconds": LONG_S}) for _ in range(2)],
            )
            short, long_ = ids[:2], ids[2:]
            await _until(
                conn,
                "SELECT count(*) = 4 FROM tasks WHERE status = 'running'",
                "all four tasks to be running",
            )
            signalled_at = await _value(conn, "SELECT now()")
            proc.send_signal(signal.SIGTERM)
            sent = time.monotonic()
            code = await asyncio.to_thread(proc.wait, 30)
            exited_after = time.monotonic() - sent

            cur = await conn.execute(
                "SELECT id, status, attempts, finished_at, lease_expires_at FROM tasks"
            )
            rows = {r[0]: r[1:] for r in await cur.fetchall()}
            histories = {task_id: await tasks.history(conn, task_id) for task_id in long_}
            cur = await conn.execute("SELECT status, running FROM workers")
            worker_rows = await cur.fetchall()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out.seek(0)
    err.seek(0)
    stdout, stderr = out.read(), err.read()

    assert code == 0, stderr
    assert exited_after < 8, f"took {exited_after:.1f} s to exit"
    for task_id in short:
        status, attempts, finished_at, _lease = rows[task_id]
        assert (status, attempts) == ("completed", 0)
        assert finished_at > signalled_at  # it was still running when SIGTERM arrived
    for task_id in long_:
        status, attempts, _finished, lease = rows[task_id]
        assert (status, attempts, lease) == ("pending", 0, None)
        last = histories[task_id][-1]
        assert (last["from_status"], last["to_status"]) == ("running", "pending")
        assert "shutting down" in last["reason"]
    assert worker_rows == [("stopped", 0)]
    events = [json.loads(line).get("event") for line in stdout.splitlines() if line.startswith("{")]
    assert "tasks_released" in events
    assert "Traceback" not in stderr + stdout
