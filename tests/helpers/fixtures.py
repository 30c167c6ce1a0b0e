"""Shared fixtures, loaded by test modules with ``pytest_plugins = ["tests.helpers.fixtures"]``.

``scram_cluster`` is a private PostgreSQL of this test run with password authentication over TCP
(the shared test server may trust every password), started once per session. ``log_capture``
collects this process's JSON log lines for one test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from psycopg import sql

from automechanica.db import migrate
from automechanica.db.embedded import EmbeddedServer
from automechanica.logs import configure_logging
from tests.helpers.dirs import server_dir
from tests.helpers.logcapture import LogCapture
from tests.helpers.network import free_port
from tests.helpers.scram import APP_DATABASE, APP_USER, PASSWORD, ScramCluster


@pytest.fixture(scope="session")
def scram_cluster() -> Iterator[ScramCluster]:
    """A migrated database ``am_app`` owned by ``am_app`` with password ``PASSWORD``."""
    with server_dir("am-test-scram-") as data_dir:
        port = free_port()
        server = EmbeddedServer(data_dir, tcp_port=port, host_auth="scram-sha-256")
        server.ensure_running()
        try:
            yield _prepare(ScramCluster(server, port))
        finally:
            server.stop()


def _prepare(cluster: ScramCluster) -> ScramCluster:
    with cluster.admin() as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(APP_USER), sql.Literal(PASSWORD)
            )
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(APP_DATABASE), sql.Identifier(APP_USER)
            )
        )
    migrate.migrate_to(cluster.url(), "head")
    return cluster


@pytest.fixture
def log_capture() -> Iterator[LogCapture]:
    capture = LogCapture()
    configure_logging("info", "json", stream=capture.stream)
    try:
        yield capture
    finally:
        configure_logging("warning", "json")
