"""``automechanica workflows ...``: start one, show one, list recent ones."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import typer

from automechanica.cli.context import database, settings_and_logging
from automechanica.cli.output import console, print_json, print_pairs, print_table
from automechanica.db.pool import Database
from automechanica.errors import InvalidInput
from automechanica.workflows import store
from automechanica.workflows.service import describe_workflow, parse_id, start_workflow

app = typer.Typer(help="Start and inspect workflows.", no_args_is_help=True)


def _db() -> Database:
    settings = settings_and_logging()
    target = database(settings)
    return Database.from_settings(target.dsn, settings)


async def _with_db(fn: Any) -> Any:
    db = _db()
    await db.open()
    try:
        return await fn(db)
    finally:
        await db.close()


@app.command("start")
def start(
    workflow_type: str = typer.Argument(..., help="Workflow type, e.g. vehicle_diagnosis."),
    input_json: str = typer.Option("{}", "--input", "-i", help="The input as a JSON object."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Start a workflow; its first tasks are enqueued in the same transaction."""
    from automechanica.wiring import default_orchestrator

    try:
        data = json.loads(input_json)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"--input is not valid JSON: {exc.msg} at position {exc.pos}") from None
    orchestrator = default_orchestrator()
    orchestrator.registry.get(workflow_type)  # fail on a bad type before touching the database
    wf = asyncio.run(
        _with_db(lambda db: start_workflow(db, orchestrator, workflow_type, data, actor="cli"))
    )
    if as_json:
        print_json(wf)
    else:
        console.print(
            f"started workflow {wf['id']} ({workflow_type}); "
            f"follow it with `automechanica workflows show {wf['id']}`"
        )


@app.command("show")
def show(
    workflow_id: str = typer.Argument(..., help="The workflow id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """A workflow with its tasks and agent events."""
    wid = parse_id(workflow_id)
    wf = asyncio.run(_with_db(lambda db: describe_workflow(db, wid)))
    if as_json:
        print_json(wf)
        return
    print_pairs(
        [
            ("workflow", wf["id"]),
            ("type", wf["type"]),
            ("status", wf["status"]),
            ("running steps", ", ".join(wf["current_steps"]) or "-"),
            ("created", wf["created_at"]),
            ("finished", wf["finished_at"] or "-"),
            ("error", json.dumps(wf["error"]) if wf["error"] else "-"),
        ]
    )
    print_table(
        ["task", "step", "agent", "type", "status", "attempts", "error"],
        [
            [
                str(t["id"])[:8],
                t["step"] + (f"[{t['step_index']}]" if t["step_index"] is not None else ""),
                t["agent_name"],
                t["task_type"],
                t["status"],
                f"{t['attempts']}/{t['max_attempts']}",
                (t["error_info"] or {}).get("message", "")[:60],
            ]
            for t in wf["tasks"]
        ],
        title="tasks",
    )
    print_table(
        ["at", "agent", "task", "event", "provider/model", "tokens", "ms", "reasoning / error"],
        [
            [
                e["at"].strftime("%H:%M:%S.%f")[:-3],
                e["agent_name"],
                str(e["task_id"])[:8],
                e["event_type"],
                f"{e['provider']}/{e['model']}" if e["provider"] else "-",
                f"{e['tokens_in']}/{e['tokens_out']}" if e["tokens_in"] is not None else "-",
                round(e["latency_ms"] or 0, 1),
                (e["reasoning"] or (e["error"] or {}).get("message") or "")[:60],
            ]
            for e in wf["agent_events"]
        ],
        title="agent events",
    )


@app.command("list")
def list_(
    status: str = typer.Option(None, "--status", help="running, completed, failed, cancelled."),
    limit: int = typer.Option(20, "--limit", min=1, max=1000),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Recent workflows."""
    if status and status not in ("running", "completed", "failed", "cancelled"):
        raise InvalidInput(
            f"--status {status!r} is not a workflow status; use running, completed, failed "
            "or cancelled"
        )

    async def _list(db: Database) -> list[dict[str, Any]]:
        async with db.connection() as conn:
            return await store.list_recent(conn, limit=limit, status=status)

    rows = asyncio.run(_with_db(_list))
    if as_json:
        print_json(rows)
        return
    print_table(
        ["workflow", "type", "status", "running steps", "created"],
        [
            [w["id"], w["type"], w["status"], ", ".join(w["current_steps"]), w["created_at"]]
            for w in rows
        ],
    )


@app.command("types")
def types(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The workflow types this deployment knows, with their steps."""
    from automechanica.wiring import default_workflows

    defs = default_workflows().types()
    data: list[dict[str, Any]] = [
        {
            "type": d.type,
            "description": d.description,
            "steps": [
                {
                    "name": s.name,
                    "agent": s.agent,
                    "task_type": s.task_type,
                    "depends_on": list(s.depends_on),
                    "fan_out": s.fan_out is not None,
                }
                for s in d.steps
            ],
            "input_schema": d.input_model.model_json_schema() if d.input_model else None,
        }
        for d in defs
    ]
    if as_json:
        print_json(data)
        return
    for d in data:
        console.print(f"{d['type']}: {d['description']}", markup=False)
        for s in d["steps"]:
            deps = f" after {', '.join(s['depends_on'])}" if s["depends_on"] else ""
            fan = " (fan-out)" if s["fan_out"] else ""
            console.print(
                f"  - {s['name']}: {s['agent']}/{s['task_type']}{deps}{fan}", markup=False
            )
