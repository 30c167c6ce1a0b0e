"""What a run leaves behind: one ``agent_events`` row per run (success or failure), the LLM usage
it accounted, and its apply-phase writes exactly once per completed task."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from automechanica.agents.base import AgentContext, AgentResult, TaskView
from automechanica.agents.registry import AgentRegistry
from automechanica.db.pool import Database
from automechanica.queue import tasks
from automechanica.queue.tasks import NewTask
from automechanica.queue.worker import Worker
from tests.integration.engine.harness import eventually, fetch, quick_config, running, scalar

EVENTS = (
    "SELECT agent_name, event_type, reasoning, error, input_summary, output, confidence, "
    "provider, model, prompt_version, tokens_in, tokens_out, cost_estimate, latency_ms "
    "FROM agent_events WHERE task_id = %s ORDER BY id"
)


async def _wait_status(db: Database, task_id: UUID, status: str) -> None:
    async def reached() -> bool:
        async with db.connection() as conn:
            return await tasks.get_status(conn, task_id) == status

    await eventually(reached, what=f"task {task_id} to be {status}")


class FailsOnce:
    name = "inspector"
    task_types: tuple[str, ...] = ("inspect",)

    async def run(self, task: TaskView, ctx: AgentContext) -> AgentResult:
        if task.attempt == 1:
            raise ValueError("OBD reader timed out")
        return AgentResult(
            output={"code": "P0301", "system": task.payload["system"]},
            reasoning="misfire code on cylinder 1",
            confidence=0.8,
        )


async def test_each_run_writes_one_agent_event_for_failure_and_success(db: Database) -> None:
    worker = Worker(db, AgentRegistry([FailsOnce()]), quick_config(retry_base_ms=0), owner="w1")
    async with db.transaction() as conn:
        task_id = await tasks.enqueue_one(
            conn, NewTask("inspector", "inspect", {"system": "engine"})
        )

    async with running(worker):
        await _wait_status(db, task_id, "completed")

    failed, succeeded = await fetch(db, EVENTS, (task_id,))
    assert failed["event_type"] == "failed"
    assert failed["agent_name"] == "inspector"
    assert failed["error"]["type"] == "ValueError"
    assert failed["error"]["message"] == "OBD reader timed out"
    assert failed["output"] is None
    assert succeeded["event_type"] == "succeeded"
    assert succeeded["error"] is None
    assert succeeded["output"] == {"code": "P0301", "system": "engine"}
    assert succeeded["reasoning"] == "misfire code on cylinder 1"
    assert succeeded["confidence"] == 0.8
    assert succeeded["latency_ms"] is not None and succeeded["latency_ms"] >= 0
    assert "engine" in succeeded["input_summary"]
    # No LLM was called: no usage is claimed.
    assert (succeeded["provider"], succeeded["tokens_in"], succeeded["cost_estimate"]) == (
        None,
        None,
        None,
    )


@dataclass
class StubCompletion:
    text: str
    provider: str = "stub"
    model: str = "stub-large"
    tokens_in: int = 120
    tokens_out: int = 30
    cost_estimate: float = 0.0015
    prompt_version: str = "diagnose-v2"


class StubLLM:
    def __init__(self) -> None:
        self.requests: list[Any] = []

    async def complete(self, request: Any) -> StubCompletion:
        self.requests.append(request)
        return StubCompletion(text=f"answer {len(self.requests)}")


class AsksTwice:
    name = "asker"
    task_types: tuple[str, ...] = ("ask",)

    async def run(self, task: TaskView, ctx: AgentContext) -> AgentResult:
        first = await ctx.complete({"prompt": "what is wrong?"})
        second = await ctx.complete({"prompt": "are you sure?"})
        return AgentResult(output={"answers": [first.text, second.text]})


async def test_llm_usage_of_a_run_is_summed_into_its_agent_event(db: Database) -> None:
    llm = StubLLM()
    worker = Worker(db, AgentRegistry([AsksTwice()]), quick_config(), llm=llm, owner="w1")
    async with db.transaction() as conn:
        task_id = await tasks.enqueue_one(conn, NewTask("asker", "ask"))

    async with running(worker):
        await _wait_status(db, task_id, "completed")

    [event] = await fetch(db, EVENTS, (task_id,))
    assert len(llm.requests) == 2
    assert event["output"] == {"answers": ["answer 1", "answer 2"]}
    assert (event["provider"], event["model"], event["prompt_version"]) == (
        "stub",
        "stub-large",
        "diagnose-v2",
    )
    assert (event["tokens_in"], event["tokens_out"]) == (240, 60)
    assert event["cost_estimate"] == Decimal("0.003")


@pytest.fixture
async def repairs(db: Database) -> AsyncIterator[None]:
    async with db.transaction() as conn:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS repairs (task_id uuid NOT NULL, part text NOT NULL)"
        )
        await conn.execute("TRUNCATE repairs")
    yield


class Recorder:
    """Registers an apply-phase write; fails after registering it when the payload says so."""

    name = "recorder"
    task_types: tuple[str, ...] = ("record",)

    async def run(self, task: TaskView, ctx: AgentContext) -> AgentResult:
        part = task.payload["part"]
        ctx.apply(
            lambda conn: conn.execute(
                "INSERT INTO repairs (task_id, part) VALUES (%s, %s)", (task.id, part)
            )
        )
        if task.payload.get("fail"):
            raise RuntimeError(f"{part} is out of stock")
        return AgentResult(output={"part": part})


@pytest.mark.usefixtures("repairs")
async def test_apply_writes_happen_exactly_once_per_completed_task(db: Database) -> None:
    worker = Worker(
        db, AgentRegistry([Recorder()]), quick_config(concurrency=8, retry_base_ms=0), owner="w1"
    )
    batch = [
        NewTask("recorder", "record", {"part": f"part-{n}", "fail": n % 5 == 0}, max_attempts=2)
        for n in range(40)
    ]
    async with db.transaction() as conn:
        await tasks.enqueue(conn, batch)

    async def settled() -> bool:
        return (
            await scalar(db, "SELECT count(*) FROM tasks WHERE status IN ('completed', 'dead')")
            == 40
        )

    async with running(worker):
        await eventually(settled, what="all 40 tasks to complete or die")

    rows = await fetch(
        db,
        "SELECT t.status, count(r.task_id) AS writes, min(r.part) AS part, "
        "t.payload ->> 'part' AS expected FROM tasks t LEFT JOIN repairs r ON r.task_id = t.id "
        "GROUP BY t.id",
    )
    completed = [r for r in rows if r["status"] == "completed"]
    dead = [r for r in rows if r["status"] == "dead"]
    assert len(completed) == 32
    assert len(dead) == 8
    assert all(r["writes"] == 1 and r["part"] == r["expected"] for r in completed)
    assert all(r["writes"] == 0 for r in dead)
    assert await scalar(db, "SELECT count(*) FROM repairs") == 32
    # One agent event per run: 32 successes, and two failed runs for each of the 8 dead tasks.
    by_type = await fetch(
        db, "SELECT event_type, count(*) AS n FROM agent_events GROUP BY 1 ORDER BY 1"
    )
    assert by_type == [{"event_type": "failed", "n": 16}, {"event_type": "succeeded", "n": 32}]


class BadApply:
    name = "bad_apply"
    task_types: tuple[str, ...] = ("record",)

    async def run(self, task: TaskView, ctx: AgentContext) -> AgentResult:
        ctx.apply(
            lambda conn: conn.execute(
                "INSERT INTO repairs (task_id, part) VALUES (%s, 'brake pads')", (task.id,)
            )
        )
        ctx.apply(
            lambda conn: conn.execute("INSERT INTO repairs (task_id) VALUES (%s)", (task.id,))
        )
        return AgentResult(output={"never": "stored"})


@pytest.mark.usefixtures("repairs")
async def test_a_failing_apply_phase_fails_the_task_and_rolls_back_its_writes(
    db: Database,
) -> None:
    worker = Worker(db, AgentRegistry([BadApply()]), quick_config(), owner="w1")
    async with db.transaction() as conn:
        task_id = await tasks.enqueue_one(conn, NewTask("bad_apply", "record", max_attempts=1))

    async with running(worker):
        await _wait_status(db, task_id, "dead")

    assert await scalar(db, "SELECT count(*) FROM repairs") == 0
    async with db.connection() as conn:
        row = await tasks.get(conn, task_id)
    assert row["result"] is None
    assert row["error_info"]["type"] == "NotNullViolation"
    events = await fetch(db, EVENTS, (task_id,))
    assert [e["event_type"] for e in events] == ["failed"]
    assert events[0]["output"] is None
