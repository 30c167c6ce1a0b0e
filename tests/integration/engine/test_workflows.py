"""Workflows through real workers: the example end to end, fan-out/fan-in under parallel
completions, failure only on a dead task, empty fan-outs, and what ``start`` refuses."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import pytest
from pydantic import BaseModel, Field

from automechanica.agents.base import AgentContext, AgentResult, TaskView
from automechanica.agents.registry import AgentRegistry
from automechanica.clock import FrozenClock
from automechanica.db.pool import Database
from automechanica.errors import InvalidInput
from automechanica.llm import LLMRouter
from automechanica.queue import tasks
from automechanica.queue.maintenance.rescuer import LeaseRescuer
from automechanica.queue.tasks import Finished
from automechanica.queue.worker import Worker
from automechanica.settings import load_settings
from automechanica.workflows import store, vehicle_diagnosis
from automechanica.workflows.definition import Step, StepInput, WorkflowDefinition
from automechanica.workflows.orchestrator import Orchestrator
from automechanica.workflows.registry import WorkflowRegistry
from tests.integration.engine.harness import T0, eventually, fetch, quick_config, running, scalar

# -- the workflows and agents of these tests ------------------------------------------------


class SquaresInput(BaseModel):
    n: int = Field(ge=0, le=1000)


class Splitter:
    name = "splitter"
    task_types: tuple[str, ...] = ("split",)

    async def run(self, task: TaskView, ctx: AgentContext) -> AgentResult:
        return AgentResult(output={"items": list(range(task.payload["input"]["n"]))})


class Squarer:
    """Finishes in a random 0-5 ms so sibling completions interleave across workers."""

    name = "squarer"
    task_types: tuple[str, ...] = ("square",)

    def __init__(self, seed: int = 11) -> None:
        self._rng = random.Random(seed)

    async def run(self, task: TaskView, ctx: AgentContext) -> AgentResult:
        await asyncio.sleep(self._rng.uniform(0, 0.005))
        item = task.payload["item"]
        return AgentResult(output={"index": task.payload["index"], "square": item * item})


class Gatherer:
    name = "gatherer"
    task_types: tuple[str, ...] = ("gather",)

    async def run(self, task: TaskView, ctx: AgentContext) -> AgentResult:
        return AgentResult(output={"count": len(task.payload["results"]["work"])})


class Flaky:
    """Fails its first ``input.failures`` attempts (retryably), then succeeds."""

    name = "flaky"
    task_types: tuple[str, ...] = ("try",)

    async def run(self, task: TaskView, ctx: AgentContext) -> AgentResult:
        if task.attempt <= task.payload["input"]["failures"]:
            raise ConnectionError(f"garage API down (attempt {task.attempt})")
        return AgentResult(output={"attempt": task.attempt})


def _items(step_input: StepInput) -> list[Any]:
    return list(step_input.results["split"]["items"])


SQUARES = WorkflowDefinition(
    type="squares",
    input_model=SquaresInput,
    steps=(
        Step("split", agent="splitter", task_type="split"),
        Step("work", agent="squarer", task_type="square", depends_on=("split",), fan_out=_items),
        Step("gather", agent="gatherer", task_type="gather", depends_on=("work",)),
    ),
)
FLAKY = WorkflowDefinition(
    type="flaky", steps=(Step("only", agent="flaky", task_type="try", max_attempts=2),)
)
JOIN = WorkflowDefinition(
    type="join",
    steps=(
        Step("left", agent="splitter", task_type="split"),
        Step("right", agent="splitter", task_type="split"),
        Step("both", agent="gatherer", task_type="gather", depends_on=("left", "right")),
    ),
)
EMPTY_ROOT = WorkflowDefinition(
    type="empty_root",
    steps=(
        Step("work", agent="squarer", task_type="square", fan_out=lambda s: s.input["items"]),
        Step("gather", agent="gatherer", task_type="gather", depends_on=("work",)),
    ),
)

ORCHESTRATOR = Orchestrator(WorkflowRegistry([SQUARES, FLAKY, JOIN, EMPTY_ROOT]))


def _agents() -> AgentRegistry:
    return AgentRegistry([Splitter(), Squarer(), Gatherer(), Flaky()])


async def _start(db: Database, orchestrator: Orchestrator, kind: str, data: Any) -> UUID:
    async with db.transaction() as conn:
        return await orchestrator.start(conn, kind, data)


async def _workflow(db: Database, workflow_id: UUID) -> dict[str, Any]:
    async with db.connection() as conn:
        return await store.get(conn, workflow_id)


async def _wait_workflow(db: Database, workflow_id: UUID, status: str) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        wf = await _workflow(db, workflow_id)
        return wf if wf["status"] == status else None

    return await eventually(reached, what=f"workflow {workflow_id} to be {status}", timeout=60)


async def _tasks(db: Database, workflow_id: UUID) -> list[dict[str, Any]]:
    async with db.connection() as conn:
        return await tasks.list_for_workflow(conn, workflow_id)


# -- the example -----------------------------------------------------------------------------


@pytest.fixture
async def router() -> AsyncIterator[LLMRouter]:
    llm = LLMRouter.from_settings(load_settings())
    yield llm
    await llm.aclose()


async def test_vehicle_diagnosis_runs_end_to_end_on_the_local_llm(
    db: Database, router: LLMRouter
) -> None:
    orchestrator = Orchestrator(WorkflowRegistry([vehicle_diagnosis.DEFINITION]))
    worker = Worker(
        db,
        AgentRegistry(vehicle_diagnosis.AGENTS),
        quick_config(),
        llm=router,
        hooks=orchestrator,
        owner="w1",
    )
    data = {
        "vehicle": "2014 Honda Civic",
        "complaint": "Brakes squeal when stopping and the engine idle is rough.",
        "mileage": 98000,
    }
    workflow_id = await _start(db, orchestrator, "vehicle_diagnosis", data)

    async with running(worker):
        wf = await _wait_workflow(db, workflow_id, "completed")

    rows = await _tasks(db, workflow_id)
    assert sorted((t["step"], t["step_index"]) for t in rows) == [
        ("advise", None),
        ("inspect", 0),
        ("inspect", 1),
        ("intake", None),
    ]
    assert {t["status"] for t in rows} == {"completed"}
    results = wf["context"]["results"]
    assert results["intake"]["systems"] == ["brakes", "engine"]
    assert [i["system"] for i in results["inspect"]] == ["brakes", "engine"]
    assert results["advise"]["recommendation"].startswith("start with the")
    assert wf["current_steps"] == []
    assert wf["finished_at"] is not None
    llm_events = await fetch(
        db,
        "SELECT provider, tokens_in FROM agent_events WHERE workflow_id = %s "
        "AND agent_name = 'diagnostician'",
        (workflow_id,),
    )
    assert len(llm_events) == 2
    assert all(e["provider"] == "local" and e["tokens_in"] > 0 for e in llm_events)


# -- fan-out / fan-in --------------------------------------------------------------------------


async def test_fan_out_fan_in_survives_parallel_completions_across_workers(
    db: Database,
) -> None:
    agents = _agents()
    workers = [
        Worker(db, agents, quick_config(concurrency=10), hooks=ORCHESTRATOR, owner=f"w{i}")
        for i in range(3)
    ]
    ids = [await _start(db, ORCHESTRATOR, "squares", {"n": 50}) for _ in range(3)]

    async with running(*workers):
        for workflow_id in ids:
            await _wait_workflow(db, workflow_id, "completed")

    expected = [{"index": i, "square": i * i} for i in range(50)]
    for workflow_id in ids:
        rows = await _tasks(db, workflow_id)
        gathers = [t for t in rows if t["step"] == "gather"]
        assert len(gathers) == 1
        assert gathers[0]["payload"]["results"]["work"] == expected
        assert gathers[0]["result"] == {"count": 50}
        assert len([t for t in rows if t["step"] == "work"]) == 50
        assert {t["status"] for t in rows} == {"completed"}
        wf = await _workflow(db, workflow_id)
        assert wf["context"]["results"]["work"] == expected
    # Sibling tasks really were completed by several workers at once.
    actors = await scalar(
        db,
        "SELECT count(DISTINCT e.actor) FROM task_events e JOIN tasks t ON t.id = e.task_id "
        "WHERE t.step = 'work' AND e.to_status = 'completed'",
    )
    assert actors >= 2


async def test_fan_out_over_an_empty_list_completes_the_step_at_once(db: Database) -> None:
    worker = Worker(db, _agents(), quick_config(), hooks=ORCHESTRATOR, owner="w1")
    workflow_id = await _start(db, ORCHESTRATOR, "squares", {"n": 0})

    async with running(worker):
        wf = await _wait_workflow(db, workflow_id, "completed")

    rows = await _tasks(db, workflow_id)
    assert sorted(t["step"] for t in rows) == ["gather", "split"]
    gather = next(t for t in rows if t["step"] == "gather")
    assert gather["payload"]["results"]["work"] == []
    assert wf["context"]["results"]["work"] == []


async def test_an_empty_fan_out_at_the_root_starts_its_dependents_in_start(
    db: Database,
) -> None:
    workflow_id = await _start(db, ORCHESTRATOR, "empty_root", {"items": []})

    rows = await _tasks(db, workflow_id)
    assert [(t["step"], t["status"]) for t in rows] == [("gather", "pending")]
    assert rows[0]["payload"]["results"] == {"work": []}
    wf = await _workflow(db, workflow_id)
    assert wf["context"]["steps"]["work"]["state"] == "completed"
    assert wf["current_steps"] == ["gather"]


# -- failure -----------------------------------------------------------------------------------


async def test_a_retryable_failure_that_then_succeeds_leaves_the_workflow_completed(
    db: Database,
) -> None:
    worker = Worker(db, _agents(), quick_config(retry_base_ms=0), hooks=ORCHESTRATOR, owner="w1")
    workflow_id = await _start(db, ORCHESTRATOR, "flaky", {"failures": 1})

    async with running(worker):
        wf = await _wait_workflow(db, workflow_id, "completed")

    [task] = await _tasks(db, workflow_id)
    assert (task["status"], task["attempts"]) == ("completed", 1)
    assert wf["error"] is None
    assert wf["context"]["results"]["only"] == {"attempt": 2}


async def test_a_task_out_of_attempts_fails_the_workflow_naming_the_task(db: Database) -> None:
    clock = FrozenClock(T0)
    worker = Worker(
        db,
        _agents(),
        quick_config(retry_base_ms=1000),
        hooks=ORCHESTRATOR,
        clock=clock,
        owner="w1",
    )
    workflow_id = await _start(db, ORCHESTRATOR, "flaky", {"failures": 5})

    async def failed_once() -> bool:
        [task] = await _tasks(db, workflow_id)
        return (task["status"], task["attempts"]) == ("pending", 1)

    async with running(worker):
        await eventually(failed_once, what="the first attempt to fail")
        assert (await _workflow(db, workflow_id))["status"] == "running"
        clock.advance(seconds=1)
        wf = await _wait_workflow(db, workflow_id, "failed")

    [task] = await _tasks(db, workflow_id)
    assert (task["status"], task["attempts"]) == ("dead", 2)
    assert wf["error"]["task_id"] == str(task["id"])
    assert wf["error"]["agent"] == "flaky"
    assert wf["error"]["attempts"] == 2
    assert wf["finished_at"] is not None


async def test_a_task_rescued_to_dead_fails_its_workflow(db: Database) -> None:
    clock = FrozenClock(T0)
    definition = WorkflowDefinition(
        type="fragile", steps=(Step("only", agent="flaky", task_type="try", max_attempts=1),)
    )
    orchestrator = Orchestrator(WorkflowRegistry([definition]))
    workflow_id = await _start(db, orchestrator, "fragile", {"failures": 0})
    async with db.transaction() as conn:
        [claimed] = await tasks.claim(conn, owner="gone", limit=1, lease_ms=1000, now=T0)

    clock.advance(seconds=2)
    rescuer = LeaseRescuer(db, hooks=orchestrator, clock=clock)
    assert await rescuer.run_once() == {"rescued": 0, "dead": 1}

    wf = await _workflow(db, workflow_id)
    assert wf["status"] == "failed"
    assert wf["error"]["task_id"] == str(claimed.id)


async def test_completions_after_a_workflow_failed_start_no_further_steps(
    db: Database,
) -> None:
    workflow_id = await _start(db, ORCHESTRATOR, "join", {})
    async with db.transaction() as conn:
        claimed = {c.step: c for c in await tasks.claim(conn, owner="w", limit=2, lease_ms=60_000)}
    async with db.transaction() as conn:
        right = claimed["right"]
        error = {"type": "NonRetryableError", "message": "no such vehicle"}
        dead = await tasks.fail_many(
            conn,
            "w",
            [Finished(right.id, right.lease_epoch, error=error, retryable=False)],
            retry_base_ms=0,
        )
        await ORCHESTRATOR.on_failed(conn, dead)
    async with db.transaction() as conn:
        left = claimed["left"]
        done = await tasks.complete_many(
            conn, "w", [Finished(left.id, left.lease_epoch, result={"items": []})]
        )
        await ORCHESTRATOR.on_completed(conn, done)

    wf = await _workflow(db, workflow_id)
    assert wf["status"] == "failed"
    assert wf["error"]["task_id"] == str(right.id)
    assert sorted(t["step"] for t in await _tasks(db, workflow_id)) == ["left", "right"]


# -- what start refuses --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "data", "expected"),
    [
        ("no_such_flow", {}, "unknown workflow type 'no_such_flow'; known types: empty_root"),
        ("squares", {"n": -1}, "invalid input for workflow 'squares': n:"),
        ("squares", {}, "invalid input for workflow 'squares': n: Field required"),
        ("squares", ["n", 3], "workflow input must be a JSON object, got list"),
    ],
    ids=["unknown-type", "out-of-range", "missing-field", "not-an-object"],
)
async def test_start_rejects_unknown_types_and_invalid_input_creating_nothing(
    db: Database, kind: str, data: Any, expected: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        await _start(db, ORCHESTRATOR, kind, data)
    assert expected in raised.value.message
    if kind == "squares" and isinstance(data, dict):
        assert [d["field"] for d in raised.value.details] == ["n"]
    assert await scalar(db, "SELECT count(*) FROM workflows") == 0
    assert await scalar(db, "SELECT count(*) FROM tasks") == 0


async def test_a_duplicate_completion_delivery_enqueues_the_next_step_once(db: Database) -> None:
    workflow_id = await _start(db, ORCHESTRATOR, "squares", {"n": 3})
    async with db.transaction() as conn:
        [split] = await tasks.claim(conn, owner="w", limit=1, lease_ms=60_000)
        done = await tasks.complete_many(
            conn, "w", [Finished(split.id, split.lease_epoch, result={"items": [1, 2, 3]})]
        )
        await ORCHESTRATOR.on_completed(conn, done)
        # A duplicate delivery of the same completion (e.g. a retried flush) changes nothing.
        await ORCHESTRATOR.on_completed(conn, done)
    rows = await _tasks(db, workflow_id)
    assert sorted((t["step"], t["step_index"]) for t in rows if t["step"] == "work") == [
        ("work", 0),
        ("work", 1),
        ("work", 2),
    ]
    assert (await _workflow(db, workflow_id))["context"]["steps"]["split"]["done"] == 1
