"""A private PostgreSQL for fault tests: a plain TCP URL that stays valid across restarts."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from automechanica.db import migrate
from automechanica.db.embedded import EmbeddedServer
from tests.helpers.network import free_port
from tests.integration.faults.agents import EFFECTS_TABLE_DDL


@dataclass(frozen=True)
class FaultServer:
    server: EmbeddedServer
    url: str  # postgresql://postgres@127.0.0.1:PORT/<database>

    def restart(self) -> None:
        """Fast shutdown (open sessions are terminated), then start again on the same port."""
        self.server.stop()
        self.server.ensure_running()

    def log_tail(self, lines: int = 30) -> list[str]:
        return self.server.log_lines(lines)


@contextmanager
def fault_server(data_dir: Path, database: str = "faultdb") -> Iterator[FaultServer]:
    """Start a server in ``data_dir`` with a migrated ``database`` holding ``fault_effects``.

    On exit the server is stopped and ``data_dir`` removed.
    """
    server = EmbeddedServer(data_dir, tcp_port=free_port())
    server.ensure_running()
    try:
        with psycopg.connect(server.dsn("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        url = server.dsn(database)
        migrate.migrate_to(url, "head")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(EFFECTS_TABLE_DDL)
        yield FaultServer(server, url)
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
