"""Which database this process talks to: ``DATABASE_URL``, or the embedded server."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import psycopg
from psycopg import sql

from automechanica.db.embedded import EmbeddedServer
from automechanica.settings import Settings

APP_DATABASE = "automechanica"


@dataclass(frozen=True)
class DatabaseTarget:
    dsn: str
    embedded: EmbeddedServer | None

    @property
    def is_embedded(self) -> bool:
        return self.embedded is not None


def embedded_server(settings: Settings) -> EmbeddedServer:
    return EmbeddedServer(settings.automechanica_data_dir)


def resolve_target(settings: Settings, *, start_embedded: bool = True) -> DatabaseTarget:
    """The database to use; with no ``DATABASE_URL``, start (or attach to) the embedded server.

    The embedded server is never started when ``DATABASE_URL`` is set.
    """
    if settings.database_url:
        return DatabaseTarget(dsn=settings.database_url, embedded=None)
    server = embedded_server(settings)
    if start_embedded:
        server.ensure_running()
        _ensure_database(server.dsn("postgres"), APP_DATABASE)
    dsn = server.dsn(APP_DATABASE) if server.status().running else ""
    return DatabaseTarget(dsn=dsn, embedded=server)


def _ensure_database(admin_dsn: str, name: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            # Another process may create it first.
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
