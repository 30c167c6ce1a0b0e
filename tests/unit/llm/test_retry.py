from __future__ import annotations

import httpx
import pytest

from automechanica.llm import RetryPolicy
from automechanica.llm.retry import (
    classify_status,
    classify_transport,
    error_class_of,
    parse_retry_after,
    provider_error,
)


@pytest.mark.parametrize(
    ("status", "error_class", "retryable"),
    [
        (429, "rate_limited", True),
        (408, "timeout", True),
        (500, "server_error", True),
        (502, "server_error", True),
        (503, "server_error", True),
        (529, "server_error", True),
        (400, "bad_request", False),
        (401, "auth", False),
        (403, "auth", False),
        (404, "not_found", False),
        (422, "bad_request", False),
    ],
)
def test_http_status_classification(status, error_class, retryable):
    exc = provider_error(classify_status(status), "x", status=status)

    assert error_class_of(exc) == error_class
    assert exc.retryable is retryable


@pytest.mark.parametrize(
    ("exc", "error_class"),
    [
        (httpx.ReadTimeout("slow"), "timeout"),
        (httpx.ConnectTimeout("slow"), "timeout"),
        (httpx.ConnectError("refused"), "connection"),
        (httpx.RemoteProtocolError("reset"), "connection"),
    ],
)
def test_transport_errors_are_retryable(exc, error_class):
    error = provider_error(classify_transport(exc), "x")

    assert error_class_of(error) == error_class
    assert error.retryable is True


@pytest.mark.parametrize("error_class", ["bad_response", "unexpected"])
def test_protocol_and_code_errors_are_not_retryable(error_class):
    assert provider_error(error_class, "x").retryable is False


def test_backoff_doubles_and_is_capped():
    policy = RetryPolicy(max_retries=6, backoff_base_s=0.5, backoff_max_s=3.0)

    assert [policy.backoff_s(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.max_attempts == 7


def test_retry_after_lengthens_but_never_passes_the_cap():
    policy = RetryPolicy(backoff_base_s=0.25, backoff_max_s=5.0)

    assert policy.backoff_s(1, retry_after_s=2) == 2
    assert policy.backoff_s(1, retry_after_s=120) == 5.0
    assert policy.backoff_s(2, retry_after_s=0.1) == 0.5


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        (" 1.5 ", 1.5),
        ("-2", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),
        (None, None),
    ],
)
def test_retry_after_header_parsing(header, seconds):
    assert parse_retry_after(header) == seconds
