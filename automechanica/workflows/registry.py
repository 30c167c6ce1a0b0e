"""The workflow types this deployment knows."""

from __future__ import annotations

from automechanica.errors import InvalidInput
from automechanica.workflows.definition import WorkflowDefinition


class WorkflowRegistry:
    def __init__(self, definitions: list[WorkflowDefinition] | None = None) -> None:
        self._defs: dict[str, WorkflowDefinition] = {}
        for d in definitions or []:
            self.register(d)

    def register(self, definition: WorkflowDefinition) -> None:
        self._defs[definition.type] = definition

    def get(self, workflow_type: str) -> WorkflowDefinition:
        definition = self._defs.get(workflow_type)
        if definition is None:
            known = ", ".join(sorted(self._defs)) or "none"
            raise InvalidInput(f"unknown workflow type {workflow_type!r}; known types: {known}")
        return definition

    def types(self) -> list[WorkflowDefinition]:
        return [self._defs[k] for k in sorted(self._defs)]
