"""The rules of SPEC section 5, as a pure function: no git, no store, no clock.

``check(subject, leases, bases, reads, read_tips, settings, now)`` returns the violations of
one commit (or of the index about to be committed):

* ``lease``          -- another holder's active lease matches a touched path (a shared
                        lease is fine when the committer holds an active shared lease that
                        matches the path too);
* ``stale``          -- the stale-read predicate (:mod:`gitcoord.staleness`);
* ``require-lease``  -- ``gitcoord.requireLease``: a touched path the committer does not lease;
* ``read-set``       -- a path of the committer's read set, not touched, whose integration
                        version differs from the blob recorded when it was read (a warning;
                        an error with ``gitcoord.strictReads``);
* ``unrecorded``     -- ``gitcoord.requireRecorded``: a pushed commit the audit trail never saw.

Candidate leases come from the store's indexed lookup (:func:`lease_keys`); matching goes
through a :class:`~gitcoord.paths.LeaseIndex`, so a path costs only its own candidates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitcoord import paths
from gitcoord.durations import format_duration
from gitcoord.models import Holder, Lease, Read, iso
from gitcoord.staleness import Bases, ChangeOrigin

LEASE = "lease"
STALE = "stale"
REQUIRE_LEASE = "require-lease"
READ_SET = "read-set"
UNRECORDED = "unrecorded"
RULES = (LEASE, STALE, REQUIRE_LEASE, READ_SET, UNRECORDED)


@dataclass(frozen=True)
class Policy:
    """The configurable parts of the rules (from :class:`gitcoord.config.Settings`)."""

    require_lease: bool = False
    strict_reads: bool = False
    require_recorded: bool = False

    @classmethod
    def from_settings(cls, settings: Any) -> Policy:
        return cls(
            require_lease=bool(getattr(settings, "require_lease", False)),
            strict_reads=bool(getattr(settings, "strict_reads", False)),
            require_recorded=bool(getattr(settings, "require_recorded", False)),
        )


@dataclass(frozen=True)
class Subject:
    """What one commit records, or what the index would record.

    ``commit`` None: the index. ``paths``: every path recorded as changed (for a merge,
    those that differ from every parent). ``holder``: who makes the commit (None: unknown).
    """

    paths: tuple[str, ...]
    holder: Holder | None
    commit: str | None = None
    parents: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return self.commit[:12] if self.commit else "the index"


@dataclass(frozen=True)
class Violation:
    rule: str
    path: str
    severity: str = "error"  # error | warning
    commit: str | None = None  # the commit checked (None: the index)
    lease: Lease | None = None  # lease rule: the lease that covers the path
    committer: Holder | None = None
    integration_ref: str | None = None
    integration_tip: str | None = None
    merge_base: str | None = None
    blobs: dict[str, str | None] = field(default_factory=dict)
    origins: tuple[ChangeOrigin, ...] = ()  # stale / read-set: integration commits that changed it

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def with_origins(self, origins: Sequence[ChangeOrigin]) -> Violation:
        from dataclasses import replace

        return replace(self, origins=tuple(origins))

    # -- text ------------------------------------------------------------------------------
    def line(self, now: float) -> str:
        """One line: path, rule, holder, expiry or commits."""
        where = f" [{self.commit[:12]}]" if self.commit else ""
        if self.rule == LEASE and self.lease is not None:
            lease = self.lease
            h = lease.holder
            mode = "exclusive" if lease.exclusive else "shared"
            why = f", reason: {lease.reason}" if lease.reason else ""
            return (
                f"{self.path}{where}: leased by {h.agent} ({h.worktree} on {h.host}) as "
                f"{lease.pattern} [{mode}], expires in {format_duration(lease.expires_at - now)}{why}"
            )
        if self.rule == STALE:
            return (
                f"{self.path}{where}: stale read: {_short_ref(self.integration_ref)} changed it "
                f"in {self._origins()} since this branch forked at {_short(self.merge_base)}"
            )
        if self.rule == READ_SET:
            kind = "stale read set" if self.is_error else "warning: read set"
            return (
                f"{self.path}{where}: {kind}: you read it at {_short(self.blobs.get('read'))}, "
                f"{_short_ref(self.integration_ref)} now has {_short(self.blobs.get('tip'))}"
                + (f" ({self._origins()})" if self.origins else "")
            )
        if self.rule == REQUIRE_LEASE:
            return f"{self.path}{where}: not leased by you (gitcoord.requireLease=true)"
        if self.rule == UNRECORDED:
            return (
                f"{self.commit[:12] if self.commit else '?'}: commit never recorded by gitcoord "
                "hooks (gitcoord.requireRecorded=true)"
            )
        return f"{self.path}{where}: {self.rule}"

    def _origins(self) -> str:
        if not self.origins:
            return _short(self.integration_tip)
        return ", ".join(o.label() for o in self.origins)

    def to_json(self, now: float | None = None) -> dict[str, Any]:
        d: dict[str, Any] = {
            "rule": self.rule,
            "severity": self.severity,
            "path": self.path,
            "commit": self.commit,
            "committer": self.committer.to_json() if self.committer else None,
        }
        if self.lease is not None:
            d["lease"] = self.lease.to_json(now)
            d["holder"] = self.lease.holder.to_json()
            d["expires_at"] = iso(self.lease.expires_at)
        if self.rule in (STALE, READ_SET):
            d["integration_ref"] = self.integration_ref
            d["integration_tip"] = self.integration_tip
            d["merge_base"] = self.merge_base
            d["blobs"] = dict(self.blobs)
            d["commits"] = [o.to_json() for o in self.origins]
        if now is not None:
            d["message"] = self.line(now)
        return d


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "(absent)"


def _short_ref(ref: str | None) -> str:
    if not ref:
        return "the integration ref"
    for prefix in ("refs/heads/", "refs/remotes/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


# ---------------------------------------------------------------------------------------
# Candidate lookup
# ---------------------------------------------------------------------------------------


def lease_keys(touched: Iterable[str]) -> list[str]:
    """Index keys whose leases could match any of ``touched``: each path and its ancestors
    (files by path, directories by path, globs by their literal directory prefix)."""
    keys: dict[str, None] = {}
    for p in touched:
        keys[p] = None
        for a in paths.ancestors(p):
            keys[a] = None
    return list(keys)


def build_index(leases: Iterable[Lease]) -> paths.LeaseIndex[Lease]:
    index: paths.LeaseIndex[Lease] = paths.LeaseIndex()
    for lease in leases:
        index.add(paths.stored_pattern(lease.pattern, lease.kind, lease.key), lease)
    return index


# ---------------------------------------------------------------------------------------
# The rules
# ---------------------------------------------------------------------------------------


def check(
    subject: Subject,
    leases: paths.LeaseIndex[Lease] | Sequence[Lease],
    *,
    now: float,
    policy: Policy = Policy(),
    bases: Bases | None = None,
    reads: Sequence[Read] = (),
    read_tips: Mapping[str, str | None] | None = None,
    recorded: bool = True,
) -> list[Violation]:
    """Every violation of ``subject`` (errors and warnings), in path order per rule."""
    index = leases if isinstance(leases, paths.LeaseIndex) else build_index(leases)
    me = subject.holder
    out: list[Violation] = []
    if policy.require_recorded and not recorded and subject.commit:
        out.append(Violation(UNRECORDED, "", commit=subject.commit, committer=me))
    for path in subject.paths:
        matching = [lease for _, lease in index.match(path) if lease.is_active(now)]
        mine = [lease for lease in matching if me is not None and lease.holder.same_place(me)]
        mine_shared = any(not lease.exclusive for lease in mine)
        for lease in matching:
            if me is not None and lease.holder.same_place(me):
                continue
            if not lease.exclusive and mine_shared:
                continue  # shared leases are co-ownership
            out.append(Violation(LEASE, path, commit=subject.commit, lease=lease, committer=me))
        if policy.require_lease and not mine:
            out.append(Violation(REQUIRE_LEASE, path, commit=subject.commit, committer=me))
        if bases is not None and bases.stale(path):
            out.append(
                Violation(
                    STALE,
                    path,
                    commit=subject.commit,
                    committer=me,
                    integration_ref=bases.integration_ref,
                    integration_tip=bases.tip,
                    merge_base=bases.merge_base_of(),
                    blobs={
                        "tip": bases.at_tip.get(path),
                        "base": bases.parents[0].at_base.get(path),
                        "parent": bases.parents[0].at_parent.get(path),
                    },
                )
            )
    if reads and read_tips is not None:
        touched = set(subject.paths)
        for r in reads:
            if r.path in touched or r.path not in read_tips:
                continue
            tip_blob = read_tips[r.path]
            if tip_blob != r.blob:
                out.append(
                    Violation(
                        READ_SET,
                        r.path,
                        severity="error" if policy.strict_reads else "warning",
                        commit=subject.commit,
                        committer=me,
                        integration_ref=bases.integration_ref if bases else None,
                        integration_tip=bases.tip if bases else None,
                        merge_base=r.commit,
                        blobs={"read": r.blob, "tip": tip_blob},
                    )
                )
    return out


def check_lease_rules(
    subject: Subject,
    leases: paths.LeaseIndex[Lease] | Sequence[Lease],
    *,
    now: float,
    policy: Policy = Policy(),
) -> list[Violation]:
    """Only the lease rules (what the journal can still check after the fact)."""
    return check(subject, leases, now=now, policy=Policy(require_lease=policy.require_lease))


# ---------------------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------------------


def fixes(violations: Sequence[Violation], *, action: str = "commit", how: str = "") -> list[str]:
    """The one command that fixes each kind of refusal (``action``: commit | push;
    ``how`` the commit stages its paths: "" (the index), ``amend``, ``all`` (``-a``),
    ``paths`` (``git commit PATH...``) or ``am`` (a patch ``git am`` applied))."""
    errors = [v for v in violations if v.is_error]
    out: list[str] = []
    lease_paths = list(dict.fromkeys(v.path for v in errors if v.rule == LEASE))
    if lease_paths:
        holders = list(dict.fromkeys(v.lease.holder.agent for v in errors if v.lease is not None))
        if action == "commit" and how == "paths":
            out.append(
                f"leave the leased paths out of this commit: name only your other paths to git commit"
                f" (not {_args(lease_paths)})   (or ask {', '.join(holders)} to release them)"
            )
        elif action == "commit" and how == "am":
            out.append(
                f"leave this patch out: git am --skip   (or make it leave {_args(lease_paths)} alone and"
                f" git am --continue; or ask {', '.join(holders)} to release them)"
            )
        elif action == "commit":
            leave = {
                # amending: the paths are in HEAD already; take them back to its parent's
                "amend": "git reset -q HEAD^ --",
                # commit -a stages them again: set the changes aside until released
                "all": "git stash push --",
            }.get(how, "git restore --staged --")
            out.append(
                f"leave the leased paths out of this commit: {leave} {_args(lease_paths)}"
                f"   (or ask {', '.join(holders)} to release them)"
            )
        else:
            out.append(
                f"ask {', '.join(holders)} to release them: gitcoord send {holders[0]} "
                f"'please release {' '.join(lease_paths[:3])}'   (or wait for the lease to expire)"
            )
    stale = [v for v in errors if v.rule == STALE]
    if stale:
        ref = _short_ref(stale[0].integration_ref)
        out.append(
            f"bring in the newer version first: git rebase --autostash {ref}"
            "   (it sets your uncommitted changes aside and back)"
        )
    reads = [v for v in errors if v.rule == READ_SET]
    if reads:
        ref = _short_ref(reads[0].integration_ref)
        out.append(
            f"rebase, review, and re-record what you read: git rebase --autostash {ref} && gitcoord read "
            f"{_args([v.path for v in reads])}"
        )
    unleased = list(dict.fromkeys(v.path for v in errors if v.rule == REQUIRE_LEASE))
    if unleased:
        out.append(f"lease them first: gitcoord lease {_args(unleased)}")
    if any(v.rule == UNRECORDED for v in errors):
        out.append(
            "in the clone, run any gitcoord command (it records the commits its hooks"
            " journaled; without hooks, `gitcoord install` first and commit again), then push"
            " again"
        )
    return out


def _args(items: Sequence[str], limit: int = 8) -> str:
    shown = [_quote(p) for p in items[:limit]]
    if len(items) > limit:
        shown.append(f"... ({len(items) - limit} more)")
    return " ".join(shown)


def _quote(p: str) -> str:
    import shlex

    return shlex.quote(p)
