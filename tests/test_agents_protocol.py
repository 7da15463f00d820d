"""``gitcoord init --agents`` and ``gitcoord agents``: the protocol for agents in AGENTS.md
(and CLAUDE.md when present) between marker lines, idempotent, leaving the user's text
alone (SPEC section 9)."""

from __future__ import annotations

import os
from pathlib import Path

from fixtures.repos.recipes import Project
from gitcoord import protocol
from tests.conftest import run_cli

BEGIN, END = protocol.BEGIN, protocol.END


def between_markers(text: str) -> str:
    start = text.index(BEGIN) + len(BEGIN) + 1
    return text[start : text.index(END)]


def test_init_agents_writes_the_packaged_template_into_a_new_agents_md(project: Project) -> None:
    a = project.wt("wt-a")
    r = run_cli(a, "--json", "init", "--agents")
    assert r.code == 0, r.stderr
    assert r.json()["agents"] == {"files": [{"path": str(a / "AGENTS.md"), "action": "created"}]}
    text = (a / "AGENTS.md").read_text()
    assert between_markers(text) == protocol.template()
    assert text == f"{BEGIN}\n{protocol.template()}{END}\n"
    assert not (a / "CLAUDE.md").exists()  # only written where it already exists
    for needed in ("gitcoord lease", "gitcoord renew", "gitcoord check", "gitcoord release",
                   "lease denied", "stale read", "gitcoord mcp"):
        assert needed in text


def test_a_second_run_changes_nothing(project: Project) -> None:
    a = project.wt("wt-a")
    assert run_cli(a, "agents").code == 0
    first = (a / "AGENTS.md").read_bytes()
    mtime = (a / "AGENTS.md").stat().st_mtime_ns
    r = run_cli(a, "--json", "agents")
    assert r.code == 0
    assert r.json()["files"][0]["action"] == "unchanged"
    assert (a / "AGENTS.md").read_bytes() == first
    assert (a / "AGENTS.md").stat().st_mtime_ns == mtime


def test_text_outside_the_markers_is_kept_byte_for_byte(project: Project) -> None:
    a = project.wt("wt-a")
    before = "# Agents\n\nUse   tabs\there, and keep trailing spaces  \n\u00e9t\u00e9 \u2014 no newline at the end"
    (a / "AGENTS.md").write_text(before)
    claude = "Claude-specific notes.\n"
    (a / "CLAUDE.md").write_text(claude)
    r = run_cli(a, "--json", "agents")
    assert r.code == 0, r.stderr
    assert {f["action"] for f in r.json()["files"]} == {"added"}
    agents_md = (a / "AGENTS.md").read_text()
    assert agents_md.startswith(before + "\n\n" + BEGIN)
    assert between_markers(agents_md) == protocol.template()
    claude_md = (a / "CLAUDE.md").read_text()
    assert claude_md == claude + "\n" + protocol.block()

    # the user edits around the block, and the block itself goes out of date
    edited = agents_md.replace(BEGIN, "Intro the user added.\n\n" + BEGIN)
    edited = edited.replace("gitcoord renew", "gitcoord renew-OLD") + "\nA closing note.\n"
    (a / "AGENTS.md").write_text(edited)
    r = run_cli(a, "--json", "agents")
    assert [f["action"] for f in r.json()["files"]] == ["updated", "unchanged"]
    after = (a / "AGENTS.md").read_text()
    head, tail = edited.split(BEGIN)[0], edited.split(END)[1]
    assert after == head + protocol.block() + tail[1:]
    assert after.startswith(before + "\n\nIntro the user added.\n\n")
    assert after.endswith(END + "\n\nA closing note.\n")


def test_crlf_files_stay_crlf(project: Project) -> None:
    a = project.wt("wt-a")
    (a / "AGENTS.md").write_bytes(b"# Rules\r\n\r\nBe kind.\r\n")
    assert run_cli(a, "agents").code == 0
    data = (a / "AGENTS.md").read_bytes()
    assert data.startswith(b"# Rules\r\n\r\nBe kind.\r\n\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert run_cli(a, "--json", "agents").json()["files"][0]["action"] == "unchanged"


def test_claude_md_linked_to_agents_md_is_written_once_and_stays_a_link(project: Project) -> None:
    a = project.wt("wt-a")
    (a / "AGENTS.md").write_text("# Shared\n")
    os.symlink("AGENTS.md", a / "CLAUDE.md")
    r = run_cli(a, "--json", "agents")
    assert r.code == 0, r.stderr
    assert [f["path"] for f in r.json()["files"]] == [str(a / "AGENTS.md")]
    assert (a / "CLAUDE.md").is_symlink()
    assert (a / "AGENTS.md").read_text().count(BEGIN) == 1


def test_broken_markers_are_refused_and_nothing_is_written(project: Project) -> None:
    a = project.wt("wt-a")
    broken = f"# Notes\n{BEGIN}\nhalf a block, no end\n"
    (a / "AGENTS.md").write_text(broken)
    (a / "CLAUDE.md").write_text("fine\n")
    r = run_cli(a, "agents")
    assert r.code == 2
    assert "AGENTS.md" in r.stderr and "markers" in r.stderr
    assert (a / "AGENTS.md").read_text() == broken
    assert (a / "CLAUDE.md").read_text() == "fine\n"


def test_run_from_a_subdirectory_writes_at_the_worktree_top(project: Project) -> None:
    b = project.wt("wt-b")
    sub: Path = b / "src" / "app"
    r = run_cli(sub, "--json", "agents")
    assert r.code == 0, r.stderr
    assert (b / "AGENTS.md").exists()
    assert not (sub / "AGENTS.md").exists()
    assert not (project.wt("wt-a") / "AGENTS.md").exists()


def test_a_bare_repository_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    from fixtures.repos.recipes import git

    bare = tmp_path / "shared.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    r = run_cli(bare, "init", "--agents")
    assert r.code == 2
    assert "bare repository" in r.stderr
    assert not (bare / "gitcoord").exists()
