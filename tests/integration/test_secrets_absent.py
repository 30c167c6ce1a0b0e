"""A password in DATABASE_URL appears in no output and no log line of any command or service."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.helpers.cli import Result, ServeProcess, cli_env, run_cli, run_many
from tests.helpers.network import free_port
from tests.helpers.scram import PASSWORD, WRONG_PASSWORD, ScramCluster

pytest_plugins = ["tests.helpers.fixtures"]

DB_COMMANDS = [("db", "test"), ("db", "test", "--json"), ("db", "migrate", "status", "--json")]
OTHER_COMMANDS = [("config", "show"), ("config", "show", "--json"), ("db", "logs", "-n", "50")]
PATHS = ["/api/health", "/api/health/ready", "/api/health/live", "/no/such/route", "/metrics"]


def _serve_and_hit(env: dict[str, str]) -> tuple[list[int], str, str]:
    service = ServeProcess(env)
    try:
        service.wait_live()
        statuses = [httpx.get(service.url + path, timeout=5).status_code for path in PATHS]
    finally:
        _code, out, err = service.stop()
    return statuses, out, err


def _everything(
    env: dict[str, str], data_dir: Path, commands: list[tuple[str, ...]]
) -> tuple[list[Result], str, str, list[int]]:
    before = run_many(env, *commands)
    statuses, out, err = _serve_and_hit(env)
    after = run_cli(env, "db", "logs", "-n", "100")  # now with what serve recorded
    recorded = "".join(p.read_text() for p in (data_dir / "logs").glob("*") if p.is_file())
    return [*before, after], out + err, recorded, statuses


def _assert_no_secret(texts: list[str], *secrets: str) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in text


def test_a_working_run_never_shows_the_password(
    scram_cluster: ScramCluster, tmp_path: Path
) -> None:
    env = cli_env(tmp_path, database_url=scram_cluster.url())
    results, served, recorded, statuses = _everything(env, tmp_path, DB_COMMANDS + OTHER_COMMANDS)
    assert [r.code for r in results] == [0] * len(results), [r.output for r in results]
    assert statuses == [200, 200, 200, 404, 200]
    assert all(json.loads(line) for line in served.splitlines())  # every log line is JSON
    assert "am_app:***@127.0.0.1" in results[0].stdout  # the URL is shown, redacted
    _assert_no_secret([*(r.output for r in results), served, recorded], PASSWORD)


def test_failing_connections_never_show_the_password(
    scram_cluster: ScramCluster, tmp_path: Path
) -> None:
    refused = cli_env(
        tmp_path / "refused",
        database_url=f"postgresql://am_app:{PASSWORD}@127.0.0.1:{free_port()}/am_app",
    )
    rejected = cli_env(tmp_path / "rejected", database_url=scram_cluster.url(WRONG_PASSWORD))
    outputs: list[str] = []
    for env, failure in ((refused, "connection_refused"), (rejected, "auth_failed")):
        data_dir = Path(env["AUTOMECHANICA_DATA_DIR"])
        results, served, recorded, statuses = _everything(env, data_dir, DB_COMMANDS)
        assert statuses == [503, 503, 200, 404, 200]
        assert results[0].code == 3 and f"error: {failure}: " in results[0].stderr
        logged = [json.loads(line) for line in served.splitlines()]
        failures = [e for e in logged if e["event"] == "db_connect_failed"]
        assert failures and {e["error_class"] for e in failures} == {failure}
        assert all("am_app:***@127.0.0.1:" in e["url"] for e in failures)
        assert f'"failure": "{failure}"' in results[-1].stdout  # `db logs` lists them
        outputs += [*(r.output for r in results), served, recorded]
    _assert_no_secret(outputs, PASSWORD, WRONG_PASSWORD)
