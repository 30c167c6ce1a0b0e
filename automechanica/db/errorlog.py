"""A small, bounded, local record of recent database errors (connection failures, slow queries).

It lives in a file under the data directory, not in the database, because it must keep what
happened while the database was unreachable. ``automechanica db logs`` reads it for an external
database. Several processes append to it; lines are short single writes in append mode.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any

from automechanica.redaction import redact_text

MAX_BYTES = 512 * 1024
KEEP_LINES = 1000


class ErrorLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._writes = 0

    def record(self, kind: str, **fields: Any) -> None:
        entry = {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "kind": kind, **fields}
        line = redact_text(json.dumps(entry, default=str)) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line)
            self._writes += 1
            if self._writes % 50 == 0:
                self._trim()
        except OSError:
            pass  # a full or read-only disk must not take the service down with it

    def tail(self, n: int) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()[-n:]
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def _trim(self) -> None:
        if self.path.stat().st_size <= MAX_BYTES:
            return
        with self.path.open("r+", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            lines = fh.readlines()[-KEEP_LINES:]
            fh.seek(0)
            fh.writelines(lines)
            fh.truncate()
            fh.flush()
            os.fsync(fh.fileno())


def error_log_for(data_dir: Path) -> ErrorLog:
    return ErrorLog(data_dir / "logs" / "db-errors.jsonl")
