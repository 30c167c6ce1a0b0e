"""Test databases: on ``DATABASE_URL``'s server when set, otherwise on the embedded server.

Every database made here is named ``am_test_<run>_<n>`` and dropped by the run that made it;
nothing else on the server is touched.
"""

from __future__ import annotations

import itertools
import os
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from automechanica.db import migrate
from automechanica.db.embedded import EmbeddedServer

RUN_ID = uuid.uuid4().hex[:8]
_counter = itertools.count(1)


def test_data_dir() -> Path:
    return Path(os.environ.get("AUTOMECHANICA_TEST_DATA_DIR", "/tmp/automechanica-test"))


def server_admin_dsn() -> str:
    """A superuser URL on the server the tests use, connected to the ``postgres`` database."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return with_database(url, "postgres")
    server = EmbeddedServer(test_data_dir())
    server.ensure_running()
    return server.dsn("postgres")


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


class DatabaseFactory:
    def __init__(self, admin_dsn: str) -> None:
        self.admin_dsn = admin_dsn
        self.created: list[str] = []

    def create(self, *, migrated: bool = True, template: str | None = None) -> str:
        name = f"am_test_{RUN_ID}_{next(_counter)}"
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if template:
                stmt = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            conn.execute(stmt)
        self.created.append(name)
        dsn = with_database(self.admin_dsn, name)
        if migrated and not template:
            migrate.migrate_to(dsn, "head")
        return dsn

    def drop(self, name: str) -> None:
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def drop_all(self) -> None:
        for name in reversed(self.created):
            self.drop(name)
        self.created.clear()
