"""Typed dependencies shared by the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from automechanica.db.pool import served_by
from automechanica.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


async def bind_route(request: Request) -> None:
    """Name the route template as what this request's queries serve (slow-query logs).

    Async on purpose: FastAPI runs sync dependencies in a worker thread, where setting a
    context variable would not reach the route handler.
    """
    route = request.scope.get("route")
    if route is not None:
        served_by.set(f"{request.method} {route.path}")


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
