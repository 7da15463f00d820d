"""What the installed hooks run: ``python -m gitcoord hook-impl <hook> [git's arguments]``.

This path never imports click, rich, pygit2 or GitPython (see ``gitcoord/__main__.py``),
and on a clean commit not even the core: a commit pays for one interpreter start and a
few git processes, most of them run in parallel.

* ``pre-commit`` / ``pre-merge-commit``: what the commit will record (the index git is
  committing, ``GIT_INDEX_FILE``) is checked against other holders' leases, the stale-read
  predicate, the read set and ``requireLease``; a refusal (exit 1) has one line per
  violation and the command that fixes it. On success the checked tree id is left in
  ``<git-dir>/gitcoord-precommit-ok``, so the post-commit shim journals the commit without
  starting Python (docs/hooks-contract.md).

  The fast path (:func:`gitcoord.fastpath.pre_commit`) first tries to *prove* the commit
  clean with the standard library and sqlite3 alone: parallel git processes and one store
  snapshot. Only what it cannot prove -- a lease that covers a touched path, a stale path,
  a read set, a merge, ``requireLease``, a bypass, any error -- comes to the full check
  (:mod:`gitcoord.checks`), which decides and explains.
* ``post-commit`` (only when the shim found no pass: the commit skipped pre-commit): check
  the commit, record it, record and announce any violation loudly. Exit 0.
* ``post-merge`` / ``post-rewrite``: journaled by the shims; here only when they could not.
* ``pre-push``: drain the journal, check every commit the push adds to the remote against
  the remote's integration ref, record the push.
* ``pre-receive`` (server side): the same checks on incoming commits against the shared
  store; ``gitcoord.requireRecorded`` refuses commits the audit trail never saw.

The hook path reads top-down: the shim, this entry point, the fast path, the full check.
What git tells a hook (where it runs, the git process and its command line, the bypass
variable) is :mod:`gitcoord.hookenv`, below all of them.

Fail closed: when the store is missing, locked past ``GITCOORD_BUSY_TIMEOUT``, corrupt or
unreadable, the checking hooks refuse with a message naming ``GITCOORD_BYPASS=<reason>``,
which lets one commit (push) through and is recorded -- in the store, or in the journal
when the store is broken. No traceback reaches the user: internal errors are logged to
``<git-common-dir>/gitcoord/hooks.log``.
"""

from __future__ import annotations

import os
import sys

from gitcoord.hookenv import (
    BYPASS_ENV,
    OK_FILE,
    all_flag,
    amend_flag,
    git_command_args,
    git_pid,
    merging_names,
    pass_fields,
    pass_text,
    paths_given,
    rebasing,
    run,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path
    from typing import Any

    from gitcoord.checks import Report
    from gitcoord.context import Context
    from gitcoord.gitrepo import Repo
    from gitcoord.models import Holder

CHECKING_HOOKS = ("pre-commit", "pre-merge-commit", "pre-applypatch", "pre-push", "pre-receive")
# Variables a pre-receive hook needs to see the pushed objects (git's quarantine).
_QUARANTINE_ENV = ("GIT_QUARANTINE_PATH", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES")


def _err(text: str = "") -> None:
    sys.stderr.write(text + "\n")


# ---------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------


def main(argv: list[str], *, fast_path: bool = True) -> int:
    """``hook-impl <hook> [args...]``: the exit code for git. Never raises. ``fast_path``
    False: the caller ran :func:`gitcoord.fastpath.passes` already, and it did not pass."""
    if not argv:
        _err("usage: python -m gitcoord hook-impl <hook> [git's hook arguments]")
        return 2
    hook, args = argv[0], list(argv[1:])
    handler = _HANDLERS.get(hook)
    if handler is None:
        return 0  # a hook gitcoord has nothing to do in
    if hook == "pre-applypatch" and rebasing():
        return 0  # `git rebase --apply` picking: post-applypatch journals each pick
    if fast_path:
        from gitcoord.fastpath import passes

        if passes(argv):
            return 0
    if hook in ("post-commit", "post-applypatch") and rebasing():
        # A commit of a rebase that no pre-commit passed: a pick, and maybe a conflict
        # resolution or an exec or edit-stop commit made with --no-verify. Journaled, not
        # checked now (a process per pick is too slow): the next drain (any gitcoord
        # command, pre-push at the latest) checks it against the leases.
        _journal_rebased()
        return 0
    state = _State(hook, args)
    try:
        return handler(state)
    except KeyboardInterrupt:
        _err("gitcoord: interrupted")
        return 130
    except BrokenPipeError:
        return 1 if hook in CHECKING_HOOKS else 0
    except Exception as e:  # fail closed, without a traceback
        return _failure(state, e)


class _State:
    """One hook run: what the failure handler needs to know."""

    def __init__(self, hook: str, args: list[str]) -> None:
        self.hook = hook
        self.args = args
        self.ctx: Context | None = None
        self.tree: str | None = None  # pre-commit: the tree of the index being checked
        self.stdin: str | None = None

    @property
    def action(self) -> str:
        if self.hook == "pre-push":
            return "push"
        if self.hook == "pre-receive":
            return "receive"
        return "commit"

    @property
    def common_dir(self) -> Path | None:
        return self.ctx.repo.common_dir if self.ctx is not None else None


# ---------------------------------------------------------------------------------------
# Commits of a rebase
# ---------------------------------------------------------------------------------------


def _journal_rebased() -> None:
    try:
        rc, out = run(["rev-parse", "--git-common-dir", "--show-toplevel", "HEAD"])
        lines = out.decode("utf-8", "surrogateescape").removesuffix("\n").split("\n")
        if rc != 0 or len(lines) != 3:
            return
        from pathlib import Path

        from gitcoord import journal

        common = Path(os.path.abspath(lines[0]))
        journal.append_commit(common, "rebased", lines[2], lines[1], agent=os.environ.get("GITCOORD_AGENT"))
    except OSError as e:
        _err(f"gitcoord: could not journal this commit of the rebase ({e}); pre-push checks it")


# ---------------------------------------------------------------------------------------
# Plumbing shared by the hooks
# ---------------------------------------------------------------------------------------


def _context(state: _State) -> Context:
    if state.ctx is None:
        from pathlib import Path

        from gitcoord import context

        ctx = context.load(Path.cwd())
        ctx.drain_journal = False  # the commit path never drains; pre-push does it explicitly
        ctx.create_store = False  # a missing store is a failure, never silently a new one
        state.ctx = ctx
    return state.ctx


def _placeholder_holder(repo: Repo) -> Holder:
    """Who commits here, for enforcement (worktree + host); the agent's bound name is
    looked up only when something is recorded."""
    from gitcoord.gitrepo import host_id
    from gitcoord.models import Holder

    return Holder(
        worktree=str(repo.root),
        host=host_id(),
        agent=os.environ.get("GITCOORD_AGENT") or repo.root.name,
    )


def _holder(ctx: Context) -> Holder:
    from gitcoord.errors import GitcoordError

    try:
        return ctx.holder()
    except GitcoordError:
        return _placeholder_holder(ctx.repo)


def bypass_reason(action: str) -> str | None:
    """``GITCOORD_BYPASS=<reason>``; on the server only as a push option (``git push -o``),
    never from the server's own environment."""
    if action == "receive":
        try:
            count = int(os.environ.get("GIT_PUSH_OPTION_COUNT", "0"))
        except ValueError:
            count = 0
        for i in range(count):
            key, sep, value = os.environ.get(f"GIT_PUSH_OPTION_{i}", "").partition("=")
            if sep and key.strip() in (BYPASS_ENV, "gitcoord.bypass") and value.strip():
                return value.strip()
        return None
    return os.environ.get(BYPASS_ENV, "").strip() or None


def _record(state: _State, kind: str, holder: Holder | None, **kw: Any) -> str:
    """Append an event to the store, or to the journal when the store cannot be written.
    Returns where it went."""
    from gitcoord import audit, journal
    from gitcoord.errors import GitcoordError

    ctx = state.ctx
    if ctx is not None:
        try:
            with ctx.store().transaction() as tx:
                audit.append(tx, kind, holder, **kw)
            return "store"
        except GitcoordError as e:
            journal.log_error(ctx.repo.common_dir, f"recording {kind} in the store failed: {e}")
    if state.common_dir is not None:
        try:
            journal.append_event(state.common_dir, kind, holder, **kw)
            return "journal"
        except OSError as e:
            journal.log_error(state.common_dir, f"recording {kind} in the journal failed", e)
    return "nowhere"


def _consume_ok(repo: Repo, head: str) -> bool:
    """Empty the pre-commit pass file; True when it named the tree of ``head`` and was
    left by the git process running this hook (the same `git commit`)."""
    path = repo.git_dir / OK_FILE
    try:
        checked, by = pass_fields(path.read_text())
    except OSError:
        return False
    if not checked:
        return False
    path.write_text("")
    if by != str(git_pid()):
        return False
    proc = repo.git("rev-parse", "--verify", "--quiet", f"{head}^{{tree}}", check=False)
    return proc.stdout.decode().strip() == checked


def _write_ok(repo: Repo, tree: str | None) -> None:
    if not tree:
        return
    try:
        (repo.git_dir / OK_FILE).write_text(pass_text(tree, str(repo.common_dir), str(repo.root)))
    except OSError as e:  # the post-commit shim then checks the commit itself
        from gitcoord import journal

        journal.log_error(repo.common_dir, f"cannot write {repo.git_dir / OK_FILE}", e)


def _read_stdin(state: _State) -> str:
    if state.stdin is None:
        try:
            state.stdin = sys.stdin.read() if sys.stdin is not None else ""
        except (OSError, ValueError):
            state.stdin = ""
    return state.stdin


def _failure(state: _State, e: BaseException) -> int:
    from gitcoord import checks, journal
    from gitcoord.errors import GitcoordError

    internal = not isinstance(e, GitcoordError)
    log = journal.log_error(state.common_dir, f"hook-impl {state.hook} {state.args!r} failed", e)
    if state.hook not in CHECKING_HOOKS:
        if state.hook in ("post-commit", "post-applypatch") and state.ctx is not None:
            try:  # the commit exists: journal it for a later check rather than lose it
                head = state.ctx.repo.head()
                if head:
                    journal.append_commit(
                        state.ctx.repo.common_dir, "unverified", head, str(state.ctx.repo.root),
                        agent=os.environ.get("GITCOORD_AGENT"),
                    )
            except Exception as again:
                journal.log_error(state.common_dir, "journaling the commit failed too", again)
        _err(
            f"gitcoord: could not record this {state.hook} ({type(e).__name__ if internal else e})"
            + (f"; details in {log}" if log else "")
        )
        return 0
    action = state.action
    reason = bypass_reason(action)
    if reason:
        holder = _placeholder_holder(state.ctx.repo) if state.ctx is not None else None
        prefix = "commit" if action == "commit" else action
        where = _record(
            state,
            f"{prefix}.bypassed",
            holder,
            subject=state.hook,
            details={"reason": reason, "error": str(e), "hook": state.hook, "tree": state.tree},
        )
        _err(
            f"gitcoord: cannot check this {checks.WHAT[action]} ({e}); {BYPASS_ENV} given: "
            f"letting it through (bypass recorded in the {where})"
        )
        if state.hook in ("pre-commit", "pre-merge-commit", "pre-applypatch") and state.ctx is not None:
            _write_ok(state.ctx.repo, state.tree)
        return 0
    text = checks.store_failure_text(e, action)
    if internal and log:
        text += f"\n(details in {log})"
    _err(text)
    return 1


def _conclude(
    state: _State,
    report: Report,
    *,
    holder: Holder | None,
    subject: str,
    shas: Sequence[str],
    details: dict[str, Any],
    on_pass: Callable[[], None] | None = None,
) -> int:
    """Warnings, then pass, bypass (recorded) or refusal (recorded, exit 1)."""
    from gitcoord import checks

    action = state.action
    prefix = "commit" if action == "commit" else action
    if report.warnings:
        _err(checks.warning_text(report))
    errors = report.errors
    if not errors:
        if on_pass is not None:
            on_pass()
        return 0
    ctx = state.ctx
    assert ctx is not None
    who = _holder(ctx) if holder is not None else None
    paths = list(dict.fromkeys(v.path for v in errors if v.path))
    payload = {**details, "hook": state.hook, "violations": [v.to_json(report.now) for v in errors]}
    reason = bypass_reason(action)
    if reason:
        where = _record(
            state, f"{prefix}.bypassed", who, subject=subject, shas=shas,
            details={**payload, "reason": reason}, paths=paths,
        )
        _err(f"gitcoord: NOT refused ({BYPASS_ENV}={reason!r}); {len(errors)} violation(s):")
        for v in errors:
            _err(f"  {v.line(report.now)}")
        _err(f"gitcoord: bypass recorded in the {where}")
        if on_pass is not None:
            on_pass()
        return 0
    _record(state, f"{prefix}.refused", who, subject=subject, shas=shas, details=payload, paths=paths)
    _err(checks.refusal_text(report, action))
    return 1


# ---------------------------------------------------------------------------------------
# pre-commit / pre-merge-commit
# ---------------------------------------------------------------------------------------


def _pre_commit(state: _State, *, merge: bool) -> int:
    from gitcoord import checks

    ctx = _context(state)
    repo = ctx.repo
    if repo.bare:
        return 0
    index_path = checks.index_file(repo)
    args = None if merge else git_command_args("commit")
    amend = args is not None and amend_flag(args)
    parents = checks.index_parents(repo, amend=amend, merging=merging_names() if merge else None)
    state.tree = repo.write_tree(index_path)
    holder = _placeholder_holder(repo)
    change = checks.index_change(repo, holder, index_path, parents, tree=state.tree)
    ref, tip = checks.integration(ctx)
    report = checks.evaluate(
        ctx, [change], action="commit", integration_ref=ref, tip=tip, reads_holder=holder
    )
    report.how = (
        "am" if state.hook == "pre-applypatch"
        else "amend" if amend
        else "all" if args is not None and all_flag(args)
        else "paths" if args is not None and paths_given(args)
        else ""
    )
    return _conclude(
        state,
        report,
        holder=holder,
        subject=state.hook,
        shas=[],
        details={"tree": state.tree, "parents": list(parents), "paths": len(change.subject.paths)},
        on_pass=lambda: _write_ok(repo, state.tree),
    )


def _hook_pre_commit(state: _State) -> int:
    # Run by `git merge` as pre-commit (the pre-commit framework's pre-merge-commit stage)?
    merging = os.environ.get("GIT_REFLOG_ACTION", "").startswith(("merge ", "pull"))
    return _pre_commit(state, merge=merging)


def _hook_pre_merge_commit(state: _State) -> int:
    return _pre_commit(state, merge=True)


# ---------------------------------------------------------------------------------------
# post-commit (the commit skipped pre-commit) / post-merge / post-rewrite
# ---------------------------------------------------------------------------------------


def _hook_post_commit(state: _State) -> int:
    import time

    from gitcoord import audit, checks, enforce, journal
    from gitcoord.errors import StoreError

    ctx = _context(state)
    repo = ctx.repo
    head = repo.head()
    if head is None:
        return 0
    op = repo.operation_in_progress()  # (commits of a rebase never get here: main journals them)
    if _consume_ok(repo, head):
        # pre-commit checked exactly this tree (e.g. run by the pre-commit framework,
        # which has no shell fast path): journal it like the shim does, check nothing twice
        journal.append_commit(
            repo.common_dir, "post-commit", head, str(repo.root), agent=os.environ.get("GITCOORD_AGENT")
        )
        return 0
    facts = journal.commit_facts(repo, [head]).get(head)
    if facts is None:
        return 0
    reason = bypass_reason("commit")
    try:
        journal.drain(ctx)  # earlier commits first
        holder = ctx.holder()
        ref, tip = checks.integration(ctx)
        report = checks.evaluate(
            ctx, [checks.commit_change(facts, holder)], action="commit", integration_ref=ref,
            tip=tip, reads_holder=holder,
        )
        source = op or ("merge" if len(facts.parents) > 1 else "commit")
        with ctx.store().transaction() as tx:
            journal.record_commit(
                tx, facts, holder, source=source, committed_at=time.time(),
                violations=[] if reason else report.errors,
            )
            if reason and report.errors:
                audit.append(
                    tx, journal.COMMIT_BYPASSED, holder, subject=head[:12], shas=[head],
                    details={"reason": reason, "hook": "post-commit",
                             "violations": [v.to_json(tx.now) for v in report.errors]},
                    paths=[v.path for v in report.errors if v.path],
                )
    except StoreError as e:
        journal.append_commit(
            repo.common_dir, "unverified", head, str(repo.root), agent=os.environ.get("GITCOORD_AGENT")
        )
        _err(checks.banner([
            f"gitcoord: commit {head[:12]} skipped the gitcoord check and cannot be checked now:",
            f"gitcoord:   {e.message}",
            "gitcoord: it is journaled and will be checked against the leases when the store is back.",
        ]))
        return 0
    if report.warnings:
        _err(checks.warning_text(report))
    if report.errors and reason:
        _err(f"gitcoord: commit {head[:12]} breaks gitcoord rules; {BYPASS_ENV}={reason!r}: recorded as a bypass")
    elif report.errors:
        _err(checks.banner([
            f"gitcoord: VIOLATION: commit {head[:12]} skipped the gitcoord check (--no-verify?) "
            "and breaks its rules:",
            *(f"  {v.line(report.now)}" for v in report.errors),
            "gitcoord: recorded in the audit trail (commit.violation); a push of it will be refused.",
            "fix: undo it, keeping the changes: git reset --soft HEAD^",
            *(f"fix: then {f}" for f in enforce.fixes(report.errors)),
        ]))
    return 0


def _journal_or_apply(state: _State, lines: list[str]) -> int:
    """Journal the lines (the shim's job, done here when it could not); when even that
    fails, record them straight into the store."""
    from gitcoord import journal

    ctx = _context(state)
    try:
        journal.append_raw(ctx.repo.common_dir, "".join(lines).encode(errors="surrogateescape"))
        return 0
    except OSError as e:
        journal.log_error(ctx.repo.common_dir, "cannot append to the journal", e)
    entries = [e for e in (journal.parse_line(x) for x in lines) if e is not None]
    journal.apply_entries(ctx, entries)
    return 0


def _hook_post_merge(state: _State) -> int:
    import time

    ctx = _context(state)
    head = ctx.repo.head()
    if head is None:
        return 0
    squash = state.args[0] if state.args else "0"
    return _journal_or_apply(
        state, [f"post-merge\t{head}\t{ctx.repo.root}\t{int(time.time())}\t{squash}\n"]
    )


def _hook_post_rewrite(state: _State) -> int:
    import time

    ctx = _context(state)
    kind = state.args[0] if state.args else "rewrite"
    now = int(time.time())
    lines = []
    for raw in _read_stdin(state).splitlines():
        parts = raw.split()
        if len(parts) >= 2:
            lines.append(f"post-rewrite\t{kind}\t{parts[0]}\t{parts[1]}\t{ctx.repo.root}\t{now}\n")
    return _journal_or_apply(state, lines) if lines else 0


# ---------------------------------------------------------------------------------------
# pre-push / pre-receive
# ---------------------------------------------------------------------------------------


def _hook_pre_push(state: _State) -> int:
    from gitcoord import checks, journal
    from gitcoord.gitrepo import ZERO_SHA

    remote = state.args[0] if state.args else "origin"
    url = state.args[1] if len(state.args) > 1 else None
    updates = checks.parse_push_lines(_read_stdin(state))
    framework = not state.args and not updates and os.environ.get("PRE_COMMIT_REMOTE_BRANCH")
    if framework:
        # Under the pre-commit framework: no arguments and no stdin, the (first) ref
        # update that needs checking comes in PRE_COMMIT_* variables instead.
        remote = os.environ.get("PRE_COMMIT_REMOTE_NAME") or remote
        url = os.environ.get("PRE_COMMIT_REMOTE_URL") or url
    updates = [u for u in updates if u.local_sha != ZERO_SHA]
    if not updates and not framework:
        return 0
    ctx = _context(state)
    if framework:
        local = os.environ.get("PRE_COMMIT_LOCAL_BRANCH") or "HEAD"
        to = os.environ.get("PRE_COMMIT_TO_REF") or ctx.repo.rev_parse(local)
        if not to:
            return 0
        updates = [
            checks.RefUpdate(
                local, to, os.environ["PRE_COMMIT_REMOTE_BRANCH"],
                os.environ.get("PRE_COMMIT_FROM_REF") or ZERO_SHA,
            )
        ]
    journal.drain(ctx)  # commits journaled since the last gitcoord command
    pusher = _holder(ctx)
    report = checks.check_push(ctx, remote, updates, pusher=pusher)
    shas = report.commits()
    details = {
        "remote": remote,
        "url": url,
        "updates": [u.to_json() for u in updates],
    }

    def record_push() -> None:
        _record(state, journal.PUSH_RECORDED, pusher, subject=remote, shas=shas, details=details,
                paths=report.paths()[:1000])

    return _conclude(state, report, holder=pusher, subject=remote, shas=shas, details=details,
                     on_pass=record_push)


def _hook_pre_receive(state: _State) -> int:
    from gitcoord import checks, journal
    from gitcoord.gitrepo import ZERO_SHA

    lines = []
    for raw in _read_stdin(state).splitlines():
        parts = raw.split()
        if len(parts) == 3 and parts[1] != ZERO_SHA:
            lines.append(parts)
    if not lines:
        return 0
    ctx = _context(state)
    extra = tuple((k, os.environ[k]) for k in _QUARANTINE_ENV if os.environ.get(k))
    if extra:
        ctx.repo = ctx.repo._replace(extra_env=extra)
    repo = ctx.repo
    ref, tip = checks.integration(ctx)
    # In the quarantine, --all is every ref before this push: what is new is what it adds.
    per_tip = {new: list(repo.commit_parents([new, "--not", "--all"])) for _old, new, _ref in lines}
    details = {"updates": [{"old": o, "new": n, "ref": r} for o, n, r in lines]}
    report = checks.check_commits(
        ctx, checks.ordered_commits(per_tip), action="receive", integration_ref=ref, tip=tip,
        default_holder=None, skip_stale=checks.stale_skips(repo, tip, per_tip),
        walk_excludes_tip=True, extra=details,
    )
    shas = report.commits()
    subject = " ".join(r for _, _, r in lines)

    def record() -> None:
        _record(state, journal.RECEIVE_RECORDED, None, subject=subject, shas=shas, details=details,
                paths=report.paths()[:1000])

    return _conclude(state, report, holder=None, subject=subject, shas=shas, details=details,
                     on_pass=record)


_HANDLERS: dict[str, Callable[[_State], int]] = {
    "pre-commit": _hook_pre_commit,
    "pre-merge-commit": _hook_pre_merge_commit,
    "pre-applypatch": _hook_pre_commit,  # `git am`: the patch is in the index, as for a commit
    "post-commit": _hook_post_commit,
    "post-applypatch": _hook_post_commit,
    "post-merge": _hook_post_merge,
    "post-rewrite": _hook_post_rewrite,
    "pre-push": _hook_pre_push,
    "pre-receive": _hook_pre_receive,
}
