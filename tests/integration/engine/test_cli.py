"""``automechanica workflows ...`` and ``automechanica worker`` as a user runs them: JSON out,
and exit 2 with a one-line reason (no traceback) for bad input."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest

from tests.helpers.cli import Result, cli_env, run_cli

INPUT = {
    "vehicle": "2009 Ford Focus",
    "complaint": "Battery light flickers and it clicks but will not crank.",
    "mileage": 152000,
}


@pytest.fixture(scope="module")
def env(engine_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return cli_env(tmp_path_factory.mktemp("cli"), database_url=engine_dsn, log_level="warning")


def _count_workflows(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM workflows").fetchone()
    return row[0] if row else 0


def test_workflows_start_then_show_print_the_workflow_and_its_tasks_as_json(
    env: dict[str, str], engine_dsn: str
) -> None:
    started = run_cli(
        env, "workflows", "start", "vehicle_diagnosis", "--input", json.dumps(INPUT), "--json"
    )
    assert started.code == 0, started.stderr
    workflow = json.loads(started.stdout)
    assert workflow["type"] == "vehicle_diagnosis"
    assert workflow["status"] == "running"
    assert workflow["input"] == INPUT
    assert workflow["current_steps"] == ["intake"]
    assert workflow["created_by"] == "cli"

    shown = run_cli(env, "workflows", "show", workflow["id"], "--json")
    assert shown.code == 0, shown.stderr
    detail = json.loads(shown.stdout)
    assert detail["id"] == workflow["id"]
    assert [(t["step"], t["agent_name"], t["status"]) for t in detail["tasks"]] == [
        ("intake", "intake", "pending")
    ]
    assert detail["tasks"][0]["payload"]["input"] == INPUT
    assert detail["agent_events"] == []


def test_workflows_start_json_output_is_only_json_at_the_default_log_level(
    engine_dsn: str, tmp_path: Path
) -> None:
    env = cli_env(tmp_path, database_url=engine_dsn)
    started = run_cli(
        env, "workflows", "start", "vehicle_diagnosis", "--input", json.dumps(INPUT), "--json"
    )
    assert started.code == 0, started.stderr
    assert json.loads(started.stdout)["type"] == "vehicle_diagnosis"


BAD_INPUT = {
    "bad-json": (
        ("workflows", "start", "vehicle_diagnosis", "--input", "{vehicle: civic"),
        2,
        "--input is not valid JSON",
    ),
    "unknown-type": (
        ("workflows", "start", "lawnmower_repair"),
        2,
        "unknown workflow type 'lawnmower_repair'; known types: vehicle_diagnosis",
    ),
    "invalid-input": (
        ("workflows", "start", "vehicle_diagnosis", "--input", '{"vehicle": ""}'),
        2,
        "invalid input for workflow 'vehicle_diagnosis': vehicle:",
    ),
    "bad-id": (("workflows", "show", "not-a-uuid"), 2, "'not-a-uuid' is not a workflow id"),
    "missing-id": (("workflows", "show", str(uuid4())), 4, "no workflow"),
    "unknown-agent": (("worker", "--agents", "nope"), 2, "unknown agent(s) in --agents: nope"),
}


@pytest.fixture(scope="module")
def bad_input_runs(env: dict[str, str], engine_dsn: str) -> dict[str, tuple[Result, int]]:
    """Every BAD_INPUT command run once, concurrently (each mostly waits on imports), with
    how many workflows it left behind."""
    before = _count_workflows(engine_dsn)
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = pool.map(lambda case: run_cli(env, *case[0]), BAD_INPUT.values())
        runs = dict(zip(BAD_INPUT, results, strict=True))
    created = _count_workflows(engine_dsn) - before
    return {case: (result, created) for case, result in runs.items()}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_exits_with_a_clear_message_and_no_traceback(
    bad_input_runs: dict[str, tuple[Result, int]], case: str
) -> None:
    _args, code, message = BAD_INPUT[case]
    result, workflows_created = bad_input_runs[case]
    assert result.code == code, result.output
    assert message in result.stderr
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert workflows_created == 0


def test_invalid_input_names_every_bad_field(env: dict[str, str]) -> None:
    result = run_cli(
        env, "workflows", "start", "vehicle_diagnosis", "--input", '{"mileage": -5}', "--json"
    )
    assert result.code == 2
    for field in ("vehicle", "complaint", "mileage"):
        assert f"{field}:" in result.stderr
    assert result.stdout == ""
