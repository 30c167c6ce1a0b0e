from __future__ import annotations

import psycopg

from automechanica.db import migrate


def _tables(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {r[0] for r in rows}


def test_migrations_go_up_to_head_down_to_base_and_up_again(empty_dsn: str) -> None:
    assert migrate.status(empty_dsn).current is None
    up = migrate.migrate_to(empty_dsn, "head")
    assert up.at_head
    assert "installation" in _tables(empty_dsn)
    down = migrate.migrate_to(empty_dsn, "base")
    assert down.current is None
    assert _tables(empty_dsn) <= {"alembic_version"}
    again = migrate.migrate_to(empty_dsn, "head")
    assert again.at_head and again.pending == []


def test_status_lists_pending_revisions_in_order(empty_dsn: str) -> None:
    status = migrate.status(empty_dsn)
    assert [r.revision for r in status.pending] == [r.revision for r in migrate.history()]
