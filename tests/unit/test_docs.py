"""The docs promise only what exists: every command they show parses, every setting is listed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from automechanica.cli.main import app
from automechanica.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
RUNBOOK = (ROOT / "docs" / "RUNBOOK.md").read_text()
RUNBOOK_SECTION_1 = RUNBOOK.split("## 1)")[1].split("## 2)")[0]


def _code(markdown: str) -> str:
    """Fenced blocks and inline code spans only: prose may say anything."""
    fenced = re.findall(r"```[a-z]*\n(.*?)```", markdown, flags=re.S)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", markdown, flags=re.S))
    return "\n".join(fenced + inline)


def _commands(markdown: str) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """(subcommand path, options) of every ``automechanica ...`` in the code of ``markdown``."""
    found = []
    for line in _code(markdown).splitlines():
        for match in re.finditer(r"\bautomechanica ([^|`'\"#]*)", line):
            path: list[str] = []
            options: list[str] = []
            for token in match.group(1).split():
                token = token.strip("[]")
                if token.startswith("-"):
                    options.append(token.split("/")[0])
                elif re.fullmatch(r"[a-z][a-z-]*", token) and not options:
                    path.append(token)
                elif not re.fullmatch(r"[A-Z0-9_]+|\d+", token):
                    break
            if path:
                found.append((tuple(path), tuple(options)))
    return sorted(set(found))


DOCUMENTED = sorted(set(_commands(README) + _commands(RUNBOOK_SECTION_1)))


def test_the_docs_show_the_runbook_commands() -> None:
    paths = {path for path, _ in _commands(RUNBOOK_SECTION_1)}
    assert {("db", "test"), ("db", "logs"), ("db", "restart"), ("config", "show")} <= paths


@pytest.mark.parametrize(("path", "options"), DOCUMENTED, ids=[" ".join(p) for p, _ in DOCUMENTED])
def test_every_documented_command_and_option_exists(
    path: tuple[str, ...], options: tuple[str, ...]
) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for option in options:
        assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", result.output), option


def test_the_readme_lists_every_setting() -> None:
    table = {m for m in re.findall(r"^\| `([A-Z0-9_]+)` \|", README, flags=re.M)}
    assert table == {name.upper() for name in Settings.model_fields}
