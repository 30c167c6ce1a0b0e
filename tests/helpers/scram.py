"""A private PostgreSQL cluster with password authentication over TCP.

The shared test server may trust every password (``trust`` auth), so tests that need a wrong
password to be rejected run against this one; ``fixtures.scram_cluster`` starts it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from automechanica.db.embedded import EmbeddedServer

APP_USER = "am_app"
APP_DATABASE = "am_app"
PASSWORD = "s3cr3t-pa55word"
WRONG_PASSWORD = "wr0ng-pa55word"


@dataclass(frozen=True)
class ScramCluster:
    server: EmbeddedServer
    port: int

    def url(self, password: str = PASSWORD, database: str = APP_DATABASE) -> str:
        return f"postgresql://{APP_USER}:{password}@127.0.0.1:{self.port}/{database}"

    def admin(self) -> psycopg.Connection[Any]:
        """A superuser connection over the unix socket (trusted locally)."""
        return psycopg.connect(
            host=str(self.server.pgdata),
            port=self.port,
            user="postgres",
            dbname="postgres",
            autocommit=True,
        )
