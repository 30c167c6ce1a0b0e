"""``/api/workflows``: start a workflow, read one back with its tasks and agent events."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from automechanica.api.deps import RuntimeDep
from automechanica.workflows.service import describe_workflow, parse_id, start_workflow

router = APIRouter(prefix="/api/workflows", tags=["workflows"])


class StartWorkflow(BaseModel):
    type: str = Field(min_length=1, max_length=200, description="a known workflow type")
    input: dict[str, Any] = Field(default_factory=dict, description="the workflow's input")


@router.post("", status_code=201)
async def start(body: StartWorkflow, request: Request, rt: RuntimeDep) -> JSONResponse:
    """Start a workflow; 422 names the problem for an unknown type or invalid input."""
    orchestrator = request.app.state.orchestrator
    wf = await start_workflow(rt.db, orchestrator, body.type, body.input, actor="api")
    return JSONResponse(jsonable_encoder(wf), status_code=201)


@router.get("/{workflow_id}")
async def show(workflow_id: str, rt: RuntimeDep) -> JSONResponse:
    """The workflow with its tasks and agent events; 404 when there is none."""
    wf = await describe_workflow(rt.db, parse_id(workflow_id))
    return JSONResponse(jsonable_encoder(wf))
