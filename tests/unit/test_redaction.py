from __future__ import annotations

import pytest

from automechanica.redaction import MASK, redact_text, redact_url, register_secret


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://app:hunter22@db:5432/app", "postgresql://app:***@db:5432/app"),
        ("postgres://app:hunter22@db/app", "postgres://app:***@db/app"),
        ("postgresql://:hunter22@db/app", "postgresql://:***@db/app"),
        ("postgresql://app:p@ss@db:5432/app", "postgresql://app:***@db:5432/app"),
        ("postgresql://app:hunter22@[::1]:5432/app", "postgresql://app:***@[::1]:5432/app"),
        (
            "postgresql://app:hunter22@db/app?sslmode=require",
            "postgresql://app:***@db/app?sslmode=require",
        ),
    ],
)
def test_redact_url_masks_the_password_and_keeps_the_rest(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app@db:5432/app",
        "postgresql://db/app",
        "postgresql://postgres@/app?host=%2Ftmp%2Fsock&port=5432",
    ],
)
def test_redact_url_leaves_a_url_without_password_unchanged(url: str) -> None:
    assert redact_url(url) == url


def test_redact_url_masks_a_password_given_as_a_query_parameter() -> None:
    redacted = redact_url("postgresql://app@db/app?password=hunter22&sslmode=disable")
    assert "hunter22" not in redacted
    assert redacted.endswith("sslmode=disable")


def test_redact_text_masks_urls_inside_free_text() -> None:
    text = "could not connect to postgresql://app:hunter22@db:5432/app (refused)"
    assert redact_text(text) == "could not connect to postgresql://app:***@db:5432/app (refused)"


def test_redact_text_masks_a_password_containing_at_signs_whole() -> None:
    out = redact_text("url=postgresql://app:p@ss@w0rd@db/app")
    assert "p@ss" not in out and "w0rd" not in out
    assert out.endswith(":***@db/app")


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("host=db password=hunter22 user=app", "hunter22"),
        ("PASSWORD = 'hunter22'", "hunter22"),
        ("api_key=sk-abc123 ok", "sk-abc123"),
        ("token=tok_789&x=1", "tok_789"),
    ],
)
def test_redact_text_masks_key_value_secrets(text: str, secret: str) -> None:
    out = redact_text(text)
    assert secret not in out
    assert MASK in out


def test_registered_secret_is_masked_anywhere_in_text() -> None:
    register_secret("registered-Secret-9f3a")
    out = redact_text('{"error": "bad key registered-Secret-9f3a for provider"}')
    assert out == '{"error": "bad key *** for provider"}'


def test_short_values_are_not_registered_as_secrets() -> None:
    # Masking every "abc" in every log line would destroy the logs for no safety gain.
    register_secret("abc")
    assert redact_text("abc abc") == "abc abc"


def test_redact_text_leaves_plain_text_alone() -> None:
    text = "GET /api/health 200 in 1.2 ms"
    assert redact_text(text) == text
    assert redact_text("") == ""
