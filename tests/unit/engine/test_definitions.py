"""Workflow definitions refuse broken graphs; registries name what they do know."""

from __future__ import annotations

import pytest

from automechanica.agents.noop import NoopAgent
from automechanica.agents.registry import AgentRegistry
from automechanica.errors import InvalidInput, UnknownAgent
from automechanica.workflows.definition import Step, WorkflowDefinition
from automechanica.workflows.orchestrator import Orchestrator
from automechanica.workflows.registry import WorkflowRegistry
from automechanica.workflows.vehicle_diagnosis import DEFINITION


def _step(name: str, *deps: str) -> Step:
    return Step(name, agent="noop", task_type="noop", depends_on=deps)


def test_duplicate_step_names_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate step names"):
        WorkflowDefinition(type="w", steps=(_step("a"), _step("a")))


def test_a_dependency_on_an_unknown_step_is_refused() -> None:
    with pytest.raises(ValueError, match="step b depends on unknown c"):
        WorkflowDefinition(type="w", steps=(_step("a"), _step("b", "c")))


def test_a_dependency_cycle_is_refused() -> None:
    with pytest.raises(ValueError, match="dependency cycle"):
        WorkflowDefinition(type="w", steps=(_step("a", "c"), _step("b", "a"), _step("c", "b")))


def test_roots_and_dependents_follow_the_graph() -> None:
    wf = WorkflowDefinition(
        type="w", steps=(_step("a"), _step("b"), _step("c", "a", "b"), _step("d", "c"))
    )
    assert [s.name for s in wf.roots()] == ["a", "b"]
    assert [s.name for s in wf.dependents("a")] == ["c"]
    assert wf.dependents("d") == []


def test_agent_registry_names_the_missing_agent_and_what_is_registered() -> None:
    registry = AgentRegistry([NoopAgent()])
    with pytest.raises(UnknownAgent) as raised:
        registry.get("ghost", "haunt")
    assert raised.value.message == (
        "no agent registered for agent 'ghost' and task type 'haunt' (registered: noop/noop)"
    )


def test_agent_registry_refuses_two_agents_for_one_task_type() -> None:
    registry = AgentRegistry([NoopAgent()])
    with pytest.raises(ValueError, match="already handles 'noop'"):
        registry.register(NoopAgent())


def test_workflow_registry_names_the_known_types() -> None:
    with pytest.raises(
        InvalidInput, match="unknown workflow type 'x'; known types: vehicle_diagnosis"
    ):
        WorkflowRegistry([DEFINITION]).get("x")


def test_input_validation_reports_each_bad_field() -> None:
    orchestrator = Orchestrator(WorkflowRegistry([DEFINITION]))
    with pytest.raises(InvalidInput) as raised:
        orchestrator.validate_input(DEFINITION, {"vehicle": "", "mileage": -1})
    assert [d["field"] for d in raised.value.details] == ["vehicle", "complaint", "mileage"]


def test_input_validation_normalises_valid_input() -> None:
    orchestrator = Orchestrator(WorkflowRegistry([DEFINITION]))
    clean = orchestrator.validate_input(DEFINITION, {"vehicle": "Civic", "complaint": "knock"})
    assert clean == {"vehicle": "Civic", "complaint": "knock", "mileage": None}
