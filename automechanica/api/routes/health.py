"""``/api/health`` (+ ``/live`` and ``/ready``) for people, load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from automechanica.api.deps import RuntimeDep
from automechanica.ops.health import check_health, check_ready

router = APIRouter(prefix="/api/health", tags=["health"])


@router.get("")
async def health(rt: RuntimeDep) -> JSONResponse:
    """Overall health: 200 for ok/degraded, 503 for down."""
    report = await check_health(rt)
    return JSONResponse(report, status_code=503 if report["status"] == "down" else 200)


@router.get("/live")
async def live(rt: RuntimeDep) -> dict[str, object]:
    """The process is up; touches nothing else."""
    return {"status": "ok", "uptime_s": rt.uptime_s}


@router.get("/ready")
async def ready(rt: RuntimeDep) -> JSONResponse:
    """Database reachable and schema at head: 200, otherwise 503."""
    report = await check_ready(rt)
    return JSONResponse(report, status_code=200 if report["ready"] else 503)
