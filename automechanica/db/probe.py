"""``db test``: connect with the configured settings and say what is there, or what is wrong."""

from __future__ import annotations

import time
from typing import Any

import psycopg

from automechanica.db import migrate
from automechanica.db.diagnose import classify
from automechanica.db.pool import connect_kwargs
from automechanica.db.target import DatabaseTarget
from automechanica.redaction import redact_text, redact_url
from automechanica.settings import Settings


def probe(settings: Settings, target: DatabaseTarget) -> dict[str, Any]:
    """A report with ``ok``; on failure ``failure`` (its class), ``error`` and ``fix``."""
    report: dict[str, Any] = {
        "ok": False,
        "url": redact_url(target.dsn) if target.dsn else None,
        "embedded": target.is_embedded,
        "pool": {
            "min": settings.db_pool_min,
            "max": settings.db_pool_max,
            "timeout_ms": settings.db_pool_timeout_ms,
            "connect_timeout_ms": settings.db_connect_timeout_ms,
            "statement_timeout_ms": settings.db_statement_timeout_ms,
        },
    }
    if target.embedded is not None and not target.embedded.status().running:
        report.update(
            failure="connection_refused",
            error=f"the embedded PostgreSQL server under {target.embedded.pgdata} is not running",
            fix="start it with `automechanica db start` (or `automechanica up`)",
        )
        return report
    kwargs = connect_kwargs(settings.db_connect_timeout_ms, settings.db_statement_timeout_ms)
    started = time.perf_counter()
    try:
        with psycopg.connect(target.dsn, **kwargs) as conn:
            report["connect_ms"] = round((time.perf_counter() - started) * 1000, 2)
            samples = []
            for _ in range(3):
                t = time.perf_counter()
                conn.execute("SELECT 1").fetchone()
                samples.append((time.perf_counter() - t) * 1000)
            row = conn.execute(
                "SELECT current_database(), current_user, current_setting('server_version'), "
                "now(), current_setting('ssl', true)"
            ).fetchone()
            assert row is not None
            revision = migrate.current(conn)
    except Exception as exc:
        failure = classify(exc)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        report.update(failure=failure.failure, error=redact_text(first), fix=failure.fix)
        return report
    status = migrate.status_for(revision)
    report.update(
        database=row[0],
        user=row[1],
        server_version=row[2],
        now=row[3].isoformat(),
        latency_ms=round(min(samples), 3),
        schema={
            "revision": revision,
            "head": status.head,
            "at_head": status.at_head,
            "pending": [r.revision for r in status.pending],
        },
    )
    if status.at_head:
        report["ok"] = True
    else:
        report.update(
            failure="schema_behind",
            error=f"schema at {revision or 'base'}, code expects {status.head} "
            f"({len(status.pending)} migration(s) pending)",
            fix="run `automechanica db migrate`",
        )
    return report
