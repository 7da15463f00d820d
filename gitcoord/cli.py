"""The command line: thin click commands over the core; output via :mod:`gitcoord.render`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from gitcoord import __version__, render
from gitcoord.durations import is_duration, optional_duration, optional_ttl, parse_duration
from gitcoord.errors import BadInput, GitcoordError

_state: dict[str, Any] = {"json": False}


def _env_json() -> bool:
    return os.environ.get("GITCOORD_JSON", "").strip().lower() in ("1", "true", "yes", "on")


class Obj:
    """What the group hands each command."""

    def __init__(self, json_out: bool, agent: str | None, directory: str | None) -> None:
        self.json = json_out
        self.agent = agent
        self.directory = directory
        self._ctx: Any = None

    def ctx(self) -> Any:
        if self._ctx is None:
            from gitcoord import context

            self._ctx = context.load(self.directory, agent=self.agent)
        return self._ctx

    def close(self) -> None:
        if self._ctx is not None:
            self._ctx.close()


pass_obj = click.make_pass_decorator(Obj)


def _version(cctx: click.Context) -> None:
    """``--version``: one line, or one JSON document under --json / GITCOORD_JSON=1."""
    if _state["json"]:
        render.emit_json({"version": __version__})
    else:
        render.line(f"gitcoord, version {__version__}")
    cctx.exit(0)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--json", "json_out", is_flag=True, help="Print one JSON document on stdout (also GITCOORD_JSON=1).")
@click.option("--agent", metavar="NAME", help="Act as this agent (else GITCOORD_AGENT, the worktree's bound name, its directory name).")
@click.option("-C", "directory", metavar="DIR", help="Run as if started in DIR.")
@click.option(
    "--version", is_flag=True, expose_value=False, is_eager=True,
    callback=lambda c, _p, v: _version(c) if v else None, help="Show the version and exit.",
)
@click.pass_context
def cli(cctx: click.Context, json_out: bool, agent: str | None, directory: str | None) -> None:
    """Coordinate agents and humans working in one git repository.

    Lease the paths you will change, and gitcoord's git hooks refuse commits that
    touch paths another worktree leases; every step lands in an audit trail.

    \b
    Example:
      gitcoord init
      gitcoord lease src/foo.py --ttl 45m --reason "refactor parser"
    """
    json_out = json_out or _env_json()
    _state["json"] = json_out
    if directory is not None:
        if not os.path.isdir(directory):
            why = "is not a directory" if os.path.exists(directory) else "does not exist"
            raise click.BadParameter(f"{directory!r} {why}", param_hint="'-C'")
        directory = os.path.abspath(directory)
    obj = Obj(json_out, agent, directory)
    cctx.obj = obj
    cctx.call_on_close(obj.close)


def _time_arg(value: str, now: float) -> float:
    """A point in time: a duration ago (``30d``, ``1h``) or an ISO 8601 timestamp."""
    from datetime import datetime, timezone


    try:
        return now - parse_duration(value)
    except BadInput as e:
        as_duration = e
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        if is_duration(value):
            raise as_duration from None  # a duration, and what is wrong with it (400d: > a year)
        raise BadInput(f"bad time {value!r}: use a duration like 30d or an ISO date") from e
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


# ---------------------------------------------------------------- init / gc
@cli.command()
@pass_obj
def init(obj: Obj) -> None:
    """Create the store in the repository's common git dir.

    \b
    Example:
      gitcoord init
    """
    from gitcoord import setup

    result = setup.init(obj.ctx())
    if obj.json:
        render.emit_json(result)
    else:
        if result["started_anew"]:
            render.warn(
                "warning: the store made here before is gone: this is a new, empty one"
                " (its history, leases and claims are lost unless restored from a backup)"
            )
        render.line(f"gitcoord store ready: {result['store']} (schema {result['schema_version']})")
        hooks = result["hooks"]
        names = ", ".join(dict.fromkeys(h["hook"] for h in hooks["hooks"]))
        render.line(f"git hooks for every worktree in {', '.join(hooks['hooks_dirs'])}: {names}")
        for note in hooks.get("notes", []):
            render.line(note)
        for warning in hooks.get("warnings", []):
            render.warn(f"warning: {warning.replace('warning: ', '')}")


@cli.command()
@pass_obj
def gc(obj: Obj) -> None:
    """Reap leases and claims of worktrees that no longer exist (audited).

    \b
    Example:
      gitcoord gc
    """
    from gitcoord import setup

    reaped, reaped_claims = setup.gc(obj.ctx())
    if obj.json:
        render.emit_json(
            {
                "reaped": [lease.to_json() for lease in reaped],
                "reaped_claims": [c.to_json() for c in reaped_claims],
            }
        )
    else:
        render.line(
            f"reaped {len(reaped)} lease(s) and {len(reaped_claims)} claim(s) of vanished worktrees"
        )
        for lease in reaped:
            render.line(f"  {lease.pattern}  ({lease.holder.agent}, {lease.holder.worktree})")
        for c in reaped_claims:
            render.line(f"  task {c.task}  ({c.holder.agent}, {c.holder.worktree})")


# ---------------------------------------------------------------- leases
@cli.command()
@click.argument("patterns", nargs=-1, required=True)
@click.option("--ttl", metavar="DURATION", help="How long the lease lasts (default 30m or gitcoord.leaseTtl).")
@click.option("--shared", is_flag=True, help="Shared lease: conflicts only with exclusive ones.")
@click.option("--reason", metavar="TEXT", help="Why you need it; shown to anyone denied.")
@click.option("--task", metavar="ID", help="The task this work belongs to.")
@click.option("--wait", metavar="DURATION", help="Keep trying this long before giving up.")
@pass_obj
def lease(
    obj: Obj,
    patterns: tuple[str, ...],
    ttl: str | None,
    shared: bool,
    reason: str | None,
    task: str | None,
    wait: str | None,
) -> None:
    """Lease paths: files, directories (subtree) or globs. All or nothing.

    Exits 1 naming each conflict (pattern, holder, expiry, reason, witness path).

    \b
    Example:
      gitcoord lease src/foo.py 'docs/**/*.md' --ttl 45m --reason "api rename"
    """
    from gitcoord import leases

    ttl_s, wait_s = optional_ttl(ttl), optional_duration(wait)
    result = leases.acquire(
        obj.ctx(), patterns, exclusive=not shared, ttl=ttl_s, reason=reason, task=task, wait=wait_s
    )
    if obj.json:
        render.emit_json(result.to_json())
        return
    for lease_ in result.granted:
        render.line(f"granted {lease_.pattern} (lease {lease_.id}, epoch {lease_.epoch}, {'exclusive' if lease_.exclusive else 'shared'}, expires in {render.format_duration(lease_.expires_at - result.now)})")
    for lease_ in result.renewed:
        render.line(f"renewed {lease_.pattern} (lease {lease_.id}, epoch {lease_.epoch}, expires in {render.format_duration(lease_.expires_at - result.now)})")
    for s in result.stale:
        render.warn(
            f"warning: {s.path} is already stale: {s.integration_ref} changed it in "
            f"{', '.join(c[:12] for c in s.commits) or s.integration_tip[:12]}; run `{s.fix()}` before editing"
        )


@cli.command()
@click.option("--ttl", metavar="DURATION", help="New TTL (default: each lease's own).")
@pass_obj
def renew(obj: Obj, ttl: str | None) -> None:
    """Extend all of your leases and claims (heartbeat).

    Exits 1 if a claim of yours expired and was re-granted to someone else
    (superseded): stop working on that task.

    \b
    Example:
      gitcoord renew --ttl 1h
    """
    from gitcoord import claims, leases

    ctx = obj.ctx()
    ttl_s = optional_ttl(ttl)
    renewed = leases.renew(ctx, ttl=ttl_s)
    claimed = claims.renew(ctx, ttl=ttl_s)
    if obj.json:
        render.emit_json(
            {
                "renewed": [lease_.to_json() for lease_ in renewed],
                "claims": [c.to_json(claimed.now) for c in claimed.renewed],
                "superseded": [claims.superseded_json(o, n) for o, n in claimed.superseded],
            }
        )
    else:
        render.line(f"renewed {len(renewed)} lease(s) and {len(claimed.renewed)} claim(s)")
    err = claimed.error()
    if err is not None:
        raise err


@cli.command()
@click.argument("patterns", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Release every lease you hold.")
@click.option("--force", is_flag=True, help="Release another holder's lease (audited; they get a message).")
@pass_obj
def release(obj: Obj, patterns: tuple[str, ...], all_: bool, force: bool) -> None:
    """Release leases.

    \b
    Example:
      gitcoord release src/foo.py
      gitcoord release --all
    """
    from gitcoord import leases

    released = leases.release(obj.ctx(), patterns, all_=all_, force=force)
    if obj.json:
        render.emit_json({"released": [lease_.to_json() for lease_ in released]})
    else:
        for lease_ in released:
            who = "" if not force else f" (held by {lease_.holder.agent})"
            render.line(f"released {lease_.pattern}{who}")
        if not released:
            render.line("nothing to release")


@cli.command("leases")
@click.option("--all", "all_", is_flag=True, help="Include released and expired leases (history).")
@click.option("--mine", is_flag=True, help="Only your leases.")
@pass_obj
def leases_cmd(obj: Obj, all_: bool, mine: bool) -> None:
    """List active leases.

    \b
    Example:
      gitcoord leases --mine
    """
    from gitcoord import leases

    items, now = leases.list_leases(obj.ctx(), all_=all_, mine=mine)
    if obj.json:
        render.emit_json({"leases": [lease_.to_json(now) for lease_ in items]})
    elif not items:
        render.line("no leases")
    else:
        render.table(None, render.LEASE_COLUMNS, render.lease_rows(items, now))


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@pass_obj
def read(obj: Obj, paths: tuple[str, ...]) -> None:
    """Record the blobs you based your work on (read set), without leasing.

    Hooks warn (or, with gitcoord.strictReads, refuse) when the integration
    line changes them.

    \b
    Example:
      gitcoord read src/api.py src/models.py
    """
    from gitcoord import leases

    reads = leases.record_reads(obj.ctx(), paths)
    if obj.json:
        render.emit_json({"reads": [r.to_json() for r in reads]})
    else:
        for r in reads:
            render.line(f"read {r.path} @ {r.blob[:12] if r.blob else '(absent)'}")


# ---------------------------------------------------------------- status
def _finite_watch(value: float | None) -> float | None:
    if value is not None and value != value:  # NaN passes every comparison of FloatRange
        raise click.BadParameter("not a number", param_hint="'--watch'")
    return value


@cli.command()
@click.option("--exit-code", is_flag=True, help="Exit 1 when any conflict exists (for CI and scripts).")
@click.option(
    "--watch",
    type=click.FloatRange(min=0.2, max=86400.0),  # (and not NaN: _finite_watch)
    callback=lambda _c, _p, v: _finite_watch(v),
    is_flag=False,
    flag_value=2.0,
    default=None,
    metavar="[SECONDS]",
    help="Refresh in place every SECONDS (default 2) until interrupted.",
)
@click.option("--worktree", "worktree_filter", metavar="PATH", help="Only this worktree.")
@click.option("--agent", "agent_filter", metavar="NAME", help="Only this agent's worktrees.")
@click.option("--since", metavar="WHEN", default="1d", show_default=True, help="How far back refusals, bypasses and violations count.")
@pass_obj
def status(
    obj: Obj,
    exit_code: bool,
    watch: float | None,
    worktree_filter: str | None,
    agent_filter: str | None,
    since: str,
) -> None:
    """Who holds what, and where work collides: worktrees, claims, leases, conflicts.

    Each conflict names its severity and the next step (a command).

    \b
    Example:
      gitcoord status
      gitcoord status --json --exit-code
      gitcoord status --watch 5 --agent bob
    """
    from gitcoord import status as status_mod

    ctx = obj.ctx()
    recent = parse_duration(since)
    wt = None
    if worktree_filter is not None:
        wt = str(Path(worktree_filter).resolve())

    def snap() -> Any:
        return status_mod.collect(ctx, worktree=wt, agent=agent_filter, recent=recent)

    if watch is not None and not obj.json:
        import time

        from rich.console import Console
        from rich.live import Live

        console = Console(highlight=False)
        try:
            if console.is_terminal:
                with Live(render.status_view(snap()), console=console, auto_refresh=False) as live:
                    while True:
                        time.sleep(watch)
                        live.update(render.status_view(snap()), refresh=True)
            else:  # piped: one frame per refresh, like watch(1) into a file
                while True:
                    console.print(render.status_view(snap()))
                    console.print()
                    sys.stdout.flush()
                    time.sleep(watch)
        except KeyboardInterrupt:
            return
    report = snap()
    if obj.json:
        render.emit_json(report.to_json())
    else:
        render.print_status(report)
    if exit_code and report.conflicts:
        sys.exit(1)


# ---------------------------------------------------------------- audit
@cli.command("log")
@click.option("--agent", "agent_filter", metavar="NAME", help="Only this agent's events.")
@click.option("--path", metavar="PATH", help="Only events about this path (or below it).")
@click.option("--task", metavar="ID", help="Only events about this task.")
@click.option("--kind", "kinds", metavar="KIND", multiple=True, help="Only this kind (repeatable), e.g. lease.denied.")
@click.option("--since", metavar="WHEN", help="Newer than a duration ago (1h, 2d) or an ISO time.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many (newest).")
@pass_obj
def log_cmd(
    obj: Obj,
    agent_filter: str | None,
    path: str | None,
    task: str | None,
    kinds: tuple[str, ...],
    since: str | None,
    limit: int | None,
) -> None:
    """Show the audit trail.

    \b
    Example:
      gitcoord log --path src/foo.py --since 1d
    """
    from gitcoord import audit
    from gitcoord import paths as paths_mod

    ctx = obj.ctx()
    pattern = None
    if path is not None:
        pattern = paths_mod.parse_pattern(path, cwd=ctx.cwd, root=ctx.repo.root)
    with ctx.store().snapshot() as tx:
        events = audit.log(
            tx,
            kinds=kinds or None,
            agent=agent_filter,
            pattern=pattern,
            task=task,
            since=_time_arg(since, tx.now) if since is not None else None,
            limit=limit,
        )
    if obj.json:
        render.emit_json({"events": [e.to_json() for e in events]})
    elif not events:
        render.line("no events")
    else:
        render.table(None, render.EVENT_COLUMNS, render.event_rows(events))


@cli.command()
@click.option(
    "--format", "fmt", type=click.Choice(["json", "jsonl"]), default="json", show_default=True,
    help="json: one document {\"events\": [...]}; jsonl: one event per line (JSON Lines, also under --json).",
)
@pass_obj
def export(obj: Obj, fmt: str) -> None:
    """Dump the whole audit trail: every event with its hash chain and paths.

    \b
    Example:
      gitcoord export --format jsonl > audit.jsonl
    """
    from gitcoord import audit

    with obj.ctx().store().snapshot() as tx:
        events = audit.dump(tx)
    if fmt == "jsonl":
        render.emit_jsonl(events)
    else:
        render.emit_json({"events": events})


@cli.command()
@click.option("--before", metavar="WHEN", required=True, help="Delete events older than this (30d, or an ISO time).")
@pass_obj
def prune(obj: Obj, before: str) -> None:
    """Trim old audit history; the chain stays verifiable.

    \b
    Example:
      gitcoord prune --before 90d
    """
    from gitcoord import audit

    ctx = obj.ctx()
    holder = ctx.holder()
    with ctx.store().transaction() as tx:
        deleted = audit.prune(tx, _time_arg(before, tx.now), holder)
    if obj.json:
        render.emit_json({"deleted": deleted})
    else:
        render.line(f"pruned {deleted} event(s)")


@cli.group("audit")
def audit_group() -> None:
    """Audit-trail integrity.

    \b
    Example:
      gitcoord audit verify
    """


@audit_group.command()
@pass_obj
def verify(obj: Obj) -> None:
    """Check the hash chain; exit 1 if any event was changed, removed or inserted.

    \b
    Example:
      gitcoord audit verify
    """
    from gitcoord import audit

    with obj.ctx().store().snapshot() as tx:
        result = audit.verify(tx)
    if obj.json:
        render.emit_json(result.to_json())
    elif result.ok:
        render.line(f"audit trail intact: {result.checked} event(s) verified")
    else:
        for p in result.problems:
            render.line(f"event {p['seq']}: {p['problem']}")
    if not result.ok:
        sys.exit(1)


# ---------------------------------------------------------------- entry point
def _crash_log(exc: BaseException) -> str | None:
    """Write the traceback under the gitcoord dir (or the temp dir) and return its path."""
    import tempfile
    import traceback
    from datetime import datetime, timezone

    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    candidates: list[Path] = []
    try:
        from gitcoord import gitrepo
        from gitcoord.store import store_dir

        candidates.append(store_dir(gitrepo.discover().common_dir))
    except Exception:
        pass
    candidates.append(Path(tempfile.gettempdir()))
    for d in candidates:
        try:
            d.mkdir(parents=True, exist_ok=True)
            p = d / "gitcoord-crash.log"
            with p.open("a") as f:
                f.write(f"--- {datetime.now(timezone.utc).isoformat()} {sys.argv!r}\n{text}\n")
            return str(p)
        except OSError:
            continue
    return None


def _check_utf8(args: list[str]) -> None:
    """Every argument is text the store can hold: bytes that are not UTF-8 (which Python
    hands over as lone surrogates) are bad input, refused before anything happens."""
    for i, arg in enumerate(args, 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            shown = arg.encode("utf-8", "backslashreplace").decode("utf-8")
            raise BadInput(f"argument {i} ({shown}) is not valid UTF-8") from None


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    # `--json` is accepted anywhere before `--` (gitcoord status --json), and known before
    # click parses anything, so even a usage error is reported as JSON.
    end = args.index("--") if "--" in args else len(args)
    if "--json" in args[:end]:
        args = ["--json"] + [a for i, a in enumerate(args) if not (a == "--json" and i < end)]
    _state["json"] = "--json" in args[:1] or _env_json()
    try:
        _check_utf8(args)
        cli.main(args=args, prog_name="gitcoord", standalone_mode=False)
    except GitcoordError as e:
        render.error(e.message, e.code, bool(_state["json"]), e.details)
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        render.error("interrupted", "interrupted", bool(_state["json"]))
        sys.exit(130)
    except click.exceptions.ClickException as e:
        if _state["json"]:
            render.error(e.format_message(), "usage", True)
        else:
            e.show()
        sys.exit(2 if isinstance(e, click.UsageError) else e.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except SystemExit:
        raise
    except BrokenPipeError:
        sys.exit(0)
    except Exception as e:  # internal error: no traceback for the user, a crash log instead
        where = _crash_log(e)
        render.error(
            f"internal error: {type(e).__name__}: {e}" + (f" (details in {where})" if where else ""),
            "internal",
            bool(_state["json"]),
        )
        sys.exit(3)


def _register_extensions() -> None:
    from gitcoord import cli_check, cli_hooks, cli_tasks

    cli_tasks.register(cli)
    cli_hooks.register(cli)
    cli_check.register(cli)


_register_extensions()
