"""Which providers, in which order, serve each kind of task.

A route is ``provider:model``; a chain is the ordered list the router tries, falling back to
the next entry when one fails, is not configured or has an open breaker. Task kinds without
their own chain use the default chain. With no settings at all the default chain is
``local:local-echo-1`` and nothing leaves the machine.

There is no implicit last resort: ``local`` answers with placeholder prose, so it is in a
chain only when someone put it there. From JSON (the ``LLM_ROUTES`` setting)::

    {"default": ["openai:gpt-4o-mini", "anthropic"],
     "diagnose": ["anthropic:claude-sonnet-4-5", "openai:gpt-4.1"]}

A bare provider name means its default model; a model may itself contain ``:``
(``ollama:llama3.2:3b``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from automechanica.errors import ConfigError
from automechanica.llm.providers import PROVIDER_TYPES
from automechanica.settings import Settings

DEFAULT_KIND = "default"


@dataclass(frozen=True)
class Route:
    provider: str
    model: str

    def __post_init__(self) -> None:
        if self.provider not in PROVIDER_TYPES:
            known = ", ".join(PROVIDER_TYPES)
            raise ValueError(f"unknown provider {self.provider!r}; expected one of {known}")
        if not self.model:
            raise ValueError(f"route for {self.provider!r} has an empty model name")

    @classmethod
    def parse(cls, spec: str) -> Route:
        """``"openai:gpt-4o"`` -> Route("openai", "gpt-4o"); ``"openai"`` -> its default model."""
        provider, _, model = spec.strip().partition(":")
        provider_type = PROVIDER_TYPES.get(provider)
        if provider_type is None:
            known = ", ".join(PROVIDER_TYPES)
            raise ValueError(f"unknown provider {provider!r}; expected one of {known}")
        return cls(provider, model or provider_type.default_model)

    @classmethod
    def default_for(cls, provider: str) -> Route:
        return cls.parse(provider)

    def __str__(self) -> str:
        return f"{self.provider}:{self.model}"


class RoutingTable:
    """Task kind -> provider chain, with a default chain for every other kind."""

    def __init__(
        self,
        default: Sequence[Route] = (),
        routes: Mapping[str, Sequence[Route]] | None = None,
    ) -> None:
        self._default = tuple(default) or (Route.default_for("local"),)
        self._routes = {kind: tuple(chain) for kind, chain in (routes or {}).items() if chain}

    @property
    def default_chain(self) -> tuple[Route, ...]:
        return self._default

    def chain_for(self, task_kind: str) -> tuple[Route, ...]:
        return self._routes.get(task_kind, self._default)

    def providers(self) -> set[str]:
        """Every provider any chain names."""
        names = {r.provider for r in self._default}
        for chain in self._routes.values():
            names.update(r.provider for r in chain)
        return names

    def describe(self) -> dict[str, list[str]]:
        table = {DEFAULT_KIND: [str(r) for r in self._default]}
        table.update({kind: [str(r) for r in chain] for kind, chain in self._routes.items()})
        return table

    @classmethod
    def parse(cls, raw: str | Mapping[str, Any], *, default: Sequence[Route] = ()) -> RoutingTable:
        """A table from JSON text or a mapping; ``default`` applies when it names no default.

        Raises ``ConfigError`` naming ``LLM_ROUTES`` and every problem found.
        """
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ConfigError([f"LLM_ROUTES: not valid JSON ({exc.msg})"]) from None
        if not isinstance(raw, Mapping):
            raise ConfigError(['LLM_ROUTES: expected a JSON object like {"default": ["local"]}'])
        problems: list[str] = []
        chains: dict[str, tuple[Route, ...]] = {}
        for kind, value in raw.items():
            specs = [value] if isinstance(value, str) else value
            if not isinstance(specs, list) or not specs:
                problems.append(f"LLM_ROUTES[{kind!r}]: expected a non-empty list of routes")
                continue
            chain = []
            for spec in specs:
                try:
                    if not isinstance(spec, str):
                        raise ValueError(f"expected a 'provider:model' string, got {spec!r}")
                    chain.append(Route.parse(spec))
                except ValueError as exc:
                    problems.append(f"LLM_ROUTES[{kind!r}]: {exc}")
            chains[str(kind)] = tuple(chain)
        if problems:
            raise ConfigError(problems)
        default_chain = chains.pop(DEFAULT_KIND, tuple(default))
        return cls(default_chain, chains)

    @classmethod
    def from_settings(cls, settings: Settings) -> RoutingTable:
        """``LLM_DEFAULT_PROVIDER`` as the default chain, overlaid with ``LLM_ROUTES`` if set."""
        default = (Route.default_for(settings.llm_default_provider),)
        # LLM_ROUTES is read when Settings has it; until then, routes are configured in code.
        raw = getattr(settings, "llm_routes", None)
        if not raw:
            return cls(default)
        return cls.parse(raw, default=default)
