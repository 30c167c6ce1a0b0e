"""What every command needs first: validated settings, logging, the database target."""

from __future__ import annotations

import sys

from automechanica.db.target import DatabaseTarget, resolve_target
from automechanica.logs import configure_logging
from automechanica.settings import Settings, load_settings


def settings_and_logging(*, service: bool = False) -> Settings:
    """Validated settings, with logging set up.

    Long-running services (``serve``, ``worker``, ``up``) log JSON lines to stdout, where log
    shippers expect them; one-shot commands log to stderr so that their stdout (``--json``)
    stays machine-readable.
    """
    settings = load_settings()
    configure_logging(
        settings.log_level, settings.log_format, stream=sys.stdout if service else sys.stderr
    )
    return settings


def database(settings: Settings, *, start_embedded: bool = True) -> DatabaseTarget:
    return resolve_target(settings, start_embedded=start_embedded)
