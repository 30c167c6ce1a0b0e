from __future__ import annotations

import pytest

from automechanica.db.pool import normalise


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("SELECT pg_sleep(0.05)", "SELECT pg_sleep(?)"),
        (
            "SELECT * FROM t WHERE id = 42 AND name = 'bob'",
            "SELECT * FROM t WHERE id = ? AND name = ?",
        ),
        ("SELECT 'it''s' , -7", "SELECT ? , ?"),
        ("UPDATE t SET x = 1.5 WHERE y = %s", "UPDATE t SET x = ? WHERE y = %s"),
        ("SELECT\n  a,\n\tb\nFROM   t", "SELECT a, b FROM t"),
    ],
)
def test_normalise_replaces_literals_and_folds_white_space(statement: str, expected: str) -> None:
    assert normalise(statement) == expected


def test_normalise_keeps_digits_that_are_part_of_names() -> None:
    assert normalise("SELECT col1, $1 FROM t2") == "SELECT col1, $1 FROM t2"


def test_normalise_hides_secrets_written_as_literals() -> None:
    assert "hunter22" not in normalise("ALTER ROLE app PASSWORD 'hunter22'")


def test_normalise_caps_the_length() -> None:
    assert len(normalise("SELECT " + "x, " * 2000)) == 1000
