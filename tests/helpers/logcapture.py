"""This process's JSON log lines, captured for one test (see ``fixtures.log_capture``)."""

from __future__ import annotations

import io
import json
from typing import Any


class LogCapture:
    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def records(self, event: str | None = None) -> list[dict[str, Any]]:
        """Every line parsed as JSON (a line that is not JSON fails the test)."""
        out = [json.loads(line) for line in self.text.splitlines() if line.strip()]
        return [r for r in out if event is None or r.get("event") == event]
