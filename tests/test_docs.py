"""Docs stay true: the CLI reference is generated from --help and covers every command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent


def test_cli_reference_is_current() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_cli_docs.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr


def test_every_command_is_documented() -> None:
    from gitcoord.cli import cli

    text = (ROOT / "docs" / "cli.md").read_text()

    def names(group: click.Group, prefix: str) -> list[str]:
        out = []
        for name, cmd in group.commands.items():
            if cmd.hidden:
                continue
            out.append(f"{prefix} {name}")
            if isinstance(cmd, click.Group):
                out += names(cmd, f"{prefix} {name}")
        return out

    for name in names(cli, "gitcoord"):
        assert f"## `{name}`" in text, f"{name} is not in docs/cli.md"


def test_readme_top_shows_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "scripts/demo.sh" in readme
    test_cmd = "python3 -m pytest -n 2"
    assert test_cmd in readme and test_cmd in ci
