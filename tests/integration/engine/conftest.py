"""Fixtures for the engine's integration tests.

The engine tests share one migrated database of their own (``engine_dsn``); ``db`` empties the
engine's tables before every test, so each test starts with an empty queue.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import psycopg
import pytest

from automechanica.db.pool import Database
from tests.pg import DatabaseFactory

ENGINE_TABLES = "tasks, task_events, agent_events, workflows, workers"


@pytest.fixture(scope="session")
def engine_dsn(db_factory: DatabaseFactory) -> str:
    """A migrated database for the engine tests alone."""
    return db_factory.create()


@pytest.fixture
async def db(engine_dsn: str) -> AsyncIterator[Database]:
    """An open pool on the module's database, whose engine tables were just emptied."""
    with psycopg.connect(engine_dsn, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {ENGINE_TABLES}")
    database = Database(engine_dsn, min_size=2, max_size=30)
    await database.open()
    await database.pool.wait(timeout=10)
    yield database
    await database.close()
