"""What every command needs first: validated settings, logging, the database target."""

from __future__ import annotations

from automechanica.db.target import DatabaseTarget, resolve_target
from automechanica.logs import configure_logging
from automechanica.settings import Settings, load_settings


def settings_and_logging() -> Settings:
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    return settings


def database(settings: Settings, *, start_embedded: bool = True) -> DatabaseTarget:
    return resolve_target(settings, start_embedded=start_embedded)
