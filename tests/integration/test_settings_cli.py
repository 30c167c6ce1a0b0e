"""Settings as the CLI sees them: validation messages (exit 2) and ``config show``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from automechanica.settings import Settings
from tests.helpers.cli import cli_env, run_cli

BAD = {
    "PORT": "abc",
    "DB_POOL_MIN": "5",
    "DB_POOL_MAX": "2",
    "LOG_FORMAT": "xml",
    "DATABASE_URL": "mysql://root:hunter22-secret@db/app",
}


@pytest.mark.parametrize("command", [("config", "show"), ("db", "test"), ("serve",)])
def test_invalid_settings_stop_every_command_with_one_line_per_problem(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    result = run_cli(cli_env(tmp_path, **BAD), *command)
    assert result.code == 2
    assert "Traceback" not in result.output
    assert "hunter22-secret" not in result.output
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "error: invalid settings:"
    problems = {line.strip().split("=", 1)[0]: line.strip() for line in lines[1:-1]}
    assert set(problems) == {"PORT", "DB_POOL_MAX", "LOG_FORMAT", "DATABASE_URL"}
    assert "expected a TCP port, 1-65535" in problems["PORT"]
    assert "must be >= DB_POOL_MIN (5)" in problems["DB_POOL_MAX"]
    assert "expected json or console" in problems["LOG_FORMAT"]
    assert "must start with postgresql:// or postgres://" in problems["DATABASE_URL"]
    assert "mysql://root:***@db/app" in problems["DATABASE_URL"]
    assert lines[-1].startswith("  fix: ")


def test_config_show_prints_every_setting_with_secrets_masked(tmp_path: Path) -> None:
    env = cli_env(
        tmp_path,
        database_url="postgresql://app:hunter22-secret@db.example:5432/app",
        openai_api_key="sk-hunter22-key",
        db_pool_max="7",
    )
    result = run_cli(env, "config", "show", "--json")
    assert result.code == 0, result.output
    shown = json.loads(result.stdout)
    assert {name.upper() for name in Settings.model_fields} <= set(shown)
    assert shown["DATABASE_URL"] == "postgresql://app:***@db.example:5432/app"
    assert shown["OPENAI_API_KEY"] == "***"
    assert shown["DB_POOL_MAX"] == 7
    assert shown["AUTOMECHANICA_DATA_DIR"] == str(tmp_path)
    assert "hunter22" not in result.output

    people = run_cli(env, "config", "show")
    assert people.code == 0
    assert any(
        line.split() == ["DATABASE_URL", "postgresql://app:***@db.example:5432/app"]
        for line in people.stdout.splitlines()
    )
    assert "hunter22" not in people.output


def test_config_show_names_the_embedded_server_without_database_url(tmp_path: Path) -> None:
    result = run_cli(cli_env(tmp_path), "config", "show", "--json")
    assert result.code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["DATABASE_URL"] is None
    assert shown["database"] == f"embedded server under {tmp_path}"
