"""How a workflow is described: steps, their agents, dependencies, payloads and fan-out."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class StepInput:
    """What a step's payload and fan-out builders see."""

    input: dict[str, Any]
    results: dict[str, Any]
    item: Any = None
    index: int | None = None


PayloadFn = Callable[[StepInput], dict[str, Any]]
FanOutFn = Callable[[StepInput], list[Any]]


def _default_payload(step_input: StepInput) -> dict[str, Any]:
    payload: dict[str, Any] = {"input": step_input.input, "results": step_input.results}
    if step_input.index is not None:
        payload["item"] = step_input.item
        payload["index"] = step_input.index
    return payload


@dataclass(frozen=True)
class Step:
    name: str
    agent: str
    task_type: str
    depends_on: tuple[str, ...] = ()
    payload: PayloadFn = _default_payload
    fan_out: FanOutFn | None = None
    priority: int = 5
    max_attempts: int = 3


@dataclass(frozen=True)
class WorkflowDefinition:
    type: str
    steps: tuple[Step, ...]
    input_model: builtins.type[BaseModel] | None = None
    description: str = ""
    _by_name: dict[str, Step] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names):
            raise ValueError(f"workflow {self.type}: duplicate step names in {names}")
        by_name = {s.name: s for s in self.steps}
        for s in self.steps:
            for dep in s.depends_on:
                if dep not in by_name:
                    raise ValueError(
                        f"workflow {self.type}: step {s.name} depends on unknown {dep}"
                    )
        self._check_acyclic(by_name)
        object.__setattr__(self, "_by_name", by_name)

    def _check_acyclic(self, by_name: dict[str, Step]) -> None:
        seen: dict[str, int] = {}

        def visit(name: str) -> None:
            if seen.get(name) == 1:
                raise ValueError(f"workflow {self.type}: dependency cycle through {name}")
            if seen.get(name) == 2:
                return
            seen[name] = 1
            for dep in by_name[name].depends_on:
                visit(dep)
            seen[name] = 2

        for name in by_name:
            visit(name)

    def step(self, name: str) -> Step:
        return self._by_name[name]

    def roots(self) -> list[Step]:
        return [s for s in self.steps if not s.depends_on]

    def dependents(self, name: str) -> list[Step]:
        return [s for s in self.steps if name in s.depends_on]
