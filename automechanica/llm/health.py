"""The ``checks.llm`` section of ``/api/health``.

``ok`` is False (health ``degraded``) when a provider on the default chain has a breaker that is
open or half-open (not yet proven healthy again), or when no provider on the default chain is
configured at all. Breakers of providers only other chains use are shown but do not degrade.
"""

from __future__ import annotations

from typing import Any

from automechanica.llm.router import LLMRouter


def llm_health(router: LLMRouter) -> dict[str, Any]:
    """``{ok, problems, providers: {name: {state, ...}}, default_chain, routes}``."""
    state = router.state()
    providers = state["providers"]
    chain = list(dict.fromkeys(r.provider for r in router.routes.default_chain))
    problems = [
        f"{name} breaker is {providers[name]['state']}"
        for name in chain
        if name in providers and providers[name]["state"] != "closed"
    ]
    if not any(providers.get(name, {}).get("configured") for name in chain):
        problems.append("no provider on the default chain is configured")
    return {"ok": not problems, "problems": problems, **state}


def install_health_check(router: LLMRouter) -> None:
    """Register ``checks.llm`` with ``ops.health``; call once at startup, after building it."""
    # ops sits above llm; importing it here (not at module level) keeps llm importable
    # without the database layer that ops.health pulls in.
    from automechanica.ops.health import register_dependency_check

    register_dependency_check("llm", lambda _runtime: llm_health(router))
