"""The pruner: deletes completed tasks (and their history) older than ``TASK_RETENTION_DAYS``.

Small batches (``batch``, default 1000) so it never holds long locks; it loops until a pass
deletes less than a batch. Dead, quarantined and cancelled tasks are kept for operators.
One active per cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from automechanica.clock import Clock, SystemClock
from automechanica.db.pool import Database
from automechanica.queue import tasks
from automechanica.queue.maintenance.service import Service, try_cluster_lock


@dataclass
class PrunerConfig:
    retention_days: float = 7.0
    interval_s: float = 300.0
    batch: int = 1000
    max_batches: int = 100


class Pruner(Service):
    name = "pruner"

    def __init__(
        self, db: Database, config: PrunerConfig | None = None, *, clock: Clock | None = None
    ) -> None:
        super().__init__()
        self.db = db
        self.config = config or PrunerConfig()
        self.interval_s = self.config.interval_s
        self.clock = clock or SystemClock()

    async def run_once(self) -> dict[str, int]:
        before = self.clock.now() - timedelta(days=self.config.retention_days)
        deleted = 0
        for _ in range(self.config.max_batches):
            async with self.db.transaction() as conn:
                if not await try_cluster_lock(conn, self.name):
                    return {"skipped": 1, "deleted": deleted}
                n = await tasks.prune_completed(conn, before=before, limit=self.config.batch)
            deleted += n
            if n < self.config.batch:
                break
        return {"deleted": deleted}
