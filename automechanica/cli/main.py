"""The ``automechanica`` command: wires the groups; maps errors to exit codes in one place."""

from __future__ import annotations

import os
import sys

import typer

from automechanica import __version__
from automechanica.cli import config, db, serve, worker, workflows
from automechanica.cli.output import fail
from automechanica.errors import AutomechanicaError, ConfigError

app = typer.Typer(
    help="automechanica: multi-agent workflows on a durable PostgreSQL task queue.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db.app, name="db")
app.add_typer(config.app, name="config")
app.command("serve")(serve.serve)
app.command("up")(serve.up)
app.command("worker")(worker.worker)
app.add_typer(workflows.app, name="workflows")


@app.command("version")
def version() -> None:
    """Print the version."""
    print(__version__)


def run() -> None:
    try:
        app()
    except ConfigError as exc:
        fail(exc.message, "fix the variables above in the environment or .env")
        sys.exit(exc.exit_code)
    except AutomechanicaError as exc:
        fix = getattr(exc, "fix", None)
        fail(exc.message, fix)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("AUTOMECHANICA_DEBUG"):
            raise
        fail(f"unexpected {type(exc).__name__}: {exc}", "set AUTOMECHANICA_DEBUG=1 for a traceback")
        sys.exit(1)
