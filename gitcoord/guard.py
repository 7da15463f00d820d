"""What Claude Code's ``PreToolUse`` hook runs before an Edit, Write, MultiEdit or
NotebookEdit: ``gitcoord guard`` (installed by ``gitcoord install --claude``; SPEC
section 9).

It reads the hook's input on stdin (``tool_name``, ``tool_input.file_path`` -- a
notebook's ``notebook_path`` -- absolute, ``cwd``, ``session_id``) and applies the
pre-commit lease rules to the path about to be written, as the worktree that contains
it. To deny, it prints ``{"hookSpecificOutput": {"hookEventName": "PreToolUse",
"permissionDecision": "deny", "permissionDecisionReason": ...}}``; to allow, nothing.
It always exits 0.

Like the commit hook, the common case never loads click, rich, pygit2 or the core
(:mod:`gitcoord.__main__` routes ``guard`` here without click): it finds the worktree
from the path (no git process), reads ``gitcoord.*`` from git config in a process that
runs while it asks the store (:mod:`gitcoord.store.guardread`, one indexed query) for
the leases keyed at the path or its ancestors. When none of another holder covers the
path (and, under ``gitcoord.autoLease``, one of this worktree's does), the edit is
allowed. Another holder's lease that covers it, an unleased path under autoLease, a
store it cannot read this way (missing, another schema, PostgreSQL): the core decides
(:mod:`gitcoord.editguard`) and words the denial. If the store cannot be read at all,
the edit is denied (fail closed, like the git hooks) unless ``gitcoord.editGuard=open``.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from gitcoord.store.guardread import LeaseRow

GUARDED_TOOLS = ("Edit", "Write", "MultiEdit", "NotebookEdit")  # claude_settings.MATCHER
_TRUE = ("true", "yes", "on", "1")


class _Git:
    """``git config`` started with ``os.posix_spawnp`` (no subprocess import), read later."""

    def __init__(self, top: str, args: Sequence[str]) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k.startswith("GIT_CONFIG")}
        read_end, write_end = os.pipe()
        try:
            self.pid = os.posix_spawnp(
                "git",
                ["git", "-C", top, *args],
                env,
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
        self.out = read_end

    def finish(self) -> tuple[int, bytes]:
        chunks = []
        try:
            while chunk := os.read(self.out, 1 << 16):
                chunks.append(chunk)
        finally:
            os.close(self.out)
            _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status), b"".join(chunks)


def deny(reason: str) -> None:
    import json

    answer = {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "deny",
            "permissionDecisionReason": reason,
        }
    }
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


def locate(file_path: str) -> tuple[str, str, str] | None:
    """(worktree top, common git dir, repository path) of the file about to be written,
    found without git: the nearest ancestor with a ``.git``. None outside any worktree,
    and for a path inside a ``.git`` directory (no worktree path at all)."""
    real = os.path.join(os.path.realpath(os.path.dirname(file_path)), os.path.basename(file_path))
    d = os.path.dirname(real)
    while True:
        dotgit = os.path.join(d, ".git")
        if os.path.lexists(dotgit):
            break
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent
    rel = os.path.relpath(real, d)
    if rel == "." or ".git" in rel.split(os.sep):
        return None
    if os.path.isdir(dotgit):
        git_dir = dotgit
    else:
        try:
            with open(dotgit) as f:
                text = f.read().strip()
        except OSError:
            return None
        if not text.startswith("gitdir: "):
            return None
        git_dir = os.path.join(d, text[len("gitdir: ") :])
    try:
        with open(os.path.join(git_dir, "commondir")) as f:
            common = os.path.join(git_dir, f.read().strip())
    except OSError:
        common = git_dir
    return d, os.path.normpath(common), rel.replace(os.sep, "/")


def _config(raw: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in raw.decode(errors="surrogateescape").split("\0"):
        if item:
            key, sep, value = item.partition("\n")
            out[key] = value if sep else "true"  # `[gitcoord] autoLease` alone is true
    return out


def _keys(path: str) -> list[str]:
    """The index keys of leases that could cover ``path``: itself, its ancestors, the root."""
    keys = [path]
    i = path.rfind("/")
    while i > 0:
        keys.append(path[:i])
        i = path.rfind("/", 0, i)
    keys.append("")
    return keys


def _rows(common: str, path: str, top: str) -> list[LeaseRow] | None:
    """The leases keyed at ``path`` or above it, from the default store; None when this
    way cannot tell (no store, another schema, an error)."""
    from gitcoord.store import guardread, hookread

    try:
        conn = hookread.connect(os.path.join(common, "gitcoord", "gitcoord.db"))
    except hookread.Unsure:
        return None
    host = os.environ.get("GITCOORD_HOST") or os.uname().nodename or "localhost"
    try:
        return guardread.leases_at(conn, _keys(path), top, host)
    except hookread.Unsure:
        return None
    finally:
        conn.close()


def _covering(rows: Sequence[LeaseRow], path: str) -> tuple[bool, bool]:
    """(another holder's lease covers ``path``, one of this worktree's does)."""
    theirs = mine = False
    for pattern, kind, key, _exclusive, own in rows:
        if (mine if own else theirs) or not _covers(pattern, kind, key, path):
            continue
        if own:
            mine = True
        else:
            theirs = True
    return theirs, mine


def _covers(pattern: str, kind: str, key: str, path: str) -> bool:
    """:func:`gitcoord.paths.matches` for a stored lease; only a glob loads the matcher."""
    if kind == "file":
        return path == pattern
    if kind == "dir":
        return path == key or path.startswith(key + "/")
    from gitcoord import paths

    return paths.matches(paths.stored_pattern(pattern, kind, key), path)


def main(argv: Sequence[str]) -> int:
    """``gitcoord guard``: Claude Code's answer on stdout (nothing: allowed). Exit 0."""
    try:
        return _guard()
    except Exception as e:  # fail closed, and say why (the details go to a crash log)
        from gitcoord import crash

        deny(f"gitcoord: the edit guard failed: {crash.message(e)}")
        return 0


def _guard() -> int:
    import json

    try:
        data = json.loads(sys.stdin.buffer.read() or b"null")
    except ValueError as e:
        deny(f"gitcoord: the edit guard cannot read the hook's input (not JSON: {e})")
        return 0
    if not isinstance(data, dict) or data.get("tool_name") not in GUARDED_TOOLS:
        return 0
    tool_input = data.get("tool_input")
    if not isinstance(tool_input, dict):
        return 0
    file_path = tool_input.get("file_path") or tool_input.get("notebook_path")
    if not isinstance(file_path, str) or not file_path or "\0" in file_path:
        return 0
    cwd = data.get("cwd")
    base = cwd if isinstance(cwd, str) and os.path.isabs(cwd) else os.getcwd()
    where = locate(os.path.join(base, file_path))
    if where is None:
        return 0  # outside any git worktree: not ours to guard
    top, common, path = where
    git = _Git(top, ["config", "-z", "--get-regexp", r"^gitcoord\."])
    try:
        rows = _rows(common, path, top)
    finally:
        code, out = git.finish()
    cfg = _config(out) if code in (0, 1) else None
    plain = cfg is not None and not (os.environ.get("GITCOORD_STORE") or cfg.get("gitcoord.store"))
    auto = cfg is None or cfg.get("gitcoord.autolease", "").strip().lower() in _TRUE
    if plain and rows is not None:
        theirs, mine = _covering(rows, path)
        if not theirs and (mine or not auto):
            return 0  # the common case: no lease of another holder covers the path
    session = data.get("session_id")
    return _full(
        top, path, str(data.get("tool_name")), session if isinstance(session, str) else None,
        open_=cfg is not None and cfg.get("gitcoord.editguard", "").strip().lower() == "open",
    )


def _full(top: str, path: str, tool: str, session: str | None, *, open_: bool) -> int:
    """The core decides: a real match, autoLease, or a store the fast way could not read."""
    from gitcoord import context, editguard
    from gitcoord.errors import BadInput, GitcoordError

    ctx = None
    try:
        ctx = context.load(top)
        ctx.drain_journal = False  # an edit never waits for the journal (commands drain it)
        ctx.create_store = False  # a missing store is a failure, never silently a new one
        decision = editguard.decide(ctx, path, tool=tool, session=session)
    except GitcoordError as e:
        if isinstance(e, BadInput):  # (a bad setting, say: no store failure to wave through)
            deny(f"gitcoord: cannot check this edit: {e.message}; fix that")
            return 0
        if open_ or (ctx is not None and ctx.settings.edit_guard_open):
            return 0
        deny(
            f"gitcoord: cannot check this edit: {e.message}; refusing rather than letting it"
            " through unchecked. Fix the store (`gitcoord init` creates a missing one), or let"
            " edits through unchecked: git config gitcoord.editGuard open"
        )
        return 0
    finally:
        if ctx is not None:
            ctx.close()
    if not decision.allow:
        deny(decision.reason)
    return 0
