"""The pre-commit fast path: prove a commit clean with the standard library and sqlite3.

``hook-impl pre-commit`` (and ``pre-applypatch``) calls :func:`passes` first, before
:mod:`gitcoord.hookimpl` is imported (``gitcoord/__main__.py``). It starts its git
processes at once, in parallel -- ``diff-index`` (what the commit records, against its
parent P), ``write-tree`` (the tree checked, for the pass) and the ``gitcoord.*`` config --
and imports sqlite3 while they run. As soon as ``diff-index`` has said which paths the
commit touches, one ``diff-tree --merge-base`` between P and the integration ref I, limited
to those paths, lists what I changed there since the fork M, with blob(M:X) and blob(I:X):
the stale-read predicate for every touched path in one process. Then one store snapshot
(:func:`gitcoord.store.hookread.candidates`): the active leases of other holders keyed at
the touched paths and their ancestors, and whether this worktree has a read set.

It passes (and leaves the pass for the post-commit shim, ``<git dir>/gitcoord-precommit-ok``)
only when

* no candidate lease of another holder covers a touched path
  (:func:`gitcoord.pathmatch.first_covered`: files by path, directories on the path's
  ancestors, and only the globs keyed there, each compiled once -- the full check's index
  keys and lease rule, :func:`gitcoord.pathmatch.covers`), and
* no touched path is stale by the predicate of SPEC section 5 (:mod:`gitcoord.stalerule`):
  a path I did not change since the fork is fresh; one it changed is compared with
  blob(P:X) from ``diff-index``.

Anything else hands over to the full check (:mod:`gitcoord.checks`), which decides and
explains: a lease that covers a touched path (a refusal, or a shared lease to weigh), a
stale path, a read set, ``requireLease`` or ``strictReads``, a merge, a bypass, a
PostgreSQL store, no integration ref, several merge bases, any error. So the fast path
never passes what the full check would refuse; it may hand over what the full check then
passes. It imports neither the core nor ``typing``/``subprocess``, and starts git only
through :func:`gitcoord.hookenv.start`, in the hook's own environment (the index git is
committing).
"""

from __future__ import annotations

import os

from gitcoord import hookenv

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Iterable

_FALSE = ("false", "no", "off", "0", "")
_GUESS = "refs/heads/main"  # the usual integration ref: its diff-tree starts before the config is read
_MAX_PATHSPECS = 64  # more paths than that: their directories (git matches each entry against each)


def passes(argv: list[str]) -> bool:
    """``hook-impl <hook> ...``: True when the hook is ``pre-commit`` (or ``pre-applypatch``
    of a ``git am``, not of a rebase) and :func:`pre_commit` proves the commit clean."""
    hook = argv[0] if argv else ""
    if hook == "pre-applypatch" and hookenv.rebasing():
        return False  # (hookimpl lets the picks of `git rebase --apply` through)
    return hook in ("pre-commit", "pre-applypatch") and pre_commit()


def pre_commit() -> bool:
    """Prove the commit clean and leave the pass for the post-commit shim; False when
    the full check must decide (never an exception)."""
    try:
        return _pre_commit()
    except Exception:
        return False


def _pre_commit() -> bool:
    if os.environ.get(hookenv.BYPASS_ENV, "").strip():
        return False
    amend = hookenv.amending()
    parent = "HEAD^" if amend else "HEAD"
    where = hookenv.locate()
    start = hookenv.start
    diff = start(["diff-index", "--cached", "-z", "--raw", "--no-renames",
                  "--ignore-submodules=none", parent, "--"])
    procs = {
        "tree": start(["write-tree"]),
        "config": start(["config", "-z", "--get-regexp", r"^gitcoord\."]),
    }
    if where is None:
        procs["where"] = start(["rev-parse", "--is-bare-repository", "--absolute-git-dir",
                                "--git-common-dir", "--show-toplevel"])
    if amend:
        procs["merge"] = start(["rev-parse", "-q", "--verify", "HEAD^2"])
    from gitcoord.store import hookread, sqlite_file  # (sqlite3 loads while git runs)

    # As soon as the touched paths are known (the others still running), what the usual
    # integration ref changed since the fork, at those paths only.
    code, raw = diff.finish()
    touched = _raw_paths(raw) if code == 0 else None
    if touched:
        procs["fork"] = start(_fork_diff(parent, _GUESS, touched))
    out = {name: p.finish() for name, p in procs.items()}
    if touched is None:
        return False
    if any(out[k][0] != 0 for k in out if k in ("where", "tree")) or out["config"][0] not in (0, 1):
        return False
    if amend and out["merge"][0] == 0:
        return False  # amending a merge: the full check compares with every parent
    if where is None:
        lines = out["where"][1].decode(errors="surrogateescape").split("\n")
        if len(lines) < 4 or lines[0] != "false":
            return False
        common = lines[2] if os.path.isabs(lines[2]) else os.path.join(os.getcwd(), lines[2])
        where = (lines[1], common, lines[3])
    git_dir, common, top = where
    if os.path.exists(os.path.join(git_dir, "MERGE_HEAD")):
        return False  # concluding a merge
    cfg = _config(out["config"][1])
    for key in ("gitcoord.requirelease", "gitcoord.strictreads"):
        value = cfg.get(key)
        if value is not None and value.strip().lower() not in _FALSE:
            return False  # (requireLease: let the full check judge ownership)
    url = os.environ.get("GITCOORD_STORE") or cfg.get("gitcoord.store")
    if url and url.startswith(("postgresql://", "postgres://")):
        return False  # (a twin of store.hookread for PostgreSQL would answer here)
    integration = _integration_guess(common, cfg.get("gitcoord.integration") or None)
    if integration is None:
        return False
    if any("\n" in p for p in touched):
        return False
    if touched:  # (nothing touched: nothing can be stale)
        fork = out["fork"] if integration == _GUESS else hookenv.run(_fork_diff(parent, integration, touched))
        changed = _raw_changes(fork[1]) if fork[0] == 0 else None
        if changed is None:
            return False  # (no integration ref, no merge base or several: the full check)
        if _stale(touched, changed):
            return False
    host = os.environ.get("GITCOORD_HOST") or os.uname().nodename or "localhost"
    try:
        conn = hookread.connect(sqlite_file(common, url))
    except hookread.Unsure:
        return False
    try:
        if not store_clear(conn, touched, os.path.realpath(top), host):
            return False
    finally:
        conn.close()
    tree = out["tree"][1].decode().strip()
    with open(os.path.join(git_dir, hookenv.OK_FILE), "w") as f:
        f.write(hookenv.pass_text(tree, common, top))
    return True


def store_clear(conn: sqlite3.Connection, touched: Iterable[str], worktree: str, host: str) -> bool:
    """True when, in the store, no active lease of a holder other than (``worktree``,
    ``host``) covers a ``touched`` path and that worktree has no read set; False when one
    does, or when the store cannot tell (:class:`~gitcoord.store.hookread.Unsure`)."""
    from gitcoord.store import hookread

    paths = list(touched)
    keys: dict[str, None] = {"": None}  # each path and its ancestors (pathmatch.ancestors)
    for p in paths:
        keys[p] = None
        i = p.rfind("/")
        while i > 0:
            keys[p[:i]] = None
            i = p.rfind("/", 0, i)
    try:
        rows, has_reads = hookread.candidates(conn, list(keys), worktree, host)
    except hookread.Unsure:
        return False
    if has_reads:
        return False  # the read set may warn: the full check says so
    if not rows:
        return True
    from gitcoord.pathmatch import first_covered

    return first_covered(rows, paths) is None  # covered: a refusal, or a shared lease to weigh


def _fork_diff(parent: str, integration: str, touched: Iterable[str]) -> list[str]:
    """What the integration line changed at the touched paths since the fork: M =
    merge-base(P, I) to I, with the blobs on both sides (``diff-tree`` is plumbing: no
    diff.* settings apply; it fails when there is no merge base, or several). Limited to
    the paths (their directories when there are many; all of it when even those are), so
    git reads only the trees on their way."""
    specs = list(touched)
    if len(specs) > _MAX_PATHSPECS:
        specs = sorted({p.rpartition("/")[0] for p in specs})
        if "" in specs or len(specs) > _MAX_PATHSPECS:
            specs = []
    return ["--literal-pathspecs", "diff-tree", "-r", "-z", "--no-renames", "--ignore-submodules=none",
            "--merge-base", parent, integration, "--", *specs]


def _integration_guess(common: str, configured: str | None) -> str | None:
    """The integration ref as :meth:`gitcoord.gitrepo.Repo.integration_ref` resolves it, in
    the common cases only (None: let the full check resolve it)."""
    if configured:
        return configured if configured.startswith("refs/") else None
    if os.path.isdir(os.path.join(common, "reftable")):
        return None
    try:
        with open(os.path.join(common, "refs", "remotes", "origin", "HEAD")) as f:
            target = f.read().strip()
    except OSError:
        return _GUESS  # the first default; a missing main sends us to the full check
    prefix = "ref: refs/remotes/origin/"
    return "refs/heads/" + target[len(prefix) :] if target.startswith(prefix) else None


def _config(raw: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in raw.decode(errors="surrogateescape").split("\0"):
        if item:
            key, sep, value = item.partition("\n")
            # A key written with no value (`[gitcoord] requireLease`) is boolean true in git.
            out[key] = value if sep else "true"
    return out


def _raw_entries(raw: bytes) -> list[tuple[list[str], str]] | None:
    """(``:mode mode blob blob status`` fields, path) of ``--raw -z`` diff output (None:
    parse trouble)."""
    items = raw.decode(errors="surrogateescape").split("\0")
    out = []
    for i in range(0, len(items) - 1, 2):
        meta = items[i].split()
        if len(meta) < 5 or not meta[0].startswith(":"):
            return None
        out.append((meta, items[i + 1]))
    return out


def _blob(mode: str, oid: str) -> str | None:
    return None if mode.strip(":") == "000000" else oid


def _raw_paths(raw: bytes) -> dict[str, str | None] | None:
    """path -> blob(P:X) from ``diff-index`` against the parent P."""
    entries = _raw_entries(raw)
    return None if entries is None else {path: _blob(m[0], m[2]) for m, path in entries}


def _raw_changes(raw: bytes) -> dict[str, tuple[str | None, str | None]] | None:
    """path -> (blob(M:X), blob(I:X)) from ``diff-tree`` M..I."""
    entries = _raw_entries(raw)
    return None if entries is None else {path: (_blob(m[0], m[2]), _blob(m[1], m[3])) for m, path in entries}


def _stale(touched: dict[str, str | None], changed: dict[str, tuple[str | None, str | None]]) -> bool:
    """Is a touched path stale? Only one the integration line changed can be."""
    hits = [p for p in touched if p in changed]
    if not hits:
        return False
    from gitcoord.stalerule import is_stale

    return any(is_stale(changed[p][1], changed[p][0], touched[p]) for p in hits)
