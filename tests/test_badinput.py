"""Bad input: each listed form exits 2 with a clear message and changes nothing."""

from __future__ import annotations

import pytest

from fixtures.repos.recipes import Project
from tests.conftest import run_cli, run_inproc, store_dump

BAD_LEASES = [
    pytest.param(["lease", "../outside.py"], id="outside-relative"),
    pytest.param(["lease", "/etc/passwd"], id="outside-absolute"),
    pytest.param(["lease", "src/a\nb.py"], id="newline"),
    pytest.param(["lease", ""], id="empty"),
    pytest.param(["lease", "."], id="the-root-itself"),
    pytest.param(["lease", "src/[abc"], id="unterminated-class"),
    pytest.param(["lease", "src/x\\"], id="trailing-backslash"),
    pytest.param(["lease", ".git/config"], id="inside-git-dir"),
    pytest.param(["lease", "README.md", "--ttl", "soon"], id="garbage-ttl"),
    pytest.param(["lease", "README.md", "--ttl", "-5m"], id="negative-ttl"),
    pytest.param(["lease", "README.md", "--ttl", "0"], id="zero-ttl"),
    pytest.param(["lease", "README.md", "--ttl", "99999d"], id="huge-ttl"),
    pytest.param(["lease", "README.md", "--wait", "1x"], id="garbage-wait"),
    pytest.param(["lease"], id="no-pattern"),
    pytest.param(["release"], id="release-nothing"),
    pytest.param(["release", "--all", "README.md"], id="release-all-and-pattern"),
    pytest.param(["release", "docs/never-leased.md"], id="release-unknown"),
    pytest.param(["read"], id="read-nothing"),
    pytest.param(["read", "../x"], id="read-outside"),
    pytest.param(["log", "--since", "yesterdayish"], id="bad-since"),
    pytest.param(["prune", "--before", "whenever"], id="bad-before"),
    pytest.param(["export", "--format", "xml"], id="bad-format"),
    pytest.param(["--agent", "", "leases"], id="empty-agent"),
    pytest.param(["no-such-command"], id="unknown-command"),
    pytest.param(["lease", "src/a\udcffb.py"], id="path-not-utf8"),
    pytest.param(["send", "wt-b", "hi \udcff"], id="message-not-utf8"),
    pytest.param(["task", "add", "T-9", "--title", "x\udcff"], id="title-not-utf8"),
    pytest.param(["read", "*" * 2000], id="read-glob-too-long-for-the-os"),
    pytest.param(["status", "--watch", "nan"], id="watch-nan"),
    pytest.param(["status", "--watch", "inf"], id="watch-inf"),
    pytest.param(["log", "--since", ""], id="empty-since"),
    pytest.param(["check", "--range", ""], id="empty-range"),
    pytest.param(["check", "--push", ""], id="empty-push"),
    pytest.param(["lease", "README.md", "--ttl", "0.0000001s"], id="sub-second-ttl"),
    pytest.param(["lease", "README.md", "--task", ""], id="empty-task"),
    pytest.param(["lease", "README.md", "--task", "a\nb"], id="task-with-newline"),
]


@pytest.mark.parametrize("args", BAD_LEASES)
def test_bad_input_exit_2_and_nothing_changes(project: Project, args: list[str]) -> None:
    a = project.wt("wt-a")
    run_cli(a, "lease", "docs/guide.md")  # some state to protect
    before = store_dump(project.main)
    r = run_cli(a, *args)
    assert r.code == 2, (r.code, r.stdout, r.stderr)
    assert r.stderr.strip(), "a clear message on stderr"
    assert "Traceback" not in r.stderr
    assert store_dump(project.main) == before
    r = run_cli(a, "--json", *args)
    assert r.code == 2
    assert set(r.err_json()["error"]) >= {"code", "message"}
    assert store_dump(project.main) == before


def test_nul_byte_in_path_is_refused_in_process(project: Project) -> None:
    # argv cannot carry NUL through exec, so this one goes through the in-process entry point
    a = project.wt("wt-a")
    run_cli(a, "lease", "docs/guide.md")
    before = store_dump(project.main)
    r = run_inproc(a, "--json", "lease", "src/a\0b.py")
    assert r.code == 2
    assert r.err_json()["error"]["code"] == "bad_input"
    assert store_dump(project.main) == before


def test_not_a_repository_exit_3(tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = run_cli(tmp_path, "--json", "leases")
    assert r.code == 3
    assert r.err_json()["error"]["code"] == "not_a_repository"


def test_a_garbage_duration_in_git_config_is_named(project: Project) -> None:
    from fixtures.repos.recipes import git

    for key in ("gitcoord.leaseTtl", "gitcoord.hookTimeout", "gitcoord.healthTimeout"):
        git(project.main, "config", key, "soonish")
        r = run_cli(project.main, "--json", "leases")
        assert r.code == 2, (key, r.stderr)
        assert key in r.err_json()["error"]["message"]
        git(project.main, "config", "--unset", key)


@pytest.mark.parametrize("value", ["nan", "inf", "1e400", "-1"])
def test_a_nonsense_busy_timeout_means_the_default(project: Project, value: str) -> None:
    """GITCOORD_BUSY_TIMEOUT that is no usable number of seconds: the default, not a
    crash of every store command (and of every commit's check)."""
    a = project.wt("wt-a")
    env = {"GITCOORD_BUSY_TIMEOUT": value}
    assert run_cli(a, "lease", "docs/guide.md", env=env).code == 0
    assert run_cli(a, "--json", "leases", env=env).json()["leases"][0]["pattern"] == "docs/guide.md"


def test_a_task_import_with_a_lone_surrogate_is_bad_input(project: Project, tmp_path) -> None:  # type: ignore[no-untyped-def]
    before = store_dump(project.main)
    f = tmp_path / "t.jsonl"
    f.write_text('{"id": "I-1", "title": "a\\ud800"}\n')
    r = run_cli(project.main, "--json", "task", "import", str(f))
    assert r.code == 2 and "not valid UTF-8" in r.err_json()["error"]["message"]
    assert store_dump(project.main) == before


def test_a_too_long_duration_in_since_says_so(project: Project) -> None:
    r = run_cli(project.main, "--json", "log", "--since", "400d")
    assert r.code == 2 and "longer than a year" in r.err_json()["error"]["message"]


@pytest.mark.parametrize("pattern", ["elink/", "elink/*", "elink/**/*.conf", "elink/passwd"])
def test_patterns_through_a_symlink_out_of_the_tree_are_refused(project: Project, pattern: str) -> None:
    """SPEC section 2: patterns are repository-relative. A dir lease or a glob whose
    directory is a symlink out of the tree would cover what is not in the repository."""
    a = project.wt("wt-a")
    (a / "elink").symlink_to("/etc")
    before = store_dump(project.main)
    r = run_cli(a, "--json", "lease", pattern)
    assert r.code == 2 and "through a symlink" in r.err_json()["error"]["message"]
    assert store_dump(project.main) == before
    assert run_cli(a, "lease", "elink").code == 0  # the symlink itself is a path of the tree


def test_sub_second_durations_are_refused_only_as_ttls(project: Project) -> None:
    """A lease over before anyone could use it is bad input; half a second of --wait
    or of a hook timeout is not."""
    from fixtures.repos.recipes import git

    a = project.wt("wt-a")
    assert run_cli(a, "lease", "docs/guide.md", "--wait", "0.5s").code == 0
    git(project.main, "config", "gitcoord.hookTimeout", "0.5s")
    assert run_cli(a, "--json", "leases").code == 0
    git(project.main, "config", "gitcoord.leaseTtl", "0.5s")
    r = run_cli(a, "--json", "lease", "README.md")
    assert r.code == 2 and "shorter than a second" in r.err_json()["error"]["message"]
