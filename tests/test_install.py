"""Installing and uninstalling the hook shims (issue 3, item 1; docs/hooks-contract.md).

Real repositories, real ``git commit`` / ``git merge`` / ``git rebase`` / ``git push`` through
the installed shims. Most tests install the shims for a *stand-in interpreter*: a small shell
script at an absolute path that records how the shim called it (``-m gitcoord hook-impl HOOK
ARGS``, its stdin, its cwd) and, for pre-commit, leaves ``gitcoord-precommit-ok`` exactly as
``hook-impl pre-commit`` does. That tests the shims alone, whatever the hook logic does;
tests of the real interpreter end to end need ``gitcoord.hookimpl``.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.repos.recipes import FIXED_ENV, Project, small_project
from gitcoord import gitrepo, install
from tests.conftest import REPO_ROOT, run_cli, run_inproc

ZERO = "0" * 40


# ---------------------------------------------------------------- helpers
def sh(cwd: Path, *args: str, env: dict[str, str] | None = None, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run git with a clean GIT_* environment (hooks see PYTHONPATH, so the real
    interpreter imports this checkout)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    full.update(FIXED_ENV)
    full["PYTHONPATH"] = str(REPO_ROOT)
    if env:
        full.update(env)
    return subprocess.run(["git", *args], cwd=cwd, env=full, input=input, capture_output=True, text=True, check=False)


def ok(cwd: Path, *args: str, env: dict[str, str] | None = None, input: str | None = None) -> str:
    proc = sh(cwd, *args, env=env, input=input)
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc.stdout


def edit_commit(wt: Path, rel: str, text: str, msg: str, *extra: str) -> subprocess.CompletedProcess[str]:
    p = wt / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    ok(wt, "add", "--", rel)
    return sh(wt, "commit", "-q", "-m", msg, *extra)


def repo_of(path: Path) -> gitrepo.Repo:
    return gitrepo.discover(path)


def journal(project: Project) -> list[list[str]]:
    p = project.main / ".git" / "gitcoord" / "journal"
    if not p.exists():
        return []
    return [line.split("\t") for line in p.read_text().splitlines()]


def listing(d: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.name: (p.read_bytes() if not p.is_symlink() else os.readlink(p).encode(), stat.S_IMODE(p.lstat().st_mode))
        for p in sorted(d.iterdir())
        if not p.name.endswith(".sample")
    }


def pass_left(gitdir: Path) -> bool:
    """Whether a pre-commit pass is still there to be counted (the shim empties it)."""
    p = gitdir / "gitcoord-precommit-ok"
    return p.exists() and p.stat().st_size > 0


def write_hook(path: Path, text: str, mode: int = 0o755) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode()
    path.write_bytes(data)
    path.chmod(mode)
    return data


@dataclass
class Fake:
    """The stand-in interpreter and what it saw."""

    python: Path
    log: Path

    def calls(self) -> list[tuple[str, str, str]]:
        if not self.log.exists():
            return []
        out = []
        for line in self.log.read_text().splitlines():
            hook, args, cwd = line.removeprefix("CALL ").split("|")
            out.append((hook, args, cwd))
        return out

    def hooks_called(self) -> list[str]:
        return [c[0] for c in self.calls()]

    def stdin(self, hook: str) -> str:
        return Path(f"{self.log}.{hook}.stdin").read_text()

    def exit_with(self, hook: str, code: int) -> None:
        Path(f"{self.log}.exit.{hook}").write_text(str(code))


FAKE_PYTHON = """#!/bin/sh
# Stands in for the installing Python: called as `$0 -m gitcoord hook-impl HOOK ARGS...`.
log='{log}'
if [ "$1 $2 $3" != "-m gitcoord hook-impl" ]; then
    echo "BAD $*" >> "$log"
    exit 99
fi
hook=$4
shift 4
input=$(cat; echo .)
printf '%s' "${{input%.}}" > "$log.$hook.stdin"
printf 'CALL %s|%s|%s\\n' "$hook" "$*" "$PWD" >> "$log"
code=0
[ -f "$log.exit.$hook" ] && code=$(cat "$log.exit.$hook")
if [ "$code" = 0 ]; then
    case $hook in
    pre-commit | pre-merge-commit) echo "$(git write-tree) $PPID" > "$(git rev-parse --git-dir)/gitcoord-precommit-ok" ;;
    esac
fi
exit $code
"""


@pytest.fixture
def fake(tmp_path: Path) -> Fake:
    d = tmp_path / "interp dir"  # a space in the path: the shim must quote it
    d.mkdir()
    log = d / "calls.log"
    py = d / "python"
    py.write_text(FAKE_PYTHON.format(log=log))
    py.chmod(0o755)
    return Fake(py, log)


def install_fake(where: Path, fake: Fake, **kw: object) -> install.InstallResult:
    return install.install(repo_of(where), python=str(fake.python), check_import=False, **kw)  # type: ignore[arg-type]


def hooks_dir(project: Project) -> Path:
    return project.main / ".git" / "hooks"


# ---------------------------------------------------------------- templates
def test_hooks_dir_holds_the_templates_install_writes(project: Project) -> None:
    tmpl_dir = REPO_ROOT / "hooks"
    assert sorted(p.name for p in tmpl_dir.iterdir()) == sorted(install.ALL_HOOKS)
    for hook in install.ALL_HOOKS:
        text = (tmpl_dir / hook).read_text()
        assert text == install.template(hook), (
            f"hooks/{hook} is out of date: python -m gitcoord.install --write-templates hooks"
        )
        assert text.startswith("#!/bin/sh\n" + install.MARKER + "\n")
        assert text.count(install.PYTHON_PLACEHOLDER) == 1
        assert "env python" not in text
        assert os.access(tmpl_dir / hook, os.X_OK)
        assert subprocess.run(["sh", "-n", str(tmpl_dir / hook)], check=False).returncode == 0

    python = install.install_python()
    result = install.install(repo_of(project.main), check_import=False)
    assert result.python == python and os.path.isabs(python)
    installed = {h.hook for h in result.hooks}
    assert installed == set(install.CLIENT_HOOKS)
    for hook in install.CLIENT_HOOKS:
        written = (hooks_dir(project) / hook).read_text()
        expected = (tmpl_dir / hook).read_text().replace("@PYTHON@", python)
        assert written == expected
        assert stat.S_IMODE((hooks_dir(project) / hook).stat().st_mode) == 0o755
    for hook in install.SERVER_HOOKS + install.WORKTREE_HOOKS:
        assert not (hooks_dir(project) / hook).exists()


def test_install_python_keeps_a_venv_and_skips_version_manager_shims(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shim = tmp_path / "shims" / "python"
    shim.parent.mkdir()
    shim.write_text('#!/usr/bin/env bash\nexec pyenv exec python "$@"\n')
    shim.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(shim))
    monkeypatch.setattr(sys, "base_prefix", sys.prefix)
    real = install.install_python()
    assert real != str(shim) and os.path.samefile(real, os.path.realpath("/proc/self/exe"))
    # In a virtual environment the venv's own python stays (its symlink is not resolved).
    monkeypatch.setattr(sys, "base_prefix", "/somewhere/else")
    venv_py = tmp_path / "venv" / "bin" / "python"
    venv_py.parent.mkdir(parents=True)
    venv_py.symlink_to(os.path.realpath("/proc/self/exe"))
    monkeypatch.setattr(sys, "executable", str(venv_py))
    assert install.install_python() == str(venv_py)
    # Outside one, python3 -> python3.11 beside it is resolved (it pins the minor version
    # whose site-packages hold gitcoord); a link into another directory is kept.
    monkeypatch.setattr(sys, "base_prefix", sys.prefix)
    bindir = tmp_path / "usr" / "bin"
    bindir.mkdir(parents=True)
    (bindir / "python3.11").write_bytes(b"\x7fELF not really")
    (bindir / "python3.11").chmod(0o755)
    (bindir / "python3").symlink_to("python3.11")
    monkeypatch.setattr(sys, "executable", str(bindir / "python3"))
    assert install.install_python() == str(bindir / "python3.11")
    (bindir / "python").symlink_to(tmp_path / "cellar" / "python3.11")
    (tmp_path / "cellar").mkdir()
    (tmp_path / "cellar" / "python3.11").write_bytes(b"\x7fELF")
    monkeypatch.setattr(sys, "executable", str(bindir / "python"))
    assert install.install_python() == str(bindir / "python")


def test_interpreter_path_with_a_quote_is_quoted(tmp_path: Path) -> None:
    text = install.render("pre-commit", "/opt/it's here/python")
    assert "PYTHON='/opt/it'\\''s here/python'" in text
    proc = subprocess.run(["sh", "-c", text.split("\nif ")[0] + '\nprintf %s "$PYTHON"'], capture_output=True, text=True, check=False)
    assert proc.stdout == "/opt/it's here/python"
    with pytest.raises(ValueError):
        install.render("pre-commit", "python3")


# ---------------------------------------------------------------- idempotence, upgrade, uninstall
def test_reinstall_is_byte_identical_and_touches_nothing(project: Project, fake: Fake) -> None:
    first = install_fake(project.main, fake)
    assert {h.action for h in first.hooks} == {"installed"}
    before = listing(hooks_dir(project))
    mtimes = {n: (hooks_dir(project) / n).stat().st_mtime_ns for n in before}
    again = install_fake(project.wt("wt-a"), fake)  # from a linked worktree: the same directory
    assert again.hooks_dirs == first.hooks_dirs
    assert {h.action for h in again.hooks} == {"unchanged"}
    assert listing(hooks_dir(project)) == before
    assert {n: (hooks_dir(project) / n).stat().st_mtime_ns for n in before} == mtimes
    assert not any(n.endswith(".legacy") for n in before)
    assert install.status(repo_of(project.main), python=str(fake.python)).installed


def test_reinstall_with_another_interpreter_rewrites_ours_only(project: Project, fake: Fake) -> None:
    foreign = write_hook(hooks_dir(project) / "pre-push", "#!/bin/sh\nexit 0\n")
    install_fake(project.main, fake)
    result = install.install(repo_of(project.main), python="/opt/other/python", check_import=False)
    assert {h.action for h in result.hooks} == {"updated"}
    assert "PYTHON='/opt/other/python'" in (hooks_dir(project) / "pre-commit").read_text()
    assert (hooks_dir(project) / "pre-push.legacy").read_bytes() == foreign
    assert not (hooks_dir(project) / "pre-push.legacy.legacy").exists()
    st = install.status(repo_of(project.main), python=str(fake.python))
    assert not st.installed and {h.action for h in st.hooks} == {"outdated"}


def test_older_marker_is_upgraded_in_place(project: Project, fake: Fake) -> None:
    old = "#!/bin/sh\n# gitcoord-hook v0\nexec /usr/bin/python3 -m gitcoord hook-impl pre-commit\n"
    write_hook(hooks_dir(project) / "pre-commit", old)
    result = install_fake(project.main, fake)
    by = {h.hook: h for h in result.hooks}
    assert by["pre-commit"].action == "upgraded" and not by["pre-commit"].moved_aside
    assert (hooks_dir(project) / "pre-commit").read_text() == install.render("pre-commit", str(fake.python))
    assert not (hooks_dir(project) / "pre-commit.legacy").exists()
    assert install.marker_version(old.encode()) == 0
    assert install.marker_version(b"#!/bin/sh\necho '# gitcoord-hook v1 is not at line start'\n") is None


def test_foreign_hook_is_kept_chained_and_restored_byte_for_byte(project: Project, fake: Fake) -> None:
    d = hooks_dir(project)
    data = b"#!/bin/sh\n# not ours \xff\xfe\nexit 0\n"
    (d / "pre-commit").write_bytes(data)
    (d / "pre-commit").chmod(0o750)
    (d / "post-merge").symlink_to("../../scripts/post-merge-hook")  # a relative symlink, dangling
    before = listing(d)

    result = install_fake(project.main, fake)
    by = {h.hook: h for h in result.hooks}
    assert by["pre-commit"].moved_aside and by["pre-commit"].legacy == str(d / "pre-commit.legacy")
    assert (d / "pre-commit.legacy").read_bytes() == data
    assert stat.S_IMODE((d / "pre-commit.legacy").stat().st_mode) == 0o750
    assert os.readlink(d / "post-merge.legacy") == "../../scripts/post-merge-hook"
    assert install.marker_version((d / "pre-commit").read_bytes()) == install.VERSION

    removed = install.uninstall(repo_of(project.wt("wt-b")))
    assert {h.hook for h in removed.hooks} == set(install.CLIENT_HOOKS)
    assert {h.hook for h in removed.hooks if h.restored} == {"pre-commit", "post-merge"}
    assert listing(d) == before  # exactly the former hooks, same bytes and modes, nothing else
    assert install.uninstall(repo_of(project.main)).hooks == ()


def test_a_foreign_hook_symlinked_to_a_sibling_keeps_running_and_comes_back(project: Project, fake: Fake) -> None:
    """pre-merge-commit -> pre-commit, both someone else's: once our pre-commit shim is
    written there the link must not count as ours, must still run the foreign hook on
    merges, and uninstall must bring the link itself back."""
    d = hooks_dir(project)
    write_hook(d / "pre-commit", "#!/bin/sh\necho LINT >> \"$0.ran\"\n")
    (d / "pre-merge-commit").symlink_to("pre-commit")
    before = listing(d)
    result = install_fake(project.main, fake)
    by = {h.hook: h for h in result.hooks}
    assert by["pre-merge-commit"].moved_aside
    assert os.readlink(d / "pre-merge-commit.legacy") == "pre-commit.legacy"
    assert not os.path.islink(d / "pre-merge-commit")  # our shim, a file of its own
    assert (d / "pre-merge-commit.legacy").read_bytes() == (d / "pre-commit.legacy").read_bytes()
    install.uninstall(repo_of(project.main))
    assert listing(d) == before
    assert os.readlink(d / "pre-merge-commit") == "pre-commit"


def test_foreign_hook_runs_first_and_its_refusal_stands(project: Project, fake: Fake) -> None:
    d = hooks_dir(project)
    write_hook(d / "pre-commit", '#!/bin/sh\necho "foreign saw $PWD" >&2\nexit "$(cat "$0.code")"\n')
    (d / "pre-commit.legacy.code").write_text("3")
    install_fake(project.main, fake)

    refused = edit_commit(project.wt("wt-a"), "src/app/api.py", "x = 1\n", "refused by the foreign hook")
    assert refused.returncode != 0
    assert f"foreign saw {project.wt('wt-a')}" in refused.stderr
    assert fake.hooks_called() == []  # a refusal by the chained hook stops there

    (d / "pre-commit.legacy.code").write_text("0")
    passed = sh(project.wt("wt-a"), "commit", "-q", "-m", "now both pass")
    assert passed.returncode == 0, passed.stderr
    assert fake.hooks_called()[0] == "pre-commit"

    fake.exit_with("pre-commit", 1)
    ours = edit_commit(project.wt("wt-a"), "src/app/api.py", "x = 2\n", "refused by ours")
    assert ours.returncode == 1
    assert ok(project.wt("wt-a"), "log", "-1", "--format=%s").strip() == "now both pass"


def test_non_executable_foreign_hook_is_kept_and_reported(project: Project, fake: Fake, tmp_path: Path) -> None:
    d = hooks_dir(project)
    marker = tmp_path / "ran"
    data = write_hook(d / "pre-commit", f"#!/bin/sh\ntouch '{marker}'\nexit 1\n", mode=0o644)
    result = install_fake(project.main, fake)
    assert any("pre-commit.legacy is not executable" in w for w in result.warnings)
    pc = {h.hook: h for h in result.hooks}["pre-commit"]
    assert pc.legacy_executable is False
    assert (d / "pre-commit.legacy").read_bytes() == data
    assert stat.S_IMODE((d / "pre-commit.legacy").stat().st_mode) == 0o644
    # git did not run it before, and the shim does not either.
    assert edit_commit(project.main, "README.md", "# demo!\n", "c").returncode == 0
    assert not marker.exists()
    # The CLI says so on stderr.
    install.uninstall(repo_of(project.main))
    (d / "pre-commit").chmod(0o644)
    r = run_inproc(project.main, "install")
    assert r.code == 0 and "pre-commit.legacy is not executable" in r.stderr
    assert "runs pre-commit.legacy first" not in r.stdout


def test_foreign_hook_beside_a_foreign_legacy_needs_force(project: Project, fake: Fake) -> None:
    d = hooks_dir(project)
    hook = write_hook(d / "pre-commit", "#!/bin/sh\necho current\n")
    older = write_hook(d / "pre-commit.legacy", "#!/bin/sh\necho older\n")
    before = listing(d)
    r = run_inproc(project.main, "--json", "install")
    assert r.code == 1
    assert "--force" in r.err_json()["error"]["message"]
    assert listing(d) == before  # nothing written at all

    result = install_fake(project.main, fake, force=True)
    assert (d / "pre-commit.legacy").read_bytes() == hook
    assert (d / "pre-commit.legacy.bak").read_bytes() == older
    assert any("pre-commit.legacy.bak" in w for w in result.warnings)


def test_our_shim_moved_aside_by_another_tool_is_never_chained(project: Project, fake: Fake) -> None:
    d = hooks_dir(project)
    install_fake(project.main, fake)
    # Another framework moved our shim to pre-commit.legacy and put its own in place.
    os.replace(d / "pre-commit", d / "pre-commit.legacy")
    theirs = write_hook(d / "pre-commit", "#!/bin/sh\nexit 0\n")
    install_fake(project.main, fake)
    assert (d / "pre-commit.legacy").read_bytes() == theirs
    assert install.marker_version((d / "pre-commit").read_bytes()) == install.VERSION
    install.uninstall(repo_of(project.main))
    assert (d / "pre-commit").read_bytes() == theirs and not (d / "pre-commit.legacy").exists()


# ---------------------------------------------------------------- worktrees and the journal
def test_commits_in_every_worktree_are_journaled_without_python(project: Project, fake: Fake) -> None:
    install_fake(project.wt("wt-a"), fake)
    late = project.main.parent / "wt-late"
    ok(project.main, "worktree", "add", "-q", "-b", "late", str(late), "main")
    late = late.resolve()
    # Without the gitcoord dir (install made it for its lock), the shim creates it.
    shutil.rmtree(project.main / ".git" / "gitcoord")

    tops = {"main": project.main, "wt-a": project.wt("wt-a"), "late": late}
    shas = {}
    for name, top in tops.items():
        r = edit_commit(top, f"src/{name}.py", f"# {name}\n", f"work in {name}")
        assert r.returncode == 0, r.stderr
        shas[name] = ok(top, "rev-parse", "HEAD").strip()
        gitdir = Path(ok(top, "rev-parse", "--absolute-git-dir").strip())
        assert not pass_left(gitdir)  # consumed by post-commit

    lines = journal(project)
    assert [(ln[0], ln[1], ln[2]) for ln in lines] == [("post-commit", shas[n], str(t)) for n, t in tops.items()]
    assert all(ln[3].isdigit() and len(ln) == 5 and ln[4] == "" for ln in lines)  # (no GITCOORD_AGENT)
    # Python ran once per commit: the pre-commit check, in that worktree. Never post-commit.
    assert [(c[0], c[2]) for c in fake.calls()] == [("pre-commit", str(t)) for t in tops.values()]


def test_a_commit_that_skipped_the_check_is_checked_in_post_commit(project: Project, fake: Fake) -> None:
    install_fake(project.main, fake)
    wt = project.wt("wt-b")
    r = edit_commit(wt, "docs/guide.md", "# sneaky\n", "no verify", "--no-verify")
    assert r.returncode == 0, r.stderr
    assert fake.hooks_called() == ["post-commit"]
    assert journal(project) == []  # recorded by hook-impl post-commit, not the journal

    # A pass left behind by an aborted commit does not cover a later --no-verify commit.
    gitdir = Path(ok(wt, "rev-parse", "--absolute-git-dir").strip())
    (gitdir / "gitcoord-precommit-ok").write_text(ok(wt, "rev-parse", "HEAD^{tree}"))
    r = edit_commit(wt, "docs/guide.md", "# sneakier\n", "no verify again", "--no-verify")
    assert r.returncode == 0
    assert fake.hooks_called() == ["post-commit", "post-commit"]
    assert not pass_left(gitdir)
    assert journal(project) == []


def test_amend_rebase_and_merge_are_journaled(project: Project, fake: Fake) -> None:
    d = hooks_dir(project)
    # A foreign post-rewrite gets the same stdin as the journal.
    write_hook(d / "post-rewrite", '#!/bin/sh\ncat > "$0.seen"\necho "$1" >> "$0.seen"\nexit 4\n')
    install_fake(project.main, fake)
    wt = project.wt("wt-a")
    assert edit_commit(wt, "src/app/util.py", "def helper():\n    return 3\n", "util 3").returncode == 0
    before = ok(wt, "rev-parse", "HEAD").strip()
    ok(wt, "commit", "-q", "--amend", "-m", "util 3, amended")
    after = ok(wt, "rev-parse", "HEAD").strip()
    rewrites = [ln for ln in journal(project) if ln[0] == "post-rewrite"]
    assert [ln[:5] for ln in rewrites] == [["post-rewrite", "amend", before, after, str(wt)]]
    assert (d / "post-rewrite.legacy.seen").read_text() == f"{before} {after}\namend\n"

    # main moves on; wt-a rebases two commits onto it.
    assert edit_commit(project.main, "docs/api.md", "# api v2\n", "api docs").returncode == 0
    assert edit_commit(wt, "src/app/models.py", "class Model:\n    x = 1\n", "models").returncode == 0
    old = ok(wt, "rev-list", "--reverse", "main..HEAD").split()
    ok(wt, "rebase", "-q", "main")
    new = ok(wt, "rev-list", "--reverse", "main..HEAD").split()
    rebased = [ln[1:4] for ln in journal(project) if ln[0] == "post-rewrite" and ln[1] == "rebase"]
    assert rebased == [["rebase", o, n] for o, n in zip(old, new, strict=True)]

    # A merge commit, and a squash merge.
    ok(project.main, "merge", "-q", "--no-ff", "-m", "merge wt-a", "wt-a")
    merged = ok(project.main, "rev-parse", "HEAD").strip()
    merges = [ln for ln in journal(project) if ln[0] == "post-merge"]
    assert [ln[1:3] + ln[4:] for ln in merges] == [[merged, str(project.main), "0", ""]]  # (squash 0, no agent)
    assert "pre-merge-commit" in fake.hooks_called()
    assert not pass_left(project.main / ".git")
    assert edit_commit(project.wt("wt-b"), "tests/t.py", "x = 1\n", "t").returncode == 0
    ok(project.main, "merge", "-q", "--squash", "wt-b")
    assert journal(project)[-1][0] == "post-merge" and journal(project)[-1][4] == "1"


def test_relative_hooks_path_gives_every_worktree_hooks_even_later_ones(project: Project) -> None:
    ok(project.main, "config", "core.hooksPath", ".githooks")
    tracked = write_hook(project.main / ".githooks" / "pre-commit", "#!/bin/sh\nexit 0\n")
    r = run_cli(project.main, "--json", "install", env={"PYTHONPATH": str(REPO_ROOT)})
    assert r.code == 0, r.stderr
    doc = r.json()
    tops = [project.main, project.wt("wt-a"), project.wt("wt-b")]
    assert sorted(doc["hooks_dirs"]) == sorted(str(t / ".githooks") for t in tops)
    assert any("relative" in n for n in doc["notes"])
    for t in tops:
        for hook in install.CLIENT_HOOKS + install.WORKTREE_HOOKS:
            assert install.marker_version((t / ".githooks" / hook).read_bytes()) == install.VERSION
    assert (project.main / ".githooks" / "pre-commit.legacy").read_bytes() == tracked
    assert not (project.main / ".git" / "hooks" / "pre-commit").exists()

    # A worktree created after install: the post-checkout shim installs into it.
    late = project.main.parent / "wt-late"
    add = sh(project.wt("wt-a"), "worktree", "add", "-q", "-b", "late", str(late), "main")
    assert add.returncode == 0, add.stderr
    st = install.status(repo_of(late))
    assert str(late.resolve() / ".githooks") in st.hooks_dirs
    assert st.installed, st.warnings

    removed = install.uninstall(repo_of(project.main))
    assert {Path(h.path).parent for h in removed.hooks} == {t / ".githooks" for t in [*tops, late.resolve()]}
    assert str(project.main / ".git" / "hooks") in removed.hooks_dirs  # looked there too
    assert (project.main / ".githooks" / "pre-commit").read_bytes() == tracked


def test_absolute_hooks_path_is_honoured(project: Project, fake: Fake, tmp_path: Path) -> None:
    shared = tmp_path / "shared hooks"
    ok(project.main, "config", "core.hooksPath", str(shared))
    result = install_fake(project.wt("wt-a"), fake)
    assert result.hooks_dirs == (str(shared),)
    assert not (project.main / ".git" / "hooks" / "pre-commit").exists()
    assert install.WORKTREE_HOOKS[0] not in {h.hook for h in result.hooks}
    assert edit_commit(project.wt("wt-b"), "src/b.py", "b = 1\n", "b").returncode == 0
    assert [ln[0] for ln in journal(project)] == ["post-commit"]
    assert journal(project)[0][2] == str(project.wt("wt-b"))


# ---------------------------------------------------------------- push and the server side
@pytest.fixture
def remote(project: Project, tmp_path: Path) -> Path:
    bare = tmp_path / "remote.git"
    ok(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    ok(project.main, "remote", "add", "origin", str(bare))
    ok(project.main, "push", "-q", "origin", "main")
    return bare


def test_pre_push_chains_the_foreign_hook_with_the_same_stdin(project: Project, remote: Path, fake: Fake) -> None:
    d = hooks_dir(project)
    write_hook(d / "pre-push", '#!/bin/sh\nprintf "%s|%s\\n" "$1" "$2" > "$0.args"\ncat > "$0.stdin"\nexit "$(cat "$0.code")"\n')
    (d / "pre-push.legacy.code").write_text("0")
    install_fake(project.main, fake)
    wt = project.wt("wt-a")
    assert edit_commit(wt, "src/app/api.py", "x = 1\n", "api").returncode == 0
    assert edit_commit(wt, "src/app/util.py", "y = 1\n", "util").returncode == 0
    head = ok(wt, "rev-parse", "HEAD").strip()
    r = sh(wt, "push", "-q", "origin", "wt-a", "HEAD:refs/heads/feature", "main")
    assert r.returncode == 0, r.stderr
    expected = (  # main is up to date on the remote: git sends no line for it
        f"refs/heads/wt-a {head} refs/heads/wt-a {ZERO}\n"
        f"HEAD {head} refs/heads/feature {ZERO}\n"
    )
    assert (d / "pre-push.legacy.stdin").read_text() == expected
    assert fake.stdin("pre-push") == expected
    assert (d / "pre-push.legacy.args").read_text() == f"origin|{remote}\n"
    assert fake.calls()[-1][:2] == ("pre-push", f"origin {remote}")

    # The foreign hook refuses: nothing is pushed, and ours is not asked.
    (d / "pre-push.legacy.code").write_text("1")
    assert edit_commit(wt, "src/app/api.py", "x = 2\n", "api 2").returncode == 0
    n = len(fake.calls())
    assert sh(wt, "push", "-q", "origin", "wt-a").returncode != 0
    assert ok(remote, "rev-parse", "refs/heads/wt-a").strip() == head
    assert len(fake.calls()) == n


def test_pre_push_without_a_foreign_hook_execs_with_stdin(project: Project, remote: Path, fake: Fake) -> None:
    install_fake(project.main, fake)
    fake.exit_with("pre-push", 1)
    wt = project.wt("wt-b")
    assert edit_commit(wt, "docs/x.md", "x\n", "x").returncode == 0
    head = ok(wt, "rev-parse", "HEAD").strip()
    assert sh(wt, "push", "-q", "origin", "wt-b").returncode == 1
    assert fake.stdin("pre-push") == f"refs/heads/wt-b {head} refs/heads/wt-b {ZERO}\n"
    assert sh(remote, "rev-parse", "--verify", "-q", "refs/heads/wt-b").returncode != 0


def test_server_install_in_a_bare_repository(project: Project, remote: Path, fake: Fake) -> None:
    r = run_inproc(remote, "--json", "install", "--server")
    assert r.code == 0, r.stderr
    assert [h["hook"] for h in r.json()["hooks"]] == ["pre-receive"]
    assert sorted(p.name for p in (remote / "hooks").iterdir() if not p.name.endswith(".sample")) == ["pre-receive"]
    install.uninstall(repo_of(remote))

    foreign = write_hook(remote / "hooks" / "pre-receive", '#!/bin/sh\ncat > "$0.stdin"\n')
    result = install_fake(remote, fake)  # a bare repository gets the server hook by default
    assert result.server and [h.hook for h in result.hooks] == ["pre-receive"]
    fake.exit_with("pre-receive", 1)
    wt = project.wt("wt-a")
    assert edit_commit(wt, "src/app/api.py", "x = 1\n", "api").returncode == 0
    head = ok(wt, "rev-parse", "HEAD").strip()
    r2 = sh(wt, "push", "--no-verify", "origin", "wt-a")  # --no-verify skips only client hooks
    assert r2.returncode != 0 and "pre-receive hook declined" in r2.stderr
    line = f"{ZERO} {head} refs/heads/wt-a\n"
    assert fake.stdin("pre-receive") == line
    assert (remote / "hooks" / "pre-receive.legacy.stdin").read_text() == line
    fake.exit_with("pre-receive", 0)
    assert sh(wt, "push", "-q", "origin", "wt-a").returncode == 0
    install.uninstall(repo_of(remote))
    assert (remote / "hooks" / "pre-receive").read_bytes() == foreign


# ---------------------------------------------------------------- failure modes
def test_not_a_repository_exits_3(tmp_path: Path) -> None:
    r = run_inproc(tmp_path, "install")
    assert r.code == 3 and "not a git repository" in r.stderr
    r = run_inproc(tmp_path, "--json", "uninstall")
    assert r.code == 3 and r.err_json()["error"]["code"] == "not_a_repository"


@pytest.mark.parametrize("where", ["under-a-file", "proc"])
def test_unwritable_hooks_dir_exits_3(project: Project, tmp_path: Path, where: str) -> None:
    if where == "under-a-file":
        (tmp_path / "afile").write_text("")
        target = tmp_path / "afile" / "hooks"
    else:
        target = Path("/proc/gitcoord-cannot-write-here/hooks")
    ok(project.main, "config", "core.hooksPath", str(target))
    r = run_inproc(project.main, "--json", "install")
    assert r.code == 3
    err = r.err_json()["error"]
    assert err["code"] == "environment" and str(target) in err["message"]
    assert "hooks directory" in err["message"]


def test_a_vanished_interpreter_fails_closed(project: Project, tmp_path: Path) -> None:
    gone = tmp_path / "venv" / "bin" / "python"
    install.install(repo_of(project.main), python=str(gone), check_import=False)
    r = edit_commit(project.main, "README.md", "# changed\n", "c")
    assert r.returncode == 1
    assert f"gitcoord: {gone}, the Python that installed this hook, is gone" in r.stderr
    assert "gitcoord install" in r.stderr
    assert ok(project.main, "log", "-1", "--format=%s").strip() == "initial layout"


def test_uninstall_with_nothing_installed(project: Project) -> None:
    foreign = write_hook(hooks_dir(project) / "pre-commit", "#!/bin/sh\nexit 0\n")
    r = run_inproc(project.main, "uninstall")
    assert r.code == 0 and "no gitcoord hooks installed" in r.stdout
    assert (hooks_dir(project) / "pre-commit").read_bytes() == foreign


# ---------------------------------------------------------------- concurrency
def _install_when_released(path: str, python: str, barrier: object) -> None:
    barrier.wait()  # type: ignore[attr-defined]
    install.install(gitrepo.discover(path), python=python, check_import=False)


def test_concurrent_installs_leave_one_correct_set(
    project: Project, fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = hooks_dir(project)
    # Widen the window between looking at a hook and moving it (the forked installers
    # inherit this), so that installs not serialised by the lock would lose the foreign hook.
    slow_rename = install._rename

    def _rename(src: Path, dst: Path) -> None:
        time.sleep(0.05)
        slow_rename(src, dst)

    monkeypatch.setattr(install, "_rename", _rename)
    foreign = write_hook(d / "pre-commit", "#!/bin/sh\necho foreign\n")
    foreign_push = write_hook(d / "pre-push", "#!/bin/sh\ncat >/dev/null\n", mode=0o700)
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(8)
    wts = [project.main, project.wt("wt-a"), project.wt("wt-b")]
    procs = [ctx.Process(target=_install_when_released, args=(str(wts[i % 3]), str(fake.python), barrier)) for i in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 8
    expected = {h: (install.render(h, str(fake.python)).encode(), 0o755) for h in install.CLIENT_HOOKS}
    expected["pre-commit.legacy"] = (foreign, 0o755)
    expected["pre-push.legacy"] = (foreign_push, 0o700)
    assert listing(d) == expected  # no .legacy of our own shim, no .bak, no temp files
    assert (project.main / ".git" / "gitcoord" / "install.lock").exists()


# ---------------------------------------------------------------- init and the CLI
def test_init_installs_the_hooks_and_says_so(project: Project) -> None:
    r = run_inproc(project.wt("wt-a"), "--json", "init")
    assert r.code == 0, r.stderr
    hooks = r.json()["hooks"]
    assert hooks["hooks_dirs"] == [str(hooks_dir(project))]
    assert {h["hook"]: h["action"] for h in hooks["hooks"]} == dict.fromkeys(install.CLIENT_HOOKS, "installed")
    assert install.status(repo_of(project.main)).installed


def test_install_cli_human_output(project: Project) -> None:
    write_hook(hooks_dir(project) / "post-commit", "#!/bin/sh\nexit 0\n")
    r = run_inproc(project.main, "install")
    assert r.code == 0, r.stderr
    assert f"gitcoord hooks in {hooks_dir(project)}" in r.stdout
    assert "post-commit       installed; your former hook now runs first, from post-commit.legacy" in r.stdout
    r = run_inproc(project.main, "install")
    assert "pre-commit        unchanged\n" in r.stdout
    assert "post-commit       unchanged; runs post-commit.legacy first" in r.stdout
    r = run_inproc(project.main, "uninstall")
    assert "post-commit       removed; restored your former hook" in r.stdout


# ---------------------------------------------------------------- the real interpreter, end to end
def test_real_hooks_end_to_end_in_a_worktree_created_after_install(project: Project) -> None:
    pytest.importorskip("gitcoord.hookimpl", reason="hook logic (gitcoord/hookimpl.py) not there yet")
    r = run_cli(project.main, "init", env={"PYTHONPATH": str(REPO_ROOT)})
    assert r.code == 0, r.stderr
    late = project.main.parent / "wt-late"
    ok(project.main, "worktree", "add", "-q", "-b", "late", str(late), "main")
    r2 = edit_commit(late, "src/late.py", "late = 1\n", "late work")
    assert r2.returncode == 0, r2.stderr
    head = ok(late, "rev-parse", "HEAD").strip()
    # hook-impl pre-commit passed it, so post-commit journaled it in shell (no gitcoord
    # command has run since to drain the journal).
    assert [ln[:3] for ln in journal(project)] == [["post-commit", head, str(late.resolve())]]
    assert not pass_left(project.main / ".git" / "worktrees" / "wt-late")


def test_small_project_has_no_hooks_before_install(tmp_path: Path) -> None:
    p = small_project(tmp_path, linked=())
    assert not install.status(repo_of(p.main)).installed
    assert {h.action for h in install.status(repo_of(p.main)).hooks} == {"missing"}


def test_a_worktrees_own_hooks_path_gets_the_hooks_too(project: Project, tmp_path: Path) -> None:
    """SPEC section 5: hooks go where git runs them for every worktree, honouring
    core.hooksPath, including one a worktree sets for itself (extensions.worktreeConfig)."""
    own = tmp_path / "b-hooks"
    ok(project.main, "config", "extensions.worktreeConfig", "true")
    ok(project.wt("wt-b"), "config", "--worktree", "core.hooksPath", str(own))
    r = run_cli(project.main, "--json", "init", env={"PYTHONPATH": str(REPO_ROOT)})
    assert r.code == 0, r.stderr
    assert str(own) in json.dumps(r.json())
    for hook in install.CLIENT_HOOKS:
        assert install.marker_version((own / hook).read_bytes()) == install.VERSION
    assert edit_commit(project.wt("wt-b"), "src/b.py", "b = 1\n", "b").returncode == 0
    assert [ln[0] for ln in journal(project)] == ["post-commit"]
    assert journal(project)[0][2] == str(project.wt("wt-b"))
