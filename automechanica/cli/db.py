"""``automechanica db ...``: test, logs, start/stop/restart, migrate."""

from __future__ import annotations

from typing import Any

import psycopg
import typer

from automechanica.cli.context import database, settings_and_logging
from automechanica.cli.output import console, fail, print_json, print_pairs, print_table
from automechanica.db import migrate as migrations
from automechanica.db.diagnose import unavailable
from automechanica.db.errorlog import error_log_for
from automechanica.db.pool import connect_kwargs
from automechanica.db.probe import probe
from automechanica.db.target import embedded_server
from automechanica.errors import NotEmbedded
from automechanica.redaction import redact_url

app = typer.Typer(help="The database: diagnose, control, migrate.", no_args_is_help=True)
migrate_app = typer.Typer(help="Schema migrations.")
app.add_typer(migrate_app, name="migrate")


def _exit(code: int) -> None:
    raise typer.Exit(code)


def _schema_status(dsn: str, connect_timeout_ms: int) -> migrations.Status:
    """The schema status; an unreachable database is reported by failure class (exit 3)."""
    try:
        return migrations.status(dsn, connect_kwargs(connect_timeout_ms, 0))
    except psycopg.OperationalError as exc:
        raise unavailable(exc) from None


@app.command("test")
def test(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Connect with the configured settings; say what is there, or which failure it is."""
    settings = settings_and_logging()
    target = database(settings, start_embedded=False)
    report = probe(settings, target)
    if as_json:
        print_json(report)
    elif report["ok"] or report.get("failure") == "schema_behind":
        schema = report["schema"]
        pool = report["pool"]
        print_pairs(
            [
                ("url", report["url"]),
                ("database", report["database"]),
                ("user", report["user"]),
                ("server version", report["server_version"]),
                ("now()", report["now"]),
                ("round trip", f"{report['latency_ms']} ms (connect {report['connect_ms']} ms)"),
                ("schema", f"{schema['revision'] or 'base'} (head {schema['head']})"),
                (
                    "pool",
                    f"min {pool['min']}, max {pool['max']}, timeout {pool['timeout_ms']} ms, "
                    f"connect timeout {pool['connect_timeout_ms']} ms, "
                    f"statement timeout {pool['statement_timeout_ms']} ms",
                ),
            ]
        )
    if not report["ok"]:
        if not as_json:
            fail(f"{report['failure']}: {report['error']}", report["fix"])
        _exit(3)
    elif not as_json:
        console.print("database ok")


@app.command("logs")
def logs(
    lines: int = typer.Option(50, "-n", "--lines", min=0, help="How many lines."),
    follow: bool = typer.Option(False, "-f", "--follow", help="Keep printing new lines."),
) -> None:
    """The embedded server's log; for an external database, this project's recent DB errors."""
    settings = settings_and_logging()
    if settings.database_url:
        console.print(
            f"# external database {redact_url(settings.database_url)}: its server logs live with "
            "whoever runs it (cloud console, journalctl, the container). Recent database errors "
            "seen by automechanica:",
            markup=False,
        )
        store = error_log_for(settings.automechanica_data_dir)
        for entry in store.tail(lines):
            print_json_line(entry)
        if follow:
            _follow_file(store.path)
        return
    server = embedded_server(settings)
    for line in server.log_lines(lines):
        console.print(line, markup=False)
    if follow:
        try:
            for line in server.follow_log():
                console.print(line, markup=False)
        except KeyboardInterrupt:
            return


def print_json_line(entry: dict[str, Any]) -> None:
    import json

    console.print(json.dumps(entry, default=str), markup=False)


def _follow_file(path: Any) -> None:
    import time

    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(exist_ok=True)
    try:
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            fh.seek(0, 2)
            while True:
                line = fh.readline()
                if line:
                    console.print(line.rstrip("\n"), markup=False)
                else:
                    time.sleep(0.5)
    except KeyboardInterrupt:
        return


def _embedded_only(action: str) -> Any:
    settings = settings_and_logging()
    if settings.database_url:
        raise NotEmbedded(
            f"`db {action}` controls the embedded server only; DATABASE_URL points at "
            f"{redact_url(settings.database_url)}, which is run by someone else: restart it "
            "where it is hosted, then check it with `automechanica db test`"
        )
    return embedded_server(settings)


@app.command("start")
def start() -> None:
    """Start the embedded PostgreSQL server (no-op when it already runs)."""
    server = _embedded_only("start")
    was_running = server.status().running
    database(settings_and_logging())
    st = server.status()
    console.print(
        f"embedded PostgreSQL {'already running' if was_running else 'started'} "
        f"(pid {st.pid}, data {st.pgdata})",
        markup=False,
    )


@app.command("stop")
def stop() -> None:
    """Stop the embedded PostgreSQL server."""
    server = _embedded_only("stop")
    stopped = server.stop()
    console.print(
        "embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running"
    )


@app.command("restart")
def restart() -> None:
    """Restart the embedded server and wait until it accepts connections."""
    server = _embedded_only("restart")
    with console.status("restarting the embedded PostgreSQL server..."):
        server.stop()
        database(settings_and_logging())
    st = server.status()
    console.print(f"embedded PostgreSQL restarted (pid {st.pid}); accepting connections")


@migrate_app.callback(invoke_without_command=True)
def migrate(
    ctx: typer.Context,
    to: str = typer.Option("head", "--to", help="Target revision: head, base or an id."),
) -> None:
    """Migrate the schema to head, or up/down to ``--to REV``."""
    if ctx.invoked_subcommand:
        return
    settings = settings_and_logging()
    target = database(settings)
    kwargs = connect_kwargs(settings.db_connect_timeout_ms, 0)
    before = _schema_status(target.dsn, settings.db_connect_timeout_ms)
    with console.status(f"migrating from {before.current or 'base'} to {to}..."):
        after = migrations.migrate_to(target.dsn, to, kwargs)
    if before.current == after.current:
        console.print(f"schema already at {after.current or 'base'}; nothing to do")
    else:
        console.print(f"schema migrated: {before.current or 'base'} -> {after.current or 'base'}")


@migrate_app.command("status")
def migrate_status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Current revision vs head, and the pending migrations."""
    settings = settings_and_logging()
    target = database(settings)
    st = _schema_status(target.dsn, settings.db_connect_timeout_ms)
    data = {
        "current": st.current,
        "head": st.head,
        "at_head": st.at_head,
        "pending": [{"revision": r.revision, "doc": r.doc} for r in st.pending],
    }
    if as_json:
        print_json(data)
        return
    print_pairs([("current", st.current or "base"), ("head", st.head)])
    if st.pending:
        print_table(["pending", "description"], [[r.revision, r.doc] for r in st.pending])
    else:
        console.print("up to date")


@migrate_app.command("history")
def migrate_history(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every migration, oldest first."""
    revs = migrations.history()
    if as_json:
        print_json([{"revision": r.revision, "down": r.down_revision, "doc": r.doc} for r in revs])
        return
    print_table(
        ["revision", "down", "description"],
        [[r.revision, r.down_revision or "base", r.doc] for r in revs],
    )
