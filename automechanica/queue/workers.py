"""The ``workers`` repository: who is working, since when, how busy, last heard from."""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row


async def register(
    conn: Any,
    *,
    worker_id: str,
    host: str,
    pid: int,
    version: str,
    agents: list[str] | None,
    concurrency: int,
) -> None:
    await conn.execute(
        """
        INSERT INTO workers (id, host, pid, version, agents, concurrency, running, status,
                             started_at, last_heartbeat)
        VALUES (%s, %s, %s, %s, %s, %s, 0, 'running', now(), now())
        ON CONFLICT (id) DO UPDATE
        SET host = EXCLUDED.host, pid = EXCLUDED.pid, version = EXCLUDED.version,
            agents = EXCLUDED.agents, concurrency = EXCLUDED.concurrency, running = 0,
            status = 'running', started_at = now(), last_heartbeat = now()
        """,
        (worker_id, host, pid, version, agents, concurrency),
    )


async def heartbeat(conn: Any, worker_id: str, *, running: int) -> None:
    await conn.execute(
        "UPDATE workers SET last_heartbeat = now(), running = %s WHERE id = %s",
        (running, worker_id),
    )


async def set_status(conn: Any, worker_id: str, status: str) -> None:
    await conn.execute(
        "UPDATE workers SET status = %s, last_heartbeat = now(), "
        "running = CASE WHEN %s = 'stopped' THEN 0 ELSE running END WHERE id = %s",
        (status, status, worker_id),
    )


async def list_all(conn: Any) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT id, host, pid, version, agents, concurrency, running, status, started_at, "
        "last_heartbeat, extract(epoch FROM now() - last_heartbeat) AS silent_s "
        "FROM workers ORDER BY status, started_at DESC"
    )
    return list(await cur.fetchall())
