from __future__ import annotations

import psycopg
import pytest
from psycopg import errors
from psycopg_pool import PoolTimeout

from automechanica.db.diagnose import classify, unavailable


@pytest.mark.parametrize(
    ("exc", "failure"),
    [
        (errors.InvalidPassword("password authentication failed for user app"), "auth_failed"),
        (errors.InvalidAuthorizationSpecification("role x is not permitted"), "auth_failed"),
        (errors.InvalidCatalogName('database "nope" does not exist'), "database_missing"),
        (errors.TooManyConnections("sorry, too many clients already"), "too_many_connections"),
        (errors.AdminShutdown("terminating connection"), "shutting_down"),
        (errors.CannotConnectNow("the database system is starting up"), "shutting_down"),
    ],
)
def test_classify_uses_the_sqlstate_when_there_is_one(exc: Exception, failure: str) -> None:
    assert classify(exc).failure == failure


@pytest.mark.parametrize(
    ("message", "failure"),
    [
        (
            'connection to server at "127.0.0.1", port 1 failed: Connection refused',
            "connection_refused",
        ),
        (
            'connection to server on socket "/tmp/.s.PGSQL.5432" failed: No such file or directory',
            "connection_refused",
        ),
        (
            "failed to resolve host 'db.invalid': [Errno -2] Name or service not known",
            "host_unresolvable",
        ),
        ('could not translate host name "db.invalid" to address', "host_unresolvable"),
        ("connection timeout expired", "timeout"),
        (
            'connection to server at "db", port 5432 failed: FATAL:  password authentication '
            'failed for user "app"',
            "auth_failed",
        ),
        ('FATAL:  database "nope" does not exist', "database_missing"),
        ("server does not support SSL, but SSL was required", "tls"),
        ("FATAL:  remaining connection slots are reserved", "too_many_connections"),
        ("FATAL:  the database system is shutting down", "shutting_down"),
        ("server closed the connection unexpectedly", "connection_refused"),
        ("something nobody has seen before", "unknown"),
    ],
)
def test_classify_reads_libpq_messages_without_sqlstate(message: str, failure: str) -> None:
    assert classify(psycopg.OperationalError(message)).failure == failure


@pytest.mark.parametrize("exc", [TimeoutError(), PoolTimeout("couldn't get a connection")])
def test_waiting_too_long_is_a_timeout(exc: Exception) -> None:
    assert classify(exc).failure == "timeout"


def test_every_failure_class_comes_with_a_fix() -> None:
    f = classify(psycopg.OperationalError("Connection refused"))
    assert "automechanica db start" in f.fix
    assert f.summary


def test_unavailable_carries_class_fix_and_a_redacted_first_line() -> None:
    exc = psycopg.OperationalError(
        "connection to postgresql://app:hunter22@db/app failed: Connection refused\nmore detail"
    )
    err = unavailable(exc)
    assert err.failure == "connection_refused"
    assert err.fix == classify(exc).fix
    assert "hunter22" not in err.message
    assert "more detail" not in err.message
    assert err.exit_code == 3
