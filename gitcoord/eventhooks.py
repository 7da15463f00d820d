"""Event hooks: run a configured command for each audit event of a committed transaction.

Configure with git config, per event kind or family::

    git config gitcoord.on.task.done 'notify-send "$(jq -r .subject)" done'
    git config gitcoord.on.lease 'logger -t gitcoord'      # every lease.* event
    git config gitcoord.on.all 'cat >> /tmp/gitcoord-events.jsonl'   # every event

Git config variable names cannot contain ``_`` or ``*``: a key matches an event kind
with ``-`` for ``_`` (``gitcoord.on.lease.force-released``), and ``all`` (or ``*``
when settings are built in code) is the catch-all.

Each command runs with ``sh -c`` in the worktree of the process that made the change,
gets the event as one JSON document on stdin (and ``GITCOORD_EVENT``,
``GITCOORD_EVENT_SEQ`` in its environment). Its own exit status counts (a
background job it leaves running is not waited for). The hooks one transaction
fires share one timeout (``gitcoord.hookTimeout``, default 30s): a command still
running then is killed, and one that would start after it is recorded as failed
without running. Hooks run after the transaction committed,
so the event is already in the audit trail whatever a hook does; a hook that fails
or times out is recorded as a ``hook.failed`` event (in its own transaction, which
runs no hooks). Gitcoord commands run *by* a hook run no hooks themselves, so a hook
cannot loop.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from gitcoord.models import Event

if TYPE_CHECKING:
    from gitcoord.context import Context
    from gitcoord.store import Store

TAIL_LINES = 20
TAIL_CHARS = 4000  # one long line must not flood the audit trail or the terminal
IN_HOOK_ENV = "GITCOORD_IN_EVENT_HOOK"
CATCH_ALL = ("*", "all")


@dataclass(frozen=True, slots=True)
class ShellResult:
    command: str
    code: int | None  # None: did not finish (timeout) or could not start
    output: str  # stdout and stderr, interleaved
    timed_out: bool = False
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.code == 0 and not self.timed_out and self.error is None

    def tail(self, lines: int = TAIL_LINES, chars: int = TAIL_CHARS) -> str:
        """The last ``lines`` lines, and at most their last ``chars`` characters."""
        text = "\n".join(self.output.rstrip("\n").splitlines()[-lines:])
        return text if len(text) <= chars else "…" + text[-(chars - 1) :]

    def describe(self) -> str:
        if self.error is not None:
            return f"could not run: {self.error}"
        if self.timed_out:
            return "timed out"
        return f"exit code {self.code}"


def run_shell(
    command: str,
    *,
    cwd: str | os.PathLike[str],
    stdin: bytes | None = None,
    timeout: float,
    env: Mapping[str, str] | None = None,
) -> ShellResult:
    """Run ``sh -c command`` in its own process group and wait for that shell (not for
    whatever it left running in the background); kill the whole group on timeout.

    Its stdin and output are temporary files, not pipes: a background job that keeps
    them open cannot hold us up, and a command that never reads its stdin cannot
    block us writing it. Only the output's tail is kept (:data:`OUTPUT_KEEP` bytes)."""
    import tempfile

    from gitcoord.gitrepo import no_git_env

    full_env = no_git_env()
    if env:
        full_env.update(env)
    try:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as given:
            if stdin is not None:
                given.write(stdin)
                given.seek(0)
            return _run(command, cwd, full_env, given if stdin is not None else None, out, timeout)
    except OSError as e:  # (no room for the temporary files, or none can be made)
        return ShellResult(command, None, "", error=str(e))


def _run(
    command: str,
    cwd: str | os.PathLike[str],
    env: dict[str, str],
    given: IO[bytes] | None,
    out: IO[bytes],
    timeout: float,
) -> ShellResult:
    try:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", command],
            cwd=cwd,
            env=env,
            stdin=given if given is not None else subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as e:
        return ShellResult(command, None, "", error=str(e))
    code: int | None = None
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    finally:
        if proc.returncode is None:  # timed out, or we were interrupted: leave nothing running
            _kill_group(proc)
            proc.wait()
    return ShellResult(command, code, _tail_of(out), timed_out=code is None)


OUTPUT_KEEP = 64 * 1024  # bytes of a command's output kept (its tail)


def _tail_of(f: IO[bytes]) -> str:
    size = f.seek(0, os.SEEK_END)
    f.seek(max(0, size - OUTPUT_KEEP))
    return _text(f.read())


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()


def _text(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", errors="replace")


def _norm(kind: str) -> str:
    return kind.strip().lower().replace("_", "-")


def commands_for(kind: str, hooks: Mapping[str, str]) -> list[tuple[str, str]]:
    """(configured key, command) of every hook that fires for ``kind``: exact kind,
    a family prefix (``task`` for ``task.done``), or the catch-all."""
    k = _norm(kind)
    out = []
    for key, command in hooks.items():
        if not command.strip():
            continue
        nk = _norm(key)
        if nk in CATCH_ALL or nk == k or k.startswith(nk + "."):
            out.append((key, command))
    return out


class Dispatcher:
    """``Store.on_commit``: runs the hooks of each committed event, records failures."""

    def __init__(self, ctx: Context, store: Store, hooks: Mapping[str, str], timeout: float) -> None:
        self.ctx = ctx
        self.store = store
        self.hooks = dict(hooks)
        self.timeout = timeout
        self.cwd: Path = ctx.repo.root

    def __call__(self, events: list[Event]) -> None:
        failures: list[tuple[Event, str, ShellResult]] = []
        # One budget for all the hooks of one commit: N events with a hanging hook
        # cost one timeout, not N.
        deadline = time.monotonic() + self.timeout
        for event in events:
            if event.kind.startswith("hook."):
                continue
            todo = commands_for(event.kind, self.hooks)
            if not todo:
                continue
            payload = (json.dumps(event.to_json(), ensure_ascii=False) + "\n").encode()
            env = {
                IN_HOOK_ENV: "1",
                "GITCOORD_EVENT": event.kind,
                "GITCOORD_EVENT_SEQ": str(event.seq),
            }
            for key, command in todo:
                left = deadline - time.monotonic()
                try:
                    if left <= 0:
                        result = ShellResult(
                            command, None, "", error="not run: the hooks before it used up"
                            f" gitcoord.hookTimeout ({self.timeout:g}s)",
                        )
                    else:
                        result = run_shell(command, cwd=self.cwd, stdin=payload, timeout=left, env=env)
                except Exception as e:  # never fatal
                    result = ShellResult(command, None, "", error=f"{type(e).__name__}: {e}")
                if not result.ok:
                    failures.append((event, key, result))
        if failures:
            self._record(failures)

    def _record(self, failures: list[tuple[Event, str, ShellResult]]) -> None:
        """One transaction of ``hook.failed`` events; it triggers no hooks itself."""
        from gitcoord import audit

        saved = self.store.on_commit
        self.store.on_commit = None
        try:
            holder = self.ctx.holder()
            with self.store.transaction() as tx:
                for event, key, result in failures:
                    details: dict[str, Any] = {
                        "event_seq": event.seq,
                        "event_kind": event.kind,
                        "event_hash": event.hash,
                        "hook": f"gitcoord.on.{key}",
                        "command": result.command,
                        "exit_code": result.code,
                        "timed_out": result.timed_out,
                        "error": result.error,
                        "output_tail": result.tail(),
                    }
                    task = event.details.get("task")
                    audit.append(
                        tx,
                        "hook.failed",
                        holder,
                        subject=event.kind,
                        details=details,
                        task=task if isinstance(task, str) else None,
                    )
        except Exception:  # a failing hook must never fail the command that fired it
            pass
        finally:
            self.store.on_commit = saved


def attach(ctx: Context, store: Store) -> None:
    """Install the dispatcher on ``store`` if hooks are configured (and we are not
    ourselves running inside an event hook)."""
    if not ctx.settings.event_hooks or os.environ.get(IN_HOOK_ENV):
        return
    store.on_commit = Dispatcher(ctx, store, ctx.settings.event_hooks, ctx.settings.hook_timeout)
