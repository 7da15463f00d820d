"""The hook journal: what recording hooks append, drained into the store later.

The recording shims (``post-commit``, ``post-merge``, ``post-rewrite``) start no Python: they
append one line each to ``<git-common-dir>/gitcoord/journal`` (docs/hooks-contract.md)::

    post-commit\\t<sha>\\t<worktree top>\\t<unix time>\\t<agent>[\\t<checked tree>]
    post-merge\\t<sha>\\t<worktree top>\\t<unix time>\\t<squash flag>
    post-rewrite\\t<amend|rebase>\\t<old sha>\\t<new sha>\\t<worktree top>\\t<unix time>

Python hooks add two kinds of their own when the store cannot be written:

    unverified\\t<sha>\\t<worktree top>\\t<unix time>    a --no-verify commit not yet checked
    event\\t<json>                                      an audit event (refusal, bypass, ...)

:func:`drain` (run by the next gitcoord command that opens the store, and by pre-push)
moves the file aside, records every commit (SHA, holder, task, touched paths), maps
rewritten SHAs, renews the committer's leases on touched paths, checks the commits that
no hook checked (``--no-verify`` merges, unverified commits) against the lease rules and
records violations -- all in one store transaction. Recording is idempotent (commits and
rewrites are keyed by SHA), so a drain interrupted before removing the file is harmless.
A ``post-commit`` line that carries the tree its pre-commit check passed (the shim
journaled it without asking git) is recorded as checked only when that is the commit's
tree; otherwise it is checked as an unverified one.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitcoord import audit, enforce
from gitcoord.errors import StoreLocked
from gitcoord.gitrepo import Repo, host_id
from gitcoord.models import Holder, Lease
from gitcoord.store import store_dir
from gitcoord.store.base import Tx
from gitcoord.store.commits_api import CommitRecord, Rewrite

if TYPE_CHECKING:
    from gitcoord.context import Context

JOURNAL = "journal"
DRAINING = "journal.draining-"
LOG = "hooks.log"

# Event kinds written by the hooks and the journal (status and log filter on these).
COMMIT_RECORDED = "commit.recorded"
COMMIT_REWRITTEN = "commit.rewritten"
COMMIT_VIOLATION = "commit.violation"
COMMIT_REFUSED = "commit.refused"
COMMIT_BYPASSED = "commit.bypassed"
PUSH_RECORDED = "push.recorded"
PUSH_REFUSED = "push.refused"
PUSH_BYPASSED = "push.bypassed"
RECEIVE_RECORDED = "receive.recorded"
RECEIVE_REFUSED = "receive.refused"
RECEIVE_BYPASSED = "receive.bypassed"
REFUSAL_KINDS = (COMMIT_REFUSED, PUSH_REFUSED, RECEIVE_REFUSED)
BYPASS_KINDS = (COMMIT_BYPASSED, PUSH_BYPASSED, RECEIVE_BYPASSED)
VIOLATION_KINDS = (COMMIT_VIOLATION,)


def pending(common_dir: Path) -> bool:
    """Anything to drain? (one stat in the common case)"""
    d = store_dir(common_dir)
    if (d / JOURNAL).exists():
        return True
    try:
        return any(name.startswith(DRAINING) for name in os.listdir(d))
    except OSError:
        return False


# ---------------------------------------------------------------------------------------
# Appending
# ---------------------------------------------------------------------------------------


def append_raw(common_dir: Path, data: bytes) -> None:
    """Append with one write (O_APPEND): lines from concurrent writers never interleave."""
    d = store_dir(common_dir)
    d.mkdir(parents=True, exist_ok=True)
    fd = os.open(d / JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _field(text: str) -> str:
    """A text field of a (tab-separated) journal line. One that would break the line (a
    tab, a line break) or starts with a double quote is written as a JSON string; any
    other, raw (as the shims write theirs: a worktree path, which starts with '/', or an
    agent name without such characters)."""
    if text.startswith('"') or any(c in text for c in "\t\n\r"):
        return json.dumps(text)
    return text


def _unfield(text: str) -> str:
    if text.startswith('"') and text.endswith('"') and len(text) >= 2:
        try:
            value = json.loads(text)
        except ValueError:
            return text
        if isinstance(value, str):
            return value
    return text


def append_commit(
    common_dir: Path,
    kind: str,
    sha: str,
    worktree: str,
    when: float | None = None,
    *,
    agent: str | None = None,
) -> None:
    """``post-commit`` / ``unverified`` line for ``sha`` made in ``worktree`` (by
    ``agent``: GITCOORD_AGENT, if set)."""
    t = int(when if when is not None else time.time())
    line = f"{kind}\t{sha}\t{_field(worktree)}\t{t}\t{_field(agent or '')}\n"
    append_raw(common_dir, line.encode(errors="surrogateescape"))


def append_event(
    common_dir: Path,
    kind: str,
    holder: Holder | None,
    *,
    subject: str | None = None,
    shas: Sequence[str] = (),
    details: dict[str, Any] | None = None,
    paths: Sequence[str] = (),
    task: str | None = None,
) -> None:
    doc = {
        "kind": kind,
        "holder": holder.to_json() if holder else None,
        "subject": subject,
        "shas": list(shas),
        "details": details or {},
        "paths": list(paths),
        "task": task,
        "time": time.time(),
    }
    line = "event\t" + json.dumps(doc, sort_keys=True, ensure_ascii=True) + "\n"
    append_raw(common_dir, line.encode())


def log_error(common_dir: Path | None, what: str, exc: BaseException | None = None) -> str | None:
    """Append ``what`` (and a traceback) to ``<gitcoord dir>/hooks.log``; return its path."""
    import tempfile

    text = what
    if exc is not None:
        text += "\n" + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    dirs = [store_dir(common_dir)] if common_dir is not None else []
    dirs.append(Path(tempfile.gettempdir()))
    for d in dirs:
        try:
            d.mkdir(parents=True, exist_ok=True)
            p = d / LOG
            with p.open("a", encoding="utf-8", errors="replace") as f:
                f.write(f"--- {datetime.now(timezone.utc).isoformat()} pid {os.getpid()}\n{text}\n")
            return str(p)
        except OSError:
            continue
    return None


# ---------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------


@dataclass
class Entry:
    kind: str  # post-commit | post-merge | post-rewrite | unverified | rebased | event
    sha: str = ""
    worktree: str = ""
    time: float | None = None
    squash: bool = False
    rewrite: str = ""  # amend | rebase
    old_sha: str = ""
    agent: str | None = None
    event: dict[str, Any] = field(default_factory=dict)
    checked_tree: str = ""  # post-commit: the tree the pre-commit check passed (shim, no git)


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parse_line(line: str) -> Entry | None:
    parts = line.removesuffix("\n").split("\t")
    kind = parts[0]
    try:
        if kind in ("post-commit", "unverified", "rebased") and len(parts) >= 4:
            checked = parts[5].strip() if kind == "post-commit" and len(parts) > 5 else ""
            return Entry(kind, sha=parts[1], worktree=_unfield(parts[2]), time=_float(parts[3]),
                         agent=_agent(parts, 4), checked_tree=checked)
        if kind == "post-merge" and len(parts) >= 4:
            squash = len(parts) > 4 and parts[4].strip() not in ("", "0")
            return Entry(kind, sha=parts[1], worktree=_unfield(parts[2]), time=_float(parts[3]), squash=squash,
                         agent=_agent(parts, 5))
        if kind == "post-rewrite" and len(parts) >= 6:
            return Entry(kind, rewrite=parts[1], old_sha=parts[2], sha=parts[3],
                         worktree=_unfield(parts[4]), time=_float(parts[5]), agent=_agent(parts, 6))
        if kind == "event" and len(parts) >= 2:
            doc = json.loads("\t".join(parts[1:]))
            if isinstance(doc, dict) and isinstance(doc.get("kind"), str):
                return Entry(kind, event=doc, time=_float(str(doc.get("time", ""))))
    except ValueError:
        return None
    return None


def _agent(parts: list[str], i: int) -> str | None:
    """The agent field of a journal line (GITCOORD_AGENT when the hook ran), if any."""
    name = _unfield(parts[i].strip()) if len(parts) > i else ""
    return name if name and name.isprintable() else None


def _is_sha(s: str) -> bool:
    return len(s) in (40, 64) and all(c in "0123456789abcdef" for c in s)


# ---------------------------------------------------------------------------------------
# Facts about commits (git, before any transaction)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommitFacts:
    sha: str
    parents: tuple[str, ...]
    # Paths the commit records: for a merge, those that differ from every parent.
    touched: tuple[str, ...]
    # Per parent: path -> blob(P:X) for the touched paths.
    parent_blobs: tuple[dict[str, str | None], ...] = ()
    tree: str | None = None


def commit_facts(repo: Repo, shas: Sequence[str]) -> dict[str, CommitFacts]:
    """Parents and touched paths of each commit (missing commits left out). Three git
    processes however many commits."""
    wanted = [s for s in dict.fromkeys(shas) if _is_sha(s)]
    if not wanted:
        return {}
    trees = repo.commit_trees(wanted)
    wanted = [s for s in wanted if trees.get(s)]
    parents = repo.parents_of(wanted)
    pairs: list[tuple[str, str | None]] = []
    for sha in wanted:
        ps = parents.get(sha, [])
        pairs += [(sha, p) for p in ps] if ps else [(sha, None)]
    diffs = repo.commit_diffs(pairs)
    by_commit: dict[str, list[dict[str, str | None]]] = {}
    for (sha, _), entries in zip(pairs, diffs, strict=True):
        by_commit.setdefault(sha, []).append({e.path: e.old_blob for e in entries})
    out: dict[str, CommitFacts] = {}
    for sha in wanted:
        ordered, parent_blobs = merge_touched(by_commit.get(sha, [{}]))
        out[sha] = CommitFacts(
            sha=sha,
            parents=tuple(parents.get(sha, [])),
            touched=ordered,
            parent_blobs=parent_blobs,
            tree=trees[sha],
        )
    return out


def merge_touched(
    per_parent: Sequence[dict[str, str | None]],
) -> tuple[tuple[str, ...], tuple[dict[str, str | None], ...]]:
    """What a commit touches, from its diff against each parent (path -> blob there): the
    paths that differ from *every* parent, so a merge's resolution edit counts and the
    work it merges in does not; in first-parent order, with each parent's blob of them."""
    touched = set(per_parent[0])
    for d in per_parent[1:]:
        touched &= set(d)
    ordered = tuple(p for p in per_parent[0] if p in touched)
    return ordered, tuple({p: d.get(p) for p in ordered} for d in per_parent)


# ---------------------------------------------------------------------------------------
# Recording (inside a transaction)
# ---------------------------------------------------------------------------------------


def holder_for(tx: Tx, worktree: str, agent: str | None = None) -> Holder:
    host = host_id()
    name = agent or tx.get_binding(worktree, host) or (Path(worktree).name or worktree)
    return Holder(worktree=worktree, host=host, agent=name)


def leases_covering(tx: Tx, touched: Sequence[str]) -> list[tuple[str, Lease]]:
    """(path, lease) for every active lease (any holder) matching a touched path."""
    if not touched:
        return []
    index = enforce.build_index(tx.lease_candidates(enforce.lease_keys(touched), []))
    out: list[tuple[str, Lease]] = []
    for path in touched:
        for _, lease in index.match(path):
            if lease.is_active(tx.now):
                out.append((path, lease))
    return out


def task_for(tx: Tx, holder: Holder, covering: Sequence[tuple[str, Lease]]) -> str | None:
    for _, lease in covering:
        if lease.task and lease.holder.same_place(holder):
            return lease.task
    try:
        claims = tx.claims(holder=holder, states=["active"])
    except Exception:  # the tasks schema is optional for recording
        return None
    active = [c for c in claims if c.is_active(tx.now)]
    return active[-1].task if active else None


def record_commit(
    tx: Tx,
    facts: CommitFacts,
    holder: Holder,
    *,
    source: str,
    committed_at: float | None = None,
    violations: Sequence[enforce.Violation] = (),
    renewed: set[int] | None = None,
    covering: Sequence[tuple[str, Lease]] | None = None,
) -> bool:
    """Record ``facts`` as made by ``holder``: a ``commit.recorded`` event, the commits
    row, a ``commit.violation`` event when it broke a rule, and renewal of the holder's
    leases on the touched paths. False when the SHA was already recorded."""
    if tx.commit_records([facts.sha]):
        return False
    if covering is None:
        covering = leases_covering(tx, facts.touched)
    task = task_for(tx, holder, covering)
    errors = [v for v in violations if v.is_error]
    event = audit.append(
        tx,
        COMMIT_RECORDED,
        holder,
        subject=facts.sha[:12],
        shas=[facts.sha],
        details={
            "source": source,
            "parents": list(facts.parents),
            "committed_at": committed_at,
            "paths": len(facts.touched),
            "violation": bool(errors),
        },
        task=task,
        paths=facts.touched,
    )
    tx.record_commit(
        CommitRecord(
            sha=facts.sha,
            holder=holder,
            task=task,
            source=source,
            parents=facts.parents,
            committed_at=committed_at,
            recorded_at=tx.now,
            event_seq=event.seq,
            violation=bool(errors),
        )
    )
    if errors:
        record_violation(tx, facts.sha, holder, errors, task=task)
    renew_touched(tx, holder, covering, facts.sha, renewed if renewed is not None else set())
    return True


def record_violation(
    tx: Tx, sha: str, holder: Holder | None, violations: Sequence[enforce.Violation], *, task: str | None = None
) -> None:
    audit.append(
        tx,
        COMMIT_VIOLATION,
        holder,
        subject=sha[:12],
        shas=[sha],
        details={"violations": [v.to_json(tx.now) for v in violations]},
        task=task,
        paths=list(dict.fromkeys(v.path for v in violations if v.path)),
    )


def renew_touched(
    tx: Tx, holder: Holder, covering: Sequence[tuple[str, Lease]], sha: str, renewed: set[int]
) -> list[Lease]:
    """A recorded commit touching a leased path renews that lease (SPEC section 3)."""
    out: list[Lease] = []
    for _, lease in covering:
        if lease.id in renewed or not lease.holder.same_place(holder):
            continue
        renewed.add(lease.id)
        ttl = tx.lease_ttl(lease.id)
        updated = tx.update_lease(lease.id, expires_at=tx.now + ttl)
        audit.lease_event(
            tx,
            "lease.renewed",
            lease.holder,
            lease,
            {"lease_id": lease.id, "epoch": lease.epoch, "expires_at": updated.expires_at, "via": "commit"},
            task=lease.task,
            shas=[sha],
        )
        out.append(updated)
    return out


# ---------------------------------------------------------------------------------------
# Draining
# ---------------------------------------------------------------------------------------


@dataclass
class DrainResult:
    entries: int = 0
    commits: int = 0
    rewrites: int = 0
    events: int = 0
    violations: int = 0
    skipped: list[str] = field(default_factory=list)


@contextmanager
def _locked(d: Path, timeout: float) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    d.mkdir(parents=True, exist_ok=True)
    fd = os.open(d / "journal.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if time.monotonic() >= deadline:
                    raise StoreLocked(f"another process is draining the journal in {d}") from e
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)


def drain(ctx: Context) -> DrainResult:
    """Move the journal aside and record everything in it, in one transaction."""
    from gitcoord.store.sqlite import busy_timeout

    common = ctx.repo.common_dir
    d = store_dir(common)
    result = DrainResult()
    if not pending(common):
        return result
    with _locked(d, busy_timeout()):
        files = sorted(p for p in d.glob(DRAINING + "*") if p.is_file())
        live = d / JOURNAL
        if live.exists():
            target = d / f"{DRAINING}{time.time_ns():020d}-{os.getpid()}"
            try:
                os.replace(live, target)
                files.append(target)
            except FileNotFoundError:
                pass
        sizes: dict[Path, int] = {}
        entries: list[Entry] = []
        for f in files:
            data = f.read_bytes()
            sizes[f] = len(data)
            for raw in data.decode("utf-8", errors="surrogateescape").split("\n"):  # (\n only)
                if not raw.strip():
                    continue
                entry = parse_line(raw)
                if entry is None:
                    result.skipped.append(raw[:200])
                else:
                    entries.append(entry)
        if entries:
            _apply(ctx, entries, result)
        for f in files:
            # A writer that opened the file before the rename may have appended since.
            with f.open("rb") as fh:
                fh.seek(sizes[f])
                rest = fh.read()
            if rest:
                append_raw(common, rest)
            f.unlink()
    if result.skipped:
        log_error(common, "journal lines not understood:\n" + "\n".join(result.skipped))
    return result


def drain_quietly(ctx: Context) -> DrainResult | None:
    """Drain, never failing the caller: problems go to the hooks log."""
    try:
        return drain(ctx)
    except Exception as e:  # the journal stays for the next drain
        log_error(ctx.repo.common_dir, "journal drain failed", e)
        return None


def apply_entries(ctx: Context, entries: list[Entry]) -> DrainResult:
    """Record journal entries straight into the store (when the journal cannot be written)."""
    result = DrainResult()
    if entries:
        _apply(ctx, entries, result)
    return result


def _apply(ctx: Context, entries: list[Entry], result: DrainResult) -> None:
    repo = ctx.repo
    shas: list[str] = []
    for e in entries:
        if e.kind in ("post-commit", "unverified", "rebased", "post-rewrite") or (
            e.kind == "post-merge" and not e.squash
        ):
            shas.append(e.sha)
    facts = commit_facts(repo, shas)
    policy = enforce.Policy.from_settings(ctx.settings)
    with ctx.store().transaction() as tx:
        holders: dict[tuple[str, str | None], Holder] = {}
        renewed: set[int] = set()

        def holder(e: Entry) -> Holder:
            wt = os.path.realpath(e.worktree) if e.worktree else str(repo.root)
            key = (wt, e.agent)
            if key not in holders:
                holders[key] = holder_for(tx, wt, e.agent)
            return holders[key]

        for e in entries:
            result.entries += 1
            if e.kind == "event":
                _replay_event(tx, e)
                result.events += 1
                continue
            f = facts.get(e.sha)
            if f is None:
                result.skipped.append(f"{e.kind} {e.sha}: commit not found")
                continue
            h = holder(e)
            if e.kind == "post-commit" and e.checked_tree and e.checked_tree != f.tree:
                # The shim trusted the pass of this very `git commit` without asking git
                # for the commit's tree; it is not the tree the check passed: unchecked.
                e = replace(e, kind="unverified")
            if e.kind == "post-commit":
                source = "merge" if len(f.parents) > 1 else "commit"
                if record_commit(tx, f, h, source=source, committed_at=e.time, renewed=renewed):
                    result.commits += 1
            elif e.kind in ("unverified", "rebased") or (e.kind == "post-merge" and len(f.parents) > 1):
                # No hook checked it (or we cannot know): the lease rules, with the leases
                # granted before it was made.
                covering = leases_covering(tx, f.touched)
                violations = _after_the_fact(tx, f, h, covering, e.time, policy, repo.common_dir)
                source = {"post-merge": "merge", "rebased": "rebase"}.get(e.kind, "unverified")
                if record_commit(tx, f, h, source=source, committed_at=e.time,
                                 violations=violations, renewed=renewed, covering=covering):
                    result.commits += 1
                    result.violations += bool(violations)
            elif e.kind == "post-rewrite":
                old = tx.commit_records([e.old_sha]).get(e.old_sha)
                source = e.rewrite or "rewrite"
                if record_commit(tx, f, h, source=source, committed_at=e.time, renewed=renewed):
                    result.commits += 1
                event = audit.append(
                    tx,
                    COMMIT_REWRITTEN,
                    h,
                    subject=f"{e.old_sha[:12]} -> {f.sha[:12]}",
                    shas=[e.old_sha, f.sha],
                    details={"kind": e.rewrite, "committed_at": e.time},
                    task=old.task if old else None,
                )
                if tx.record_rewrite(
                    Rewrite(old_sha=e.old_sha, new_sha=f.sha, kind=e.rewrite or "rewrite",
                            recorded_at=tx.now, event_seq=event.seq)
                ):
                    result.rewrites += 1
            # post-merge fast-forward or squash: no new commit of this holder to record


def _after_the_fact(
    tx: Tx,
    f: CommitFacts,
    holder: Holder,
    covering: Sequence[tuple[str, Lease]],
    when: float | None,
    policy: enforce.Policy,
    common_dir: Path,
) -> list[enforce.Violation]:
    from gitcoord.leases import void

    leases = [
        lease for _, lease in covering
        if (when is None or lease.granted_at <= when + 1) and not void(lease, common_dir)
    ]
    subject = enforce.Subject(paths=f.touched, holder=holder, commit=f.sha, parents=f.parents)
    return [v for v in enforce.check_lease_rules(subject, leases, now=tx.now, policy=policy) if v.is_error]


def _replay_event(tx: Tx, e: Entry) -> None:
    doc = e.event
    h = doc.get("holder")
    holder = (
        Holder(worktree=str(h["worktree"]), host=str(h["host"]), agent=str(h["agent"]))
        if isinstance(h, dict) and {"worktree", "host", "agent"} <= h.keys()
        else None
    )
    details = dict(doc.get("details") or {})
    details["journaled_at"] = doc.get("time")
    audit.append(
        tx,
        str(doc["kind"]),
        holder,
        subject=doc.get("subject"),
        shas=[str(s) for s in doc.get("shas") or []],
        details=details,
        task=doc.get("task"),
        paths=[str(p) for p in doc.get("paths") or []],
    )
