from __future__ import annotations

from pathlib import Path

import pytest

from automechanica.errors import ConfigError
from automechanica.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # No developer .env (read from the working directory) and no stray settings variables.
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("AUTOMECHANICA_DATA_DIR", str(tmp_path / "data"))


def _problems(monkeypatch: pytest.MonkeyPatch, **env: str) -> list[str]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    return caught.value.problems


@pytest.mark.parametrize(
    ("env", "variable", "expected"),
    [
        ({"PORT": "abc"}, "PORT", "a TCP port, 1-65535"),
        ({"PORT": "70000"}, "PORT", "a TCP port, 1-65535"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT", "json or console"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL", "one of debug, info, warning, error"),
        ({"DB_POOL_MIN": "5", "DB_POOL_MAX": "2"}, "DB_POOL_MAX", "must be >= DB_POOL_MIN (5)"),
        ({"DB_CONNECT_TIMEOUT_MS": "10"}, "DB_CONNECT_TIMEOUT_MS", ">= 1000"),
        (
            {"DATABASE_URL": "mysql://root@db/app"},
            "DATABASE_URL",
            "must start with postgresql:// or postgres://",
        ),
    ],
)
def test_each_invalid_variable_gives_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], variable: str, expected: str
) -> None:
    problems = _problems(monkeypatch, **env)
    assert len(problems) == 1
    assert problems[0].startswith(f"{variable}=")
    assert expected in problems[0]


def test_several_problems_are_all_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    problems = _problems(monkeypatch, PORT="abc", LOG_FORMAT="xml", DB_POOL_MIN="-1")
    assert sorted(p.split("=", 1)[0] for p in problems) == ["DB_POOL_MIN", "LOG_FORMAT", "PORT"]


def test_an_invalid_database_url_is_reported_without_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    problems = _problems(monkeypatch, DATABASE_URL="mysql://root:hunter22@db/app")
    assert "hunter22" not in "\n".join(problems)
    assert "mysql://root:***@db/app" in problems[0]


def test_the_error_message_has_one_indented_line_per_problem(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PORT", "abc")
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    lines = caught.value.message.splitlines()
    assert lines[0] == "invalid settings:"
    assert len(lines) == 3 and all(line.startswith("  ") for line in lines[1:])
    assert caught.value.exit_code == 2


def test_defaults_are_valid_and_use_the_embedded_server() -> None:
    settings = load_settings()
    assert settings.database_url is None
    assert settings.port == 3001
    assert settings.db_pool_min <= settings.db_pool_max


def test_an_empty_database_url_means_the_embedded_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "")
    assert load_settings().database_url is None


def test_redacted_settings_mask_every_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:hunter22@db:5432/app")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789")
    shown = load_settings().redacted()
    assert shown["DATABASE_URL"] == "postgresql://app:***@db:5432/app"
    assert shown["OPENAI_API_KEY"] == "***"
    assert "hunter22" not in str(shown) and "sk-test-0123456789" not in str(shown)
