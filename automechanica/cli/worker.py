"""``automechanica worker``: run tasks (plus the lease rescuer and pruner)."""

from __future__ import annotations

import asyncio
import functools

import typer

from automechanica.cli.context import database, settings_and_logging
from automechanica.errors import InvalidInput
from automechanica.runtime import Runtime
from automechanica.startup import engine_service, prepare_schema, run_services


def worker(
    concurrency: int = typer.Option(
        None,
        "--concurrency",
        "-c",
        min=1,
        max=10000,
        help="Tasks run at once by this process (default: MAX_CONCURRENT_TASKS).",
    ),
    agents: str = typer.Option(
        None, "--agents", help="Only run these agents (comma-separated names)."
    ),
    migrate: bool = typer.Option(False, "--migrate", help="Migrate an out-of-date schema first."),
) -> None:
    """Claim and run tasks until SIGTERM/SIGINT, then drain and exit 0."""
    from automechanica.queue.worker import WorkerConfig
    from automechanica.wiring import default_agents

    settings = settings_and_logging(service=True)
    only = [a.strip() for a in agents.split(",") if a.strip()] if agents else None
    if only:
        known = default_agents().names()
        unknown = [a for a in only if a not in known]
        if unknown:
            raise InvalidInput(
                f"unknown agent(s) in --agents: {', '.join(unknown)}; known: {', '.join(known)}"
            )
    target = database(settings)
    prepare_schema(settings, target, migrate_flag=migrate, command="worker")
    rt = Runtime.build(settings, target)
    config = WorkerConfig.from_settings(settings, concurrency=concurrency, agents=only)
    service = functools.partial(engine_service, config=config)
    asyncio.run(run_services(rt, [service], lambda: None))
