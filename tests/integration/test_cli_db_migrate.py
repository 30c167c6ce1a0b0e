"""``automechanica db migrate`` (up, down, status, history) as a real subprocess."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import psycopg

from automechanica.db import migrate
from tests.helpers.cli import Result, cli_env, run_cli, run_many
from tests.helpers.network import free_port


def _status(env: dict[str, str]) -> Any:
    result = run_cli(env, "db", "migrate", "status", "--json")
    assert result.code == 0, result.output
    return json.loads(result.stdout)


def _tables(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r[0] for r in rows.fetchall()}


def _ok(result: Result) -> str:
    assert result.code == 0, result.output
    assert "Traceback" not in result.output
    return result.stdout


def test_migrate_goes_up_to_head_down_a_step_to_base_and_up_again(
    empty_dsn: str, tmp_path: Path
) -> None:
    env = cli_env(tmp_path, database_url=empty_dsn)
    revisions = [r.revision for r in migrate.history()]
    head, first = revisions[-1], revisions[0]

    assert f"schema migrated: base -> {head}" in _ok(run_cli(env, "db", "migrate"))
    assert _status(env) == {"current": head, "head": head, "at_head": True, "pending": []}
    assert "installation" in _tables(empty_dsn)
    assert "nothing to do" in _ok(run_cli(env, "db", "migrate"))

    out = _ok(run_cli(env, "db", "migrate", "--to", first))
    if first != head:
        assert f"schema migrated: {head} -> {first}" in out
    stepped = migrate.status(empty_dsn)
    assert stepped.current == first
    assert [p.revision for p in stepped.pending] == revisions[1:]

    assert f"schema migrated: {first} -> base" in _ok(run_cli(env, "db", "migrate", "--to", "base"))
    assert migrate.status(empty_dsn).current is None
    assert _tables(empty_dsn) <= {"alembic_version"}

    assert f"schema migrated: base -> {head}" in _ok(run_cli(env, "db", "migrate", "--to", "head"))
    assert migrate.status(empty_dsn).at_head


def test_migrate_status_lists_pending_migrations(empty_dsn: str, tmp_path: Path) -> None:
    env = cli_env(tmp_path, database_url=empty_dsn)
    as_json, people = run_many(
        env, ("db", "migrate", "status", "--json"), ("db", "migrate", "status")
    )
    revisions = migrate.history()
    assert json.loads(_ok(as_json)) == {
        "current": None,
        "head": revisions[-1].revision,
        "at_head": False,
        "pending": [{"revision": r.revision, "doc": r.doc} for r in revisions],
    }
    out = _ok(people)
    assert out.splitlines()[0].split() == ["current", "base"]
    for rev in revisions:
        assert rev.revision in out


def test_migrate_history_lists_every_revision_oldest_first(tmp_path: Path) -> None:
    # History reads the migration scripts only: no database needed.
    env = cli_env(tmp_path, database_url=f"postgresql://app@127.0.0.1:{free_port()}/app")
    history = json.loads(_ok(run_cli(env, "db", "migrate", "history", "--json")))
    assert [h["revision"] for h in history] == [r.revision for r in migrate.history()]
    assert history[0]["down"] is None
    assert all(h["down"] == prev["revision"] for prev, h in itertools.pairwise(history))
    assert all(h["doc"] for h in history)


def test_an_unknown_revision_is_a_clear_error_with_exit_2(db_dsn: str, tmp_path: Path) -> None:
    env = cli_env(tmp_path, database_url=db_dsn)
    result = run_cli(env, "db", "migrate", "--to", "no-such-rev")
    assert result.code == 2
    assert "error: unknown revision 'no-such-rev'; known: base, " in result.stderr
    assert "automechanica db migrate history" in result.stderr
    assert "Traceback" not in result.output
    assert _status(env)["at_head"] is True


def test_migrate_on_an_unreachable_database_names_the_failure_with_exit_3(
    tmp_path: Path,
) -> None:
    env = cli_env(tmp_path, database_url=f"postgresql://app@127.0.0.1:{free_port()}/app")
    for args in (("db", "migrate"), ("db", "migrate", "status")):
        result = run_cli(env, *args)
        assert result.code == 3, result.output
        assert "(connection refused)" in result.stderr
        assert "fix: start the database" in result.stderr
        assert "Traceback" not in result.output
