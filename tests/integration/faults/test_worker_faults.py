"""Acceptance: every task completes exactly once through a SIGKILLed worker and a DB restart.

Three ``automechanica worker`` processes work through 5,000 tasks whose agent writes one
``fault_effects`` row each through ``ctx.apply``. Mid-run one worker is killed with SIGKILL (a
replacement is started) and later the database is restarted. At the end every task is
``completed`` exactly once, with exactly one effect row, one ``completed`` event and one
``succeeded`` agent run; the killed worker's tasks were rescued; the survivors rode through the
restart and exit 0 on SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from automechanica.queue.tasks import NewTask, enqueue
from tests.helpers.cli import AUTOMECHANICA, cli_env
from tests.integration.faults.server import FaultServer

REPO_ROOT = Path(__file__).resolve().parents[3]

TASKS = 5000
ENQUEUE_BATCH = 500
KILL_AT = 1000  # completed tasks when one worker is SIGKILLed
RESTART_AT = 2500  # completed tasks when the database is restarted
DEADLINE_S = 180.0  # for the whole run, from the first worker's start
POLL_S = 0.1


@dataclass
class WorkerProcess:
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def owner(self) -> str:
        """The worker's lease owner id (``default_owner()`` in the worker process)."""
        return f"{socket.gethostname()}:{self.proc.pid}"

    def tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


class WorkerFleet:
    """``automechanica worker`` processes sharing one environment; output goes to files."""

    def __init__(self, env: dict[str, str], log_dir: Path, server: FaultServer) -> None:
        self.env = env
        self.log_dir = log_dir
        self.server = server
        self.workers: list[WorkerProcess] = []
        self.killed: list[WorkerProcess] = []

    def start(self, concurrency: int = 20) -> WorkerProcess:
        log_path = self.log_dir / f"worker-{len(self.workers)}.log"
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                [AUTOMECHANICA, "worker", "--concurrency", str(concurrency)],
                env=self.env,
                cwd=self.log_dir,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        worker = WorkerProcess(proc, log_path)
        self.workers.append(worker)
        return worker

    def sigkill(self, worker: WorkerProcess) -> None:
        self.killed.append(worker)
        worker.proc.send_signal(signal.SIGKILL)
        worker.proc.wait()

    def alive(self) -> list[WorkerProcess]:
        return [w for w in self.workers if w.proc.poll() is None]

    def exited_on_their_own(self) -> list[WorkerProcess]:
        return [w for w in self.workers if w not in self.killed and w.proc.poll() is not None]

    def kill_all(self) -> None:
        for w in self.alive():
            w.proc.kill()
            w.proc.wait()

    def report(self) -> str:
        """Every worker's exit code and log tail plus the server log tail, for a failure."""
        parts = []
        for w in self.workers:
            parts.append(f"--- worker pid {w.proc.pid} exit={w.proc.poll()} ({w.log_path})")
            parts.append(w.tail())
        parts.append("--- postgresql.log")
        parts.extend(self.server.log_tail())
        return "\n".join(parts)


@pytest.fixture
def fleet(fault_db: FaultServer, tmp_path: Path) -> Iterator[WorkerFleet]:
    env = cli_env(
        tmp_path,
        database_url=fault_db.url,
        agent_modules=json.dumps(["tests.integration.faults.agents"]),
        pythonpath=REPO_ROOT,
        task_lease_ms=2000,
        task_poll_interval_ms=200,
        task_retry_base_ms=50,
        log_level="warning",
        db_connect_timeout_ms=2000,
    )
    fleet = WorkerFleet(env, tmp_path, fault_db)
    try:
        yield fleet
    finally:
        fleet.kill_all()


async def _rows(url: str, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    """Run one query on a fresh connection, retrying while the database is unreachable."""
    deadline = time.monotonic() + 30
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(
                url, autocommit=True, connect_timeout=2
            ) as conn:
                cur = await conn.execute(query, params)
                return await cur.fetchall()
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(POLL_S)


async def _scalar(url: str, query: str, params: Any = None) -> Any:
    return (await _rows(url, query, params))[0][0]


async def _wait_for(
    fleet: WorkerFleet, query: str, done: Callable[[Any], bool], what: str, deadline: float
) -> None:
    """Poll ``query`` until ``done(value)``; fail early if a worker exited on its own."""
    while True:
        value = await _scalar(fleet.server.url, query)
        if done(value):
            return
        assert not fleet.exited_on_their_own(), f"a worker exited mid-run\n{fleet.report()}"
        assert time.monotonic() < deadline, (
            f"not {what} in time (last value {value})\n{fleet.report()}"
        )
        await asyncio.sleep(POLL_S)


COMPLETED = "SELECT count(*) FROM tasks WHERE status = 'completed'"
UNFINISHED = "SELECT count(*) FROM tasks WHERE status IN ('pending', 'running')"


async def test_every_task_completes_exactly_once_through_worker_kill_and_db_restart(
    fault_db: FaultServer, fleet: WorkerFleet
) -> None:
    url = fault_db.url

    async with await psycopg.AsyncConnection.connect(url) as conn:
        for start in range(0, TASKS, ENQUEUE_BATCH):
            batch = [
                NewTask("effect", "write", {"n": n}, max_attempts=10)
                for n in range(start, min(start + ENQUEUE_BATCH, TASKS))
            ]
            await enqueue(conn, batch, actor="fault-test")
        await conn.commit()

    started = time.monotonic()
    deadline = started + DEADLINE_S
    victim, *riders = [fleet.start() for _ in range(3)]

    # -- SIGKILL one worker mid-run, while it holds leases ------------------------------------
    await _wait_for(fleet, COMPLETED, lambda n: n >= KILL_AT, f"{KILL_AT} completed", deadline)
    fleet.sigkill(victim)
    stranded = await _scalar(
        url,
        "SELECT count(*) FROM tasks WHERE status = 'running' AND lease_owner = %s",
        (victim.owner,),
    )
    replacement = fleet.start()

    # -- restart the database under the surviving workers -------------------------------------
    await _wait_for(
        fleet, COMPLETED, lambda n: n >= RESTART_AT, f"{RESTART_AT} completed", deadline
    )
    await asyncio.to_thread(fault_db.restart)
    restarted_at: datetime = await _scalar(url, "SELECT now()")

    await _wait_for(fleet, UNFINISHED, lambda n: n == 0, "all tasks finished", deadline)
    elapsed = time.monotonic() - started

    survivors = [*riders, replacement]
    assert not [w for w in survivors if w.proc.poll() is not None], fleet.report()
    for w in survivors:
        w.proc.send_signal(signal.SIGTERM)
    try:
        codes = [w.proc.wait(timeout=30) for w in survivors]
    except subprocess.TimeoutExpired:
        pytest.fail(f"a worker did not stop within 30s of SIGTERM\n{fleet.report()}")
    assert codes == [0] * len(survivors), f"worker exit codes {codes}\n{fleet.report()}"

    # -- the outcome ---------------------------------------------------------------------------
    statuses = dict(await _rows(url, "SELECT status, count(*) FROM tasks GROUP BY status"))
    assert statuses == {"completed": TASKS}, f"{statuses}\n{fleet.report()}"

    effects_not_once = await _rows(
        url, "SELECT task_id, count(*) FROM fault_effects GROUP BY task_id HAVING count(*) <> 1"
    )
    assert effects_not_once == [], f"effects not exactly once: {effects_not_once[:10]}"
    assert await _scalar(url, "SELECT count(DISTINCT task_id) FROM fault_effects") == TASKS
    matched = await _scalar(
        url,
        "SELECT count(*) FROM fault_effects e JOIN tasks t "
        "ON t.id = e.task_id AND (t.payload ->> 'n')::int = e.n",
    )
    assert matched == TASKS, "an effect row does not belong to its task's payload"

    completions_not_once = await _rows(
        url,
        "SELECT task_id, count(*) FROM task_events WHERE to_status = 'completed' "
        "GROUP BY task_id HAVING count(*) <> 1",
    )
    assert completions_not_once == [], f"completed events: {completions_not_once[:10]}"
    assert (
        await _scalar(
            url, "SELECT count(DISTINCT task_id) FROM task_events WHERE to_status = 'completed'"
        )
        == TASKS
    )

    successes_not_once = await _rows(
        url,
        "SELECT task_id, count(*) FROM agent_events WHERE event_type = 'succeeded' "
        "GROUP BY task_id HAVING count(*) <> 1",
    )
    assert successes_not_once == [], f"succeeded runs: {successes_not_once[:10]}"
    assert (
        await _scalar(
            url,
            "SELECT count(DISTINCT task_id) FROM agent_events WHERE event_type = 'succeeded'",
        )
        == TASKS
    )

    # -- the faults landed mid-run -------------------------------------------------------------
    assert stranded > 0, "the killed worker held no leases: the kill did not land mid-run"
    rescued_from_victim = await _scalar(
        url,
        "SELECT count(*) FROM task_events WHERE actor = 'system:rescuer' AND reason LIKE %s",
        (f"lease of {victim.owner} expired%",),
    )
    assert rescued_from_victim > 0, f"none of {stranded} stranded tasks was rescued"
    # The replacement may still be importing when the restart lands; the riders were working.
    for w in riders:
        after_restart = await _scalar(
            url,
            "SELECT count(*) FROM task_events WHERE to_status = 'completed' AND actor = %s "
            "AND at > %s",
            (w.owner, restarted_at),
        )
        assert after_restart > 0, f"{w.owner} completed nothing after the restart\n{fleet.report()}"
    runs = dict(await _rows(url, "SELECT event_type, count(*) FROM agent_events GROUP BY 1"))
    print(
        f"\n{TASKS} tasks in {elapsed:.1f}s; {stranded} stranded by the kill, "
        f"{rescued_from_victim} rescued from it; agent runs {runs}"
    )
