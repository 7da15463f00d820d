"""The fast path's lease verdict against the full check's, on generated lease sets.

For any leases in a real SQLite store (files, directories, globs with ``**``, ``?``,
``[..]`` and escapes; exclusive and shared; the committer's, another worktree's, the same
path on another host; some expired) and any staged paths, the fast path
(:func:`gitcoord.fastpath.store_clear`, over :mod:`gitcoord.store.hookread`) passes exactly
when no active lease of another holder covers a staged path and the committer has no read
set -- a brute-force scan of every lease with :func:`gitcoord.paths.matches` says which --
and otherwise hands over. The full check (the store's ``lease_candidates`` and
:func:`gitcoord.enforce.check`, as :func:`gitcoord.checks.evaluate` runs them) refuses
exactly the paths such a lease covers, unless every such lease is shared and the committer
holds an active shared lease on the path too. So a fast pass is never a full refusal, and a
hand-over always has a lease to judge.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import event, given, settings
from hypothesis import strategies as st

from gitcoord import enforce, fastpath, paths
from gitcoord.errors import BadInput
from gitcoord.models import Holder, Lease, Read
from gitcoord.store import hookread
from gitcoord.store.base import NewLease
from gitcoord.store.sqlite import SQLiteStore

ME = Holder("/r/wt-me", "h", "me")
OTHER = Holder("/r/wt-other", "h", "other")
ME_ELSEWHERE = Holder("/r/wt-me", "h2", "me-on-h2")  # the same path on another host: another holder
HOLDERS = (ME, OTHER, ME_ELSEWHERE)

# Few characters, so that patterns and paths meet often; '*', '?', '[' and '\\' also occur
# in paths (a glob covers the file named by its own text).
_literal_seg = st.sampled_from(["a", "b", "ab", "a.b", ".a", "b.."])
_glob_piece = st.sampled_from(["a", "b", ".", "*", "?", "[ab]", "[!a]", "[a-b]", "\\*", "\\?", "\\[", "a*", "*b"])
_glob_seg = st.lists(_glob_piece, min_size=1, max_size=3).map("".join)
_segment = st.one_of(_literal_seg, _glob_seg, st.just("**"))
_raw_pattern = st.tuples(st.lists(_segment, min_size=1, max_size=3), st.booleans()).map(
    lambda t: "/".join(t[0]) + ("/" if t[1] else "")
)
_path_seg = st.sampled_from(["a", "b", "ab", "ba", "a.b", ".a", "aa", "*", "a*", "?", "[ab]", "\\*", "b[", "a?b"])
_path = st.lists(_path_seg, min_size=1, max_size=3).map("/".join)


def _canonical(raw: str, root: Path) -> paths.Pattern | None:
    try:
        return paths.parse_pattern(raw, cwd=root, root=root)
    except BadInput:
        return None


@st.composite
def _case(draw: st.DrawFn) -> tuple[list[tuple[paths.Pattern, Holder, bool, bool]], list[str], bool]:
    root = Path(tempfile.gettempdir()) / "gitcoord-no-such-repo"  # nothing exists: no dirs
    leases = []
    for raw in draw(st.lists(_raw_pattern, min_size=0, max_size=8)):
        p = _canonical(raw, root)
        if p is None:
            continue
        holder = draw(st.sampled_from(HOLDERS))
        expired = draw(st.booleans()) and draw(st.booleans())
        leases.append((p, holder, draw(st.booleans()), expired))
    staged = draw(st.lists(_path, min_size=0, max_size=6))
    # paths the patterns spell (a glob's own text, a directory's key) and below them
    for p, *_ in leases:
        if draw(st.booleans()):
            below = draw(st.sampled_from(["", "/a", "/b/a.b"]))
            staged.append(p.text.rstrip("/") + below)
    staged = [s for s in dict.fromkeys(staged) if _valid_path(s)]
    reads = draw(st.booleans()) and draw(st.booleans()) and draw(st.booleans())
    return leases, staged, reads


def _valid_path(p: str) -> bool:
    return bool(p) and all(seg not in ("", ".", "..") for seg in p.split("/"))


def _store(base: Path, leases: list[tuple[paths.Pattern, Holder, bool, bool]], reads: bool) -> SQLiteStore:
    store = SQLiteStore.open(base / "gitcoord.db")
    with store.transaction() as tx:
        for p, holder, exclusive, expired in leases:
            expires = tx.now - 60 if expired else tx.now + 3600
            tx.insert_lease(
                NewLease(pattern=p.text, kind=p.kind, key=p.key, exclusive=exclusive, holder=holder,
                         epoch=tx.next_epoch(), ttl=3600, expires_at=expires, reason=None, task=None,
                         base_commit=None, base_blobs={})
            )
        if reads:
            tx.upsert_read(Read(path="README.md", blob=None, commit=None, holder=ME, read_at=tx.now))
    return store


def _fast_passes(db: Path, staged: list[str]) -> bool:
    conn = hookread.connect(str(db))
    try:
        return fastpath.store_clear(conn, staged, ME.worktree, ME.host)
    finally:
        conn.close()


def _full_refuses(store: SQLiteStore, staged: list[str]) -> tuple[set[str], list[Lease], float]:
    """The paths the full check refuses for the lease rule, every lease, and its clock."""
    with store.snapshot() as tx:
        now = tx.now
        candidates = tx.lease_candidates(enforce.lease_keys(staged), []) if staged else []
        everything = tx.leases(active_only=False)
    violations = enforce.check(enforce.Subject(tuple(staged), ME), enforce.build_index(candidates), now=now)
    return {v.path for v in violations if v.rule == enforce.LEASE}, everything, now


@settings(max_examples=400)
@given(_case())
def test_the_fast_path_passes_exactly_when_no_other_holders_lease_covers_a_staged_path(
    case: tuple[list[tuple[paths.Pattern, Holder, bool, bool]], list[str], bool],
) -> None:
    leases, staged, reads = case
    with tempfile.TemporaryDirectory() as d:
        store = _store(Path(d), leases, reads)
        try:
            fast = _fast_passes(Path(d) / "gitcoord.db", staged)
            refused, everything, now = _full_refuses(store, staged)
        finally:
            store.close()

    def covering(path: str) -> list[Lease]:
        pattern = paths.stored_pattern
        return [
            lease for lease in everything
            if lease.is_active(now) and paths.matches(pattern(lease.pattern, lease.kind, lease.key), path)
        ]

    others = {p: [x for x in covering(p) if not x.holder.same_place(ME)] for p in staged}
    # the fast path: a pass exactly when no other holder's lease covers a staged path (and
    # no read set); anything else is a hand-over, never a verdict of its own
    assert fast == (not reads and not any(others.values()))
    # the full check refuses what another holder's lease covers, unless co-owned (shared)
    co_owned = {
        p for p in staged
        if all(not x.exclusive for x in others[p])
        and any(not x.exclusive for x in covering(p) if x.holder.same_place(ME))
    }
    assert refused == {p for p in staged if others[p] and p not in co_owned}
    if fast:
        assert not refused
    kinds = sorted({x.kind for p in staged for x in others[p]})
    event(f"fast {'pass' if fast else 'hand-over'}{'; read set' if reads else ''}; covered by {'/'.join(kinds) or 'nothing'}"
          f"{'; co-owned' if co_owned & set(others) and any(others[p] for p in co_owned) else ''}")


def test_a_row_of_an_unknown_kind_is_an_error_not_a_pass() -> None:
    from gitcoord.pathmatch import first_covered

    assert first_covered([("a", "file", "a", True)], ["b", "a"]) == ("a", ("a", "file", "a", True))
    assert first_covered([("src/*.py", "glob", "src", True)], ["src/a/b.py", "docs/a.py"]) is None
    assert first_covered([("src/*", "glob", "src", True)], ["src/a/b.py"]) is not None  # a matched dir covers below
    try:
        first_covered([("a", "weird", "a", True)], ["a"])
    except ValueError:
        pass
    else:
        raise AssertionError("an unknown kind must not pass")
