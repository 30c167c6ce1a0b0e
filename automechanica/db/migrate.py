"""Schema migrations (Alembic, raw SQL): to head, to a revision up or down, status, history.

These functions are synchronous (Alembic is); async callers run them in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from automechanica.errors import InvalidInput

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


@dataclass(frozen=True)
class Revision:
    revision: str
    down_revision: str | None
    doc: str


@dataclass(frozen=True)
class Status:
    current: str | None
    head: str
    pending: list[Revision]

    @property
    def at_head(self) -> bool:
        return self.current == self.head


def _config(dsn: str = "", connect_kwargs: dict[str, Any] | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["dsn"] = dsn
    cfg.attributes["connect_kwargs"] = connect_kwargs or {}
    return cfg


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head() -> str:
    heads = _script().get_heads()
    assert len(heads) == 1, f"migrations have {len(heads)} heads; merge them"
    return heads[0]


def history() -> list[Revision]:
    """All revisions, oldest first."""
    revs = list(_script().walk_revisions())
    revs.reverse()
    return [
        Revision(
            r.revision,
            r.down_revision if isinstance(r.down_revision, str) else None,
            (r.doc or "").strip(),
        )
        for r in revs
    ]


def current(conn: psycopg.Connection[Any]) -> str | None:
    """The revision the database is at, or None for an empty (unmigrated) database."""
    exists = conn.execute("SELECT to_regclass('public.alembic_version') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return None
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else None


def status_for(current_rev: str | None) -> Status:
    revs = history()
    ids = [r.revision for r in revs]
    done = ids.index(current_rev) + 1 if current_rev in ids else 0
    return Status(current=current_rev, head=ids[-1], pending=revs[done:])


def status(dsn: str, connect_kwargs: dict[str, Any] | None = None) -> Status:
    with psycopg.connect(dsn, **(connect_kwargs or {})) as conn:
        return status_for(current(conn))


def migrate_to(
    dsn: str, target: str = "head", connect_kwargs: dict[str, Any] | None = None
) -> Status:
    """Move the schema to ``target`` (``head``, ``base`` or a revision id), up or down."""
    revs = [r.revision for r in history()]
    if target not in ("head", "base") and target not in revs:
        raise InvalidInput(
            f"unknown revision {target!r}; known: base, {', '.join(revs)}, head "
            "(see `automechanica db migrate history`)"
        )
    before = status(dsn, connect_kwargs)
    cfg = _config(dsn, connect_kwargs)
    if target == "head":
        command.upgrade(cfg, "head")
    elif target == "base":
        command.downgrade(cfg, "base")
    else:
        here = revs.index(before.current) if before.current in revs else -1
        there = revs.index(target)
        if there >= here:
            command.upgrade(cfg, target)
        else:
            command.downgrade(cfg, target)
    return status(dsn, connect_kwargs)
