"""The one shape every maintenance service has.

A config with defaults, ``start()`` / ``stop()`` safe to call twice, and ``run_once()`` that
does one pass and returns counts (which the loop logs). Services that must run once per cluster
take a transaction-scoped advisory lock inside ``run_once`` and report ``skipped`` without it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import psycopg

from automechanica.logs import get_logger

log = get_logger("automechanica.maintenance")


class Service:
    name = "service"
    interval_s: float = 30.0

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def run_once(self) -> dict[str, int]:
        raise NotImplementedError

    def start(self) -> None:
        if self._task is not None and not self._task.done():
            return
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        self._stop.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                counts = await self.run_once()
                if any(v for k, v in counts.items() if k != "skipped"):
                    log.info(f"{self.name}_ran", **counts)
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError, TimeoutError) as exc:
                log.warning(
                    f"{self.name}_failed",
                    error=str(exc).strip().splitlines()[0]
                    if str(exc).strip()
                    else type(exc).__name__,
                )
            except Exception as exc:
                log.error(f"{self.name}_crashed", error_type=type(exc).__name__, error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.interval_s)


async def try_cluster_lock(conn: Any, name: str) -> bool:
    """Take this service's cluster-wide lock for the current transaction, if free."""
    cur = await conn.execute(
        "SELECT pg_try_advisory_xact_lock(hashtext('automechanica.service'), hashtext(%s))",
        (name,),
    )
    row = await cur.fetchone()
    return bool(row and row[0])
