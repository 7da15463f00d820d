"""The rules as a pure function (gitcoord.enforce): no git, no store, no clock."""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitcoord import enforce, paths
from gitcoord.enforce import Policy, Subject, check, fixes
from gitcoord.models import Holder, Lease, Read
from gitcoord.staleness import Bases, ParentBase
from gitcoord.stalerule import is_stale

pytestmark = pytest.mark.no_store

NOW = 1_800_000_000.0
A = Holder("/r/wt-a", "h", "agent-a")
B = Holder("/r/wt-b", "h", "agent-b")
B_ELSEWHERE = Holder("/r/wt-b", "other-host", "agent-b")
_ids = itertools.count(1)


def mk(pattern: str, holder: Holder = A, *, exclusive: bool = True, ttl: float = 600, state: str = "active",
       reason: str | None = None) -> Lease:
    p = paths.pattern_from_text(pattern)
    return Lease(
        id=next(_ids), pattern=p.text, kind=p.kind, key=p.key, exclusive=exclusive, holder=holder,
        epoch=1, granted_at=NOW - 10, expires_at=NOW + ttl, reason=reason, state=state,
    )


def rules(vs: list[enforce.Violation]) -> list[tuple[str, str]]:
    return [(v.rule, v.path) for v in vs]


def test_another_holders_lease_is_a_violation_with_every_detail() -> None:
    lease = mk("src/app/api.py", reason="refactor")
    (v,) = check(Subject(("src/app/api.py", "README.md"), B), [lease], now=NOW)
    assert (v.rule, v.path, v.lease) == ("lease", "src/app/api.py", lease)
    line = v.line(NOW)
    assert line.startswith("src/app/api.py: leased by agent-a (/r/wt-a on h) as src/app/api.py [exclusive]")
    assert "expires in 10m" in line and "reason: refactor" in line
    doc = v.to_json(NOW)
    assert doc["holder"]["agent"] == "agent-a" and doc["lease"]["expires_in"] == 600
    assert doc["message"] == line


def test_own_leases_expired_and_released_ones_never_count() -> None:
    leases = [mk("docs/", B), mk("src/a.py", A, ttl=-1), mk("src/b.py", A, state="released")]
    assert check(Subject(("docs/x.md", "src/a.py", "src/b.py"), B), leases, now=NOW) == []


def test_same_worktree_on_another_host_is_another_holder() -> None:
    assert rules(check(Subject(("f",), B), [mk("f", B_ELSEWHERE)], now=NOW)) == [("lease", "f")]


def test_directory_and_glob_leases_match_what_they_cover() -> None:
    leases = [mk("docs/"), mk("src/**/*.py"), mk("*.md")]
    subject = Subject(("docs/a/b.md", "src/x/y.py", "src/x/y.txt", "README.md", "docs"), B)
    got = rules(check(subject, leases, now=NOW))
    assert ("lease", "docs/a/b.md") in got and ("lease", "src/x/y.py") in got
    assert ("lease", "README.md") in got and ("lease", "docs") in got
    assert not any(p == "src/x/y.txt" for _, p in got)


def test_shared_lease_needs_a_shared_lease_of_the_committer() -> None:
    theirs = mk("docs/api.md", A, exclusive=False)
    assert rules(check(Subject(("docs/api.md",), B), [theirs], now=NOW)) == [("lease", "docs/api.md")]
    mine = mk("docs/", B, exclusive=False)
    assert check(Subject(("docs/api.md",), B), [theirs, mine], now=NOW) == []
    # an exclusive lease of another holder is never co-owned
    excl = mk("docs/api.md", A)
    assert rules(check(Subject(("docs/api.md",), B), [excl, mine], now=NOW)) == [("lease", "docs/api.md")]


def test_unknown_committer_is_nobody_every_lease_counts() -> None:
    assert rules(check(Subject(("f",), None, commit="c" * 40), [mk("f", A)], now=NOW)) == [("lease", "f")]


def test_require_lease() -> None:
    policy = Policy(require_lease=True)
    got = check(Subject(("a.py", "b.py"), B), [mk("a.py", B)], now=NOW, policy=policy)
    assert rules(got) == [("require-lease", "b.py")]
    assert "gitcoord lease b.py" in fixes(got)[0]


def test_stale_predicate() -> None:
    # blob(I) != blob(M) and blob(I) != blob(P)
    assert is_stale("i", "m", "p")
    assert not is_stale("m", "m", "p")  # the integration line did not change it
    assert not is_stale("i", "m", "i")  # this side already has that version
    assert is_stale(None, "m", "p")  # deleted on the integration line
    assert is_stale("i", None, None)  # added there, absent here


Blobs = Mapping[str, "str | None"]


def bases(at_tip: Blobs, *parents: tuple[Blobs, Blobs]) -> Bases:
    return Bases(
        integration_ref="refs/heads/main",
        tip="t" * 40,
        at_tip=dict(at_tip),
        parents=[
            ParentBase(f"p{i}", "m" * 40, at_base=dict(m), at_parent=dict(p))
            for i, (m, p) in enumerate(parents)
        ],
    )


def test_stale_violation_names_ref_and_fork() -> None:
    b = bases({"x": "i", "y": "m"}, ({"x": "m", "y": "m"}, {"x": "m", "y": "m"}))
    (v,) = check(Subject(("x", "y"), B), [], now=NOW, bases=b)
    assert (v.rule, v.path) == ("stale", "x")
    assert "stale read: main changed it" in v.line(NOW) and "forked at mmmmmmmmmmmm" in v.line(NOW)
    assert fixes([v]) == ["bring in the newer version first: git rebase --autostash main   (it sets your uncommitted changes aside and back)"]


def test_a_merge_is_stale_only_against_every_parent() -> None:
    stale_vs_first = ({"x": "m"}, {"x": "m"})
    has_it = ({"x": "m"}, {"x": "i"})
    assert check(Subject(("x",), B), [], now=NOW, bases=bases({"x": "i"}, stale_vs_first, has_it)) == []
    got = check(Subject(("x",), B), [], now=NOW, bases=bases({"x": "i"}, stale_vs_first, stale_vs_first))
    assert rules(got) == [("stale", "x")]


def test_read_set_warns_or_refuses_for_untouched_paths_only() -> None:
    reads = [Read("r.py", "old", "c" * 40, B, NOW), Read("touched.py", "old", None, B, NOW),
             Read("same.py", "s", None, B, NOW)]
    tips = {"r.py": "new", "touched.py": "new", "same.py": "s"}
    (w,) = check(Subject(("touched.py",), B), [], now=NOW, reads=reads, read_tips=tips)
    assert (w.rule, w.path, w.severity) == ("read-set", "r.py", "warning")
    assert "warning: read set" in w.line(NOW)
    (e,) = check(Subject(("touched.py",), B), [], now=NOW, reads=reads, read_tips=tips,
                 policy=Policy(strict_reads=True))
    assert e.is_error and "gitcoord read r.py" in fixes([e])[0]


def test_require_recorded() -> None:
    subject = Subject(("f",), None, commit="c" * 40)
    got = check(subject, [], now=NOW, policy=Policy(require_recorded=True), recorded=False)
    assert rules(got) == [("unrecorded", "")]
    assert "never recorded" in got[0].line(NOW)
    assert check(subject, [], now=NOW, policy=Policy(require_recorded=True), recorded=True) == []


def test_fixes_for_a_commit_and_for_a_push() -> None:
    v = check(Subject(("a b.py",), B), [mk("a b.py")], now=NOW)
    assert fixes(v)[0].startswith("leave the leased paths out of this commit: git restore --staged -- 'a b.py'")
    assert fixes(v, action="push")[0].startswith("ask agent-a to release them: gitcoord send agent-a")


def test_lease_keys_are_paths_and_ancestors() -> None:
    assert enforce.lease_keys(["a/b/c.py", "a/d.py"]) == ["a/b/c.py", "", "a", "a/b", "a/d.py"]


@given(
    st.lists(st.sampled_from(["f", "d/", "d/f", "d/**", "*.md", "d/*.py"]), max_size=4),
    st.lists(st.booleans(), min_size=4, max_size=4),
    st.sampled_from(["f", "d/f", "d/x.py", "r.md", "d/r.md"]),
)
def test_lease_rule_matches_the_definition(patterns: list[str], shared: list[bool], path: str) -> None:
    """Violation iff some other holder's active lease matches the path, unless that lease
    is shared and the committer holds a matching shared lease too."""
    leases = [mk(p, A, exclusive=not s) for p, s in zip(patterns, shared, strict=False)]
    mine_shared = mk("**", B, exclusive=False)
    for own in ([], [mine_shared]):
        got = check(Subject((path,), B), leases + own, now=NOW)
        expected = [
            lease for lease in leases
            if paths.matches(paths.pattern_from_text(lease.pattern), path)
            and not (not lease.exclusive and own)
        ]
        assert sorted(v.lease.id for v in got if v.lease) == sorted(lease.id for lease in expected)
