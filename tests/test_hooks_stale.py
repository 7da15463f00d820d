"""Stale reads through the real hooks (SPEC section 5, rule 2, and read sets).

main moves on while wt-b works on an older fork; a commit in wt-b that touches what main
changed since is refused, naming main's commits and who made them, until wt-b rebases.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.repos.recipes import Project
from tests.test_hooks_support import cli, cli_ok, events, head, ok, refused, setup, sh, write

API = "src/app/api.py"
MODELS = "src/app/models.py"


@pytest.fixture
def project(tmp_path: Path) -> Project:
    p = setup(tmp_path)
    # The human in the main worktree changes the api and the models after wt-b forked.
    m = p.main
    write(m, API, "# v2: handler returns a dict\ndef handler():\n    return 1\n")
    ok(m, "commit", "-qam", "main: api v2")
    write(m, MODELS, "class Model:\n    version = 2\n")
    ok(m, "commit", "-qam", "main: models v2")
    return p


def test_stale_edit_is_refused_naming_the_commits_and_holders_then_rebase_fixes_it(project: Project) -> None:
    m, b = project.main, project.wt("wt-b")
    api_commit = ok(m, "log", "-1", "--format=%H", "--", API).strip()
    write(b, API, "def handler():\n    return 1\n\n\ndef more():\n    return 'b'\n")
    ok(b, "add", API)
    err = refused(b, "commit", "-m", "b: more")
    line = next(x for x in err.splitlines() if x.strip().startswith(f"{API}:"))
    assert "stale read" in line and "main changed it in" in line
    # the commit that changed it, and its holder from the audit trail (the main worktree)
    assert f"{api_commit[:12]} (main)" in line
    assert "git rebase --autostash main" in err
    # B only touching an unrelated path is fine: staleness is per touched path
    ok(b, "reset", "-q", API)
    write(b, "docs/guide.md", "# b's guide\n")
    ok(b, "add", "docs/guide.md")
    ok(b, "commit", "-q", "-m", "b: guide")
    # the fix: bring in main's version, then the same edit goes through
    ok(b, "stash", "-q")
    ok(b, "rebase", "-q", "main")
    ok(b, "stash", "pop", "-q")
    ok(b, "commit", "-qam", "b: more, on top of v2")
    assert ok(b, "show", "HEAD:" + API).startswith("# v2")


def test_merging_the_integration_ref_also_fixes_it(project: Project) -> None:
    b = project.wt("wt-b")
    write(b, API, "def handler():\n    return 1\n\n\ndef more():\n    return 'b'\n")
    assert "stale read" in refused(b, "commit", "-qam", "b: more")
    ok(b, "stash", "-q")
    ok(b, "merge", "-q", "--no-edit", "main")
    ok(b, "stash", "pop", "-q")
    ok(b, "commit", "-qam", "b: more, after merging main")


def test_a_path_nobody_changed_on_main_is_never_stale(project: Project) -> None:
    b = project.wt("wt-b")
    write(b, "src/app/util.py", "def helper():\n    return 'b'\n")
    ok(b, "commit", "-qam", "b: util")


def test_a_worktree_that_already_has_mains_version_is_not_stale(project: Project) -> None:
    """blob(I:X) == blob(P:X): the same change arrived through another route (cherry-pick)."""
    b, m = project.wt("wt-b"), project.main
    api_commit = ok(m, "log", "-1", "--format=%H", "--", API).strip()
    ok(b, "cherry-pick", api_commit)
    write(b, API, "# v2: handler returns a dict\ndef handler():\n    return 2\n")
    ok(b, "commit", "-qam", "b: builds on v2")


def test_read_set_change_is_a_warning_then_refused_with_strict_reads(tmp_path: Path) -> None:
    p = setup(tmp_path)
    b, m = p.wt("wt-b"), p.main
    cli_ok(b, "read", MODELS)
    write(m, MODELS, "class Model:\n    version = 3\n")
    ok(m, "commit", "-qam", "main: models v3")
    write(b, "src/app/util.py", "from .models import Model\n")
    ok(b, "add", "-A")
    proc = sh(b, "commit", "-q", "-m", "b: uses the model")
    assert proc.returncode == 0, proc.stderr
    assert f"{MODELS}" in proc.stderr and "warning: read set" in proc.stderr
    assert f"gitcoord read {MODELS}" in proc.stderr
    # strict: refused
    ok(m, "config", "gitcoord.strictReads", "true")
    write(b, "src/app/util.py", "from .models import Model  # again\n")
    ok(b, "add", "-A")
    err = refused(b, "commit", "-q", "-m", "b: again")
    assert f"{MODELS}" in err and "stale read set" in err
    # the fix: rebase, review, re-record the read
    ok(b, "stash", "-q")
    ok(b, "rebase", "-q", "main")
    ok(b, "stash", "pop", "-q")
    cli_ok(b, "read", MODELS)
    ok(b, "commit", "-qam", "b: again, reviewed")


def test_stale_no_verify_commit_is_recorded_as_a_violation(project: Project) -> None:
    b = project.wt("wt-b")
    write(b, API, "def handler():\n    return 3\n")
    proc = sh(b, "commit", "-qam", "b: stale and unchecked", "--no-verify")
    assert proc.returncode == 0 and "VIOLATION" in proc.stderr and "stale read" in proc.stderr
    v = events(b, "commit.violation")
    assert v[-1]["shas"] == [head(b)]
    assert v[-1]["details"]["violations"][0]["rule"] == "stale"


def test_check_staged_reports_the_same_stale_read(project: Project) -> None:
    b = project.wt("wt-b")
    write(b, API, "def handler():\n    return 4\n")
    ok(b, "add", API)
    r = cli(b, "check", "--json")
    assert r.code == 1
    doc = r.json()
    (v,) = doc["violations"]
    assert v["rule"] == "stale" and v["path"] == API
    assert v["commits"] and v["commits"][0]["holder"]["agent"] == "main"
    assert "git rebase --autostash main" in " ".join(doc["fixes"])


def test_a_configured_short_integration_name_keeps_the_stale_check(project: Project) -> None:
    """`git config gitcoord.integration main` names refs/heads/main: the stale check
    still refuses. A name that resolves to no commit is refused with what to fix, never
    taken as "no tip, nothing is stale"."""
    m, b = project.main, project.wt("wt-b")
    ok(m, "config", "gitcoord.integration", "main")
    assert cli_ok(b, "--json", "status").json()["integration"]["ref"] == "refs/heads/main"
    write(b, API, "def handler():\n    return 'b'\n")
    ok(b, "add", API)
    assert "stale read" in refused(b, "commit", "-m", "b: stale")
    ok(m, "config", "gitcoord.integration", "mian")
    err = refused(b, "commit", "-m", "b: stale")
    assert "gitcoord.integration is 'mian', which names no commit" in err and "fix that" in err
    r = cli(b, "--json", "status")
    assert r.code == 2 and "gitcoord.integration is 'mian'" in r.stderr
