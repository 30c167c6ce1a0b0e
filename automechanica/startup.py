"""Starting a long-running process: schema gate, then the services it runs side by side."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import uvicorn

from automechanica.api.app import create_app
from automechanica.db import migrate
from automechanica.db.diagnose import classify
from automechanica.db.pool import connect_kwargs
from automechanica.db.target import DatabaseTarget
from automechanica.errors import SchemaOutOfDate
from automechanica.logs import get_logger
from automechanica.runtime import Runtime
from automechanica.settings import Settings

log = get_logger("automechanica.startup")


def prepare_schema(
    settings: Settings, target: DatabaseTarget, *, migrate_flag: bool, command: str
) -> None:
    """Migrate the embedded database; refuse an out-of-date external one unless told to migrate.

    An unreachable database does not stop the process: it starts, reports ``down`` and recovers
    when the database comes back.
    """
    kwargs = connect_kwargs(settings.db_connect_timeout_ms, 0)
    try:
        status = migrate.status(target.dsn, kwargs)
    except Exception as exc:
        log.warning(
            "database_unreachable_at_start",
            error_class=classify(exc).failure,
            error=str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc),
        )
        return
    if status.at_head:
        return
    if target.is_embedded or migrate_flag or settings.migrate_on_start:
        after = migrate.migrate_to(target.dsn, "head", kwargs)
        log.info("schema_migrated", before=status.current, after=after.current)
        return
    raise SchemaOutOfDate(
        f"the database schema is at {status.current or 'base'} but this version expects "
        f"{status.head} ({len(status.pending)} migration(s) pending); run "
        f"`automechanica db migrate` first, or start with `automechanica {command} --migrate` "
        "(or MIGRATE_ON_START=1)"
    )


Service = Callable[[Runtime, asyncio.Event], Coroutine[Any, Any, Any]]


async def http_service(rt: Runtime, stop: asyncio.Event, host: str, port: int) -> None:
    app = create_app(rt, manage_pool=False)
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    # run_services owns SIGINT/SIGTERM for every service; uvicorn must not take them over.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]

    async def _stopper() -> None:
        await stop.wait()
        server.should_exit = True

    stopper = asyncio.create_task(_stopper())
    try:
        await server.serve()
    finally:
        stopper.cancel()
        stop.set()


async def run_services(
    rt: Runtime, services: Sequence[Service], on_ready: Callable[[], None]
) -> None:
    """Run ``services`` until SIGINT/SIGTERM or until one of them ends; then stop them all."""
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await rt.db.open()
    try:
        tasks = [asyncio.create_task(svc(rt, stop)) for svc in services]
        on_ready()
        await asyncio.wait(
            [*tasks, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED
        )
        stop.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result
    finally:
        await rt.db.close()
