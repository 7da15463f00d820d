"""Install, upgrade and uninstall gitcoord's git hooks (SPEC section 5, docs/hooks-contract.md).

The hooks go where git runs them for every worktree (``git rev-parse --git-path hooks``,
which honours ``core.hooksPath``). Each is a tiny ``/bin/sh`` shim that hard-codes the
absolute path of the installing Python and carries a marker line, so a reinstall rewrites
our shims (upgrading older ones) and never touches anybody else's. A foreign hook already
in place is moved to ``<hook>.legacy`` and run first by the shim; :func:`uninstall` puts it
back. Installs are serialised with a lock file in the gitcoord dir of the common git dir.

The shims below are kept, as installed, in the top-level ``hooks/`` directory (with
``@PYTHON@`` for the interpreter); a test checks that the two agree. Regenerate them with
``python -m gitcoord.install --write-templates hooks``.

Every operation is a plain function returning data; nothing here prints.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitcoord import gitrepo
from gitcoord.errors import Denied, EnvironmentFailure

VERSION = 1
MARKER = f"# gitcoord-hook v{VERSION}"
PYTHON_PLACEHOLDER = "@PYTHON@"
LEGACY_SUFFIX = ".legacy"
LOCK_NAME = "install.lock"
LOCK_TIMEOUT = 60.0

CLIENT_HOOKS = (
    "pre-commit", "pre-merge-commit", "pre-applypatch", "pre-push",
    "post-commit", "post-merge", "post-rewrite", "post-applypatch",
)
SERVER_HOOKS = ("pre-receive",)
# Only where each worktree has its own hooks directory (a relative core.hooksPath): it
# installs the hooks into a worktree created later, when `git worktree add` checks it out.
WORKTREE_HOOKS = ("post-checkout",)
ALL_HOOKS = CLIENT_HOOKS + SERVER_HOOKS + WORKTREE_HOOKS

# Any version of our marker, as a whole line near the top of the file.
_MARKER_RE = re.compile(rb"^# gitcoord-hook v(\d+)[ \t]*\r?$", re.M)
_PYTHON_RE = re.compile(r"^PYTHON='((?:[^']|'\\'')*)'$", re.M)
_MARKER_WINDOW = 512

# ---------------------------------------------------------------- the shims
_HEADER = """#!/bin/sh
{marker}
# {hook} hook installed by `gitcoord install`; `gitcoord uninstall` removes it.
"""

_GONE = (
    'echo "gitcoord: $PYTHON, the Python that installed this hook, is gone:'
    ' run \\`gitcoord install\\` again (or \\`gitcoord uninstall\\`)." >&2'
)

_CHECK = """# {what}
# A hook that was here before runs first, from {hook}.legacy; its refusal stands.
PYTHON='{python}'
if [ -x "$0.legacy" ]; then
    "$0.legacy" "$@" || exit $?
fi
if [ ! -x "$PYTHON" ]; then
    {gone}
    exit 1
fi
PYTHONSAFEPATH=1 exec "$PYTHON" -m gitcoord hook-impl {hook} "$@"
"""

_CHECK_STDIN = """# {what}
# A hook that was here before runs first, from {hook}.legacy, on the same stdin (git's
# ref lines, buffered and replayed to both); its refusal stands.
PYTHON='{python}'
chained=
if [ -x "$0.legacy" ]; then
    chained=1
    input=$(cat; echo .)
    input=${{input%.}}
    printf '%s' "$input" 2>/dev/null | "$0.legacy" "$@" || exit $?
fi
if [ ! -x "$PYTHON" ]; then
    {gone}
    exit 1
fi
if [ -n "$chained" ]; then
    printf '%s' "$input" 2>/dev/null | PYTHONSAFEPATH=1 "$PYTHON" -m gitcoord hook-impl {hook} "$@"
    exit $?
fi
PYTHONSAFEPATH=1 exec "$PYTHON" -m gitcoord hook-impl {hook} "$@"
"""

# PYTHONSAFEPATH=1 (Python 3.11+; older ones ignore it): `python -m` would put the current
# directory first on sys.path, and in a bare repository that is the git dir, whose
# gitcoord/ (the store) would shadow the package.
# The recording hooks start no Python in the common case: one git call says where the
# journal is (<git-common-dir>/gitcoord/journal), and each line is appended with a single
# printf >> (O_APPEND). Hooks run at the top of the worktree, so relative dirs are made
# absolute against $PWD.
_AGENT = """# The agent, as GITCOORD_AGENT names it (a name that would break the line, or that starts
# with a double quote, the mark of a JSON-quoted field, is left out: the worktree's bound
# name or its directory name stands in, as for any command).
agent=${{GITCOORD_AGENT-}}
case $agent in '"'* | *'\t'* | *'
'*) agent= ;; esac
"""

_WHERE = """# One git call: the common dir (journal), this worktree's git dir and top, the new commit,
# its tree, and the time (--since=now prints --max-age=<unix time>).
{{ IFS= read -r common; IFS= read -r gitdir; IFS= read -r top; IFS= read -r head; IFS= read -r tree; IFS= read -r now; }} <<EOF
$(git rev-parse --git-common-dir --git-dir --show-toplevel HEAD 'HEAD^{{tree}}' --since=now 2>/dev/null)
EOF
now=${{now#--max-age=}}
case $common in /*) ;; ?*) common=$PWD/$common ;; esac
case $gitdir in /*) ;; ?*) gitdir=$PWD/$gitdir ;; esac
journal=$common/gitcoord/journal
if [ -n "$common" ] && [ ! -d "$common/gitcoord" ]; then
    mkdir -p "$common/gitcoord" 2>/dev/null
fi
# A worktree path that would break the line (a tab, a newline, which also shifts the
# fields read above) is recorded the slow way, by Python, which quotes it. Lines end at
# a newline only, so any other character is safe raw.
case $top in *'\t'* | *'
'*) top= ;; esac
case $head in '' | *[!0-9a-f]*) top= ;; esac
"""

_FALLBACK = """# The journal could not be written{why}: record it now, the slow way.
if [ ! -x "$PYTHON" ]; then
    {gone}
    exit 1
fi
{feed}PYTHONSAFEPATH=1 "$PYTHON" -m gitcoord hook-impl {hook} "$@" || exit $?
exit $status
"""

_POST_COMMIT = (
    """# Records the new commit in gitcoord's journal, which the next gitcoord command (or
# pre-push) drains into the store. If the pre-commit check did not pass for exactly this
# commit (say, `git commit --no-verify`), the commit is checked and recorded now instead.
# A hook that was here before runs first, from post-commit.legacy.
PYTHON='{python}'
status=0
if [ -x "$0.legacy" ]; then
    "$0.legacy" "$@" || status=$?
fi
"""
    + _AGENT
    + """# hook-impl pre-commit leaves in gitcoord-precommit-ok (in this worktree's git dir: GIT_DIR
# in a linked worktree, .git in the main one) "<tree> <git pid> <unix time>", then the
# common dir and the worktree top: the tree it checked, and the git process that ran it.
# A pass counts for this commit only: made by the same `git commit` (our parent), so a
# pass left by an aborted commit never covers a later one (say, retried with --no-verify).
# Once read it is emptied (a redirection: no process to start), never left to count twice.
# With it, no process at all: the new commit is read from HEAD (a loose ref, as git just
# wrote it), and the checked tree goes into the journal line, where the drain compares it
# with the commit's own (a commit with another tree is checked then, as unchecked).
checked=
by=
pass=${{GIT_DIR:-.git}}/gitcoord-precommit-ok
if [ -s "$pass" ]; then
    {{ IFS=' ' read -r checked by now; IFS= read -r common; IFS= read -r top; }} < "$pass"
    true 2>/dev/null > "$pass"
fi
if [ "$by" = "$PPID" ] && [ -n "$common" ] && [ -n "$top" ]; then
    head=
    {{ IFS= read -r head < "${{GIT_DIR:-.git}}/HEAD"; }} 2>/dev/null
    case $head in 'ref: refs/'*) ref=${{head#ref: }}; head=; {{ IFS= read -r head < "$common/$ref"; }} 2>/dev/null ;; esac
    case $head in '' | *[!0-9a-f]*) head= ;; esac
    case $checked in '' | *[!0-9a-f]*) head= ;; esac
    if [ -n "$head" ] &&
        printf 'post-commit\\t%s\\t%s\\t%s\\t%s\\t%s\\n' "$head" "$top" "$now" "$agent" "$checked" 2>/dev/null >> "$common/gitcoord/journal"; then
        exit $status
    fi
fi
"""
    + _WHERE
    + """# Without that (a .git file, a packed ref): the pass, checked against the tree git names.
if [ -z "$by" ] && [ -n "$gitdir" ] && [ -s "$gitdir/gitcoord-precommit-ok" ]; then
    IFS=' ' read -r checked by now_ < "$gitdir/gitcoord-precommit-ok"
    true 2>/dev/null > "$gitdir/gitcoord-precommit-ok"
fi
if [ -n "$tree" ] && [ "$checked" = "$tree" ] && [ "$by" = "$PPID" ] && [ -n "$top" ] &&
    printf 'post-commit\\t%s\\t%s\\t%s\\t%s\\n' "$head" "$top" "$now" "$agent" 2>/dev/null >> "$journal"; then
    exit $status
fi
# A commit of a rebase that no check passed (a pick, a conflict resolution, an exec commit
# made with --no-verify): journaled as such, and checked when the journal is drained.
if [ -n "$top" ] && [ -n "$gitdir" ] &&
    {{ [ -d "$gitdir/rebase-merge" ] || [ -f "$gitdir/rebase-apply/rebasing" ]; }} &&
    printf 'rebased\\t%s\\t%s\\t%s\\t%s\\n' "$head" "$top" "$now" "$agent" 2>/dev/null >> "$journal"; then
    exit $status
fi
"""
    + _FALLBACK.replace("{why}", ", or the pre-commit check did not pass for this commit").replace("{feed}", "")
)

_POST_MERGE = (
    """# Records the merge in gitcoord's journal, which the next gitcoord command (or pre-push)
# drains into the store. $1 is 1 for a squash merge.
# A hook that was here before runs first, from post-merge.legacy.
PYTHON='{python}'
status=0
if [ -x "$0.legacy" ]; then
    "$0.legacy" "$@" || status=$?
fi
"""
    + _AGENT
    + _WHERE
    + """# A pre-merge-commit pass belongs to this merge: do not let it cover a later commit.
if [ -n "$gitdir" ] && [ -s "$gitdir/gitcoord-precommit-ok" ]; then
    true 2>/dev/null > "$gitdir/gitcoord-precommit-ok"
fi
if [ -n "$head" ] && [ -n "$top" ] &&
    printf 'post-merge\\t%s\\t%s\\t%s\\t%s\\t%s\\n' "$head" "$top" "$now" "$1" "$agent" 2>/dev/null >> "$journal"; then
    exit $status
fi
"""
    + _FALLBACK.replace("{why}", "").replace("{feed}", "")
)

_POST_REWRITE = (
    """# Records how `git commit --amend` ($1 = amend) or `git rebase` ($1 = rebase) rewrote
# commits: one journal line per "<old> <new>" line git writes to stdin.
# A hook that was here before runs first, from post-rewrite.legacy, on the same stdin.
PYTHON='{python}'
status=0
input=$(cat; echo .)
input=${{input%.}}
if [ -x "$0.legacy" ]; then
    printf '%s' "$input" 2>/dev/null | "$0.legacy" "$@" || status=$?
fi
"""
    + _AGENT
    + _WHERE
    + """ok=
if [ -n "$top" ]; then
    ok=1
    while read -r old new rest; do
        [ -n "$new" ] || continue
        printf 'post-rewrite\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\n' "$1" "$old" "$new" "$top" "$now" "$agent" 2>/dev/null >> "$journal" || { ok=; break; }
    done <<EOF
$input
EOF
fi
if [ -n "$ok" ]; then
    exit $status
fi
"""
    + _FALLBACK.replace("{why}", "").replace("{feed}", "printf '%s' \"$input\" 2>/dev/null | ")
)

_POST_CHECKOUT = """# Only installed where core.hooksPath is relative, so that every worktree has a hooks
# directory of its own: when `git worktree add` checks out a new worktree ($1 is the null
# id) it installs gitcoord's hooks there too. Any other checkout costs nothing.
# A hook that was here before runs first, from post-checkout.legacy.
PYTHON='{python}'
status=0
if [ -x "$0.legacy" ]; then
    "$0.legacy" "$@" || status=$?
fi
case $1 in
*[!0]* | '') ;;
*)
    if [ ! -x "$PYTHON" ] || ! PYTHONSAFEPATH=1 "$PYTHON" -m gitcoord install >/dev/null; then
        echo "gitcoord: could not install the hooks in this new worktree: run \\`gitcoord install\\` in it" >&2
    fi
    ;;
esac
exit $status
"""

_BODIES: dict[str, str] = {
    "pre-commit": _CHECK.replace(
        "{what}", "Refuses commits that touch paths another worktree leases, or that rest on stale reads."
    ),
    "pre-merge-commit": _CHECK.replace(
        "{what}", "Refuses merge commits that touch paths another worktree leases, or that rest on stale reads."
    ),
    "pre-applypatch": _CHECK.replace(
        "{what}",
        "Refuses patches `git am` applies that touch paths another worktree leases, or that rest on stale reads.",
    ).replace(
        'if [ ! -x "$PYTHON" ]; then',
        "# `git rebase --apply` runs it for every pick: nothing to check (post-applypatch journals\n"
        "# them for the drain), and no Python to start.\n"
        'if [ -f "$(git rev-parse --absolute-git-dir 2>/dev/null)/rebase-apply/rebasing" ]; then\n'
        "    exit 0\n"
        "fi\n"
        'if [ ! -x "$PYTHON" ]; then',
        1,
    ),
    "pre-push": _CHECK_STDIN.replace(
        "{what}", "Checks every commit the push would add to the remote, and records the pushed commits."
    ),
    "pre-receive": _CHECK_STDIN.replace(
        "{what}",
        "Server side (`gitcoord install --server`): checks every incoming commit; a pusher cannot skip it.",
    ),
    "post-commit": _POST_COMMIT,
    "post-applypatch": _POST_COMMIT.replace("post-commit.legacy", "post-applypatch.legacy").replace(
        "# Records the new commit", "# `git am`: records each new commit"
    ).replace("hook-impl pre-commit leaves", "hook-impl pre-applypatch leaves"),
    "post-merge": _POST_MERGE,
    "post-rewrite": _POST_REWRITE,
    "post-checkout": _POST_CHECKOUT,
}


def template(hook: str) -> str:
    """The shim for ``hook`` with ``@PYTHON@`` where the interpreter's path goes."""
    if hook not in _BODIES:
        raise ValueError(f"no gitcoord hook named {hook!r}")
    body = (
        _BODIES[hook]
        .replace("{gone}", _GONE)
        .replace("{hook}", hook)
        .replace("{python}", PYTHON_PLACEHOLDER)
        .replace("{{", "{")
        .replace("}}", "}")
    )
    return _HEADER.format(marker=MARKER, hook=hook) + body


def render(hook: str, python: str) -> str:
    """The shim exactly as installed for ``python`` (an absolute path)."""
    if not os.path.isabs(python) or "\n" in python or "\0" in python:
        raise ValueError(f"not an absolute interpreter path: {python!r}")
    return template(hook).replace(PYTHON_PLACEHOLDER, python.replace("'", "'\\''"))


def write_templates(directory: str | os.PathLike[str]) -> list[Path]:
    """Write every shim template into ``directory`` (the repository's ``hooks/``)."""
    out = []
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    for hook in ALL_HOOKS:
        p = d / hook
        p.write_text(template(hook))
        p.chmod(0o755)
        out.append(p)
    return out


# ---------------------------------------------------------------- the interpreter
def _is_script(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(2) == b"#!"
    except OSError:
        return False


def install_python() -> str:
    """The absolute path the shims exec: this very interpreter, in this environment.

    A virtual environment keeps its own ``bin/python`` (resolving its symlink would leave
    the environment). Otherwise a symlink to a binary beside it (``python3`` ->
    ``python3.11``) is resolved, pinning the minor version whose site-packages hold
    gitcoord; one elsewhere (a Homebrew cellar) is kept, as it survives upgrades. A
    version-manager shim (pyenv, asdf: a script costing ~80 ms a start) is replaced by the
    binary actually running.
    """
    exe = os.path.abspath(sys.executable or "python3")
    if sys.prefix != sys.base_prefix:
        return exe
    if _is_script(exe):
        real = os.path.realpath("/proc/self/exe")
        if os.path.isfile(real) and os.access(real, os.X_OK):
            return real
        return exe
    real = os.path.realpath(exe)
    if os.path.dirname(real) == os.path.dirname(exe) and os.access(real, os.X_OK):
        return real
    return exe


def _importable_warning(python: str) -> str | None:
    """Warn when the hooks' interpreter would not import this gitcoord from a worktree."""
    here = str(Path(__file__).resolve().parent)
    env = gitrepo.no_git_env()
    try:
        proc = subprocess.run(
            [python, "-c", "import os, gitcoord; print(os.path.dirname(os.path.realpath(gitcoord.__file__)))"],
            cwd=tempfile.gettempdir(),
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as e:
        return f"cannot run {python}: {e}; the hooks will fail until `gitcoord install` runs with a working Python"
    if proc.returncode != 0:
        return (
            f"{python} cannot import gitcoord from a worktree (is it only importable from here?): "
            "the hooks will refuse commits until gitcoord is installed for that interpreter "
            "(`pip install gitcoord`, or `pip install -e .` in a checkout)"
        )
    found = proc.stdout.strip()
    if found != here:
        return f"the hooks will run gitcoord from {found}, not from {here}"
    return None


# ---------------------------------------------------------------- results
@dataclass(frozen=True, slots=True)
class HookReport:
    """What happened to (or what is in) one hook file."""

    hook: str
    path: str
    action: str  # install: installed|upgraded|updated|unchanged; uninstall: removed; status: see status()
    legacy: str | None = None  # the foreign hook chained before ours (<hook>.legacy), if any
    legacy_executable: bool | None = None
    moved_aside: bool = False  # this run moved a foreign hook to <hook>.legacy
    restored: bool = False  # uninstall put <hook>.legacy back
    version: int | None = None  # our marker version found in the file
    python: str | None = None  # the interpreter an installed shim runs
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "path": self.path,
            "action": self.action,
            "legacy": self.legacy,
            "legacy_executable": self.legacy_executable,
            "moved_aside": self.moved_aside,
            "restored": self.restored,
            "version": self.version,
            "python": self.python,
            "notes": list(self.notes),
        }


@dataclass(frozen=True, slots=True)
class InstallResult:
    python: str
    server: bool
    hooks_dirs: tuple[str, ...]
    hooks: tuple[HookReport, ...]
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def changed(self) -> list[HookReport]:
        return [h for h in self.hooks if h.action != "unchanged" or h.moved_aside]

    def to_json(self) -> dict[str, Any]:
        return {
            "python": self.python,
            "server": self.server,
            "hooks_dirs": list(self.hooks_dirs),
            "hooks": [h.to_json() for h in self.hooks],
            "warnings": list(self.warnings),
            "notes": list(self.notes),
        }


@dataclass(frozen=True, slots=True)
class UninstallResult:
    hooks_dirs: tuple[str, ...]
    hooks: tuple[HookReport, ...]
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "hooks_dirs": list(self.hooks_dirs),
            "hooks": [h.to_json() for h in self.hooks],
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True, slots=True)
class StatusResult:
    python: str
    hooks_dirs: tuple[str, ...]
    hooks: tuple[HookReport, ...]
    warnings: tuple[str, ...] = field(default=())

    @property
    def installed(self) -> bool:
        """Every client hook (or, in a bare repository, pre-receive) is our current shim."""
        return bool(self.hooks) and all(h.action == "current" for h in self.hooks)

    def to_json(self) -> dict[str, Any]:
        return {
            "installed": self.installed,
            "python": self.python,
            "hooks_dirs": list(self.hooks_dirs),
            "hooks": [h.to_json() for h in self.hooks],
            "warnings": list(self.warnings),
        }


# ---------------------------------------------------------------- file helpers
def marker_version(data: bytes | None) -> int | None:
    """Our marker's version in a hook file's content, or None for a foreign hook."""
    if not data:
        return None
    m = _MARKER_RE.search(data[:_MARKER_WINDOW])
    return int(m.group(1)) if m else None


def _shim_python(data: bytes) -> str | None:
    m = _PYTHON_RE.search(data.decode(errors="surrogateescape"))
    return m.group(1).replace("'\\''", "'") if m else None


def _read(path: Path) -> bytes | None:
    """A hook file's bytes; None if there is none (a dangling symlink reads as b'')."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b"" if os.path.islink(path) else None
    except IsADirectoryError as e:
        raise EnvironmentFailure(f"{path} is a directory, not a hook: move it away first") from e
    except OSError as e:
        raise EnvironmentFailure(f"cannot read hook {path}: {e.strerror or e}") from e


def _exists(path: Path) -> bool:
    return os.path.lexists(path)


def _our_version(path: Path, data: bytes | None) -> int | None:
    """The version of our shim at ``path`` (its bytes ``data``), None if it is not ours.
    We never write symlinks: a symlink is someone else's, whatever it points to."""
    if data is None or os.path.islink(path):
        return None
    return marker_version(data)


def _is_ours(path: Path) -> bool:
    return _exists(path) and _our_version(path, _read(path)) is not None


def _move_aside(path: Path, legacy: Path, foreign: Collection[str]) -> None:
    """Move a foreign hook to ``legacy``. A symlink to a sibling hook that is moved
    aside too (``pre-merge-commit -> pre-commit``) follows it: ``-> pre-commit.legacy``
    (else it would run our shim in its place, and dangle once we are uninstalled)."""
    target = os.readlink(path) if os.path.islink(path) else None
    if target is not None and "/" not in target and target in foreign:
        _relink(path, legacy, target + LEGACY_SUFFIX)
    else:
        _rename(path, legacy)


def _restore(legacy: Path, path: Path) -> None:
    """Undo :func:`_move_aside`."""
    target = os.readlink(legacy) if os.path.islink(legacy) else None
    sibling = target.removesuffix(LEGACY_SUFFIX) if target and "/" not in target else None
    if sibling is not None and sibling != target and sibling in ALL_HOOKS:
        _relink(legacy, path, sibling)
    else:
        _rename(legacy, path)


def _relink(old: Path, new: Path, target: str) -> None:
    """Replace the symlink ``old`` with ``new`` pointing at ``target``."""
    try:
        os.symlink(target, new)
    except OSError as e:
        raise EnvironmentFailure(f"cannot make {new}: {e.strerror or e}") from e
    _remove(old)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.gitcoord-{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o755)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise EnvironmentFailure(f"cannot write hook {path}: {e.strerror or e}") from e


def _free_name(path: Path) -> Path:
    """``path`` with ``.bak`` (then ``.bak.1``, ...) added, naming nothing yet."""
    cand = path.with_name(path.name + ".bak")
    n = 0
    while _exists(cand):
        n += 1
        cand = path.with_name(f"{path.name}.bak.{n}")
    return cand


def _rename(src: Path, dst: Path) -> None:
    try:
        os.replace(src, dst)
    except OSError as e:
        raise EnvironmentFailure(f"cannot move {src} to {dst}: {e.strerror or e}") from e


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        raise EnvironmentFailure(f"cannot remove {path}: {e.strerror or e}") from e


# ---------------------------------------------------------------- where, and the lock
def _hooks_dirs(repo: gitrepo.Repo, server: bool) -> list[Path]:
    if server:
        return [repo.hooks_dir()]
    return repo.all_hooks_dirs()


class _Lock:
    """``filelock`` on ``<git-common-dir>/gitcoord/install.lock``: one installer at a time."""

    def __init__(self, repo: gitrepo.Repo) -> None:
        from gitcoord.store import store_dir

        self.dir = store_dir(repo.common_dir)
        self.path = self.dir / LOCK_NAME
        self._lock: Any = None

    def __enter__(self) -> _Lock:
        import filelock

        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise EnvironmentFailure(f"cannot create {self.dir}: {e.strerror or e}") from e
        self._lock = filelock.FileLock(str(self.path), timeout=LOCK_TIMEOUT)
        try:
            self._lock.acquire()
        except filelock.Timeout as e:
            raise EnvironmentFailure(
                f"another `gitcoord install` has held {self.path} for over {LOCK_TIMEOUT:.0f}s"
            ) from e
        except OSError as e:
            raise EnvironmentFailure(f"cannot lock {self.path}: {e.strerror or e}") from e
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


def _ensure_dir(d: Path) -> None:
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise EnvironmentFailure(f"cannot create the hooks directory {d}: {e.strerror or e}") from e
    if not os.access(d, os.W_OK | os.X_OK):
        raise EnvironmentFailure(f"the hooks directory {d} is not writable: fix its permissions, or run as its owner")


# ---------------------------------------------------------------- install
def install(
    repo: gitrepo.Repo,
    *,
    server: bool | None = None,
    force: bool = False,
    python: str | None = None,
    check_import: bool = True,
) -> InstallResult:
    """Install (or upgrade, idempotently) gitcoord's hooks for every worktree.

    ``server`` installs the server-side ``pre-receive`` instead of the client hooks; it
    defaults to True in a bare repository. A foreign hook is moved to ``<hook>.legacy``
    and chained. Where a foreign hook and a foreign ``<hook>.legacy`` both exist, nothing
    is written (Denied) unless ``force``: then the old ``.legacy`` is kept as
    ``<hook>.legacy.bak``.
    """
    server = repo.bare if server is None else server
    python = python or install_python()
    dirs = _hooks_dirs(repo, server)
    hooks: tuple[str, ...] = SERVER_HOOKS if server else CLIENT_HOOKS
    per_worktree = not server and repo.hooks_dirs_per_worktree()
    if per_worktree:
        hooks = hooks + WORKTREE_HOOKS
    warnings: list[str] = []
    reports: list[HookReport] = []
    with _Lock(repo):
        for d in dirs:
            _ensure_dir(d)
        conflicts = [
            (d / h, d / (h + LEGACY_SUFFIX))
            for d in dirs
            for h in hooks
            if _exists(d / h)
            and not _is_ours(d / h)
            and _exists(d / (h + LEGACY_SUFFIX))
            and not _is_ours(d / (h + LEGACY_SUFFIX))
        ]
        if conflicts and not force:
            lines = [f"{p} is not gitcoord's and {lg.name} already exists beside it" for p, lg in conflicts]
            raise Denied(
                "cannot chain the existing hook(s): "
                + "; ".join(lines)
                + ". Merge them into one hook yourself, or run `gitcoord install --force` to chain the "
                "current hook and keep the older .legacy as .legacy.bak (no longer run)",
                details={"conflicts": [str(p) for p, _ in conflicts]},
            )
        for d in dirs:
            # classified before anything is written: a symlink to a sibling hook must
            # be judged by what it pointed to, not by our shim written there meanwhile
            foreign = {h for h in hooks if _exists(d / h) and not _is_ours(d / h)}
            for h in hooks:
                reports.append(_install_one(d, h, render(h, python), foreign))
    for r in reports:
        warnings.extend(f"{r.hook}: {n}" for n in r.notes if n.startswith("warning:"))
    notes: list[str] = []
    if per_worktree:
        why = (
            "core.hooksPath is relative, so each worktree has its own hooks directory"
            if repo.relative_hooks_path() is not None
            else "extensions.worktreeConfig lets each worktree set a core.hooksPath of its own"
        )
        notes.append(
            f"{why}: gitcoord installed into every worktree's, and its post-checkout hook installs "
            "them into worktrees created later (a core.hooksPath a worktree sets after that "
            "needs `gitcoord install` again)"
        )
    if check_import:
        w = _importable_warning(python)
        if w:
            warnings.append(w)
    return InstallResult(
        python=python,
        server=server,
        hooks_dirs=tuple(str(d) for d in dirs),
        hooks=tuple(reports),
        warnings=tuple(warnings),
        notes=tuple(notes),
    )


def _install_one(d: Path, hook: str, text: str, foreign: Collection[str] = ()) -> HookReport:
    path = d / hook
    legacy = d / (hook + LEGACY_SUFFIX)
    notes: list[str] = []
    moved = False
    current = _read(path)
    version = _our_version(path, current)
    if current is not None and version is None:
        # A foreign hook: keep it, chained before ours (install() refused or --force'd a
        # clash with an existing foreign .legacy before we got here).
        if _exists(legacy) and not _is_ours(legacy):
            bak = _free_name(legacy)
            _rename(legacy, bak)
            notes.append(f"warning: the former {legacy.name} was kept as {bak.name} and no longer runs")
        _move_aside(path, legacy, foreign)
        moved = True
        current = None
    if _exists(legacy) and _is_ours(legacy):
        # Our own shim moved aside (by another tool): never chain ours to ours.
        _remove(legacy)
        notes.append(f"removed a stray gitcoord shim at {legacy.name}")
    new = text.encode()
    if current == new and not os.path.islink(path):
        action = "unchanged"
        if not os.access(path, os.X_OK):
            try:
                os.chmod(path, 0o755)
            except OSError as e:
                raise EnvironmentFailure(f"cannot make {path} executable: {e.strerror or e}") from e
            action = "updated"
    else:
        _write_atomic(path, text)
        if current is None:
            action = "installed"
        elif version is not None and version < VERSION:
            action = "upgraded"
        elif version is not None and version > VERSION:
            action = "downgraded"
            notes.append(f"replaced a newer gitcoord shim (v{version}) with v{VERSION}")
        else:
            action = "updated"
    legacy_exec: bool | None = None
    has_legacy = _exists(legacy)
    if has_legacy:
        legacy_exec = os.access(legacy, os.X_OK)
        if moved:
            notes.append(f"your former hook now runs first, from {legacy.name}")
        if not legacy_exec:
            notes.append(
                f"warning: {legacy} is not executable, so it does not run (nor did git run it): "
                f"`chmod +x` it to have it run first"
            )
    return HookReport(
        hook=hook,
        path=str(path),
        action=action,
        legacy=str(legacy) if has_legacy else None,
        legacy_executable=legacy_exec,
        moved_aside=moved,
        version=VERSION,
        python=_shim_python(new),
        notes=tuple(notes),
    )


# ---------------------------------------------------------------- uninstall
def uninstall(repo: gitrepo.Repo, *, hooks: Iterable[str] = ALL_HOOKS) -> UninstallResult:
    """Remove gitcoord's shims (any version) and put each chained foreign hook back."""
    dirs = _all_dirs(repo)
    reports: list[HookReport] = []
    with _Lock(repo):
        for d in dirs:
            if not d.is_dir():
                continue
            for h in hooks:
                r = _uninstall_one(d, h)
                if r is not None:
                    reports.append(r)
    return UninstallResult(hooks_dirs=tuple(str(d) for d in dirs), hooks=tuple(reports))


def _all_dirs(repo: gitrepo.Repo) -> list[Path]:
    """Where our shims may be: git's hooks dirs now, and the default one (in case
    core.hooksPath changed since install)."""
    dirs = repo.all_hooks_dirs()
    default = repo.common_dir / "hooks"
    if all(default.resolve() != d.resolve() for d in dirs):
        dirs.append(default)
    return dirs


def _uninstall_one(d: Path, hook: str) -> HookReport | None:
    path = d / hook
    legacy = d / (hook + LEGACY_SUFFIX)
    data = _read(path)
    version = _our_version(path, data)
    notes: list[str] = []
    if version is None:
        if _exists(legacy) and _is_ours(legacy):
            _remove(legacy)
            return HookReport(
                hook=hook,
                path=str(legacy),
                action="removed",
                notes=(f"removed a gitcoord shim another tool had moved to {legacy.name}",),
            )
        return None
    _remove(path)
    restored = False
    if _exists(legacy):
        if _is_ours(legacy):
            _remove(legacy)
        else:
            _restore(legacy, path)
            restored = True
            notes.append(f"restored your former hook from {legacy.name}")
    return HookReport(
        hook=hook,
        path=str(path),
        action="removed",
        restored=restored,
        version=version,
        notes=tuple(notes),
    )


# ---------------------------------------------------------------- status
def status(repo: gitrepo.Repo, *, python: str | None = None) -> StatusResult:
    """What is installed, hook by hook: ``current`` (our shim, as this install would write
    it), ``outdated`` (ours, another version or interpreter), ``foreign``, or ``missing``."""
    python = python or install_python()
    server = repo.bare
    dirs = _hooks_dirs(repo, server)
    hooks: tuple[str, ...] = SERVER_HOOKS if server else CLIENT_HOOKS
    if not server and repo.hooks_dirs_per_worktree():
        hooks = hooks + WORKTREE_HOOKS
    reports: list[HookReport] = []
    warnings: list[str] = []
    for d in dirs:
        for h in hooks:
            path = d / h
            legacy = d / (h + LEGACY_SUFFIX)
            data = _read(path) if d.is_dir() else None
            version = marker_version(data)
            if data is None:
                state = "missing"
            elif version is None:
                state = "foreign"
            elif data == render(h, python).encode() and os.access(path, os.X_OK):
                state = "current"
            else:
                state = "outdated"
            has_legacy = _exists(legacy)
            reports.append(
                HookReport(
                    hook=h,
                    path=str(path),
                    action=state,
                    legacy=str(legacy) if has_legacy else None,
                    legacy_executable=os.access(legacy, os.X_OK) if has_legacy else None,
                    version=version,
                    python=_shim_python(data) if data and version is not None else None,
                )
            )
            if state != "current":
                warnings.append(f"{path}: {state}; run `gitcoord install`")
    return StatusResult(
        python=python, hooks_dirs=tuple(str(d) for d in dirs), hooks=tuple(reports), warnings=tuple(warnings)
    )


# ---------------------------------------------------------------- are leases enforced?
# The pre-commit framework's own hook (https://pre-commit.com), and a hook id of ours in
# its config: `.pre-commit-hooks.yaml` is the other way to run gitcoord's checks.
_FRAMEWORK_MARK = b"# File generated by pre-commit: https://pre-commit.com"
_FRAMEWORK_CONFIG = ".pre-commit-config.yaml"
_FRAMEWORK_ID_RE = re.compile(r"""^[ \t-]*id:[ \t]*['"]?gitcoord(-[a-z-]+)?['"]?[ \t]*(#.*)?$""", re.M)
_STATE_WORDS = {
    "foreign": "not gitcoord's",
    "not-executable": "not executable",
    "python-gone": "its Python is gone",
}


@dataclass(frozen=True, slots=True)
class HooksProblem:
    """Why this repository's hooks do not run gitcoord's checks as this version would:
    each hook that is not right (``action``: ``missing``, ``foreign``, ``outdated``,
    ``not-executable`` or ``python-gone``), and the command that fixes it."""

    hooks: tuple[HookReport, ...]
    enforcing: bool  # the hook that refuses commits (pre-commit; pre-receive) still runs our check
    next_step: str = "gitcoord install"

    @property
    def severity(self) -> str:
        return "warning" if self.enforcing else "error"

    def summary(self) -> str:
        by_state: dict[str, list[str]] = {}
        for h in self.hooks:
            by_state.setdefault(h.action, []).append(h.hook)
        what = "; ".join(
            f"{', '.join(dict.fromkeys(names))}: {_STATE_WORDS.get(state, state)}" for state, names in by_state.items()
        )
        if self.enforcing:
            return f"some of gitcoord's git hooks are out of date or missing ({what})"
        if set(by_state) == {"missing"}:
            return "gitcoord's git hooks are not installed in this repository: no commit is checked against leases"
        return f"gitcoord's git hooks do not check commits here ({what}): leases are not enforced"

    def to_json(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "summary": self.summary(),
            "next_step": self.next_step,
            "enforcing": self.enforcing,
            "hooks": [{"hook": h.hook, "path": h.path, "state": h.action} for h in self.hooks],
        }


def problems(repo: gitrepo.Repo) -> HooksProblem | None:
    """Whether this repository's hooks enforce leases, for every command that grants or
    lists them: one git call (where the hooks are) and a read of each hook file. None when
    every hook ``gitcoord install`` writes is there, ours, as this version writes it, for an
    interpreter that still exists (whichever installed it); or when the pre-commit
    framework runs gitcoord's check (its hook, and our hook id in this worktree's
    ``.pre-commit-config.yaml``)."""
    server = repo.bare
    check_hook = "pre-receive" if server else "pre-commit"
    hooks: tuple[str, ...] = SERVER_HOOKS if server else CLIENT_HOOKS
    dirs = repo.all_hooks_dirs_quickly()
    if not server and len(dirs) > 1:
        hooks = hooks + WORKTREE_HOOKS  # (hooks dirs per worktree: post-checkout installs new ones)
    wrong: list[HookReport] = []
    enforcing = True
    for d in dirs:
        if not server and _framework_runs_us(d / check_hook, repo.root):
            continue
        for h in hooks:
            path = d / h
            try:
                data = _read(path)
            except EnvironmentFailure:  # a directory, no permission: not a hook git can run
                data = b""
            version = _our_version(path, data)
            python = _shim_python(data) if data and version is not None else None
            if data is None:
                state = "missing"
            elif version is None:
                state = "foreign"
            elif python is None or not os.access(python, os.X_OK):
                state = "python-gone"
            elif not os.access(path, os.X_OK):
                state = "not-executable"
            elif not os.path.isabs(python) or data != render(h, python).encode():
                state = "outdated"
            else:
                continue
            if h == check_hook and state != "outdated":
                enforcing = False
            wrong.append(HookReport(hook=h, path=str(path), action=state, version=version, python=python))
    if not wrong:
        return None
    return HooksProblem(hooks=tuple(wrong), enforcing=enforcing)


def _framework_runs_us(hook: Path, root: Path) -> bool:
    """``hook`` is the pre-commit framework's, and this worktree's config names our hook."""
    try:
        with open(hook, "rb") as f:
            if _FRAMEWORK_MARK not in f.read(_MARKER_WINDOW):
                return False
        text = (root / _FRAMEWORK_CONFIG).read_text(errors="replace")
    except OSError:
        return False
    return _FRAMEWORK_ID_RE.search(text) is not None


def _main(argv: Sequence[str]) -> int:
    """``python -m gitcoord.install --write-templates DIR`` regenerates ``hooks/``."""
    if len(argv) == 2 and argv[0] == "--write-templates":
        for p in write_templates(argv[1]):
            sys.stdout.write(f"{p}\n")
        return 0
    sys.stderr.write("usage: python -m gitcoord.install --write-templates DIR\n")
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
