"""Builds the FastAPI application: wiring only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from automechanica import __version__
from automechanica.api.deps import bind_route
from automechanica.api.errors import install_error_handlers
from automechanica.api.middleware import RequestLogMiddleware
from automechanica.api.routes import health, metrics, workflows
from automechanica.runtime import Runtime
from automechanica.wiring import default_orchestrator
from automechanica.workflows.orchestrator import Orchestrator


def create_app(
    rt: Runtime, *, manage_pool: bool = True, orchestrator: Orchestrator | None = None
) -> FastAPI:
    """The app over ``rt``; with ``manage_pool`` the app opens and closes the pool itself."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if manage_pool:
            await rt.db.open()
        try:
            yield
        finally:
            if manage_pool:
                await rt.db.close()

    app = FastAPI(
        title="automechanica",
        version=__version__,
        lifespan=lifespan,
        dependencies=[Depends(bind_route)],
    )
    app.state.runtime = rt
    app.state.orchestrator = orchestrator or default_orchestrator()
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(workflows.router)
    app.add_middleware(RequestLogMiddleware)
    return app
