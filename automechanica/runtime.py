"""What a running process holds: settings, the database target, the pool, the start time."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from automechanica import __version__
from automechanica.db.errorlog import ErrorLog, error_log_for
from automechanica.db.pool import Database
from automechanica.db.target import DatabaseTarget
from automechanica.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    target: DatabaseTarget
    db: Database
    error_log: ErrorLog
    version: str = __version__
    started_at: float = field(default_factory=time.time)
    started_monotonic: float = field(default_factory=time.monotonic)
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def uptime_s(self) -> float:
        return round(time.monotonic() - self.started_monotonic, 1)

    @classmethod
    def build(cls, settings: Settings, target: DatabaseTarget) -> Runtime:
        error_log = error_log_for(settings.automechanica_data_dir)
        db = Database.from_settings(target.dsn, settings, error_log=error_log)
        return cls(settings=settings, target=target, db=db, error_log=error_log)
