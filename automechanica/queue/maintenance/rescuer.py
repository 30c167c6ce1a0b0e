"""The lease rescuer: tasks whose lease expired go back to ``pending`` (or ``dead``).

A lease expires when its worker stopped heartbeating: it was killed, hung, or cut off from the
database for longer than ``TASK_LEASE_MS``. The rescue counts as a failed attempt (so a task
that kills its workers cannot loop forever) and is recorded with the previous owner.

Options: ``interval_s`` (default 5), ``batch`` (default 1000 per pass). One active per cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from automechanica.clock import Clock, SystemClock
from automechanica.db.pool import Database
from automechanica.logs import get_logger
from automechanica.queue import tasks
from automechanica.queue.maintenance.service import Service, try_cluster_lock
from automechanica.queue.tasks import FailOutcome

log = get_logger("automechanica.rescuer")


@dataclass
class RescuerConfig:
    interval_s: float = 5.0
    batch: int = 1000


class LeaseRescuer(Service):
    name = "lease_rescuer"

    def __init__(
        self,
        db: Database,
        config: RescuerConfig | None = None,
        *,
        hooks: Any = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__()
        self.db = db
        self.config = config or RescuerConfig()
        self.interval_s = self.config.interval_s
        self.hooks = hooks
        self.clock = clock or SystemClock()

    async def run_once(self) -> dict[str, int]:
        async with self.db.transaction() as conn:
            if not await try_cluster_lock(conn, self.name):
                return {"skipped": 1}
            rescued = await tasks.rescue_expired(
                conn, limit=self.config.batch, now=self.clock.db_now()
            )
            dead = [r for r in rescued if r.status == "dead"]
            if dead and self.hooks is not None:
                await self.hooks.on_failed(
                    conn,
                    [
                        FailOutcome(
                            r.id,
                            r.status,
                            r.attempts,
                            self.clock.now(),
                            r.workflow_id,
                            r.agent_name,
                        )
                        for r in dead
                    ],
                )
        for r in rescued:
            log.warning(
                "task_rescued",
                task_id=str(r.id),
                agent=r.agent_name,
                workflow_id=str(r.workflow_id) if r.workflow_id else None,
                previous_owner=r.previous_owner,
                status=r.status,
                attempt=r.attempts,
            )
        return {"rescued": len(rescued) - len(dead), "dead": len(dead)}
