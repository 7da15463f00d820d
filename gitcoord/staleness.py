"""Stale-read detection (SPEC section 5).

With P the worktree's commit, I the integration tip and M = merge-base(P, I), a path X is
stale when the integration line changed it since the fork and this worktree does not have
that version: ``blob(I:X) != blob(M:X)`` and ``blob(I:X) != blob(P:X)``.

:func:`stale_paths` checks a worktree (lease grants). The hooks gather the same facts for a
commit (or the index) with :func:`commit_bases` -- a merge has one (P, M) pair per parent
and is stale only when stale against every parent -- and :func:`read_set_blobs` for the
read set; :func:`commits_and_holders` names the integration commits that changed a path
and who made them (from the audit trail). The predicate itself is :func:`is_stale`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitcoord.gitrepo import Repo
from gitcoord.models import Holder
from gitcoord.stalerule import is_stale
from gitcoord.store.commits_api import CommitsTx

COMMITS_PER_PATH = 5  # a stale path names at most this many commits (the newest)


@dataclass(frozen=True)
class StalePath:
    path: str
    integration_ref: str
    integration_tip: str
    merge_base: str
    integration_blob: str | None
    base_blob: str | None
    local_blob: str | None
    commits: list[str] = field(default_factory=list)  # the newest COMMITS_PER_PATH

    def fix(self) -> str:
        short = self.integration_ref.removeprefix("refs/heads/")
        return f"git rebase --autostash {short}"

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "integration_ref": self.integration_ref,
            "integration_tip": self.integration_tip,
            "merge_base": self.merge_base,
            "integration_blob": self.integration_blob,
            "base_blob": self.base_blob,
            "local_blob": self.local_blob,
            "commits": self.commits,
            "fix": self.fix(),
        }


def stale_paths(
    repo: Repo,
    head: str | None,
    integration_ref: str,
    select: Callable[[str], bool] | Iterable[str],
) -> list[StalePath]:
    """Paths (chosen by ``select``: a predicate or an explicit list) that are stale at ``head``."""
    if head is None:
        return []
    tip = repo.rev_parse(integration_ref)
    if tip is None or tip == head:
        return []
    base = repo.merge_base(head, tip)
    if base is None or base == tip:
        return []
    changed = repo.changed_paths(base, tip)
    if callable(select):
        candidates = [p for p in changed if select(p)]
    else:
        wanted = set(select)
        candidates = [p for p in changed if p in wanted]
    if not candidates:
        return []
    at_tip = repo.blobs_at(tip, candidates)
    at_base = repo.blobs_at(base, candidates)
    at_head = repo.blobs_at(head, candidates)
    stale = [p for p in candidates if is_stale(at_tip[p], at_base[p], at_head[p])]
    changed_in = repo.log_paths(base, tip, stale) if stale else {}  # one git log for all
    return [
        StalePath(
            path=path,
            integration_ref=integration_ref,
            integration_tip=tip,
            merge_base=base,
            integration_blob=at_tip[path],
            base_blob=at_base[path],
            local_blob=at_head[path],
            commits=changed_in[path][:COMMITS_PER_PATH],
        )
        for path in stale
    ]


PATHS_SHOWN = 3  # a warning about many stale files names the first few
COMMITS_SHOWN = 3


def stale_commits(repo: Repo, stale: Sequence[StalePath]) -> list[str]:
    """Every commit that changed any of the ``stale`` paths (of one worktree), newest first."""
    if not stale:
        return []
    return repo.log_commits(stale[0].merge_base, stale[0].integration_tip, [s.path for s in stale])


def stale_warning(
    stale: Sequence[StalePath], origins: Sequence[ChangeOrigin], commits: int
) -> str | None:
    """One warning for a grant whose files are already stale, however many: how many, the
    first few, the commits that changed them (``commits`` of them; the first ``origins``
    named by who made them) and the one fix."""
    if not stale:
        return None
    ref = stale[0].integration_ref.removeprefix("refs/heads/").removeprefix("refs/remotes/")
    shown = [o.label() for o in origins[:COMMITS_SHOWN]]
    if commits > len(shown):
        shown.append(f"{commits - len(shown)} more")
    where = f" in {_listed(shown)}" if shown else ""
    fix = f"run `{stale[0].fix()}` before editing"
    if len(stale) == 1:
        return f"warning: {stale[0].path} is already stale: {ref} changed it{where}; {fix}"
    names = [s.path for s in stale[:PATHS_SHOWN]]
    if len(stale) > PATHS_SHOWN:
        names.append(f"{len(stale) - PATHS_SHOWN} more")
    return (
        f"warning: {len(stale)} leased files are already stale: {ref} changed {_listed(names)}"
        f"{where}; {fix} them"
    )


def _listed(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# ---------------------------------------------------------------------------------------
# Commits (hooks, `gitcoord check`)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParentBase:
    """One parent P of a commit, its fork point M = merge-base(P, I), and blobs there."""

    parent: str
    merge_base: str
    at_base: dict[str, str | None]
    at_parent: dict[str, str | None]


@dataclass(frozen=True)
class Bases:
    """What the stale-read predicate needs for one commit's touched paths.

    ``parents`` empty means nothing can be stale (no integration ref, a root commit,
    or some parent already contains the integration tip).
    """

    integration_ref: str
    tip: str | None
    at_tip: dict[str, str | None] = field(default_factory=dict)
    parents: list[ParentBase] = field(default_factory=list)

    def stale(self, path: str) -> bool:
        if not self.parents:
            return False
        bi = self.at_tip.get(path)
        return all(is_stale(bi, pb.at_base.get(path), pb.at_parent.get(path)) for pb in self.parents)

    def merge_base_of(self) -> str | None:
        return self.parents[0].merge_base if self.parents else None


def commit_bases(
    repo: Repo,
    integration_ref: str,
    tip: str | None,
    parents: list[str],
    paths: list[str],
    parent_blobs: list[dict[str, str | None]],
    *,
    merge_bases: dict[str, str | None] | None = None,
) -> Bases:
    """Gather blob(I:X), and per parent M and blob(M:X), for the touched ``paths``.

    ``parent_blobs[k]`` holds blob(P_k:X) (the old side of the commit's diff against P_k).
    """
    return commit_bases_many(
        repo, integration_ref, tip, [(parents, paths, parent_blobs)], merge_bases=merge_bases
    )[0]


def commit_bases_many(
    repo: Repo,
    integration_ref: str,
    tip: str | None,
    items: Sequence[tuple[Sequence[str], Sequence[str], Sequence[dict[str, str | None]]]],
    *,
    merge_bases: dict[str, str | None] | None = None,
) -> list[Bases]:
    """:func:`commit_bases` for many commits ((parents, paths, parent blobs) each): one
    merge-base per parent not in ``merge_bases`` (a cache shared across calls), then one
    cat-file for every blob of every commit."""
    empty = Bases(integration_ref=integration_ref, tip=tip)
    if tip is None:
        return [empty for _ in items]
    cache = merge_bases if merge_bases is not None else {}
    forks_of: list[list[str] | None] = []
    specs: dict[tuple[str, str], None] = {}
    for parents, paths, _ in items:
        forks = _forks(repo, parents, tip, cache) if parents and paths else None
        forks_of.append(forks)
        if forks is not None:
            for x in paths:
                specs[(tip, x)] = None
                for m in forks:
                    specs[(m, x)] = None
    blobs = repo.blobs_many(list(specs))
    out: list[Bases] = []
    for (parents, paths, parent_blobs), forks in zip(items, forks_of, strict=True):
        if forks is None:
            out.append(empty)
            continue
        pbs = [
            ParentBase(
                parent=p,
                merge_base=m,
                at_base={x: blobs[(m, x)] for x in paths},
                at_parent={x: pblobs.get(x) for x in paths},
            )
            for p, m, pblobs in zip(parents, forks, parent_blobs, strict=True)
        ]
        out.append(
            Bases(integration_ref=integration_ref, tip=tip,
                  at_tip={x: blobs[(tip, x)] for x in paths}, parents=pbs)
        )
    return out


def _forks(repo: Repo, parents: Sequence[str], tip: str, cache: dict[str, str | None]) -> list[str] | None:
    """merge-base(P, I) per parent; None when some parent is unrelated to the integration
    line or already contains its tip (then nothing can be stale)."""
    forks: list[str] = []
    for p in parents:
        if p not in cache:
            cache[p] = repo.merge_base(p, tip)
        m = cache[p]
        if m is None or m == tip:
            return None
        forks.append(m)
    return forks


def read_set_blobs(repo: Repo, tip: str | None, read_paths: Iterable[str]) -> dict[str, str | None]:
    """blob(I:R) for each path of a read set (one git process)."""
    wanted = list(read_paths)
    if tip is None or not wanted:
        return {}
    return repo.blobs_at(tip, wanted)


@dataclass(frozen=True)
class ChangeOrigin:
    """An integration commit that changed a path, and who made it: its holder when a
    gitcoord hook recorded it, else its git author."""

    sha: str
    holder: Holder | None
    author: str | None = None

    def label(self) -> str:
        who = self.holder.agent if self.holder else (self.author or "not recorded")
        return f"{self.sha[:12]} ({who})"

    def to_json(self) -> dict[str, Any]:
        return {
            "sha": self.sha,
            "holder": self.holder.to_json() if self.holder else None,
            "author": self.author,
        }


def origins(repo: Repo, tx: CommitsTx, shas: Sequence[str]) -> list[ChangeOrigin]:
    """Who made each commit: its holder from the audit trail, else its git author (one
    git process, for the commits no hook recorded)."""
    holders = commit_holders(tx, list(shas))
    authors = repo.authors([s for s in shas if s not in holders])
    return [ChangeOrigin(s, holders.get(s), authors.get(s)) for s in shas]


def commits_and_holders(
    repo: Repo,
    tx: CommitsTx,
    merge_base: str,
    tip: str,
    paths: list[str],
    limit: int = 5,
) -> dict[str, list[ChangeOrigin]]:
    """For each path, the newest commits in ``merge_base..tip`` that changed it, with their
    holders from the audit trail (a rebased commit is traced through the rewrite map), or
    their git authors."""
    changed = repo.log_paths(merge_base, tip, paths)
    shas = list(dict.fromkeys(s for lst in changed.values() for s in lst[:limit]))
    by_sha = {o.sha: o for o in origins(repo, tx, shas)}
    return {p: [by_sha[s] for s in lst[:limit]] for p, lst in changed.items()}


def commit_holders(tx: CommitsTx, shas: list[str]) -> dict[str, Holder]:
    """Holders of the given commits from the audit trail (directly, or via a rewrite)."""
    records = tx.commit_records(shas)
    out = {sha: rec.holder for sha, rec in records.items()}
    missing = [s for s in shas if s not in out]
    if missing:
        rewrites = tx.rewrites_to(missing)
        olds = {s: rws[-1].old_sha for s, rws in rewrites.items() if rws}
        old_records = tx.commit_records(list(olds.values()))
        for new, old in olds.items():
            if old in old_records:
                out[new] = old_records[old].holder
    return out
