"""``automechanica config ...``: the effective settings, secrets masked."""

from __future__ import annotations

import typer

from automechanica.cli.output import print_json, print_pairs
from automechanica.settings import load_settings

app = typer.Typer(help="Inspect the effective settings.", no_args_is_help=True)


@app.command("show")
def show(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print the effective settings (env vars and .env), with secrets redacted."""
    settings = load_settings()
    data = settings.redacted()
    if not settings.database_url:
        data["DATABASE_URL"] = None
        data["database"] = f"embedded server under {settings.automechanica_data_dir}"
    if as_json:
        print_json(data)
    else:
        print_pairs([(k, v) for k, v in data.items()])
