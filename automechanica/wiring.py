"""The agents and workflow types this deployment runs (one place to add new ones).

Beyond the built-ins, ``AGENT_MODULES`` names modules that expose ``AGENTS`` (a list of agents)
and optionally ``WORKFLOWS`` (a list of workflow definitions): a deployment's own agents, or a
test's.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from automechanica.agents.base import Agent
from automechanica.agents.noop import NoopAgent
from automechanica.agents.registry import AgentRegistry
from automechanica.errors import ConfigError
from automechanica.settings import get_settings
from automechanica.workflows import vehicle_diagnosis
from automechanica.workflows.definition import WorkflowDefinition
from automechanica.workflows.orchestrator import Orchestrator
from automechanica.workflows.registry import WorkflowRegistry


def _extra_modules() -> list[ModuleType]:
    modules = []
    for name in get_settings().agent_modules:
        try:
            modules.append(importlib.import_module(name))
        except ImportError as exc:
            raise ConfigError(
                [f"AGENT_MODULES: cannot import {name!r} ({exc}); expected importable modules"]
            ) from None
    return modules


def default_agents() -> AgentRegistry:
    agents: list[Agent] = [NoopAgent(), *vehicle_diagnosis.AGENTS]
    for module in _extra_modules():
        agents += list(getattr(module, "AGENTS", []))
    return AgentRegistry(agents)


def default_workflows() -> WorkflowRegistry:
    definitions: list[WorkflowDefinition] = [vehicle_diagnosis.DEFINITION]
    for module in _extra_modules():
        definitions += list(getattr(module, "WORKFLOWS", []))
    return WorkflowRegistry(definitions)


def default_orchestrator() -> Orchestrator:
    return Orchestrator(default_workflows())
