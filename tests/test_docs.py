"""Docs stay true: the CLI reference is generated from --help and covers every command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

pytestmark = pytest.mark.no_store

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
    """The demo and the tests come first; CI runs the test command as written, in a
    virtualenv of its own; the pipx line follows for people who only want the tool."""
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    blocks = [b.split("\n", 1)[1].strip() for b in readme.split("```sh")[1:4]]
    demo, tests, pipx = (b.split("\n```", 1)[0] for b in blocks)
    assert demo == "python3 -m pip install -e . && scripts/demo.sh"
    assert tests == "python3 -m pip install -e '.[test]' && python3 -m pytest -n 2"
    assert pipx == "pipx install ."
    assert readme.index(demo) < readme.index(tests) < readme.index("---")
    assert tests in ci, "CI runs the README's test command"
    venv = next(i for i, line in enumerate(ci) if "python3 -m venv" in line)
    activate = next(i for i, line in enumerate(ci) if "/bin/activate" in line)
    assert venv < activate < ci.index(tests)
