#!/usr/bin/env python3
"""What the edit guard adds to an agent's edit, against a reference minimal guard.

A 10,000-file repository (``fixtures.repos.recipes.wide_tree``) and a linked worktree
of another holder that leases 10,000 paths (9,000 files of the tree, 1,000 elsewhere),
inserted through the store API in one transaction. The edit comes from the main
worktree: Claude Code's ``PreToolUse`` JSON on stdin, the hook command run by
``/bin/sh -c`` as Claude Code runs it. Each round runs both guards, in alternating
order:

* the reference guard: a Python script that parses the JSON and runs one SQLite query
  (the edited path and its ancestors as lease keys, another holder's, active), with the
  store's path and the worktree written into it;
* ``gitcoord guard``, the command ``gitcoord install --claude`` writes, found on PATH
  (a console-script wrapper for this checkout, as pip writes one).

A guard's run is all it adds to an edit, so the ratio is gitcoord's time over the
reference's: the median of the rounds' paired ratios, wall clock and CPU (the guard's
processes, git config included). Target: <= 1.2x for an edit no lease covers. Two more
rows: an edit another holder's lease covers (the core words the denial and records
``edit.denied``), and, with ``gitcoord.autoLease``, an edit of a path this worktree
already leases.

    python benchmarks/bench_guard.py [--quick]
"""

from __future__ import annotations

import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_hooks import _cpu, _ms  # noqa: E402  (the same measures as the commit bench)

REFERENCE_GUARD = r'''
import json, os, sqlite3, sys, time
data = json.load(sys.stdin)
path = os.path.relpath(data["tool_input"]["file_path"], WORKTREE)
keys = [path, ""] + [path[:i] for i, c in enumerate(path) if c == "/"]
conn = sqlite3.connect(DB)
row = conn.execute(
    "SELECT pattern, agent FROM leases WHERE state = 'active' AND expires_at > ?"
    f" AND key IN ({','.join('?' * len(keys))}) AND NOT (worktree = ? AND host = ?) LIMIT 1",
    (time.time(), *keys, WORKTREE, HOST),
).fetchone()
if row is not None:
    print(json.dumps({"hookSpecificOutput": {"hookEventName": "PreToolUse",
        "permissionDecision": "deny", "permissionDecisionReason": f"{path}: leased by {row[1]}"}}))
'''

WRAPPER = """#!{python}
# -*- coding: utf-8 -*-
import re
import sys
from gitcoord.__main__ import main
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit(main())
"""


def _env(bindir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "GITCOORD_"))}
    env.update(
        GIT_AUTHOR_NAME="Bench", GIT_AUTHOR_EMAIL="b@example.com",
        GIT_COMMITTER_NAME="Bench", GIT_COMMITTER_EMAIL="b@example.com",
        PYTHONPATH=str(ROOT), PATH=str(bindir) + os.pathsep + env.get("PATH", ""),
    )
    return env


def _git(cwd: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def _setup(base: Path) -> tuple[Path, Path, Path]:
    """(the repository, a bin directory with the gitcoord wrapper, the reference guard)."""
    from fixtures.repos.recipes import lease_for_another, wide_tree
    from gitcoord import claude_settings
    from gitcoord.gitrepo import host_id

    repo = wide_tree(base)
    other_wt = base / "wt-other"
    _git(repo, "worktree", "add", "-q", "-b", "other", str(other_wt), "main")
    db = lease_for_another(repo, other_wt.resolve())
    claude_settings.install(repo)
    bindir = base / "bin"
    bindir.mkdir()
    wrapper = bindir / "gitcoord"
    wrapper.write_text(WRAPPER.format(python=sys.executable))
    wrapper.chmod(0o755)
    ref = base / "reference_guard.py"
    ref.write_text(
        f"DB = {str(db)!r}\nWORKTREE = {str(repo.resolve())!r}\nHOST = {host_id()!r}\n" + REFERENCE_GUARD
    )
    return repo.resolve(), bindir, ref


def _payload(repo: Path, path: str) -> bytes:
    return json.dumps({
        "session_id": "bench", "transcript_path": "/dev/null", "cwd": str(repo),
        "permission_mode": "default", "hook_event_name": "PreToolUse", "tool_name": "Edit",
        "tool_input": {"file_path": str(repo / path), "old_string": "a", "new_string": "b"},
    }).encode()


def _run(command: str, repo: Path, env: dict[str, str], payload: bytes, expect_deny: bool) -> tuple[float, float]:
    c0 = _cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(["/bin/sh", "-c", command], cwd=repo, env=env, input=payload, capture_output=True)
    elapsed = time.perf_counter() - t0
    cpu = _cpu() - c0
    denied = b'"deny"' in proc.stdout
    if proc.returncode != 0 or denied != expect_deny:
        raise RuntimeError(f"{command!r}: exit {proc.returncode}, {proc.stdout!r} {proc.stderr!r}")
    return elapsed, cpu


def _measure(repo: Path, env: dict[str, str], commands: dict[str, str], path: str, deny: bool, rounds: int) -> dict[str, float]:
    payload = _payload(repo, path)
    for command in commands.values():  # warm the caches once
        _run(command, repo, env, payload, deny)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    names = list(commands)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:  # paired, alternating order
            times[name].append(_run(commands[name], repo, env, payload, deny))
    out: dict[str, float] = {}
    for k, suffix in ((0, ""), (1, "_cpu")):
        ref = [t[k] for t in times["reference"]]
        gc = [t[k] for t in times["gitcoord"]]
        out["reference" + suffix] = statistics.median(ref)
        out["gitcoord" + suffix] = statistics.median(gc)
        out["ratio" + suffix] = statistics.median(g / r for g, r in zip(gc, ref, strict=True))
    return out


def _row(label: str, m: dict[str, float], target: float | None) -> str:
    cells = [label]
    for suffix in ("", "_cpu"):
        met = m["ratio" + suffix] <= target if target is not None else None
        cells += [
            f"{_ms(m['reference' + suffix])} / {_ms(m['gitcoord' + suffix])}",
            f"**{m['ratio' + suffix]:.2f}x**" + {None: "", True: " met", False: " MISSED"}[met],
        ]
    return "| " + " | ".join([*cells, f"<= {target}x" if target is not None else "-"]) + " |"


def run(quick: bool) -> str:
    compileall.compile_dir(str(ROOT / "gitcoord"), quiet=1)
    rounds = 7 if quick else 41
    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-guard-") as d:
        repo, bindir, ref = _setup(Path(d))
        env = _env(bindir)
        settings = json.loads((repo / ".claude" / "settings.json").read_text())
        [command] = [h["command"] for e in settings["hooks"]["PreToolUse"] for h in e["hooks"]]
        commands = {"reference": f"'{sys.executable}' '{ref}'", "gitcoord": command}
        rows.append(_row("edit of a path no lease covers (allowed)", _measure(repo, env, commands, "pkg000/mod000.py", False, rounds), 1.2))
        rows.append(_row("edit of a path another holder leases (denied, `edit.denied` recorded)", _measure(repo, env, commands, "pkg050/mod007.py", True, rounds), None))
        _git(repo, "config", "gitcoord.autoLease", "true")
        _run(command, repo, env, _payload(repo, "pkg001/mod001.py"), False)  # leases it
        rows.append(_row("autoLease: edit of a path this worktree leases (allowed)", _measure(repo, env, commands, "pkg001/mod001.py", False, rounds), None))
    head = [
        "## Edit guard: what an edit pays for `gitcoord guard`",
        "",
        f"`benchmarks/bench_guard.py{' --quick' if quick else ''}`: a 10,000-file repository, another",
        "worktree's 10,000 active leases, an Edit from the main worktree. Each round runs the",
        "reference guard (a Python script: parse the hook's JSON, one SQLite query) and the",
        f"command `gitcoord install --claude` writes (`{command}`), both by `/bin/sh -c`, in",
        f"alternating order; medians of {rounds} rounds, the ratio the median of the rounds' paired",
        "ratios. A guard's whole run is what it adds to the edit. CPU time counts every process",
        "of the guard (git config included).",
        f"Load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs.",
        "",
        "| edit | wall: reference / gitcoord | wall ratio | CPU: reference / gitcoord | CPU ratio | target |",
        "|---|---|---|---|---|---|",
    ]
    return "\n".join(head + rows) + "\n"


if __name__ == "__main__":
    print(run("--quick" in sys.argv))
