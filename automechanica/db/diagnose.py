"""Turning a connection failure into *which* failure it is and what to do about it."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg_pool import PoolTimeout

from automechanica.errors import DatabaseUnavailable
from automechanica.redaction import redact_text


@dataclass(frozen=True)
class Failure:
    failure: str
    summary: str
    fix: str


_FAILURES = {
    "host_unresolvable": Failure(
        "host_unresolvable",
        "the database host name does not resolve",
        "check the host in DATABASE_URL and the machine's DNS",
    ),
    "connection_refused": Failure(
        "connection_refused",
        "nothing is listening at the database address (connection refused)",
        "start the database (`automechanica db start` for the embedded one) or fix the "
        "host/port in DATABASE_URL",
    ),
    "timeout": Failure(
        "timeout",
        "the database did not answer in time",
        "check network reachability and firewalls; raise DB_CONNECT_TIMEOUT_MS only if the "
        "network is known to be slow",
    ),
    "auth_failed": Failure(
        "auth_failed",
        "the database rejected the user name or password",
        "check the user and password in DATABASE_URL",
    ),
    "database_missing": Failure(
        "database_missing",
        "the database named in DATABASE_URL does not exist",
        "create it (createdb NAME) or fix the database name in DATABASE_URL",
    ),
    "tls": Failure(
        "tls",
        "TLS was required or failed",
        "match sslmode in DATABASE_URL to the server (sslmode=require needs a server with TLS; "
        "use sslmode=disable or prefer for a server without it)",
    ),
    "too_many_connections": Failure(
        "too_many_connections",
        "the database has no free connection slots",
        "lower DB_POOL_MAX, stop idle clients or raise max_connections on the server",
    ),
    "shutting_down": Failure(
        "shutting_down",
        "the database is starting up or shutting down",
        "wait for it to finish starting, or start it again",
    ),
    "unknown": Failure(
        "unknown",
        "the database connection failed",
        "read the error below; `automechanica db logs` shows the server's side",
    ),
}


def classify(exc: BaseException) -> Failure:
    """Map a connection or query error to one failure class."""
    # PoolTimeout: no connection became available within the wait (health's ping races it
    # against its own deadline, so both must read as the same class).
    if isinstance(exc, TimeoutError | PoolTimeout):
        return _FAILURES["timeout"]
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate in ("28P01", "28000"):
        return _FAILURES["auth_failed"]
    if sqlstate == "3D000":
        return _FAILURES["database_missing"]
    if sqlstate == "53300":
        return _FAILURES["too_many_connections"]
    if sqlstate in ("57P01", "57P02", "57P03"):
        return _FAILURES["shutting_down"]
    text = str(exc).lower()
    rules = [
        (
            (
                "could not translate host name",
                "name or service not known",
                "nodename nor servname",
                "temporary failure in name resolution",
            ),
            "host_unresolvable",
        ),
        (
            ("password authentication failed", "no password supplied", "authentication failed"),
            "auth_failed",
        ),
        (("does not exist",), "database_missing"),
        (("ssl", "tls", "certificate"), "tls"),
        (("connection refused", "no such file or directory"), "connection_refused"),
        (("timeout expired", "timed out", "timeout"), "timeout"),
        (("too many clients", "remaining connection slots"), "too_many_connections"),
        (
            ("the database system is", "terminating connection due to administrator"),
            "shutting_down",
        ),
        (
            ("server closed the connection", "connection is lost", "consuming input failed"),
            "connection_refused",
        ),
    ]
    for needles, key in rules:
        if any(n in text for n in needles):
            return _FAILURES[key]
    return _FAILURES["unknown"]


def unavailable(exc: BaseException) -> DatabaseUnavailable:
    """A ``DatabaseUnavailable`` describing ``exc`` with its class, summary and fix."""
    f = classify(exc)
    detail = (
        redact_text(str(exc).strip().splitlines()[0]) if str(exc).strip() else type(exc).__name__
    )
    return DatabaseUnavailable(f"{f.summary}: {detail}", failure=f.failure, fix=f.fix)


def is_connection_error(exc: BaseException) -> bool:
    return isinstance(exc, psycopg.OperationalError | TimeoutError | OSError)
