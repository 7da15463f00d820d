"""The edit guard for Claude Code (SPEC section 9): ``gitcoord install --claude`` merges a
PreToolUse hook into .claude/settings.json; the command it writes, run as Claude Code
runs it (a shell, the hook's JSON on stdin), denies a path another worktree leases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fixtures.repos.recipes import Project, git
from tests.conftest import run_cli

MATCHER = "Edit|Write|MultiEdit|NotebookEdit"


def guard_command(worktree: Path) -> str:
    """``gitcoord install --claude`` in ``worktree``, and the command it wrote."""
    r = run_cli(worktree, "install", "--claude")
    assert r.code == 0, r.stderr
    settings = json.loads((worktree / ".claude" / "settings.json").read_text())
    [entry] = [e for e in settings["hooks"]["PreToolUse"] if e["matcher"] == MATCHER]
    [hook] = entry["hooks"]
    assert hook["type"] == "command"
    command: str = hook["command"]
    return command


def hook_input(worktree: Path, path: str, tool: str = "Edit", **extra: Any) -> dict[str, Any]:
    """What Claude Code sends a PreToolUse hook before an edit in ``worktree``."""
    file_key = "notebook_path" if tool == "NotebookEdit" else "file_path"
    tool_input: dict[str, Any] = {file_key: str(worktree / path)}
    if tool == "Edit":
        tool_input |= {"old_string": "return 1", "new_string": "return 2"}
    elif tool == "Write":
        tool_input |= {"content": "x = 1\n"}
    elif tool == "MultiEdit":
        tool_input |= {"edits": [{"old_string": "a", "new_string": "b"}]}
    else:
        tool_input |= {"new_source": "print(1)", "cell_id": "c1"}
    return {
        "session_id": "3f1c2a9e-0000-4000-8000-000000000001",
        "transcript_path": str(worktree.parent / "transcript.jsonl"),
        "cwd": str(worktree),
        "permission_mode": "default",
        "hook_event_name": "PreToolUse",
        "tool_name": tool,
        "tool_input": tool_input,
        **extra,
    }


def run_hook(command: str, worktree: Path, payload: dict[str, Any], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the hook command the way Claude Code does: a shell in the project, JSON on stdin,
    gitcoord found on PATH."""
    full = dict(os.environ)
    full["PATH"] = os.path.dirname(sys.executable) + os.pathsep + full.get("PATH", "")
    full.update(env or {})
    return subprocess.run(
        ["/bin/sh", "-c", command], cwd=worktree, input=json.dumps(payload), env=full,
        capture_output=True, text=True, timeout=60,
    )


def denial(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    out = answer["hookSpecificOutput"]
    assert out["hookEventName"] == "PreToolUse"
    assert out["permissionDecision"] == "deny"
    reason: str = out["permissionDecisionReason"]
    return reason


def allowed(proc: subprocess.CompletedProcess[str]) -> bool:
    return proc.returncode == 0 and proc.stdout == ""


def test_another_worktrees_lease_denies_the_edit_naming_the_holder(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    assert run_cli(a, "--agent", "alice", "lease", "src/app/", "--reason", "rename handler").code == 0
    command = guard_command(b)
    proc = run_hook(command, b, hook_input(b, "src/app/api.py"))
    reason = denial(proc)
    assert "src/app/api.py is leased by alice" in reason
    assert "as src/app/ [exclusive]" in reason
    assert "expires in 29m" in reason or "expires in 30m" in reason
    assert "reason: rename handler" in reason
    assert "gitcoord lease src/app/api.py --wait 30m" in reason
    assert "gitcoord send alice" in reason
    events = run_cli(a, "--json", "log", "--kind", "edit.denied").json()["events"]
    assert len(events) == 1
    assert events[0]["subject"] == "src/app/api.py"
    assert events[0]["worktree"] == str(b)
    assert events[0]["details"]["tool"] == "Edit"
    assert events[0]["details"]["conflicts"][0]["lease"]["holder"]["agent"] == "alice"
    # every guarded tool, a notebook's path included
    for tool in ("Write", "MultiEdit", "NotebookEdit"):
        assert "leased by alice" in denial(run_hook(command, b, hook_input(b, "src/app/nb.ipynb", tool)))


def test_the_holders_own_edit_and_unleased_or_outside_paths_are_allowed_silently(project: Project, tmp_path: Path) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    assert run_cli(a, "--agent", "alice", "lease", "src/app/api.py").code == 0
    command = guard_command(a)
    assert allowed(run_hook(command, a, hook_input(a, "src/app/api.py")))
    assert allowed(run_hook(command, b, hook_input(b, "src/app/util.py")))
    assert allowed(run_hook(command, b, hook_input(b, "docs/new/page.md", "Write")))
    outside = hook_input(b, "x")
    outside["tool_input"]["file_path"] = str(tmp_path / "elsewhere" / "notes.txt")
    assert allowed(run_hook(command, b, outside))
    bash = hook_input(b, "src/app/api.py", tool_name="Bash")
    assert allowed(run_hook(command, b, bash))
    assert run_cli(a, "--json", "log", "--kind", "edit.denied").json()["events"] == []


def test_auto_lease_grants_the_first_worktree_and_denies_the_second(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    git(project.main, "config", "gitcoord.autoLease", "true")
    command = guard_command(a)
    assert run_cli(a, "init").code == 0
    proc = run_hook(command, a, hook_input(a, "src/feature/new.py", "Write"), env={"GITCOORD_AGENT": "alice"})
    assert allowed(proc), proc.stdout + proc.stderr
    leases = run_cli(a, "--json", "leases").json()["leases"]
    assert [(x["pattern"], x["holder"]["worktree"], x["holder"]["agent"], x["mode"]) for x in leases] == [
        ("src/feature/new.py", str(a), "alice", "exclusive")
    ]
    granted = run_cli(a, "--json", "log", "--kind", "lease.granted").json()["events"]
    assert granted[-1]["subject"] == "src/feature/new.py"
    # alice edits it again: nothing more to lease
    assert allowed(run_hook(command, a, hook_input(a, "src/feature/new.py"), env={"GITCOORD_AGENT": "alice"}))
    assert len(run_cli(a, "--json", "leases").json()["leases"]) == 1
    reason = denial(run_hook(command, b, hook_input(b, "src/feature/new.py", "Write")))
    assert "leased by alice" in reason
    # and a path leased by nobody goes to b
    assert allowed(run_hook(command, b, hook_input(b, "src/lib/parse.py")))
    holders = {x["pattern"]: x["holder"]["worktree"] for x in run_cli(a, "--json", "leases").json()["leases"]}
    assert holders == {"src/feature/new.py": str(a), "src/lib/parse.py": str(b)}


def test_auto_lease_denied_denies_the_edit(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    git(project.main, "config", "gitcoord.autoLease", "true")
    assert run_cli(a, "--agent", "alice", "lease", "src/app/**/*.py", "--reason", "typing pass").code == 0
    command = guard_command(b)
    reason = denial(run_hook(command, b, hook_input(b, "src/app/models.py")))
    assert "alice" in reason and "src/app/**/*.py" in reason and "typing pass" in reason
    assert run_cli(b, "--json", "leases", "--mine").json()["leases"] == []


@pytest.mark.sqlite_only  # (a PostgreSQL server down: test_postgres.py)
def test_an_unreadable_store_denies_unless_the_guard_is_open(project: Project) -> None:
    b = project.wt("wt-b")
    command = guard_command(b)
    db = project.main / ".git" / "gitcoord" / "gitcoord.db"
    assert run_cli(b, "leases").code == 0 and db.exists()
    db.write_bytes(b"this is not a database" * 100)
    reason = denial(run_hook(command, b, hook_input(b, "src/app/api.py")))
    assert "cannot check this edit" in reason
    assert "git config gitcoord.editGuard open" in reason
    git(project.main, "config", "gitcoord.editGuard", "open")
    assert allowed(run_hook(command, b, hook_input(b, "src/app/api.py")))


@pytest.mark.sqlite_only  # (the quick way reads SQLite; PostgreSQL takes the full check)
def test_the_allow_path_loads_no_click_rich_pygit2_or_core(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    assert run_cli(a, "--agent", "alice", "lease", "src/app/util.py", "src/*.cfg").code == 0
    command = guard_command(b)

    def imported(path: str) -> set[str]:
        proc = run_hook(command, b, hook_input(b, path), env={"PYTHONPROFILEIMPORTTIME": "1"})
        assert proc.returncode == 0
        return {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}

    light = imported("src/app/api.py")  # alice's leases are near, and cover other paths
    for heavy in ("click", "rich", "pygit2", "gitcoord.context", "gitcoord.leases", "gitcoord.checks"):
        assert heavy not in light
    assert "gitcoord.editguard" in imported("src/app/util.py")  # a real match: the core


def test_install_keeps_other_settings_byte_for_byte_and_uninstall_removes_only_ours(project: Project) -> None:
    b = project.wt("wt-b")
    original = (
        "{\n"
        '    "permissions": {"allow": ["Bash(npm run lint)"], "deny": []},\n'
        '    "env": {"GREETING": "h\\u00e9llo \u2014 caf\u00e9"},\n'
        '    "hooks": {\n'
        '        "PreToolUse": [\n'
        "            {\n"
        '                "matcher": "Bash",\n'
        '                "hooks": [ { "type": "command", "command": "./scripts/check-bash.sh" } ]\n'
        "            }\n"
        "        ],\n"
        '        "PostToolUse": [{"matcher": "Edit", "hooks": [{"type": "command", "command": "prettier --write"}]}]\n'
        "    }\n"
        "}\n"
    )
    (b / ".claude").mkdir()
    settings = b / ".claude" / "settings.json"
    settings.write_text(original)
    r = run_cli(b, "--json", "install", "--claude")
    assert r.code == 0, r.stderr
    assert r.json()["claude"]["action"] == "added"
    new = settings.read_text()
    # exactly one insertion, everything else as it was
    prefix = os.path.commonprefix([original, new])
    suffix = os.path.commonprefix([original[len(prefix):][::-1], new[len(prefix):][::-1]])[::-1]
    assert prefix + suffix == original
    inserted = new[len(prefix) : len(new) - len(suffix)]
    assert json.loads("[" + inserted.lstrip(",") + "]") == [
        {"matcher": MATCHER, "hooks": [{"type": "command", "command": "gitcoord guard"}]}
    ]
    doc = json.loads(new)
    assert [e["matcher"] for e in doc["hooks"]["PreToolUse"]] == ["Bash", MATCHER]
    assert doc["hooks"]["PostToolUse"] == json.loads(original)["hooks"]["PostToolUse"]
    # a second install changes nothing
    r = run_cli(b, "--json", "install", "--claude")
    assert r.json()["claude"]["action"] == "unchanged"
    assert settings.read_text() == new
    # uninstall takes out ours only
    r = run_cli(b, "--json", "uninstall", "--claude")
    assert r.code == 0 and r.json()["claude"]["action"] == "removed"
    assert settings.read_text() == original
    assert run_cli(b, "--json", "uninstall", "--claude").json()["claude"]["action"] == "absent"


def test_install_into_settings_without_hooks_and_into_none(project: Project) -> None:
    b = project.wt("wt-b")
    settings = b / ".claude" / "settings.json"
    # no settings at all: created, and uninstall leaves nothing behind
    assert run_cli(b, "install", "--claude").code == 0
    assert json.loads(settings.read_text())["hooks"]["PreToolUse"][0]["matcher"] == MATCHER
    assert run_cli(b, "uninstall", "--claude").code == 0
    assert not settings.exists() and not (b / ".claude").exists()
    # settings without a hooks key
    settings.parent.mkdir()
    original = '{\n  "model": "sonnet",\n  "permissions": {\n    "allow": []\n  }\n}\n'
    settings.write_text(original)
    assert run_cli(b, "install", "--claude").code == 0
    doc = json.loads(settings.read_text())
    assert doc["model"] == "sonnet" and doc["hooks"]["PreToolUse"][0]["hooks"][0]["command"] == "gitcoord guard"
    assert settings.read_text().startswith('{\n  "model": "sonnet",\n  "permissions": {\n    "allow": []\n  },\n  "hooks": {\n    "PreToolUse": [\n      {\n')
    assert run_cli(b, "uninstall", "--claude").code == 0
    assert settings.read_text() == original
    # an older entry of ours is brought up to date in place
    old = original.replace('"model": "sonnet",', '"model": "sonnet",\n  "hooks": {"PreToolUse": [{"matcher": "Edit|Write", "hooks": [{"type": "command", "command": "gitcoord guard"}]}]},')
    settings.write_text(old)
    r = run_cli(b, "--json", "install", "--claude")
    assert r.json()["claude"]["action"] == "updated"
    assert [e["matcher"] for e in json.loads(settings.read_text())["hooks"]["PreToolUse"]] == [MATCHER]


def test_broken_settings_are_refused_and_left_alone(project: Project) -> None:
    b = project.wt("wt-b")
    (b / ".claude").mkdir()
    settings = b / ".claude" / "settings.json"
    for text in ('{"hooks": {"PreToolUse": [}\n', '["not", "an", "object"]\n', '{"hooks": {"PreToolUse": {}}}\n'):
        settings.write_text(text)
        r = run_cli(b, "install", "--claude")
        assert r.code == 2, (text, r.stderr)
        assert "settings.json" in r.stderr
        assert settings.read_text() == text


def test_the_installed_matcher_names_exactly_the_tools_the_guard_judges() -> None:
    from gitcoord import claude_settings, guard

    assert claude_settings.MATCHER == MATCHER == "|".join(guard.GUARDED_TOOLS)


def test_the_guards_quick_cover_test_agrees_with_the_lease_matcher(project: Project) -> None:
    from gitcoord import guard, paths

    root = project.main
    raw = ["src/app/api.py", "src/app/", "src/app", "src/**/*.py", "docs/*.md", "a\\*b.py", "src/ap", "[sd]*/"]
    stored = [paths.parse_pattern(r, cwd=root, root=root) for r in raw]
    candidates = ["src/app/api.py", "src/app", "src/app/x/y.md", "src/apple.py", "docs/guide.md",
                  "docs/sub/x.md", "a*b.py", "ab.py", "src/ap", "src/api.py", "tests/t.py"]
    for p in stored:
        for path in candidates:
            expected = paths.matches(paths.stored_pattern(p.text, p.kind, p.key), path)
            assert guard._covers(p.text, p.kind, p.key, path) == expected, (p, path)
