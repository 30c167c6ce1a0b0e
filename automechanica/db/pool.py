"""The one connection pool, and the timing of every query that goes through it.

Every statement executed on a pooled connection is timed. A statement at or over
``SLOW_QUERY_THRESHOLD_MS`` logs one ``slow_query`` warning with the normalised statement
(literals stripped), its duration and what it served (``served_by``: a route or a task), counts
in ``automechanica_db_slow_queries_total`` and lands in the local error log. Failed statements
are timed and counted too.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import psycopg
from prometheus_client import Counter
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from automechanica.db.diagnose import classify
from automechanica.db.errorlog import ErrorLog
from automechanica.logs import get_logger
from automechanica.redaction import redact_url

log = get_logger("automechanica.db")

served_by: ContextVar[object | None] = ContextVar("served_by", default=None)
"""What the current query serves: ``GET /api/health`` or ``task:<id>``; set by the faces.

Any object whose ``str()`` names it: the worker sets a cheap lazy one per task, since only a
slow query ever turns it into text.
"""

SLOW_QUERIES = Counter(
    "automechanica_db_slow_queries_total", "Statements at or over SLOW_QUERY_THRESHOLD_MS"
)
QUERY_ERRORS = Counter("automechanica_db_query_errors_total", "Statements that raised")
CONNECT_ERRORS = Counter(
    "automechanica_db_connect_errors_total", "Failed attempts to open a connection"
)

_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w$])-?\d+(?:\.\d+)?\b")
_SPACE = re.compile(r"\s+")


def normalise(statement: str) -> str:
    """The statement with literals replaced by ``?`` and white space folded."""
    text = _STRING.sub("?", statement)
    text = _NUMBER.sub("?", text)
    return _SPACE.sub(" ", text).strip()[:1000]


def _text(value: object | None) -> str | None:
    return None if value is None else str(value)


def _statement_text(query: Any) -> str:
    if isinstance(query, bytes):
        return query.decode("utf-8", errors="replace")
    if isinstance(query, sql.Composable):
        try:
            return query.as_string(None)
        except Exception:
            return repr(query)
    return str(query)


class QueryObserver:
    """Receives the timing of every statement; one per pool."""

    def __init__(self, threshold_ms: int, error_log: ErrorLog | None) -> None:
        self.threshold_ms = threshold_ms
        self.error_log = error_log
        self.slow_count = 0
        self.error_count = 0
        self.last_connect_error: BaseException | None = None
        self.last_connect_error_at = 0.0

    def observe(self, query: Any, duration_ms: float, error: BaseException | None) -> None:
        if error is not None:
            self.error_count += 1
            QUERY_ERRORS.inc()
        if duration_ms < self.threshold_ms:
            return
        self.slow_count += 1
        SLOW_QUERIES.inc()
        statement = normalise(_statement_text(query))
        fields = {
            "statement": statement,
            "duration_ms": round(duration_ms, 1),
            "threshold_ms": self.threshold_ms,
            "served_by": _text(served_by.get()),
            "failed": error is not None,
        }
        log.warning("slow_query", **fields)
        if self.error_log:
            self.error_log.record("slow_query", **fields)

    def connect_failed(self, exc: BaseException, dsn: str) -> None:
        CONNECT_ERRORS.inc()
        self.last_connect_error = exc
        self.last_connect_error_at = time.monotonic()
        failure = classify(exc).failure
        error = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        log.warning("db_connect_failed", error_class=failure, error=error, url=redact_url(dsn))
        if self.error_log:
            self.error_log.record(
                "connect_failed", failure=failure, error=error, url=redact_url(dsn)
            )

    def connected(self) -> None:
        self.last_connect_error = None


class TimedCursor(psycopg.AsyncCursor[Any]):
    async def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        start = time.perf_counter()
        error: BaseException | None = None
        try:
            return await super().execute(query, params, **kwargs)
        except BaseException as exc:
            error = exc
            raise
        finally:
            observer = getattr(self.connection, "observer", None)
            if observer is not None:
                observer.observe(query, (time.perf_counter() - start) * 1000, error)

    async def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> None:
        start = time.perf_counter()
        error: BaseException | None = None
        try:
            await super().executemany(query, params_seq, **kwargs)
        except BaseException as exc:
            error = exc
            raise
        finally:
            observer = getattr(self.connection, "observer", None)
            if observer is not None:
                observer.observe(query, (time.perf_counter() - start) * 1000, error)


def connect_kwargs(connect_timeout_ms: int, statement_timeout_ms: int) -> dict[str, Any]:
    # libpq's connect_timeout is whole seconds and treats anything under 2 as 2.
    return {
        "connect_timeout": max(2, round(connect_timeout_ms / 1000)),
        "options": f"-c statement_timeout={statement_timeout_ms}",
        "application_name": "automechanica",
    }


@dataclass(frozen=True)
class PingResult:
    ok: bool
    latency_ms: float | None
    failure: str | None = None
    error: str | None = None
    extra: Any = None


class Database:
    """The process's pool plus what it observes; the only place that opens connections."""

    def __init__(
        self,
        dsn: str,
        *,
        min_size: int = 2,
        max_size: int = 10,
        pool_timeout_ms: int = 5000,
        connect_timeout_ms: int = 5000,
        statement_timeout_ms: int = 30000,
        slow_query_threshold_ms: int = 300,
        error_log: ErrorLog | None = None,
        name: str = "automechanica",
    ) -> None:
        self.dsn = dsn
        self.observer = QueryObserver(slow_query_threshold_ms, error_log)
        self.connect_kwargs = connect_kwargs(connect_timeout_ms, statement_timeout_ms)
        observer = self.observer

        class _Connection(psycopg.AsyncConnection[Any]):
            @classmethod
            async def connect(cls, *args: Any, **kwargs: Any) -> Any:
                try:
                    conn = await super().connect(*args, **kwargs)
                except Exception as exc:
                    observer.connect_failed(exc, dsn)
                    raise
                observer.connected()
                conn.cursor_factory = TimedCursor
                conn.observer = observer  # type: ignore[attr-defined]
                return conn

        self.pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            timeout=pool_timeout_ms / 1000,
            kwargs=self.connect_kwargs,
            connection_class=_Connection,
            check=AsyncConnectionPool.check_connection,
            open=False,
            name=name,
            reconnect_timeout=60,
        )

    @classmethod
    def from_settings(cls, dsn: str, settings: Any, error_log: ErrorLog | None = None) -> Database:
        return cls(
            dsn,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            pool_timeout_ms=settings.db_pool_timeout_ms,
            connect_timeout_ms=settings.db_connect_timeout_ms,
            statement_timeout_ms=settings.db_statement_timeout_ms,
            slow_query_threshold_ms=settings.slow_query_threshold_ms,
            error_log=error_log,
        )

    async def open(self) -> None:
        """Open without waiting: the service starts even when the database is down."""
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def connection(self, timeout: float | None = None) -> AsyncIterator[Any]:
        async with self.pool.connection(timeout=timeout) as conn:
            yield conn

    @asynccontextmanager
    async def transaction(self, timeout: float | None = None) -> AsyncIterator[Any]:
        async with self.pool.connection(timeout=timeout) as conn, conn.transaction():
            yield conn

    async def connect_direct(self, **overrides: Any) -> Any:
        """A connection outside the pool (LISTEN, long-lived worker loops), timed the same way."""
        conn = await psycopg.AsyncConnection.connect(
            self.dsn, **{**self.connect_kwargs, "autocommit": True, **overrides}
        )
        conn.cursor_factory = TimedCursor
        conn.observer = self.observer  # type: ignore[attr-defined]
        return conn

    def stats(self) -> dict[str, Any]:
        s = self.pool.get_stats()
        size = s.get("pool_size", 0)
        idle = s.get("pool_available", 0)
        return {
            "size": size,
            "min": s.get("pool_min", 0),
            "max": s.get("pool_max", 0),
            "idle": idle,
            "in_use": max(0, size - idle),
            "requests_waiting": s.get("requests_waiting", 0),
            "requests_total": s.get("requests_num", 0),
            "wait_ms_total": s.get("requests_wait_ms", 0),
            "connection_errors": s.get("connections_errors", 0),
            "connections_lost": s.get("connections_lost", 0),
            "slow_queries": self.observer.slow_count,
            "query_errors": self.observer.error_count,
        }

    async def ping(
        self,
        budget_s: float = 1.5,
        then: Callable[[Any], Awaitable[Any]] | None = None,
    ) -> PingResult:
        """``SELECT 1`` through the pool, never taking longer than ``budget_s``.

        ``then`` runs on the same connection after the ping (health reads the schema revision
        there) and its value is returned as ``PingResult.extra``.
        """
        start = time.perf_counter()
        try:
            async with asyncio.timeout(budget_s):
                async with self.pool.connection(timeout=budget_s) as conn:
                    q = time.perf_counter()
                    await conn.execute("SELECT 1")
                    latency = (time.perf_counter() - q) * 1000
                    extra = await then(conn) if then else None
            return PingResult(ok=True, latency_ms=round(latency, 2), extra=extra)
        except (Exception, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError) and not isinstance(exc, TimeoutError):
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
            cause: BaseException = exc
            recent = time.monotonic() - self.observer.last_connect_error_at < 120
            if isinstance(exc, PoolTimeout | TimeoutError) and recent:
                cause = self.observer.last_connect_error or exc
            failure = classify(cause)
            text = (
                str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
            )
            return PingResult(
                ok=False,
                latency_ms=round((time.perf_counter() - start) * 1000, 2),
                failure=failure.failure,
                error=text,
            )


class DedicatedConnection:
    """One long-lived connection outside the pool, reopened after a connection error.

    For hot loops (a worker's claims, its batched writes): no pool checkout, and no liveness
    check, per statement.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._conn: Any = None

    async def get(self) -> Any:
        if self._conn is None or self._conn.closed:
            self._conn = await self._db.connect_direct()
        return self._conn

    async def drop(self) -> None:
        """Forget the connection (after an error); the next ``get`` opens a new one."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def close(self) -> None:
        await self.drop()
