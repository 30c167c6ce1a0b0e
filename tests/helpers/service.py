"""The HTTP app in-process over a real database, driven with httpx (no server, no lifespan)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from automechanica.api.app import create_app
from automechanica.db.target import DatabaseTarget
from automechanica.runtime import Runtime
from automechanica.settings import load_settings


@dataclass(frozen=True)
class Service:
    rt: Runtime
    app: FastAPI
    client: httpx.AsyncClient


@asynccontextmanager
async def serving(dsn: str, data_dir: Path, **settings: Any) -> AsyncIterator[Service]:
    """Runtime + app on ``dsn``; the pool is opened here because ASGITransport skips lifespan."""
    config = load_settings(
        database_url=dsn, automechanica_data_dir=data_dir, db_pool_min=1, **settings
    )
    rt = Runtime.build(config, DatabaseTarget(dsn=dsn, embedded=None))
    app = create_app(rt)
    await rt.db.open()
    try:
        transport = httpx.ASGITransport(app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Service(rt, app, client)
    finally:
        await rt.db.close()
