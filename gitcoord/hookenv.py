"""What git tells a hook, read without the core: the bypass variable, where the repository
is, which git process runs the hook and with what command line, and a way to start git
processes in the hook's own environment.

The lowest layer of the hook path: :mod:`gitcoord.hookimpl` (the entry point and the full
check's handlers), :mod:`gitcoord.fastpath` (the pre-commit fast path) and
:mod:`gitcoord.checks` (the bypass hint in refusal messages) all import it; it imports
only the standard library, and not ``typing`` or ``subprocess`` (a hook pays for every
import on every commit). Besides :mod:`gitcoord.gitrepo`, only the hook path starts git,
and only through :func:`start`.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

BYPASS_ENV = "GITCOORD_BYPASS"
"""``GITCOORD_BYPASS=<reason>`` lets one commit (push) through, audited."""

OK_FILE = "gitcoord-precommit-ok"
"""``<git dir>/gitcoord-precommit-ok``: the pre-commit check's pass for the post-commit
shim (docs/hooks-contract.md), written by :func:`pass_text`."""


def pass_text(tree: str, common_dir: str, top: str) -> str:
    """The pass: ``<tree> <git pid> <unix time>``, then the common dir and the worktree
    top (absolute), one a line, so that the post-commit shim journals the commit without
    starting git. Paths that would break a shell ``read`` or a journal line are left out
    (the shim then asks git)."""
    import time

    first = f"{tree} {git_pid()} {int(time.time())}\n"
    if any(c in common_dir or c in top for c in "\t\n\r") or top.startswith('"'):
        return first
    return f"{first}{common_dir}\n{top}\n"


def pass_fields(text: str) -> tuple[str, str]:
    """(tree, git pid) of a pass (:func:`pass_text`; older ones are ``<tree> <pid>``)."""
    first = text.split("\n", 1)[0].split()
    return (first[0], first[1]) if len(first) >= 2 else ("", "")


# ---------------------------------------------------------------------------------------
# Git processes
# ---------------------------------------------------------------------------------------


class Running:
    """A git process started by :func:`start`, its stdout on a pipe."""

    __slots__ = ("pid", "_out")

    def __init__(self, pid: int, out: int) -> None:
        self.pid = pid
        self._out = out

    def finish(self) -> tuple[int, bytes]:
        """(exit code, stdout): reads to the end, then reaps the process. Other processes
        may wait on a full pipe meanwhile, never on us: none of them reads stdin."""
        chunks = []
        try:
            while True:
                chunk = os.read(self._out, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            os.close(self._out)
            _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status), b"".join(chunks)


def start(args: Sequence[str]) -> Running:
    """Start ``git args...`` in the hook's environment as git gave it (GIT_DIR,
    GIT_INDEX_FILE: the same repository and the same index git is committing), stdin and
    stderr on /dev/null. ``os.posix_spawnp``: no ``subprocess`` import on the commit path."""
    read_end, write_end = os.pipe()  # both close on exec; dup2 makes the child's fd 1 stay
    try:
        pid = os.posix_spawnp(
            "git",
            ["git", *args],
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, write_end, 1),
                (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
            ],
        )
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    return Running(pid, read_end)


def run(args: Sequence[str]) -> tuple[int, bytes]:
    """(exit code, stdout) of ``git args...`` (see :func:`start`)."""
    return start(args).finish()


# ---------------------------------------------------------------------------------------
# Where the hook runs
# ---------------------------------------------------------------------------------------


def locate() -> tuple[str, str, str] | None:
    """(git dir, common dir, worktree top) without starting git, as git set up the hook:
    it runs in the top of the worktree, with GIT_DIR set for a linked worktree. None when
    anything is unusual (then ``git rev-parse`` answers)."""
    env = os.environ
    if env.get("GIT_WORK_TREE") or env.get("GIT_COMMON_DIR"):
        return None
    top = os.getcwd()
    git_dir = env.get("GIT_DIR")
    if git_dir:
        git_dir = os.path.join(top, git_dir)
    else:
        dotgit = os.path.join(top, ".git")
        if os.path.isdir(dotgit):
            git_dir = dotgit
        elif os.path.isfile(dotgit):
            with open(dotgit) as f:
                text = f.read().strip()
            if not text.startswith("gitdir: "):
                return None
            git_dir = os.path.join(top, text[len("gitdir: "):])
        else:
            return None
    if not os.path.isfile(os.path.join(git_dir, "HEAD")):
        return None
    try:
        with open(os.path.join(git_dir, "commondir")) as f:
            common = os.path.join(git_dir, f.read().strip())
    except FileNotFoundError:
        common = git_dir
    return os.path.normpath(git_dir), os.path.normpath(common), top


def rebasing() -> bool:
    """A rebase is under way (the shims' rule): ``rebase-merge/`` exists (the merge
    backend), or ``rebase-apply/rebasing`` (the apply backend, which runs ``git am``; a
    user's own ``git am`` has ``rebase-apply/applying`` instead)."""
    names = ("rebase-merge", os.path.join("rebase-apply", "rebasing"))
    where = locate()
    if where is not None:  # no process: git told the hook where it is
        return any(os.path.exists(os.path.join(where[0], n)) for n in names)
    try:
        rc, out = run(["rev-parse", *(a for n in names for a in ("--git-path", n))])
    except OSError:
        return False
    return rc == 0 and any(p and os.path.exists(p) for p in out.decode(errors="replace").split("\n"))


# ---------------------------------------------------------------------------------------
# The git process running the hook, and its command line
# ---------------------------------------------------------------------------------------

_GIT_PROCESS: list[tuple[int, list[str]] | None] = []  # found once per hook process


def git_process() -> tuple[int, list[str]] | None:
    """(pid, argv) of the nearest ``git`` process above this hook (Linux /proc): our
    parent when a shim execs us, further up when the pre-commit framework stands
    between. None where /proc cannot tell."""
    if not _GIT_PROCESS:
        _GIT_PROCESS.append(_find_git_process())
    return _GIT_PROCESS[0]


def _find_git_process() -> tuple[int, list[str]] | None:
    pid = os.getppid()
    for _ in range(5):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            return None
        args = [a.decode(errors="replace") for a in argv if a]
        if args and os.path.basename(args[0]) in ("git", "git.exe"):
            return pid, args
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return None
        if pid <= 1:
            return None
    return None


def git_pid() -> int:
    """The pid of the git process running this hook (our parent where /proc cannot tell)."""
    found = git_process()
    return found[0] if found is not None else os.getppid()


def git_command_args(subcommand: str) -> list[str] | None:
    """The arguments after ``subcommand`` of the git process running this hook, or None.
    A git process without ``subcommand`` (an alias, say ``git ci``) gives every argument
    after the first word that is not an option."""
    found = git_process()
    if found is None:
        return None
    args = found[1]
    if subcommand in args:
        return args[args.index(subcommand) + 1 :]
    words = [i for i, a in enumerate(args[1:], 1) if not a.startswith("-")]
    return args[words[0] + 1 :] if words else []


def amending() -> bool:
    """Is the ``git commit`` that runs this hook an ``--amend``? Git does not say; its
    command line does (elsewhere than Linux the full check compares with HEAD)."""
    args = git_command_args("commit")
    return amend_flag(args) if args is not None else False


_MERGE_OPTS_WITH_VALUE = frozenset(
    {"-m", "-F", "-s", "-X", "--message", "--file", "--strategy", "--strategy-option",
     "--cleanup", "--into-name"}
)


def merging_names() -> list[str]:
    """What ``git merge`` (run by pre-merge-commit, before MERGE_HEAD exists) is merging:
    from GIT_REFLOG_ACTION (``merge <commits>``), FETCH_HEAD for ``git pull`` (returned as
    the marker ``FETCH_HEAD``), else the merge's command line."""
    action = os.environ.get("GIT_REFLOG_ACTION", "")
    if action.startswith("merge "):
        return action.split()[1:]
    if action.startswith("pull"):
        return ["FETCH_HEAD"]
    args = git_command_args("merge") or []
    names: list[str] = []
    skip = False
    for a in args:
        if skip:
            skip = False
        elif a in _MERGE_OPTS_WITH_VALUE:
            skip = True
        elif a == "--":
            continue
        elif not a.startswith("-") or a == "-":
            names.append(a)
    return names


_COMMIT_OPTS_WITH_VALUE = frozenset(
    {
        "-m", "-F", "-C", "-c", "-t", "--message", "--file", "--reuse-message",
        "--reedit-message", "--template", "--author", "--date", "--cleanup", "--fixup",
        "--squash", "--trailer", "--pathspec-from-file",
    }
)


def _options(args: Sequence[str]) -> Iterator[str]:
    """The options of a ``git commit`` argument list (after ``commit``): values of
    options that take one, and everything after ``--``, left out; a cluster of short
    options (``-am``) comes as its letters (``-a``, ``-m``)."""
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a == "--":
            return
        if a in _COMMIT_OPTS_WITH_VALUE:
            skip = True
            yield a
            continue
        if a.startswith("-") and not a.startswith("--") and len(a) > 2:
            for i, c in enumerate(a[1:]):
                yield "-" + c
                if "-" + c in _COMMIT_OPTS_WITH_VALUE:
                    skip = i == len(a) - 2  # its value is the next argument
                    break
            continue
        yield a


def amend_flag(args: Sequence[str]) -> bool:
    """Does a ``git commit`` argument list (after ``commit``) ask for ``--amend``?
    Unique prefixes count (``--am``), as git's option parser accepts them."""
    amend = False
    for a in _options(args):
        if a.startswith("--") and len(a) >= 4 and "--amend".startswith(a):
            amend = True
        elif a == "--no-amend":
            amend = False
    return amend


def paths_given(args: Sequence[str]) -> bool:
    """Does a ``git commit`` argument list name paths (``git commit [-o|-i] PATH...``)?
    Then git commits from a temporary index of its own, and the real one is no fix."""
    if "--" in args and args.index("--") < len(args) - 1:
        return True
    return any(not a.startswith("-") for a in _options(args))


def all_flag(args: Sequence[str]) -> bool:
    """Does a ``git commit`` argument list ask for ``-a`` / ``--all`` (also inside a
    cluster of short options, as in ``-am MSG``)?"""
    return any(a in ("-a", "--all", "--al") for a in _options(args))
