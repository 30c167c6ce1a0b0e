from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest

from automechanica.db.pool import Database
from automechanica.logs import configure_logging
from tests.pg import DatabaseFactory, server_admin_dsn

# Tests build their settings explicitly; a developer's .env must not leak in.
os.environ.setdefault("AUTOMECHANICA_DATA_DIR", "/tmp/automechanica-test/app")


@pytest.fixture(scope="session")
def db_factory() -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(server_admin_dsn())
    yield factory
    factory.drop_all()


@pytest.fixture(scope="session")
def db_dsn(db_factory: DatabaseFactory) -> str:
    """One migrated database shared by the session; tests clean what they write."""
    return db_factory.create()


@pytest.fixture
def fresh_dsn(db_factory: DatabaseFactory) -> str:
    """A migrated database of this test's own."""
    return db_factory.create()


@pytest.fixture
def empty_dsn(db_factory: DatabaseFactory) -> str:
    """An unmigrated database of this test's own."""
    return db_factory.create(migrated=False)


@pytest.fixture
def sync_conn(db_dsn: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
async def database(db_dsn: str) -> AsyncIterator[Database]:
    db = Database(db_dsn, min_size=1, max_size=8)
    await db.open()
    await db.pool.wait(timeout=10)
    yield db
    await db.close()


@pytest.fixture(autouse=True, scope="session")
def _quiet_logs() -> None:
    configure_logging("warning", "json")
