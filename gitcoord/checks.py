"""The checks behind the hooks and ``gitcoord check``: gather what commits record (git),
the leases and read set (one store snapshot), run :func:`gitcoord.enforce.check`, and
name the integration commits behind each stale path with their holders.

``hook-impl`` imports this only when its fast path (:mod:`gitcoord.fastpath`) cannot prove
a commit clean (:mod:`gitcoord.hookimpl`); the CLI's ``check`` command uses it directly.
It never imports the hook modules above it, only :mod:`gitcoord.hookenv` below them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gitcoord import enforce, journal, staleness
from gitcoord.context import Context
from gitcoord.errors import BadInput, GitcoordError, StoreCorrupt, StoreLocked
from gitcoord.gitrepo import ZERO_SHA, DiffEntry, GitError, Repo
from gitcoord.hookenv import BYPASS_ENV
from gitcoord.leases import void
from gitcoord.models import Holder, Read
from gitcoord.store.sqlite import busy_timeout

# ---------------------------------------------------------------------------------------
# What is checked
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One commit (or the index) to check: its subject, and per parent the revision and
    blob(P:X) of each touched path (for the stale-read predicate)."""

    subject: enforce.Subject
    parent_revs: tuple[str, ...] = ()
    parent_blobs: tuple[dict[str, str | None], ...] = ()


def index_change(
    repo: Repo,
    holder: Holder,
    index_path: str | None,
    parents: Sequence[str],
    *,
    tree: str | None = None,
) -> Change:
    """What committing ``index_path`` (or ``tree``, the index already written as a tree)
    on top of ``parents`` would record. A merge records the paths that differ from every
    parent (a resolution edit included)."""

    def changes(parent: str | None) -> list[DiffEntry]:
        if tree is not None:
            return repo.tree_changes(parent, tree)
        return repo.staged_changes(parent, index_path)

    per_parent: list[dict[str, str | None]] = []
    revs = list(parents)
    for p in revs:
        try:
            entries = changes(p)
        except GitError:
            if p == "HEAD" and repo.head() is None:  # the first commit of a branch
                revs = []
                per_parent = []
                break
            raise
        per_parent.append({e.path: e.old_blob for e in entries})
    if not revs:
        paths = tuple(e.path for e in changes(None))
        return Change(enforce.Subject(paths=paths, holder=holder))
    ordered, parent_blobs = journal.merge_touched(per_parent)
    return Change(
        enforce.Subject(paths=ordered, holder=holder, parents=tuple(revs)),
        parent_revs=tuple(revs),
        parent_blobs=parent_blobs,
    )


def index_file(repo: Repo) -> str | None:
    """The index being committed: ``GIT_INDEX_FILE`` (absolute; git may give it relative
    to the top of the worktree), else the worktree's own."""
    import os
    from pathlib import Path

    raw = os.environ.get("GIT_INDEX_FILE")
    if not raw:
        return None
    p = Path(raw)
    if not p.is_absolute():
        p = repo.root / p
    return str(p)


def index_parents(
    repo: Repo, *, amend: bool = False, merging: Sequence[str] | None = None
) -> list[str]:
    """The parents the commit of the index will have: HEAD's own parents for ``--amend``;
    HEAD and what is being merged for a merge (``merging``: names given to ``git merge``,
    resolved here; pre-merge-commit runs before MERGE_HEAD exists); else HEAD and
    MERGE_HEAD while a conflicted merge is being concluded."""
    if amend:
        head = repo.head()
        return repo.parents_of([head]).get(head, []) if head else []
    if merging is None:
        return ["HEAD", *repo.merge_heads()]
    others: list[str] = []
    for name in merging:
        if name == "FETCH_HEAD":
            others += _fetch_head_merges(repo)
            continue
        sha = repo.rev_parse("@{-1}" if name == "-" else name)
        if sha is not None:
            others.append(sha)
    return ["HEAD", *dict.fromkeys(others)]


def _fetch_head_merges(repo: Repo) -> list[str]:
    for d in (repo.git_dir, repo.common_dir):
        try:
            text = (d / "FETCH_HEAD").read_text()
        except OSError:
            continue
        return [
            line.split("\t", 1)[0]
            for line in text.splitlines()
            if line and "\tnot-for-merge\t" not in line
        ]
    return []


def commit_change(facts: journal.CommitFacts, holder: Holder | None) -> Change:
    return Change(
        enforce.Subject(paths=facts.touched, holder=holder, commit=facts.sha, parents=facts.parents),
        parent_revs=facts.parents,
        parent_blobs=facts.parent_blobs,
    )


@dataclass
class Report:
    """The outcome of checking one or more changes."""

    action: str  # commit | push | receive | check
    changes: list[Change]
    violations: list[enforce.Violation]
    now: float
    integration_ref: str | None = None
    tip: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    how: str = ""  # a commit's staging: "" (the index), "amend", "all" (-a), "paths", "am": for the fixes

    @property
    def errors(self) -> list[enforce.Violation]:
        return [v for v in self.violations if v.is_error]

    @property
    def warnings(self) -> list[enforce.Violation]:
        return [v for v in self.violations if not v.is_error]

    def paths(self) -> list[str]:
        return list(dict.fromkeys(p for c in self.changes for p in c.subject.paths))

    def commits(self) -> list[str]:
        return [c.subject.commit for c in self.changes if c.subject.commit]

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": not self.errors,
            "action": self.action,
            "integration_ref": self.integration_ref,
            "integration_tip": self.tip,
            "checked": {"commits": self.commits(), "paths": len(self.paths())},
            "violations": [v.to_json(self.now) for v in self.errors],
            "warnings": [v.to_json(self.now) for v in self.warnings],
            "fixes": enforce.fixes(self.errors, action="push" if self.commits() else "commit", how=self.how),
            **self.extra,
        }


def integration(ctx: Context, remote: str | None = None) -> tuple[str, str | None]:
    """The integration ref and its tip; for a push, the remote's copy when it exists."""
    repo = ctx.repo
    ref = ctx.integration_ref()
    if remote and ref.startswith("refs/heads/"):
        tracking = f"refs/remotes/{remote}/{ref[len('refs/heads/'):]}"
        tip = repo.rev_parse(tracking)
        if tip is not None:
            return tracking, tip
    return ref, repo.rev_parse(ref)


def evaluate(
    ctx: Context,
    changes: Sequence[Change],
    *,
    action: str,
    integration_ref: str,
    tip: str | None,
    reads_holder: Holder | None = None,
    recorded: set[str] | None = None,
    skip_stale: set[str] | frozenset[str] = frozenset(),
    walk_excludes_tip: bool = False,
) -> Report:
    """Run the rules on ``changes``: one store snapshot for the leases (indexed candidate
    lookup for the touched paths only) and the read set, git for the stale-read facts."""
    repo = ctx.repo
    policy = enforce.Policy.from_settings(ctx.settings)
    touched = list(dict.fromkeys(p for c in changes for p in c.subject.paths))
    reads: list[Read] = []
    with ctx.store().snapshot() as tx:
        now = tx.now
        candidates = tx.lease_candidates(enforce.lease_keys(touched), []) if touched else []
        if reads_holder is not None:
            reads = tx.reads(reads_holder)
    index = enforce.build_index(lease for lease in candidates if not void(lease, repo.common_dir))
    read_tips = staleness.read_set_blobs(repo, tip, [r.path for r in reads]) if reads else None
    merge_bases: dict[str, str | None] = {}
    if walk_excludes_tip and tip is not None:
        _inherit_merge_bases(repo, changes, tip, merge_bases)
    stale_checked = [
        ch for ch in changes if ch.subject.commit not in skip_stale and ch.parent_revs
    ]
    all_bases = staleness.commit_bases_many(
        repo, integration_ref, tip,
        [(list(ch.parent_revs), list(ch.subject.paths), list(ch.parent_blobs)) for ch in stale_checked],
        merge_bases=merge_bases,
    )
    bases_of = {id(ch): b for ch, b in zip(stale_checked, all_bases, strict=True)}
    violations: list[enforce.Violation] = []
    for i, ch in enumerate(changes):
        violations += enforce.check(
            ch.subject,
            index,
            now=now,
            policy=policy,
            bases=bases_of.get(id(ch)),
            reads=reads if i == len(changes) - 1 else (),
            read_tips=read_tips,
            recorded=recorded is None or ch.subject.commit in recorded,
        )
    violations = _with_origins(ctx, violations, tip)
    return Report(action, list(changes), violations, now, integration_ref, tip)


def _inherit_merge_bases(
    repo: Repo, changes: Sequence[Change], tip: str, cache: dict[str, str | None]
) -> None:
    """merge-base(P, I) for the parents of many commits, with few git calls: for a
    non-merge commit P that I cannot reach, merge-base(P, I) = merge-base(P's parent, I)."""
    by_sha = {c.subject.commit: c for c in changes if c.subject.commit}
    for ch in changes:  # oldest first
        sha = ch.subject.commit
        if sha is None or len(ch.parent_revs) != 1:
            continue
        parent = ch.parent_revs[0]
        if parent in by_sha and parent in cache:
            cache[sha] = cache[parent]
        elif parent not in by_sha:
            if parent not in cache:
                cache[parent] = repo.merge_base(parent, tip)
            cache[sha] = cache[parent]


def _with_origins(
    ctx: Context, violations: list[enforce.Violation], tip: str | None
) -> list[enforce.Violation]:
    """Name, for stale paths and changed reads, the integration commits that changed them
    and their holders from the audit trail."""
    if tip is None:
        return violations
    groups: dict[str, list[str]] = {}
    for v in violations:
        if v.rule in (enforce.STALE, enforce.READ_SET) and v.merge_base:
            groups.setdefault(v.merge_base, []).append(v.path)
    if not groups:
        return violations
    if not ctx.drain_journal:  # a hook: name holders of commits still in the journal too
        journal.drain_quietly(ctx)
    origins: dict[tuple[str, str], list[staleness.ChangeOrigin]] = {}
    with ctx.store().snapshot() as tx:
        for base, ps in groups.items():
            found = staleness.commits_and_holders(ctx.repo, tx, base, tip, list(dict.fromkeys(ps)))
            for p, lst in found.items():
                origins[(base, p)] = lst
    return [
        v.with_origins(origins.get((v.merge_base, v.path), [])) if v.merge_base else v
        for v in violations
    ]


# ---------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------

WHAT = {
    "commit": "commit",
    "push": "push",
    "receive": "push",
    "check": "check",
}


def bypass_hint(action: str, how: str = "") -> str:
    if how == "am":  # (git am stopped at the refused patch, applied in the index)
        return f'{BYPASS_ENV}="<reason>" git am --continue'
    if action == "receive":
        return (
            f'git push -o {BYPASS_ENV}="<reason>" ...   (the server needs '
            "receive.advertisePushOptions=true)"
        )
    if action == "push":
        return f'{BYPASS_ENV}="<reason>" git push ...'
    return f'{BYPASS_ENV}="<reason>" git commit ...'


def refusal_text(report: Report, action: str) -> str:
    errors = report.errors
    what = WHAT.get(action, action)
    head = (
        f"gitcoord: {len(errors)} violation(s)"
        if action == "check"
        else f"gitcoord: {what} refused: {len(errors)} violation(s)"
    )
    lines = [head] + [f"  {v.line(report.now)}" for v in errors]
    for fix in enforce.fixes(errors, action="push" if report.commits() else "commit", how=report.how):
        lines.append(f"fix: {fix}")
    if action in ("commit", "push", "receive"):
        lines.append(f"to {what} anyway (audited): {bypass_hint(action, report.how)}")
    return "\n".join(lines)


def warning_text(report: Report) -> str:
    return "\n".join(f"gitcoord: {v.line(report.now)}" for v in report.warnings) + (
        "\n" + "\n".join(f"gitcoord: hint: {f}" for f in _warning_fixes(report)) if report.warnings else ""
    )


def _warning_fixes(report: Report) -> list[str]:
    as_errors = [replace(v, severity="error") for v in report.warnings]
    return enforce.fixes(as_errors)


def store_failure_text(e: BaseException, action: str) -> str:
    if isinstance(e, StoreLocked):
        why = (
            f"the gitcoord store is locked by another process (waited {busy_timeout():g}s; "
            "GITCOORD_BUSY_TIMEOUT sets how long)"
        )
    elif isinstance(e, StoreCorrupt):
        why = str(getattr(e, "message", e))  # ("the gitcoord store is corrupt (...): where")
    elif isinstance(e, GitcoordError):
        why = e.message
    else:
        why = f"internal error ({type(e).__name__}: {e})"
    what = WHAT.get(action, action)
    fix = "fix that" if isinstance(e, BadInput) else "fix the store (`gitcoord init` creates a missing one)"
    return (
        f"gitcoord: cannot check this {what}: {why}\n"
        f"gitcoord: refusing rather than letting it through unchecked.\n"
        f"{fix}, or let this one {what} through, audited: {bypass_hint(action)}"
    )


def banner(lines: Sequence[str]) -> str:
    bar = "gitcoord: " + "!" * 70
    return "\n".join([bar, *lines, bar])


@dataclass(frozen=True)
class RefUpdate:
    local_ref: str
    local_sha: str
    remote_ref: str
    remote_sha: str

    def to_json(self) -> dict[str, str]:
        return {
            "local_ref": self.local_ref,
            "local_sha": self.local_sha,
            "remote_ref": self.remote_ref,
            "remote_sha": self.remote_sha,
        }


def parse_push_lines(text: str) -> list[RefUpdate]:
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 4:
            out.append(RefUpdate(*parts))
    return out


def push_commits(
    repo: Repo, remote: str, updates: Sequence[RefUpdate], integration_ref: str
) -> dict[str, list[str]]:
    """For each pushed SHA, the commits the push would add to ``remote`` (oldest first):
    new branches and force pushes included, deletions skipped."""
    has_tracking = bool(repo.refs(f"refs/remotes/{remote}/"))
    known = repo.objects_exist([u.remote_sha for u in updates if u.remote_sha != ZERO_SHA])
    out: dict[str, list[str]] = {}
    for u in updates:
        if u.local_sha == ZERO_SHA:
            continue
        revs = [u.local_sha, "--not"]
        if has_tracking:
            revs.append(f"--remotes={remote}")
        elif _trusts_local_line(repo, u, integration_ref):
            revs.append(integration_ref)  # a remote we do not track: trust the local line
        if u.remote_sha != ZERO_SHA and known.get(u.remote_sha):
            revs.append(u.remote_sha)
        out[u.local_sha] = list(repo.commit_parents(revs))
    return out


def _trusts_local_line(repo: Repo, u: RefUpdate, integration_ref: str) -> bool:
    """Pushing a side branch to a remote we do not track: what the local integration
    line holds is its own push's business. Not when this push is that line, under
    whatever name (``HEAD:main``, a branch at main, the remote's main): then nothing
    would be checked."""
    return (
        integration_ref.startswith("refs/heads/")
        and integration_ref not in (u.local_ref, u.remote_ref)
        and not repo.is_ancestor(u.local_sha, integration_ref)
    )


def stale_skips(repo: Repo, tip: str | None, per_tip: dict[str, list[str]]) -> set[str]:
    """Commits whose stale check is moot: every pushed branch containing them already
    contains the integration tip (a merge of the integration line resolved them)."""
    if tip is None:
        return set()
    contains = {t for t in per_tip if repo.is_ancestor(tip, t)}
    needed = {c for t, cs in per_tip.items() if t not in contains for c in cs}
    return {c for t in contains for c in per_tip[t]} - needed


def ordered_commits(per_tip: dict[str, list[str]]) -> list[str]:
    return list(dict.fromkeys(c for cs in per_tip.values() for c in cs))


def check_push(
    ctx: Context,
    remote: str,
    updates: Sequence[RefUpdate],
    *,
    pusher: Holder,
    action: str = "push",
) -> Report:
    repo = ctx.repo
    ref, tip = integration(ctx, remote=remote)
    per_tip = push_commits(repo, remote, updates, ref)
    return check_commits(
        ctx, ordered_commits(per_tip), action=action, integration_ref=ref, tip=tip,
        default_holder=pusher, skip_stale=stale_skips(repo, tip, per_tip),
        walk_excludes_tip=ref.startswith(f"refs/remotes/{remote}/"),
        extra={"remote": remote, "updates": [u.to_json() for u in updates]},
    )


def check_commits(
    ctx: Context,
    commits: Sequence[str],
    *,
    action: str,
    integration_ref: str,
    tip: str | None,
    default_holder: Holder | None,
    skip_stale: set[str] | None = None,
    walk_excludes_tip: bool = False,
    extra: dict[str, Any] | None = None,
) -> Report:
    """Check commits (oldest first) as their makers: a commit recorded in the audit trail
    is checked as its holder's, any other as ``default_holder``'s (None: nobody's)."""
    repo = ctx.repo
    facts = journal.commit_facts(repo, commits)
    with ctx.store().snapshot() as tx:
        records = tx.commit_records(list(facts))
    changes = [
        commit_change(facts[c], records[c].holder if c in records else default_holder)
        for c in commits
        if c in facts
    ]
    report = evaluate(
        ctx, changes, action=action, integration_ref=integration_ref, tip=tip,
        recorded=set(records), skip_stale=skip_stale or set(), walk_excludes_tip=walk_excludes_tip,
    )
    report.extra.update(extra or {})
    return report




# ---------------------------------------------------------------------------------------
# `gitcoord check`
# ---------------------------------------------------------------------------------------


def check_staged(ctx: Context) -> Report:
    """What ``git commit`` would be checked for now (the index, ``GIT_INDEX_FILE`` honoured)."""
    repo = ctx.repo
    holder = ctx.holder()
    parents = index_parents(repo)
    change = index_change(repo, holder, index_file(repo), parents)
    ref, tip = integration(ctx)
    return evaluate(ctx, [change], action="check", integration_ref=ref, tip=tip, reads_holder=holder)


def check_range(ctx: Context, spec: str) -> Report:
    """The commits of ``A..B`` (or one commit), as a push would check them, against the
    local integration ref."""
    repo = ctx.repo
    revs = [spec] if ".." in spec else [f"{spec}^!"]
    try:
        commits = list(repo.commit_parents(revs))
    except GitError as e:
        from gitcoord.errors import BadInput

        raise BadInput(f"bad range {spec!r}: {e.message}") from e
    ref, tip = integration(ctx)
    return check_commits(
        ctx, commits, action="check", integration_ref=ref, tip=tip, default_holder=ctx.holder(),
        extra={"range": spec},
    )


def check_remote(ctx: Context, remote: str) -> Report:
    """What pushing the current branch to ``remote`` would be checked for."""
    repo = ctx.repo
    head = repo.head()
    if head is None:
        from gitcoord.errors import BadInput

        raise BadInput("nothing to push: HEAD has no commit")
    branch = repo.current_branch() or "HEAD"
    name = branch.removeprefix("refs/heads/")
    remote_sha = repo.rev_parse(f"refs/remotes/{remote}/{name}") or ZERO_SHA
    update = RefUpdate(branch, head, f"refs/heads/{name}", remote_sha)
    report = check_push(ctx, remote, [update], pusher=ctx.holder(), action="check")
    return report
