"""Every `cashbook` command's help shows its whole summary line.

typer renders help with rich markup, which silently drops text that looks like a markup tag: the summary
"Read Stripe streams for [start, end] through the API" printed as "Read Stripe streams for  through the API".
"""

from __future__ import annotations

import inspect
import re

import typer
from typer.testing import CliRunner

from cashbook.cli import app


def _commands() -> list[tuple[list[str], str]]:
    """(argv prefix, first docstring line) of every visible command and sub-command."""
    found: list[tuple[list[str], str]] = []

    def walk(group: typer.Typer, prefix: list[str]) -> None:
        for info in group.registered_commands:
            if info.hidden or info.callback is None:
                continue
            name = info.name or info.callback.__name__.replace("_", "-")
            doc = inspect.getdoc(info.callback) or ""
            found.append(([*prefix, name], doc.splitlines()[0] if doc else ""))
        for sub in group.registered_groups:
            if sub.typer_instance is not None and not sub.hidden:
                walk(sub.typer_instance, [*prefix, sub.name or ""])

    walk(app, [])
    return found


def test_every_summary_line_is_shown_whole() -> None:
    commands = _commands()
    assert len(commands) >= 20, [c for c, _ in commands]  # the walk found the CLI, not an empty app
    runner = CliRunner()
    lost = []
    for argv, summary in commands:
        result = runner.invoke(app, [*argv, "--help"], env={"COLUMNS": "400", "TERMINAL_WIDTH": "400"})
        assert result.exit_code == 0, (argv, result.output)
        shown = re.sub(r"[\s│]+", " ", result.output)
        if re.sub(r"\s+", " ", summary) not in shown:
            lost.append((" ".join(argv), summary))
    assert not lost, lost
