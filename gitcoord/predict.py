"""Predicted merge conflicts (SPEC section 10).

Each side of a merge is a worktree's work -- its commits since the fork and its
uncommitted changes -- or a ref's tip. :func:`predict` asks ``git merge-tree
--write-tree`` (through :mod:`gitcoord.gitrepo`) what merging two sides would give:
every pair of worktrees whose work touches a common path (both sides of renames count),
and each worktree against the target ref (the integration tip) when it is behind it.

Uncommitted work is a tree built through a temporary index, and a commit object of that
tree on the worktree's HEAD (merge-tree merges commits on git 2.38 and 2.39; 2.40's
``--merge-base`` could merge the trees directly). The real index and the files are only
read.

Everything is cached in ``<common-dir>/gitcoord/predict-cache.json`` (a cache file,
not the store: any store backend, nothing to migrate): a merge's result by the two trees
and their merge bases; the merge bases of two commits; a commit's tree; and the tree of
a worktree's uncommitted work by what ``lstat`` says of its changed paths (not for files
changed in the last two seconds, which could change again unseen). A repeat prediction
with no new work runs no git process at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitcoord.gitrepo import GitError, MergeOutcome, Repo
from gitcoord.jobs import Job, Pool, width

CACHE_NAME = "predict-cache.json"
CACHE_VERSION = 1
MAX_ENTRIES = 20_000
RACY_SECONDS = 2.0  # a file changed this recently may change again within its mtime's tick


@dataclass(frozen=True)
class Work:
    """One worktree's side: its HEAD, its uncommitted paths (as ``git status`` lists
    them) and every path it changed (those, plus its commits' since the fork)."""

    key: str  # the worktree's path
    label: str  # its agent, for messages
    root: Path
    head: str
    dirty: tuple[str, ...]
    changed: frozenset[str]
    behind: bool | None = None  # behind the target (None: unknown, so ask git)

    def has_work(self) -> bool:
        return bool(self.dirty or self.changed)


@dataclass(frozen=True)
class Target:
    """The ref the work merges into, at its tip."""

    ref: str
    tip: str

    @property
    def label(self) -> str:
        return self.ref.removeprefix("refs/heads/").removeprefix("refs/remotes/")


@dataclass(frozen=True)
class Conflict:
    kind: str  # content | add/add | modify/delete | rename/delete | rename/rename | ...
    paths: tuple[str, ...]
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "paths": list(self.paths), "message": self.message}


@dataclass(frozen=True)
class Prediction:
    """What merging ``ours`` (a worktree) and ``theirs`` (another worktree, or the target
    ref when ``against_ref``) would give."""

    ours: str
    theirs: str
    ours_label: str
    theirs_label: str
    against_ref: bool
    clean: bool
    paths: tuple[str, ...]  # conflicted paths
    conflicts: tuple[Conflict, ...]
    merge_bases: tuple[str, ...]
    trees: tuple[str, str]  # (ours, theirs): what was merged
    cached: bool
    error: str | None = None  # git could not merge them (then clean is False, paths empty)

    def kinds_by_path(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {p: [] for p in self.paths}
        for c in self.conflicts:
            for p in c.paths:
                if p in out and c.kind not in out[p]:
                    out[p].append(c.kind)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "ours": self.ours,
            "theirs": self.theirs,
            "ours_label": self.ours_label,
            "theirs_label": self.theirs_label,
            "against_ref": self.against_ref,
            "clean": self.clean,
            "paths": list(self.paths),
            "conflicts": [c.to_json() for c in self.conflicts],
            "merge_bases": list(self.merge_bases),
            "trees": list(self.trees),
            "cached": self.cached,
            "error": self.error,
        }


# ---------------------------------------------------------------------------------------
# The cache file
# ---------------------------------------------------------------------------------------


class Cache:
    """A JSON file of immutable facts (all keyed by object ids, or by a worktree's file
    stats for the tree of its uncommitted work). A cache only: unreadable means empty,
    unwritable means not kept; concurrent writers each replace it whole."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, Any] = {}
        self.changed = False
        try:
            doc = json.loads(path.read_text())
            if isinstance(doc, dict) and doc.get("version") == CACHE_VERSION and isinstance(doc.get("entries"), dict):
                self.entries = doc["entries"]
        except (OSError, ValueError):
            pass

    @classmethod
    def of(cls, repo: Repo) -> Cache:
        from gitcoord.store import store_dir

        return cls(store_dir(repo.common_dir) / CACHE_NAME)

    def get(self, key: str) -> Any:
        return self.entries.get(key)

    def put(self, key: str, value: Any) -> None:
        if self.entries.get(key) != value:
            self.entries[key] = value
            self.changed = True

    def drop(self, key: str) -> None:
        if self.entries.pop(key, None) is not None:
            self.changed = True

    def save(self) -> None:
        if not self.changed:
            return
        while len(self.entries) > MAX_ENTRIES:  # the oldest first
            del self.entries[next(iter(self.entries))]
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps({"version": CACHE_VERSION, "entries": self.entries}))
            os.replace(tmp, self.path)
            self.changed = False
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()


def dirty_signature(work: Work) -> tuple[str, bool]:
    """A key for the tree of ``work``'s uncommitted state (its HEAD, and what lstat says of
    each uncommitted path), and whether it may be trusted later: not when a file changed
    in the last RACY_SECONDS (it could change again within the same mtime tick)."""
    h = hashlib.sha256()
    h.update(f"{work.root}\0{work.head}\0".encode(errors="surrogateescape"))
    fresh = time.time_ns() - int(RACY_SECONDS * 1e9)
    trusted = True
    for path in sorted(work.dirty):
        try:
            st = os.lstat(work.root / path)
        except OSError:
            h.update(f"{path}\0-\0".encode(errors="surrogateescape"))
            continue
        if st.st_mtime_ns >= fresh or st.st_ctime_ns >= fresh:
            trusted = False
        stat = f"{st.st_mode} {st.st_size} {st.st_mtime_ns} {st.st_ctime_ns} {st.st_ino}"
        h.update(f"{path}\0{stat}\0".encode(errors="surrogateescape"))
    return h.hexdigest(), trusted


# ---------------------------------------------------------------------------------------
# Prediction
# ---------------------------------------------------------------------------------------


@dataclass
class _Side:
    work: Work | None  # None: the target
    head: str
    tree: str | None = None
    commit: str | None = None  # what merge-tree merges (head, or a synthetic commit)
    sig: str | None = None
    trusted: bool = False
    built: bool = False  # its tree was built just now (not taken from the cache)
    jobs: dict[str, Job[Any]] = field(default_factory=dict)


def pairs_of(works: Sequence[Work], focus: str | None = None) -> list[tuple[int, int]]:
    """Indexes of the pairs of works that touch a common path (with ``focus``, only the
    pairs that include that worktree)."""
    out: list[tuple[int, int]] = []
    for i, a in enumerate(works):
        for j in range(i + 1, len(works)):
            b = works[j]
            if focus is not None and focus not in (a.key, b.key):
                continue
            if not a.changed.isdisjoint(b.changed):
                out.append((i, j))
    return out


def predict(
    repo: Repo,
    works: Sequence[Work],
    target: Target | None,
    *,
    pool: Pool | None = None,
    focus: str | None = None,
    cache: Cache | None = None,
) -> list[Prediction]:
    """Predict the merges of every pair of ``works`` that touch a common path, and of each
    work against ``target`` (when behind it, or when that is unknown); with ``focus``,
    only those that include that worktree. Worktrees without work are left out."""
    active = [w for w in works if w.has_work()]
    if not active:
        return []
    if pool is None:
        with Pool() as own:
            return predict(repo, works, target, pool=own, focus=focus, cache=cache)
    cache = cache if cache is not None else Cache.of(repo)
    try:
        return _predict(repo, active, target, pool, focus, cache)
    except _StaleTree:  # a cached tree git does not have, and the files say otherwise
        cache.entries = {k: v for k, v in cache.entries.items() if not k.startswith("wtree:")}
        cache.changed = True
        return _predict(repo, active, target, pool, focus, cache)


class _StaleTree(Exception):
    pass


def _predict(
    repo: Repo, active: list[Work], target: Target | None, pool: Pool, focus: str | None, cache: Cache
) -> list[Prediction]:
    pairs: list[tuple[_Side, _Side]] = []
    sides = [_Side(work=w, head=w.head) for w in active]
    for i, j in pairs_of(active, focus):
        pairs.append((sides[i], sides[j]))
    tside = _Side(work=None, head=target.tip) if target is not None else None
    if tside is not None:
        for s in sides:
            w = s.work
            assert w is not None
            if (focus is None or w.key == focus) and w.behind is not False and w.head != tside.head:
                pairs.append((s, tside))
    if not pairs:
        return []
    used = list({id(s): s for pair in pairs for s in pair}.values())

    # 1. trees: a commit's from the cache (or one cat-file for all); uncommitted work's
    #    from the cache by its files' stats (or built in a temporary index)
    need_commit_tree: list[_Side] = []
    for s in used:
        if s.work is not None and s.work.dirty:
            s.sig, s.trusted = dirty_signature(s.work)
            s.tree = cache.get(f"wtree:{s.sig}") if s.trusted else None
            if s.tree is None:
                s.jobs["tree"] = pool.submit(repo.for_worktree(s.work.root).worktree_tree, s.work.dirty)
        else:
            s.commit = s.head
            s.tree = cache.get(f"ctree:{s.head}")
            if s.tree is None:
                need_commit_tree.append(s)
    # 2. merge bases of the two HEADs (the commits themselves: a synthetic commit's only
    #    parent is its HEAD, so it has the same merge bases), all at once
    missing = {
        tuple(sorted((a.head, b.head)))
        for a, b in pairs
        if a.head != b.head and cache.get(_bases_key(a.head, b.head)) is None
    }
    bases_job = pool.submit(repo.merge_bases_many, sorted(missing)) if missing else None
    if need_commit_tree:
        trees = repo.trees_of([s.head for s in need_commit_tree])
        for s in need_commit_tree:
            s.tree = trees.get(s.head)
            if s.tree:
                cache.put(f"ctree:{s.head}", s.tree)
    for s in used:
        if "tree" in s.jobs:
            s.tree = s.jobs.pop("tree").result()
            s.built = True
            if s.trusted and s.sig:
                cache.put(f"wtree:{s.sig}", s.tree)
    if bases_job is not None:
        for (x, y), found in bases_job.result().items():
            cache.put(_bases_key(x, y), found)

    # 3. results from the cache; the rest from merge-tree
    results: dict[tuple[int, int], tuple[MergeOutcome | str, bool]] = {}
    to_merge: dict[str, tuple[_Side, _Side]] = {}
    keys: dict[tuple[int, int], str] = {}
    for a, b in pairs:
        bases = [a.head] if a.head == b.head else cache.get(_bases_key(a.head, b.head)) or []
        ident = (id(a), id(b))
        if not bases:
            results[ident] = ("no common history", False)
            continue
        if a.tree is None or b.tree is None:
            results[ident] = ("a commit is missing", False)
            continue
        if a.tree == b.tree:
            results[ident] = (MergeOutcome(True, a.tree, (), ()), False)
            continue
        first, second = sorted((a.tree, b.tree))
        key = f"merge:{','.join(bases)}:{first}:{second}"
        keys[ident] = key
        hit = cache.get(key)
        if hit is not None:
            results[ident] = (_outcome_from_json(hit), True)
        else:
            to_merge.setdefault(key, (a, b) if a.tree == first else (b, a))
    if to_merge:
        _merge(repo, pool, cache, to_merge, results, keys)

    out: list[Prediction] = []
    for a, b in pairs:
        res, cached = results[(id(a), id(b))]
        out.append(_prediction(a, b, target, res, cached, cache))
    cache.save()
    return out


def _prediction(
    a: _Side, b: _Side, target: Target | None, res: MergeOutcome | str, cached: bool, cache: Cache
) -> Prediction:
    assert a.work is not None
    if b.work is not None:
        theirs, theirs_label = b.work.key, b.work.label
    else:
        assert target is not None
        theirs, theirs_label = target.ref, target.label
    bases = [a.head] if a.head == b.head else cache.get(_bases_key(a.head, b.head)) or []
    paths: tuple[str, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    if isinstance(res, str):
        clean, error = False, res
    else:
        # the cached messages say {1} and {2} for the sides in tree order
        one, two = (a, b) if (a.tree or "") <= (b.tree or "") else (b, a)
        names = {"{1}": _label(one, target), "{2}": _label(two, target)}
        clean, paths, error = res.clean, res.paths, None
        conflicts = tuple(Conflict(c.kind, c.paths, _fill(c.message, names)) for c in res.conflicts)
    return Prediction(
        ours=a.work.key, theirs=theirs, ours_label=a.work.label, theirs_label=theirs_label,
        against_ref=b.work is None, clean=clean, paths=paths, conflicts=conflicts,
        merge_bases=tuple(bases), trees=(a.tree or "", b.tree or ""), cached=cached, error=error,
    )


def _label(side: _Side, target: Target | None) -> str:
    if side.work is not None:
        return side.work.label
    return target.label if target is not None else side.head[:10]


def _fill(message: str, names: dict[str, str]) -> str:
    for k, v in names.items():
        message = message.replace(k, v)
    return message


def _bases_key(a: str, b: str) -> str:
    x, y = sorted((a, b))
    return f"bases:{x}:{y}"


def _merge(
    repo: Repo,
    pool: Pool,
    cache: Cache,
    to_merge: dict[str, tuple[_Side, _Side]],
    results: dict[tuple[int, int], tuple[MergeOutcome | str, bool]],
    keys: dict[tuple[int, int], str],
) -> None:
    """Run merge-tree for the pairs the cache did not answer (in a few batches at once),
    after making commits of the uncommitted work they involve."""
    sides = list({id(s): s for pair in to_merge.values() for s in pair}.values())
    _commit_uncommitted(repo, pool, cache, [s for s in sides if s.commit is None])
    items = list(to_merge.items())
    n = max(1, min(width(), len(items) // 8 or 1))
    chunks = [items[k::n] for k in range(n)]

    def run(chunk: list[tuple[str, tuple[_Side, _Side]]]) -> list[MergeOutcome | GitError]:
        return repo.merge_tree([(a.commit or a.head, b.commit or b.head) for _, (a, b) in chunk])

    done: dict[str, MergeOutcome | str] = {}
    for chunk, job in [(c, pool.submit(run, c)) for c in chunks]:
        try:
            outcomes = job.result()
        except GitError as e:  # (a git without merge-tree --write-tree)
            done.update((key, e.message) for key, _ in chunk)
            continue
        for (key, (a, b)), outcome in zip(chunk, outcomes):
            if isinstance(outcome, GitError):
                done[key] = outcome.message
                continue
            names = {a.commit or a.head: "{1}", b.commit or b.head: "{2}"}
            outcome = outcome._replace(conflicts=tuple(c._replace(message=_fill(c.message, names)) for c in outcome.conflicts))
            done[key] = outcome
            cache.put(key, _outcome_to_json(outcome))
    for ident, key in keys.items():
        if ident not in results and key in done:
            results[ident] = (done[key], False)


def _commit_uncommitted(repo: Repo, pool: Pool, cache: Cache, sides: list[_Side]) -> None:
    """The synthetic commits of worktrees' uncommitted work (each tree on its HEAD). A tree
    from the cache that is gone from the object store (``git gc`` prunes unreachable
    objects after a while) is built again first."""
    if not sides:
        return
    cached = [s for s in sides if not s.built]
    present = repo.objects_exist([s.tree for s in cached if s.tree])
    gone = [s for s in cached if not present.get(s.tree or "", False)]
    rebuilt = {id(s): pool.submit(repo.for_worktree(s.work.root).worktree_tree, s.work.dirty) for s in gone if s.work}
    for s in gone:
        tree = rebuilt[id(s)].result()
        if tree != s.tree:  # (the cache was wrong, not just pruned: predict again)
            if s.sig:
                cache.drop(f"wtree:{s.sig}")
            raise _StaleTree()
    for s, commit in zip(sides, repo.synthetic_commits([(s.tree or "", s.head) for s in sides]), strict=True):
        s.commit = commit


def _outcome_to_json(o: MergeOutcome) -> dict[str, Any]:
    return {
        "clean": o.clean,
        "tree": o.tree,
        "paths": list(o.paths),
        "conflicts": [[c.kind, list(c.paths), c.message] for c in o.conflicts],
    }


def _outcome_from_json(doc: dict[str, Any]) -> MergeOutcome:
    from gitcoord.gitrepo import MergeConflict

    return MergeOutcome(
        bool(doc["clean"]),
        str(doc["tree"]),
        tuple(doc["paths"]),
        tuple(MergeConflict(k, tuple(p), m) for k, p, m in doc["conflicts"]),
    )


def describe(p: Prediction, shown: Callable[[Sequence[str]], str]) -> str:
    """'src/a.py (content), docs/b.md (modify/delete)' for a conflicting prediction."""
    kinds = p.kinds_by_path()
    items = [f"{path} ({', '.join(kinds[path]) or 'conflict'})" for path in p.paths]
    return shown(items)
