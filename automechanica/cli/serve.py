"""``automechanica serve`` and ``automechanica up``."""

from __future__ import annotations

import asyncio
import functools

import typer

from automechanica.cli.context import database, settings_and_logging
from automechanica.cli.output import err_console
from automechanica.runtime import Runtime
from automechanica.startup import (
    Service,
    demo_service,
    engine_service,
    http_service,
    prepare_schema,
    run_services,
)


def serve(
    host: str = typer.Option(None, "--host", help="Interface to bind (default: HOST)."),
    port: int = typer.Option(None, "--port", min=1, max=65535, help="Port (default: PORT)."),
    migrate: bool = typer.Option(False, "--migrate", help="Migrate an out-of-date schema first."),
) -> None:
    """Run the HTTP service."""
    settings = settings_and_logging(service=True)
    target = database(settings)
    prepare_schema(settings, target, migrate_flag=migrate, command="serve")
    rt = Runtime.build(settings, target)
    bind_host, bind_port = host or settings.host, port or settings.port
    service = functools.partial(http_service, host=bind_host, port=bind_port)
    asyncio.run(run_services(rt, [service], lambda: None))


def up(
    host: str = typer.Option(None, "--host", help="Interface to bind (default: HOST)."),
    port: int = typer.Option(None, "--port", min=1, max=65535, help="Port (default: PORT)."),
    migrate: bool = typer.Option(False, "--migrate", help="Migrate an external database too."),
    demo: bool = typer.Option(True, "--demo/--no-demo", help="Start an example workflow."),
) -> None:
    """Everything in one process: database (embedded by default), migrations, API, worker."""
    settings = settings_and_logging(service=True)
    with err_console.status("starting the database..."):
        target = database(settings)
    prepare_schema(settings, target, migrate_flag=migrate, command="up")
    rt = Runtime.build(settings, target)
    bind_host, bind_port = host or settings.host, port or settings.port
    services: list[Service] = [
        functools.partial(http_service, host=bind_host, port=bind_port),
        engine_service,
    ]
    if demo:
        services.append(demo_service)

    def ready() -> None:
        err_console.print(
            f"automechanica is up: http://{bind_host}:{bind_port}  "
            f"(health: http://{bind_host}:{bind_port}/api/health; Ctrl-C stops)",
            markup=False,
        )

    asyncio.run(run_services(rt, services, ready))
