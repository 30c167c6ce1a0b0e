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
from automechanica.redaction import redact_url
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
            url=redact_url(target.dsn),
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
    """Run ``services`` until SIGINT/SIGTERM or until one of them fails; then stop them all.

    A service that returns normally (a one-shot like the demo) leaves the others running.
    """
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await rt.db.open()
    try:
        tasks = [asyncio.create_task(svc(rt, stop)) for svc in services]
        on_ready()
        stopper = asyncio.create_task(stop.wait())
        waiting = {*tasks, stopper}
        while not stop.is_set():
            done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if any(t.cancelled() or t.exception() is not None for t in done if t is not stopper):
                break
            if not waiting - {stopper}:
                break
        stop.set()
        stopper.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result
    finally:
        await rt.db.close()


async def engine_service(rt: Runtime, stop: asyncio.Event, config: Any = None) -> None:
    """The worker plus the maintenance services (rescuer, pruner), until ``stop``."""
    from automechanica.llm import LLMRouter, install_health_check
    from automechanica.queue.maintenance.pruner import Pruner, PrunerConfig
    from automechanica.queue.maintenance.rescuer import LeaseRescuer
    from automechanica.queue.worker import Worker, WorkerConfig
    from automechanica.wiring import default_agents, default_orchestrator

    settings = rt.settings
    router = LLMRouter.from_settings(settings)
    install_health_check(router)
    orchestrator = default_orchestrator()
    worker = Worker(
        rt.db,
        default_agents(),
        config or WorkerConfig.from_settings(settings),
        llm=router,
        hooks=orchestrator,
    )
    maintenance = [
        LeaseRescuer(rt.db, hooks=orchestrator),
        Pruner(rt.db, PrunerConfig(retention_days=settings.task_retention_days)),
    ]
    for svc in maintenance:
        svc.start()
    try:
        await worker.run(stop)
    finally:
        for svc in maintenance:
            await svc.stop()
        await router.aclose()


DEMO_INPUT = {
    "vehicle": "2014 Honda Civic",
    "complaint": "Brakes squeal when stopping and the engine idle is rough.",
    "mileage": 98000,
}


async def demo_service(rt: Runtime, stop: asyncio.Event) -> None:
    """Start one example workflow so a fresh `up` shows tasks flowing end to end."""
    from automechanica.wiring import default_orchestrator
    from automechanica.workflows.service import start_workflow

    try:
        wf = await start_workflow(
            rt.db, default_orchestrator(), "vehicle_diagnosis", DEMO_INPUT, actor="demo"
        )
    except Exception as exc:
        log.warning("demo_not_started", error=str(exc))
        return
    log.info(
        "demo_workflow_started",
        workflow_id=str(wf["id"]),
        follow=f"automechanica workflows show {wf['id']}",
    )
