"""`automechanica up`: API, worker and the example workflow in one process, end to end."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.helpers.cli import AUTOMECHANICA, cli_env, run_cli
from tests.helpers.network import free_port


def _wait(predicate: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)  # polling a live process for a condition, not waiting out a backoff
    raise AssertionError(f"{what} not reached within {timeout_s}s")


def test_up_serves_health_and_runs_the_example_workflow_end_to_end(
    fresh_dsn: str, tmp_path: Path
) -> None:
    port = free_port()
    env = cli_env(tmp_path, database_url=fresh_dsn, host="127.0.0.1", port=port)
    out = (tmp_path / "up.out").open("w+")
    err = (tmp_path / "up.err").open("w+")
    proc = subprocess.Popen(
        [AUTOMECHANICA, "up"], env=env, cwd=tmp_path, stdout=out, stderr=err, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def health() -> dict[str, Any] | None:
            assert proc.poll() is None, "up exited early"
            try:
                r = httpx.get(f"{base}/api/health", timeout=2)
            except httpx.TransportError:
                return None
            return r.json() if r.status_code == 200 and r.json()["status"] == "ok" else None

        report = _wait(health, 60, "health ok")
        assert report["checks"]["database"]["ok"] is True
        assert report["checks"]["llm"]["ok"] is True
        assert {"size", "idle", "in_use", "requests_waiting"} <= set(report["pool"])

        def demo_id() -> str | None:
            out.seek(0)
            for line in out:
                if '"demo_workflow_started"' in line:
                    return str(json.loads(line)["workflow_id"])
            return None

        workflow_id = _wait(demo_id, 30, "the demo workflow to start")

        def completed() -> dict[str, Any] | None:
            wf = httpx.get(f"{base}/api/workflows/{workflow_id}", timeout=5).json()
            return wf if wf["status"] == "completed" else None

        wf = _wait(completed, 60, "the demo workflow to complete")
        assert wf["tasks"][0]["step"] == "intake"
        assert {t["status"] for t in wf["tasks"]} == {"completed"}
        assert wf["tasks"][-1]["step"] == "advise"
        events = wf["agent_events"]
        assert len(events) == len(wf["tasks"])
        assert {e["event_type"] for e in events} == {"succeeded"}
        assert any(e["provider"] == "local" and e["tokens_out"] for e in events)

        shown = run_cli(env, "workflows", "show", workflow_id)
        assert shown.code == 0, shown.output
        for word in ("completed", "intake", "diagnostician", "advisor", "agent events"):
            assert word in shown.stdout
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        out.close()
        err.close()
    assert proc.returncode == 0, (tmp_path / "up.err").read_text()[-2000:]
