"""Cross-worktree view: who holds what, and where work collides (SPEC section 6).

``collect()`` reads the store once (one snapshot) and each worktree once (one
``git status``; one ahead/behind count and, when it has commits of its own, one diff
since the fork per distinct HEAD), then derives the conflicts. The git processes run
several at a time, started before the store is read. It returns data; the CLI renders it.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitcoord import paths
from gitcoord.context import Context
from gitcoord.errors import BadInput
from gitcoord.gitrepo import Repo, WorktreeEntry
from gitcoord.jobs import Job, Pool
from gitcoord.leases import vanished, void
from gitcoord.models import Event, Holder, Lease, iso
from gitcoord.predict import Prediction, Target, Work, describe
from gitcoord.predict import predict as predict_merges
from gitcoord.staleness import StalePath, stale_paths
from gitcoord.store.base import EventQuery
from gitcoord.store.tasks_api import Claim, Task

RECENT_KINDS = (
    "commit.refused",
    "push.refused",
    "commit.bypassed",
    "push.bypassed",
    "commit.violation",
)
DEFAULT_RECENT = 24 * 3600.0
MAX_PATHS_SHOWN = 8


@dataclass
class WorktreeState:
    path: str
    branch: str | None
    head: str | None
    agent: str
    task: str | None
    exists: bool
    ahead: int = 0
    behind: int = 0
    dirty: list[str] = field(default_factory=list)
    dirty_counts: dict[str, int] = field(default_factory=dict)
    committed: list[str] = field(default_factory=list)
    last_activity: float | None = None
    locked: bool = False

    def changed(self) -> list[str]:
        return list(dict.fromkeys(self.dirty + self.committed))

    def has_unmerged_work(self) -> bool:
        return bool(self.dirty) or self.ahead > 0

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "branch": self.branch,
            "head": self.head,
            "agent": self.agent,
            "task": self.task,
            "exists": self.exists,
            "locked": self.locked,
            "ahead": self.ahead,
            "behind": self.behind,
            "dirty": len(self.dirty),
            "dirty_counts": self.dirty_counts,
            "dirty_paths": self.dirty,
            "committed_paths": self.committed,
            "last_activity": iso(self.last_activity),
        }


@dataclass
class StatusConflict:
    kind: str  # hooks | lease_violation | merge_conflict | overlap | stale_base | abandoned | refusal | bypass | violation
    severity: str  # error | warning | info
    summary: str
    worktrees: list[str]
    paths: list[str]
    next_step: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "summary": self.summary,
            "worktrees": self.worktrees,
            "paths": self.paths,
            "next_step": self.next_step,
            "details": self.details,
        }


@dataclass
class StatusReport:
    now: float
    integration_ref: str
    integration_tip: str | None
    worktrees: list[WorktreeState]
    claims: list[Claim]
    leases: list[Lease]
    messages: dict[str, int]
    conflicts: list[StatusConflict]
    predictions: list[Prediction] | None = None  # None: not asked for
    target: Target | None = None  # what the worktrees' merges were predicted against

    def to_json(self) -> dict[str, Any]:
        return {
            "time": iso(self.now),
            "integration": {"ref": self.integration_ref, "tip": self.integration_tip},
            "worktrees": [w.to_json() for w in self.worktrees],
            "claims": [c.to_json(self.now) for c in self.claims],
            "leases": [lease.to_json(self.now) for lease in self.leases],
            "messages": self.messages,
            "conflicts": [c.to_json() for c in self.conflicts],
            "summary": {
                "worktrees": len(self.worktrees),
                "claims": len(self.claims),
                "leases": len(self.leases),
                "conflicts": len(self.conflicts),
                "errors": sum(c.severity == "error" for c in self.conflicts),
                "warnings": sum(c.severity == "warning" for c in self.conflicts),
                "info": sum(c.severity == "info" for c in self.conflicts),
            },
        }


def _short(ref: str) -> str:
    return ref.removeprefix("refs/heads/").removeprefix("refs/remotes/")


def _shown(items: Sequence[str]) -> str:
    head = ", ".join(items[:MAX_PATHS_SHOWN])
    more = len(items) - MAX_PATHS_SHOWN
    return head + (f" (+{more} more)" if more > 0 else "")


def _git_c(path: str) -> str:
    return f"git -C {_quote(path)}"


def _gc_c(path: str) -> str:
    return f"gitcoord -C {_quote(path)}"


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


@dataclass
class _StoreView:
    """What status reads from the store, in one snapshot."""

    now: float
    leases: list[Lease]
    claims: list[Claim]
    lapsed: list[Lease]
    lapsed_claims: list[Claim]
    bindings: dict[tuple[str, str], str]
    activity: dict[tuple[str, str], float]
    messages: dict[str, int]
    events: list[Event]


def collect(
    ctx: Context,
    *,
    worktree: str | None = None,
    agent: str | None = None,
    recent: float = DEFAULT_RECENT,
    predict: bool = True,
    against: str | None = None,
    focus: str | None = None,
    focus_commit: str | None = None,
) -> StatusReport:
    """The whole view. ``predict``: merge-conflict predictions (SPEC section 10), against
    ``against`` (a ref or commit) instead of the integration tip when given; ``focus``
    (a worktree path): only predictions that involve it, with its side taken at
    ``focus_commit`` (what a push sends) instead of its commits and uncommitted work."""
    repo = ctx.repo
    entries = repo.worktree_entries()
    if worktree is not None and all(str(e.path) != worktree for e in entries):
        raise BadInput(f"no worktree {worktree} (see `gitcoord worktree list`)")
    live = {str(e.path) for e in entries if _exists(e)}
    target = _target(repo, against) if against is not None else None
    if focus is not None:  # (as git lists it, which may differ from the real path)
        focus = next((str(e.path) for e in entries if os.path.realpath(e.path) == os.path.realpath(focus)), focus)

    # git, every worktree at once: started first, it runs while the store is read. (A job
    # waits only for jobs submitted before it, which a worker has already taken.)
    with Pool() as pool:
        ours = pool.submit(_installed_hook_paths, repo)
        ref = pool.submit(_integration, ctx)
        dirty_jobs = {
            str(e.path): pool.submit(_worktree_status, repo, e.path, ours) for e in entries if str(e.path) in live
        }
        fork_jobs = {
            head: pool.submit(_fork_facts, repo, head, ref)
            for head in dict.fromkeys(e.head for e in entries if str(e.path) in live and e.head)
        }
        view = _read_store(ctx, recent)
        leases, void_leases = _split_void(repo, view.leases)
        index: paths.LeaseIndex[Lease] = paths.LeaseIndex()  # (built while git runs)
        for lease in leases:
            index.add(paths.stored_pattern(lease.pattern, lease.kind, lease.key), lease)
        integration, tip = ref.result()
        states = _states(entries, live, dirty_jobs, fork_jobs, view, ctx.host)
        stale_jobs = _start_stale(repo, pool, integration, tip, states, leases, ctx.host)
        if target is None and tip is not None:
            target = Target(integration, tip)
        predictions: list[Prediction] | None = None
        if predict:
            predictions = _predict(repo, pool, states, target, integration, focus, focus_commit)
        conflicts = _unenforced(repo, states)
        conflicts += _conflicts(
            repo, integration, tip, states, leases, index, void_leases, view, stale_jobs, predictions, ctx.host
        )

    # --- filters ----------------------------------------------------------------------
    claims, messages = view.claims, view.messages
    leases = view.leases
    if worktree is not None or agent is not None:
        wanted = {
            s.path
            for s in states
            if (worktree is None or s.path == worktree) and (agent is None or s.agent == agent)
        }
        states = [s for s in states if s.path in wanted]
        leases = [lease for lease in leases if lease.holder.worktree in wanted or lease.holder.agent == agent]
        claims = [c for c in claims if c.holder.worktree in wanted or c.holder.agent == agent]
        conflicts = [c for c in conflicts if wanted.intersection(c.worktrees)]
        if predictions is not None:
            predictions = [x for x in predictions if wanted.intersection((x.ours, x.theirs))]
        agents = {s.agent for s in states}
        messages = {k: v for k, v in messages.items() if k == agent or k in agents}

    return StatusReport(
        now=view.now,
        integration_ref=integration,
        integration_tip=tip,
        worktrees=states,
        claims=claims,
        leases=leases,
        messages=messages,
        conflicts=conflicts,
        predictions=predictions,
        target=target,
    )


def _target(repo: Repo, against: str) -> Target:
    """``--against``: a ref (or any commit-ish) that names a commit, else bad input."""
    if not against or against.startswith("-"):
        raise BadInput(f"--against {against!r} names no commit")
    sha = repo.rev_parse(against)
    if sha is None:
        raise BadInput(f"--against {against!r} names no commit here (a branch, tag or commit)")
    full = repo.full_ref(against)
    return Target(full or against, sha)


def _exists(entry: WorktreeEntry) -> bool:
    return entry.path.is_dir() and not entry.prunable and (entry.path / ".git").exists()


def _integration(ctx: Context) -> tuple[str, str | None]:
    ref = ctx.integration_ref()
    return ref, ctx.repo.rev_parse(ref)


def _worktree_status(repo: Repo, path: Path, ours: Job[frozenset[str]]) -> tuple[list[str], dict[str, int]]:
    return repo.for_worktree(path).worktree_status(ours.result())


def _fork_facts(repo: Repo, head: str, ref: Job[tuple[str, str | None]]) -> tuple[int, int, list[str]]:
    """(ahead, behind, paths changed since the fork) of a worktree at ``head``."""
    tip = ref.result()[1]
    if tip is None:
        return 0, 0, []
    ahead, behind = repo.ahead_behind(head, tip)
    return ahead, behind, repo.changed_since_fork(head, tip) if ahead else []


def _read_store(ctx: Context, recent: float) -> _StoreView:
    with ctx.store().snapshot() as tx:
        now = tx.now
        leases = tx.leases(active_only=True)
        claims = [c for c in tx.claims(states=["active"]) if c.expires_at > now]
        lapsed = tx.lapsed_leases()
        lapsed_claims = [c for c in tx.claims(states=["active", "expired"]) if c.expires_at <= now]
        # a claim that expired and went to another holder, on a task still under way: the
        # worktree's work on it is left behind too (unless it took the task back since)
        tasks: dict[str, Task | None] = {}
        for c in tx.claims(states=["superseded"]):
            if c.task not in tasks:  # (one read per task, however many grants it went through)
                tasks[c.task] = tx.get_task(c.task)
            task = tasks[c.task]
            if (
                task is not None
                and task.state != "done"
                and task.holder is not None
                and not task.holder.same_place(c.holder)
                and not any(x.task == c.task and x.holder.same_place(c.holder) for x in lapsed_claims)
            ):
                lapsed_claims.append(c)
        return _StoreView(
            now=now,
            leases=leases,
            claims=claims,
            lapsed=lapsed,
            lapsed_claims=lapsed_claims,
            bindings={(b.worktree, b.host): b.agent for b in tx.bindings()},
            activity=tx.last_activity(),
            messages=tx.unacked_message_counts(),
            events=tx.events(EventQuery(kinds=RECENT_KINDS, since=now - recent)),
        )


def _states(
    entries: list[WorktreeEntry],
    live: set[str],
    dirty_jobs: dict[str, Job[tuple[list[str], dict[str, int]]]],
    fork_jobs: dict[str, Job[tuple[int, int, list[str]]]],
    view: _StoreView,
    host: str,
) -> list[WorktreeState]:
    """Each worktree: what git said of it, and who works there."""
    agent_of: dict[str, str] = {}  # a worktree's first lease names its agent
    for lease in view.leases:
        agent_of.setdefault(lease.holder.worktree, lease.holder.agent)
    states: list[WorktreeState] = []
    for entry in entries:
        wpath = str(entry.path)
        key = (wpath, host)
        held = [c for c in view.claims if c.holder.worktree == wpath and c.holder.host == host]
        name = (
            view.bindings.get(key)
            or agent_of.get(wpath)
            or (held[0].holder.agent if held else None)
            or next((lease.holder.agent for lease in reversed(view.lapsed) if lease.holder.worktree == wpath), None)
            or next((c.holder.agent for c in reversed(view.lapsed_claims) if c.holder.worktree == wpath), None)
            or entry.path.name
        )
        st = WorktreeState(
            path=wpath,
            branch=_short(entry.branch) if entry.branch else None,
            head=entry.head,
            agent=name,
            task=held[0].task if held else None,
            exists=wpath in live,
            last_activity=view.activity.get(key),
            locked=entry.locked,
        )
        if st.exists:
            st.dirty, st.dirty_counts = dirty_jobs[wpath].result()
            if entry.head in fork_jobs:
                st.ahead, st.behind, st.committed = fork_jobs[entry.head].result()
        states.append(st)
    return states


def _split_void(repo: Repo, leases: list[Lease]) -> tuple[list[Lease], list[Lease]]:
    """(enforced leases, void ones): leases of worktrees that are gone are void, not
    enforced, reported for `gitcoord gc` (each holder's worktree looked at once)."""
    judged: dict[tuple[str, str], bool] = {}
    for lease in leases:
        place = (lease.holder.worktree, lease.holder.host)
        if place not in judged:
            judged[place] = void(lease, repo.common_dir)
    live = [lease for lease in leases if not judged[(lease.holder.worktree, lease.holder.host)]]
    gone = [lease for lease in leases if judged[(lease.holder.worktree, lease.holder.host)]]
    return live, gone


def _start_stale(
    repo: Repo,
    pool: Pool,
    integration: str,
    tip: str | None,
    states: list[WorktreeState],
    leases: list[Lease],
    host: str,
) -> dict[str, Job[list[StalePath]]]:
    """The stale-read check of each worktree behind the integration ref, started: its
    leased or changed paths that moved there."""
    jobs: dict[str, Job[list[StalePath]]] = {}
    if tip is None:
        return jobs
    behind = {s.path for s in states if s.exists and s.head and s.behind > 0}
    mine_by_wt: dict[str, list[paths.Pattern]] = defaultdict(list)
    for lease in leases:
        if lease.holder.worktree in behind and lease.holder.host == host:
            mine_by_wt[lease.holder.worktree].append(paths.stored_pattern(lease.pattern, lease.kind, lease.key))
    for s in states:
        if s.path not in behind or not s.head:
            continue
        mine = mine_by_wt.get(s.path, [])
        changed = set(s.changed())

        def select(path: str, changed: set[str] = changed, mine: list[paths.Pattern] = mine) -> bool:
            return path in changed or any(paths.matches(p, path) for p in mine)

        jobs[s.path] = pool.submit(stale_paths, repo.for_worktree(Path(s.path)), s.head, integration, select)
    return jobs


def _predict(
    repo: Repo,
    pool: Pool,
    states: list[WorktreeState],
    target: Target | None,
    integration: str,
    focus: str | None,
    focus_commit: str | None,
) -> list[Prediction]:
    works: list[Work] = []
    for s in states:
        if not s.exists or not s.head:
            continue
        behind = (s.behind > 0) if target is not None and target.ref == integration else None
        if s.path == focus and focus_commit is not None:
            changed = frozenset(repo.changed_since_fork(focus_commit, target.tip)) if target else frozenset()
            works.append(Work(s.path, s.agent, Path(s.path), focus_commit, (), changed, None))
            continue
        works.append(Work(s.path, s.agent, Path(s.path), s.head, tuple(s.dirty), frozenset(s.changed()), behind))
    return predict_merges(repo, works, target, pool=pool, focus=focus)


def _merge_conflict(
    x: Prediction, by_path: dict[str, WorktreeState], index: paths.LeaseIndex[Lease], integration: str
) -> StatusConflict:
    """A predicted conflict. Against the integration ref: rebase now, while the conflict is
    small. Between two worktrees: one goes first -- the one that leases any of the paths
    (if only one does), else the one with more commits -- and the other waits for its
    lease to end (``lease --wait``) and rebases after its merge."""
    what = describe(x, _shown)
    plist = list(x.paths)
    details: dict[str, Any] = {
        "against": x.theirs,
        "conflicts": [c.to_json() for c in x.conflicts],
        "merge_bases": list(x.merge_bases),
        "trees": list(x.trees),
        "cached": x.cached,
    }
    if x.against_ref:
        return StatusConflict(
            kind="merge_conflict",
            severity="error",
            summary=f"{x.ours_label}'s work will conflict with {x.theirs_label} when merged: {what}",
            worktrees=[x.ours],
            paths=plist,
            next_step=f"{_git_c(x.ours)} rebase --autostash {_short(integration) if x.theirs == integration else _quote(x.theirs_label)}",
            details=details,
        )
    a, b = by_path[x.ours], by_path[x.theirs]
    leasing = [
        w for w in (a, b)
        if any(lease.holder.worktree == w.path for p in plist for _, lease in index.match(p))
    ]
    first = leasing[0] if len(leasing) == 1 else (b if b.ahead > a.ahead else a)
    second = b if first is a else a
    shown = " ".join(_quote(p) for p in plist[:MAX_PATHS_SHOWN])
    if leasing:
        step = f"{_gc_c(second.path)} lease {shown} --wait 30m"
    else:
        step = f"{_gc_c(first.path)} lease {shown}"
    return StatusConflict(
        kind="merge_conflict",
        severity="error",
        summary=(
            f"{a.agent} and {b.agent} will conflict when merged: {what};"
            f" {first.agent} goes first, {second.agent} rebases after"
        ),
        worktrees=[x.ours, x.theirs],
        paths=plist,
        next_step=step,
        details=details,
    )


def predictions_json(report: StatusReport) -> dict[str, Any]:
    """``gitcoord predict --json``: every merge predicted, and the conflicts with their
    next steps."""
    preds = report.predictions or []
    target = report.target
    return {
        "time": iso(report.now),
        "against": {"ref": target.ref, "tip": target.tip} if target else None,
        "predictions": [x.to_json() for x in preds],
        "conflicts": [c.to_json() for c in report.conflicts if c.kind in ("merge_conflict", "overlap")],
        "summary": {
            "merges": len(preds),
            "conflicts": sum(not x.clean and x.error is None for x in preds),
            "clean": sum(x.clean for x in preds),
            "unknown": sum(x.error is not None for x in preds),
        },
    }


def branch_conflicts(ctx: Context, commit: str | None = None) -> list[StatusConflict]:
    """``check --predict``: the merge conflicts this worktree's work (or ``commit``, what a
    push sends) is predicted to have with another worktree or the integration ref."""
    here = os.path.realpath(ctx.repo.root)
    report = collect(ctx, focus=here, focus_commit=commit)
    return [
        c for c in report.conflicts
        if c.kind == "merge_conflict" and here in {os.path.realpath(w) for w in c.worktrees}
    ]


def _installed_hook_paths(repo: Repo) -> frozenset[str]:
    """With a relative core.hooksPath, ``gitcoord install`` writes its shims (and moves
    hooks it chains to ``*.legacy``) inside every worktree: those are not anybody's work."""
    value = repo.relative_hooks_path()
    if value is None:
        return frozenset()
    from gitcoord.install import ALL_HOOKS, LEGACY_SUFFIX

    rel = os.path.normpath(value).replace(os.sep, "/")
    if rel.startswith("../"):
        return frozenset()
    return frozenset(f"{rel}/{h}{suffix}" for h in ALL_HOOKS for suffix in ("", LEGACY_SUFFIX))


def _unenforced(repo: Repo, states: list[WorktreeState]) -> list[StatusConflict]:
    """This repository's hooks missing or outdated: a conflict of every worktree."""
    from gitcoord.install import problems

    problem = problems(repo)
    if problem is None:
        return []
    return [
        StatusConflict(
            kind="hooks",
            severity=problem.severity,
            summary=problem.summary(),
            worktrees=[s.path for s in states if s.exists],
            paths=[],
            next_step=problem.next_step,
            details={"hooks": problem.to_json()["hooks"]},
        )
    ]


def _conflicts(
    repo: Repo,
    integration: str,
    tip: str | None,
    states: list[WorktreeState],
    leases: list[Lease],
    index: paths.LeaseIndex[Lease],
    void_leases: list[Lease],
    view: _StoreView,
    stale_jobs: dict[str, Job[list[StalePath]]],
    predictions: list[Prediction] | None,
    host: str,
) -> list[StatusConflict]:
    """Every conflict, most severe first. ``leases``: the enforced ones, in ``index``
    (``void_leases``, of worktrees that are gone, are reported for `gitcoord gc`)."""
    out: list[StatusConflict] = []
    lapsed, lapsed_claims, events = view.lapsed, view.lapsed_claims, view.events
    by_path = {s.path: s for s in states}

    # 1. changes on paths another worktree leases
    hits: dict[tuple[str, int], list[str]] = defaultdict(list)
    lease_by_id = {lease.id: lease for lease in leases}
    for s in states:
        me = Holder(worktree=s.path, host=host, agent=s.agent)
        for path in s.changed():
            matched = index.match(path)
            mine_shared = any(
                lease.holder.same_place(me) and not lease.exclusive for _, lease in matched
            )
            for _, lease in matched:
                if lease.holder.same_place(me):
                    continue
                if not lease.exclusive and mine_shared:
                    continue
                hits[(s.path, lease.id)].append(path)
    for (wpath, lease_id), plist in hits.items():
        lease = lease_by_id[lease_id]
        h = lease.holder
        dirty = set(by_path[wpath].dirty)
        where = "uncommitted" if all(p in dirty for p in plist) else "unmerged"
        out.append(
            StatusConflict(
                kind="lease_violation",
                severity="error",
                summary=(
                    f"{by_path[wpath].agent} has {where} changes to {_shown(plist)},"
                    f" leased by {h.agent} ({lease.pattern})"
                ),
                worktrees=[wpath, h.worktree],
                paths=plist,
                # (a shared lease is shared: lease it so too, at once, to co-own it)
                next_step=f"{_gc_c(wpath)} lease {_quote(plist[0])} "
                + ("--wait 30m" if lease.exclusive else "--shared"),
                details={"lease": lease.to_json(), "holder": h.to_json()},
            )
        )

    # 2. predicted merge conflicts (SPEC section 10)
    conflicted: dict[frozenset[str], set[str]] = defaultdict(set)  # pair -> paths that conflict
    predicted: set[frozenset[str]] = set()  # pairs git could merge (cleanly or not)
    for x in predictions or []:
        if x.error is not None:
            continue
        pair = frozenset((x.ours, x.theirs))
        predicted.add(pair)
        if not x.clean:
            conflicted[pair].update(x.paths)
            out.append(_merge_conflict(x, by_path, index, integration))

    # 3. the same path changed in two or more worktrees, with no lease on it: at info
    #    when git merges it cleanly between each two of them, else a warning (or, where
    #    it conflicts, the merge_conflict says so)
    changed_in: dict[str, list[str]] = defaultdict(list)
    for s in states:
        for path in s.changed():
            changed_in[path].append(s.path)
    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for path, wts in changed_in.items():
        if len(wts) > 1 and not index.match(path):
            groups[tuple(wts)].append(path)
    for group, plist in groups.items():
        agents = " and ".join(by_path[w].agent for w in group)
        pairs = [frozenset((a, b)) for i, a in enumerate(group) for b in group[i + 1 :]]
        if predictions is None or not all(pair in predicted for pair in pairs):
            severity, summary = "warning", f"{agents} both changed {_shown(plist)} (no lease): a merge conflict in waiting"
        else:
            plist = [p for p in plist if not any(p in conflicted[pair] for pair in pairs)]
            if not plist:
                continue
            severity, summary = "info", f"{agents} both changed {_shown(plist)} (no lease): git merges them cleanly"
        out.append(
            StatusConflict(
                kind="overlap",
                severity=severity,
                summary=summary,
                worktrees=list(group),
                paths=plist,
                next_step=f"{_gc_c(group[0])} lease {' '.join(_quote(p) for p in plist[:MAX_PATHS_SHOWN])}",
            )
        )

    # 4. stale bases: leased or changed paths that moved on the integration ref
    for s in states:
        if s.path not in stale_jobs:
            continue
        stale = stale_jobs[s.path].result()
        if not stale:
            continue
        plist = [x.path for x in stale]
        commits = list(dict.fromkeys(c for x in stale for c in x.commits))
        out.append(
            StatusConflict(
                kind="stale_base",
                severity="warning",
                summary=(
                    f"{s.agent}'s base is stale: {_short(integration)} changed {_shown(plist)}"
                    f" in {', '.join(c[:10] for c in commits[:3]) or (tip or '')[:10]}"
                ),
                worktrees=[s.path],
                paths=plist,
                next_step=f"{_git_c(s.path)} rebase --autostash {_short(integration)}",
                details={"stale": [x.to_json() for x in stale]},
            )
        )

    # 5. expired leases or claims whose worktree still has unmerged work
    active_keys = {(lease.holder.worktree, lease.holder.host, lease.pattern) for lease in leases} if lapsed else set()
    lapsed_by_wt: dict[str, list[Lease]] = defaultdict(list)
    for lease in void_leases:
        lapsed_by_wt[lease.holder.worktree].append(lease)
    for lease in lapsed:
        if (lease.holder.worktree, lease.holder.host, lease.pattern) not in active_keys:
            lapsed_by_wt[lease.holder.worktree].append(lease)
    claims_by_wt: dict[str, list[Claim]] = defaultdict(list)
    for claim in lapsed_claims:
        claims_by_wt[claim.holder.worktree].append(claim)
    for wpath in sorted(set(lapsed_by_wt) | set(claims_by_wt)):
        st = by_path.get(wpath)
        expired_leases = lapsed_by_wt.get(wpath, [])
        expired_claims = claims_by_wt.get(wpath, [])
        if st is None or not st.exists:
            holder = expired_leases[0].holder if expired_leases else expired_claims[0].holder
            if not vanished(holder, repo.common_dir):
                continue  # another clone's or host's worktree: not ours to judge or gc
            out.append(
                StatusConflict(
                    kind="abandoned",
                    severity="warning",
                    summary=f"leases/claims of a worktree that no longer exists: {wpath}",
                    worktrees=[wpath],
                    paths=[lease.pattern for lease in expired_leases],
                    next_step="gitcoord gc",
                    details={
                        "leases": [lease.to_json() for lease in expired_leases],
                        "claims": [c.to_json() for c in expired_claims],
                    },
                )
            )
            continue
        if not st.has_unmerged_work():
            continue
        what = []
        if expired_leases:
            what.append("leases on " + _shown([lease.pattern for lease in expired_leases]))
        if expired_claims:
            what.append("claims on " + _shown([c.task for c in expired_claims]))
        if expired_leases:
            step = f"{_gc_c(wpath)} lease " + " ".join(_quote(lease.pattern) for lease in expired_leases[:MAX_PATHS_SHOWN])
        elif all(c.state == "superseded" for c in expired_claims):  # taken over: talk to the new holder
            step = f"gitcoord task show {_quote(expired_claims[0].task)}"
        else:
            step = f"{_gc_c(wpath)} claim " + " ".join(
                _quote(c.task) for c in expired_claims[:MAX_PATHS_SHOWN] if c.state != "superseded"
            )
        out.append(
            StatusConflict(
                kind="abandoned",
                severity="warning",
                summary=(
                    f"{st.agent}'s {' and '.join(what)} expired, but the worktree has unmerged work"
                    f" ({len(st.dirty)} dirty, {st.ahead} commit(s) ahead)"
                ),
                worktrees=[wpath],
                paths=[lease.pattern for lease in expired_leases],
                next_step=step,
                details={
                    "leases": [lease.to_json() for lease in expired_leases],
                    "claims": [c.to_json() for c in expired_claims],
                },
            )
        )

    # 6. recent refusals, bypasses and violations from the audit trail
    for ev in events:
        if ev.kind == "commit.violation":
            kind, severity = "violation", "error"
        elif ev.kind.endswith(".bypassed"):
            kind, severity = "bypass", "warning"
        else:
            kind, severity = "refusal", "warning"
        sha = ev.shas[0] if ev.shas else None
        violations = ev.details.get("violations") if isinstance(ev.details, dict) else None
        vpaths: list[str] = []
        if isinstance(violations, list):
            vpaths = [str(v.get("path")) for v in violations if isinstance(v, dict) and v.get("path")]
        if kind == "violation" and sha:
            step = f"gitcoord check --range {sha}^..{sha}"
        elif kind == "bypass":
            step = f"gitcoord log --kind {ev.kind} --since {iso(ev.ts)}"
        else:
            step = str(ev.details.get("fix") or f"gitcoord log --kind {ev.kind} --since {iso(ev.ts)}")
        reason = ev.details.get("reason") or ev.details.get("bypass") or ""
        summary = f"{ev.kind} by {ev.agent or '?'}" + (f" at {sha[:10]}" if sha else "")
        if vpaths:
            summary += f": {_shown(list(dict.fromkeys(vpaths)))}"
        if reason:
            summary += f" ({reason})"
        out.append(
            StatusConflict(
                kind=kind,
                severity=severity,
                summary=summary,
                worktrees=[ev.worktree] if ev.worktree else [],
                paths=list(dict.fromkeys(vpaths)),
                next_step=step,
                details={"event": ev.seq, "time": iso(ev.ts), "shas": list(ev.shas)},
            )
        )

    order = {"error": 0, "warning": 1, "info": 2}
    out.sort(key=lambda c: order.get(c.severity, 3))
    return out
