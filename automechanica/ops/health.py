"""Health: is the database reachable, how fast, is the schema current, how busy is the pool.

``status`` is ``down`` when the database check fails, ``degraded`` when it passes but something
is off (schema behind, a dependency such as an LLM provider failing), ``ok`` otherwise. The whole
check is bounded in time so a black-holed database cannot hang a health probe.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

from automechanica.db import migrate
from automechanica.runtime import Runtime

HEALTH_BUDGET_S = 1.5

DependencyCheck = Callable[[Runtime], dict[str, Any]]
_dependency_checks: dict[str, DependencyCheck] = {}


def register_dependency_check(name: str, check: DependencyCheck) -> None:
    """Add a ``checks.NAME`` section; a check returning ``ok: False`` makes health degraded."""
    _dependency_checks[name] = check


async def _read_revision(conn: Any) -> str | None:
    try:
        cur = await conn.execute("SELECT version_num FROM alembic_version")
        row = await cur.fetchone()
    except psycopg.errors.UndefinedTable:
        await conn.rollback()
        return None
    return row[0] if row else None


async def check_health(rt: Runtime, budget_s: float = HEALTH_BUDGET_S) -> dict[str, Any]:
    then: Callable[[Any], Awaitable[Any]] = _read_revision
    ping = await rt.db.ping(budget_s, then=then)
    head = migrate.head()
    database: dict[str, Any] = {
        "ok": ping.ok,
        "latency_ms": ping.latency_ms,
        "embedded": rt.target.is_embedded,
    }
    if not ping.ok:
        database["error_class"] = ping.failure
        database["error"] = ping.error
    revision = ping.extra if ping.ok else None
    checks: dict[str, Any] = {"database": database}
    degraded = False
    for name, check in _dependency_checks.items():
        result = check(rt)
        checks[name] = result
        degraded = degraded or not result.get("ok", True)
    at_head = ping.ok and revision == head
    if not ping.ok:
        status = "down"
    elif not at_head or degraded:
        status = "degraded"
    else:
        status = "ok"
    return {
        "status": status,
        "version": rt.version,
        "uptime_s": rt.uptime_s,
        "checks": checks,
        "pool": rt.db.stats(),
        "schema": {"revision": revision, "head": head, "at_head": at_head},
    }


async def check_ready(rt: Runtime, budget_s: float = HEALTH_BUDGET_S) -> dict[str, Any]:
    ping = await rt.db.ping(budget_s, then=_read_revision)
    head = migrate.head()
    ready = ping.ok and ping.extra == head
    reason = None
    if not ping.ok:
        reason = f"database unavailable ({ping.failure})"
    elif ping.extra != head:
        reason = f"schema at {ping.extra or 'base'}, code expects {head}"
    return {"ready": ready, "reason": reason}
