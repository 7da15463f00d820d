#!/usr/bin/env python3
"""Generate docs/cli.md from the commands' --help. `--check` exits 1 if the file is stale."""

from __future__ import annotations

import sys
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "cli.md"


def _walk(cmd: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
    out = [(path, cmd)]
    if isinstance(cmd, click.Group):
        for name in sorted(cmd.commands):
            sub = cmd.commands[name]
            if not sub.hidden:
                out += _walk(sub, path + [name])
    return out


def render() -> str:
    sys.path.insert(0, str(ROOT))
    from gitcoord.cli import cli

    parts = [
        "# CLI reference\n",
        "Generated from `--help` by `python scripts/gen_cli_docs.py`; a test fails when it is stale.\n",
        "Exit codes: 0 done; 1 denied or refused; 2 usage or bad input; 3 environment or store failure.\n",
    ]
    for path, cmd in _walk(cli, ["gitcoord"]):
        name = " ".join(path)
        ctx = click.Context(cmd, info_name=name, terminal_width=100, max_content_width=100)
        text = cmd.get_help(ctx)
        parts.append(f"## `{name}`\n\n```text\n{text}\n```\n")
    return "\n".join(parts)


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not TARGET.exists() or TARGET.read_text() != text:
            print("docs/cli.md is stale: run python scripts/gen_cli_docs.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
