"""Alembic environment: raw-SQL migrations run on a psycopg connection under an advisory lock."""

from __future__ import annotations

import psycopg
import sqlalchemy as sa
from alembic import context
from sqlalchemy.pool import NullPool

# Any number of processes may try to migrate at once (several `up`s); one does it at a time.
MIGRATION_LOCK = 7_305_001

config = context.config
dsn: str = config.attributes["dsn"]
connect_kwargs: dict = config.attributes.get("connect_kwargs", {})

engine = sa.create_engine(
    "postgresql+psycopg://",
    creator=lambda: psycopg.connect(dsn, **connect_kwargs),
    poolclass=NullPool,
)

with engine.connect() as connection:
    connection.execute(sa.text(f"SELECT pg_advisory_lock({MIGRATION_LOCK})"))
    connection.commit()
    try:
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    finally:
        connection.execute(sa.text(f"SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
        connection.commit()
engine.dispose()
