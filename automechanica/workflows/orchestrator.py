"""Starts workflows and advances them as their tasks complete, in the completing transaction.

Progress lives in ``workflows.context``: ``steps`` holds each started step's state and counts,
``results`` each completed step's result (a list, in index order, for a fan-out step) and
``partial`` the results of a fan-out step still running. Every update happens with the
workflow row locked (rows locked in id order), so parallel completions of sibling tasks
serialise on the row and none is lost; the last sibling to complete starts the fan-in step.
Step tasks carry idempotency keys (``wf:<id>:<step>[:<index>]``) so a step is never enqueued
twice. A workflow fails only when one of its tasks goes ``dead``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from automechanica.errors import InvalidInput
from automechanica.logs import get_logger
from automechanica.queue import tasks
from automechanica.queue.tasks import Completed, FailOutcome, NewTask
from automechanica.workflows import store
from automechanica.workflows.definition import Step, StepInput, WorkflowDefinition
from automechanica.workflows.registry import WorkflowRegistry

log = get_logger("automechanica.orchestrator")

ACTOR = "system:orchestrator"


class Orchestrator:
    def __init__(self, registry: WorkflowRegistry) -> None:
        self.registry = registry

    # -- producers --------------------------------------------------------------------------------

    def validate_input(self, definition: WorkflowDefinition, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise InvalidInput(
                f"workflow input must be a JSON object, got {type(data).__name__}",
            )
        if definition.input_model is None:
            return data
        try:
            model = definition.input_model.model_validate(data)
        except ValidationError as exc:
            problems = [
                {"field": ".".join(str(p) for p in e["loc"]) or "input", "problem": e["msg"]}
                for e in exc.errors()
            ]
            summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
            raise InvalidInput(
                f"invalid input for workflow {definition.type!r}: {summary}", details=problems
            ) from None
        return model.model_dump(mode="json")

    async def start(
        self, conn: Any, workflow_type: str, data: Any, *, actor: str = "producer"
    ) -> UUID:
        """Create the workflow and its first tasks in the caller's transaction."""
        definition = self.registry.get(workflow_type)
        clean = self.validate_input(definition, data)
        workflow_id = await store.insert(
            conn, workflow_type=workflow_type, input=clean, created_by=actor
        )
        context: dict[str, Any] = {"results": {}, "steps": {}, "partial": {}}
        new: list[NewTask] = []
        for step in definition.roots():
            self._start_step(definition, workflow_id, step, clean, context, new)
        await tasks.enqueue(conn, new, actor=actor)
        await store.save_progress(
            conn,
            workflow_id,
            context=context,
            current_steps=_running_steps(context),
            status=_status(definition, context, "running"),
        )
        log.info(
            "workflow_started", workflow_id=str(workflow_id), type=workflow_type, tasks=len(new)
        )
        return workflow_id

    # -- completion hooks (called by the worker and the rescuer) --------------------------------

    async def on_completed(self, conn: Any, completed: Sequence[Completed]) -> None:
        by_workflow: dict[UUID, list[Completed]] = defaultdict(list)
        for c in completed:
            if c.workflow_id is not None and c.step is not None:
                by_workflow[c.workflow_id].append(c)
        if not by_workflow:
            return
        rows = await store.lock_many(conn, list(by_workflow))
        new: list[NewTask] = []
        for workflow_id, items in by_workflow.items():
            row = rows.get(workflow_id)
            if row is None:
                continue  # deleted underneath us
            try:
                definition = self.registry.get(row["type"])
            except InvalidInput:
                log.error("workflow_type_unknown", workflow_id=str(workflow_id), type=row["type"])
                continue
            context = row["context"]
            advance = row["status"] == "running"
            for c in items:
                self._record(definition, workflow_id, row["input"], context, c, new, advance)
            status = _status(definition, context, row["status"])
            await store.save_progress(
                conn,
                workflow_id,
                context=context,
                current_steps=_running_steps(context),
                status=status,
            )
            if status == "completed" and row["status"] != "completed":
                log.info("workflow_completed", workflow_id=str(workflow_id), type=row["type"])
        await tasks.enqueue(conn, new, actor=ACTOR)

    async def on_failed(self, conn: Any, failed: Sequence[FailOutcome]) -> None:
        dead = [f for f in failed if f.status == "dead" and f.workflow_id is not None]
        if not dead:
            return
        rows = await store.lock_many(conn, [f.workflow_id for f in dead if f.workflow_id])
        for f in dead:
            assert f.workflow_id is not None
            row = rows.get(f.workflow_id)
            if row is None or row["status"] != "running":
                continue
            error = {
                "task_id": str(f.id),
                "agent": f.agent_name,
                "reason": "task dead",
                "attempts": f.attempts,
            }
            await store.save_progress(
                conn,
                f.workflow_id,
                context=row["context"],
                current_steps=_running_steps(row["context"]),
                status="failed",
                error=error,
            )
            row["status"] = "failed"
            log.error(
                "workflow_failed",
                workflow_id=str(f.workflow_id),
                task_id=str(f.id),
                agent=f.agent_name,
            )

    # -- machinery --------------------------------------------------------------------------------

    def _record(
        self,
        definition: WorkflowDefinition,
        workflow_id: UUID,
        data: dict[str, Any],
        context: dict[str, Any],
        c: Completed,
        new: list[NewTask],
        advance: bool,
    ) -> None:
        assert c.step is not None
        state = context["steps"].get(c.step)
        if state is None or state["state"] == "completed":
            return
        if c.step_index is None:
            context["results"][c.step] = c.result
        else:
            context["partial"].setdefault(c.step, {})[str(c.step_index)] = c.result
        state["done"] += 1
        if state["done"] < state["total"]:
            return
        self._finish_step(definition, workflow_id, c.step, data, context, new, advance)

    def _finish_step(
        self,
        definition: WorkflowDefinition,
        workflow_id: UUID,
        name: str,
        data: dict[str, Any],
        context: dict[str, Any],
        new: list[NewTask],
        advance: bool,
    ) -> None:
        state = context["steps"][name]
        state["state"] = "completed"
        if state.get("fan_out"):
            partial = context["partial"].pop(name, {})
            context["results"][name] = [partial.get(str(i)) for i in range(state["total"])]
        if not advance:
            return
        for dependent in definition.dependents(name):
            if dependent.name in context["steps"]:
                continue
            deps_done = all(
                context["steps"].get(d, {}).get("state") == "completed"
                for d in dependent.depends_on
            )
            if deps_done:
                self._start_step(definition, workflow_id, dependent, data, context, new)

    def _start_step(
        self,
        definition: WorkflowDefinition,
        workflow_id: UUID,
        step: Step,
        data: dict[str, Any],
        context: dict[str, Any],
        new: list[NewTask],
    ) -> None:
        results = {d: context["results"].get(d) for d in _ancestors(definition, step)}
        base = StepInput(input=data, results=results)
        if step.fan_out is None:
            context["steps"][step.name] = {"state": "running", "total": 1, "done": 0}
            new.append(_task(workflow_id, step, step.payload(base), None))
            return
        items = list(step.fan_out(base))
        context["steps"][step.name] = {
            "state": "running",
            "total": len(items),
            "done": 0,
            "fan_out": True,
        }
        for index, item in enumerate(items):
            payload = step.payload(StepInput(input=data, results=results, item=item, index=index))
            new.append(_task(workflow_id, step, payload, index))
        if not items:
            self._finish_step(definition, workflow_id, step.name, data, context, new, True)


def _task(workflow_id: UUID, step: Step, payload: dict[str, Any], index: int | None) -> NewTask:
    key = f"wf:{workflow_id}:{step.name}" + (f":{index}" if index is not None else "")
    return NewTask(
        agent_name=step.agent,
        task_type=step.task_type,
        payload=payload,
        priority=step.priority,
        max_attempts=step.max_attempts,
        idempotency_key=key,
        workflow_id=workflow_id,
        step=step.name,
        step_index=index,
    )


def _ancestors(definition: WorkflowDefinition, step: Step) -> list[str]:
    seen: list[str] = []
    stack = list(step.depends_on)
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.append(name)
            stack.extend(definition.step(name).depends_on)
    return seen


def _running_steps(context: dict[str, Any]) -> list[str]:
    return sorted(n for n, s in context["steps"].items() if s["state"] != "completed")


def _status(definition: WorkflowDefinition, context: dict[str, Any], current: str) -> str:
    if current != "running":
        return current
    steps = context["steps"]
    if all(steps.get(s.name, {}).get("state") == "completed" for s in definition.steps):
        return "completed"
    return "running"
