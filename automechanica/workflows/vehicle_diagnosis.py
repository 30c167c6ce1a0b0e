"""The built-in example workflow: diagnose a vehicle complaint.

    intake (parse the complaint) --> inspect (fan-out: one task per suspected system)
                                  --> advise (fan-in: rank causes, recommend the next step)

It runs offline on the deterministic ``local`` LLM provider, so ``make up`` shows tasks flowing
with no keys configured.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from automechanica.agents.base import Agent, AgentContext, AgentResult, TaskView
from automechanica.workflows.definition import Step, StepInput, WorkflowDefinition

_SYSTEMS = {
    "brakes": ("brake", "squeal", "grind", "pedal", "stopping"),
    "engine": ("engine", "stall", "misfire", "knock", "idle", "smoke", "power"),
    "electrical": ("battery", "start", "crank", "light", "electrical", "click"),
    "cooling": ("overheat", "coolant", "temperature", "steam", "radiator"),
    "transmission": ("shift", "gear", "transmission", "slip", "clutch"),
    "suspension": ("bump", "clunk", "steering", "pull", "vibration", "wobble"),
}


class DiagnosisInput(BaseModel):
    vehicle: str = Field(min_length=1, max_length=200, description="make, model and year")
    complaint: str = Field(min_length=3, max_length=2000, description="what the driver reports")
    mileage: int | None = Field(default=None, ge=0, le=2_000_000)


class IntakeAgent:
    name = "intake"
    task_types: tuple[str, ...] = ("parse_complaint",)

    async def run(self, task: TaskView, ctx: AgentContext) -> AgentResult:
        complaint = str(task.payload["input"]["complaint"]).lower()
        systems = [s for s, words in _SYSTEMS.items() if any(w in complaint for w in words)]
        if not systems:
            systems = ["engine", "electrical"]
        return AgentResult(
            output={"systems": systems, "symptoms": complaint.split(".")[:5]},
            reasoning=f"keywords point at {', '.join(systems)}",
            confidence=0.6 if len(systems) < 3 else 0.4,
        )


class DiagnosticianAgent:
    name = "diagnostician"
    task_types: tuple[str, ...] = ("inspect_system",)

    async def run(self, task: TaskView, ctx: AgentContext) -> AgentResult:
        from automechanica.llm import LLMRequest

        system = task.payload["item"]
        data = task.payload["input"]
        answer = await ctx.complete(
            LLMRequest(
                task_kind="diagnosis",
                prompt=(
                    f"Vehicle: {data['vehicle']}. Complaint: {data['complaint']}. "
                    f"List the most likely causes in the {system} system."
                ),
                prompt_version="inspect-v1",
                max_tokens=200,
            )
        )
        return AgentResult(
            output={"system": system, "findings": answer.text[:500]},
            reasoning=f"asked {answer.provider}/{answer.model} about the {system} system",
            confidence=0.5,
        )


class AdvisorAgent:
    name = "advisor"
    task_types: tuple[str, ...] = ("recommend",)

    async def run(self, task: TaskView, ctx: AgentContext) -> AgentResult:
        inspections: list[dict[str, Any]] = task.payload["results"].get("inspect") or []
        ranked = sorted((i["system"] for i in inspections if i), key=len)
        first = ranked[0] if ranked else "general inspection"
        return AgentResult(
            output={"recommendation": f"start with the {first} system", "ranked": ranked},
            reasoning=f"{len(inspections)} inspections compared",
            confidence=0.7,
        )


def _inspect_targets(step_input: StepInput) -> list[Any]:
    return list(step_input.results["intake"]["systems"])


DEFINITION = WorkflowDefinition(
    type="vehicle_diagnosis",
    description="parse a complaint, inspect each suspected system in parallel, recommend",
    input_model=DiagnosisInput,
    steps=(
        Step("intake", agent="intake", task_type="parse_complaint"),
        Step(
            "inspect",
            agent="diagnostician",
            task_type="inspect_system",
            depends_on=("intake",),
            fan_out=_inspect_targets,
        ),
        Step("advise", agent="advisor", task_type="recommend", depends_on=("inspect",)),
    ),
)

AGENTS: list[Agent] = [IntakeAgent(), DiagnosticianAgent(), AdvisorAgent()]
