"""CLI conventions: JSON on stdout, errors on stderr, exit codes, help, completion."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.repos.recipes import Project, git
from tests.conftest import run_cli


def test_json_by_flag_and_env(project: Project, gc) -> None:  # type: ignore[no-untyped-def]
    a = project.wt("wt-a")
    r = gc(a, "--json", "lease", "README.md")
    assert r.code == 0 and r.json()["granted"][0]["pattern"] == "README.md"
    r = gc(a, "leases", env={"GITCOORD_JSON": "1"})
    assert r.json()["leases"][0]["pattern"] == "README.md"
    r = gc(a, "leases")
    assert "README.md" in r.stdout and not r.stdout.lstrip().startswith("{")


def test_denial_exit_1_error_json_on_stderr_only(project: Project, gc) -> None:  # type: ignore[no-untyped-def]
    gc(project.wt("wt-a"), "lease", "README.md")
    r = gc(project.wt("wt-b"), "--json", "lease", "README.md")
    assert r.code == 1
    assert r.stdout == ""
    assert r.err_json()["error"]["code"] == "denied"


def test_agent_name_resolution(project: Project) -> None:
    a = project.wt("wt-a")
    holder = lambda r: r.json()["granted"][0]["holder"]["agent"]  # noqa: E731
    assert holder(run_cli(a, "--json", "lease", "README.md")) == "wt-a"
    assert holder(run_cli(a, "--json", "lease", "docs/", env={"GITCOORD_AGENT": "envname"})) == "envname"
    r = run_cli(a, "--json", "--agent", "flagname", "lease", "src/", env={"GITCOORD_AGENT": "envname"})
    assert holder(r) == "flagname"


def test_dash_c_runs_elsewhere(project: Project, tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = run_cli(tmp_path, "--json", "-C", str(project.wt("wt-b")), "lease", "docs/api.md")
    assert r.code == 0, r.stderr
    assert r.json()["granted"][0]["holder"]["worktree"] == str(project.wt("wt-b"))


def test_dash_c_to_a_missing_directory_or_a_file_is_bad_input(project: Project, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # (it used to reach git with a bad cwd and report "git is not installed", exit 3)
    missing = run_cli(tmp_path, "--json", "-C", str(tmp_path / "nowhere"), "status")
    assert missing.code == 2 and "does not exist" in missing.err_json()["error"]["message"]
    afile = run_cli(tmp_path, "-C", str(project.main / "README.md"), "status")
    assert afile.code == 2 and "is not a directory" in afile.stderr


def test_every_command_has_help_with_example() -> None:
    from gitcoord.cli import cli

    def walk(group, prefix):  # type: ignore[no-untyped-def]
        import click

        for name, cmd in group.commands.items():
            if cmd.hidden:
                continue
            yield prefix + [name], cmd
            if isinstance(cmd, click.Group):
                yield from walk(cmd, prefix + [name])

    for path, cmd in walk(cli, []):
        assert cmd.help and "Example" in cmd.help, " ".join(path)


def test_shell_completion_scripts_come_from_the_entry_point(project: Project) -> None:
    """click's own completion, through gitcoord's real entry point (cli.main, which runs
    click with standalone_mode=False), for the three shells the README names."""
    for shell, needle in (
        ("bash", "complete -o nosort -F _gitcoord_completion gitcoord"),
        ("zsh", "#compdef gitcoord"),
        ("fish", "complete --no-files --command gitcoord"),
    ):
        r = run_cli(project.main, env={"_GITCOORD_COMPLETE": f"{shell}_source"})
        assert r.code == 0 and needle in r.stdout, (shell, r.stdout, r.stderr)
        assert f"_GITCOORD_COMPLETE={shell}_complete" in r.stdout


def test_shell_completion_completes_commands_and_paths(project: Project, tmp_path) -> None:  # type: ignore[no-untyped-def]
    def complete(words: str) -> list[str]:
        cword = str(len(words.split()) - (0 if words.endswith(" ") else 1))
        env = {"_GITCOORD_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": cword}
        r = run_cli(project.main, env=env)
        assert r.code == 0, r.stderr
        return r.stdout.splitlines()

    assert complete("gitcoord lea") == ["plain,lease", "plain,leases"]
    assert {"plain,add", "plain,list", "plain,remove"} <= set(complete("gitcoord worktree "))
    assert complete("gitcoord lease src/a") == ["file,src/a"]  # the shell completes files
    assert complete("gitcoord -C ../") == ["dir,../"]
    after_version = complete("gitcoord --version ")
    assert "plain,status" in after_version
    assert all(line.startswith("plain,") for line in after_version)  # no version printed mid-completion

    # bash itself: the script sourced, its function asked as bash asks it on <TAB>
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "gitcoord").write_text(f'#!/bin/sh\nexec {sys.executable} -m gitcoord "$@"\n')
    (bindir / "gitcoord").chmod(0o755)
    script = (
        'eval "$(_GITCOORD_COMPLETE=bash_source gitcoord)"\n'
        "COMP_WORDS=(gitcoord rel); COMP_CWORD=1\n"
        "_gitcoord_completion gitcoord\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run(["bash", "-c", script], cwd=project.main, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["release"]


def test_version_under_json_is_one_json_document(project: Project) -> None:
    """SPEC section 8: --json (or GITCOORD_JSON=1) prints one JSON document on stdout."""
    import json

    from gitcoord import __version__

    for args, env in ((["--json", "--version"], None), (["--version"], {"GITCOORD_JSON": "1"})):
        r = run_cli(project.main, *args, env=env)
        assert r.code == 0 and json.loads(r.stdout) == {"version": __version__}


def test_version_and_module_entry(project: Project) -> None:
    r = run_cli(project.main, "--version")
    assert r.code == 0 and "gitcoord" in r.stdout


@pytest.mark.sqlite_only
def test_internal_errors_never_show_a_traceback(project: Project) -> None:
    # A store path that is a directory makes sqlite fail in a way we do not special-case.
    db = project.main / ".git" / "gitcoord" / "gitcoord.db"
    db.mkdir(parents=True)
    r = run_cli(project.main, "leases")
    assert r.code == 3
    assert "Traceback" not in r.stderr


def test_tables_piped_are_never_cut_to_80_columns(project: Project) -> None:
    """Piped to a file, grep or an agent, a table keeps every value whole."""
    long = "docs/" + "/".join(["a-rather-long-directory-name"] * 4) + "/file.md"
    assert run_cli(project.main, "lease", long).code == 0
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    out = subprocess.run(
        [sys.executable, "-m", "gitcoord", "leases"], cwd=project.main, capture_output=True, text=True, env=env
    ).stdout
    assert long in out and max(len(line) for line in out.splitlines()) > 80


def test_store_info_names_the_store_project_and_schema(project: Project, store_kind: str) -> None:
    from gitcoord.store import SCHEMA_VERSION

    assert run_cli(project.main, "lease", "README.md").code == 0  # the store exists now
    doc = run_cli(project.wt("wt-a"), "--json", "store", "info").json()
    assert doc["schema_version"] == SCHEMA_VERSION
    if store_kind == "sqlite":
        assert doc["kind"] == "sqlite" and doc["project"] is None
        assert doc["location"] == str(project.main / ".git" / "gitcoord" / "gitcoord.db")
    else:
        assert doc["kind"] == "postgresql" and doc["project"] == os.environ["GITCOORD_PROJECT"]
        assert doc["location"] == os.environ["GITCOORD_STORE"] and doc["schema"].startswith("gc_test_")
    human = run_cli(project.main, "store", "info").stdout
    assert doc["location"] in human and f"schema version: {SCHEMA_VERSION}" in human


def test_store_info_makes_no_store(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    r = run_cli(tmp_path, "--json", "store", "info")
    assert r.code == 3 and "gitcoord init" in r.err_json()["error"]["message"]
    assert not (tmp_path / ".git" / "gitcoord" / "gitcoord.db").exists()


def test_psycopg_is_imported_only_for_the_postgresql_store(project: Project, store_kind: str) -> None:
    """Importing psycopg costs about 100 ms: SQLite commands never pay it."""
    assert run_cli(project.main, "lease", "README.md").code == 0
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gitcoord", "leases"],
        cwd=project.main, capture_output=True, text=True, env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr
    imported = re.search(r"\|\s+psycopg$", proc.stderr, re.M) is not None
    assert imported == (store_kind == "postgres")
