#!/usr/bin/env python3
"""What gitcoord's hooks add to a commit, against a reference minimal hook.

A 10,000-file repository (``fixtures.repos.recipes.wide_tree``), a worktree branch off
``main``, and 10,000 active leases of another holder (9,000 on files of the tree that the
commits do not touch, 1,000 on paths elsewhere), inserted through the store API in one
transaction. Commits of 1 file and of 1,000 files are timed (wall clock of ``git commit``)
in three set-ups, alternating within each round:

* no hooks (``core.hooksPath`` pointing at an empty directory);
* the reference hook: a ``/bin/sh`` shim exec'ing a minimal Python ``pre-commit`` that runs
  one ``git diff --cached -z`` and one SQLite query per staged path (that path and its
  ancestors as lease keys);
* gitcoord's hooks as ``gitcoord install`` writes them (pre-commit and the journaling
  post-commit included).

"Adds" is the commit's median wall time minus the no-hooks median of the same round;
the ratio compares what gitcoord adds with what the reference adds. Targets: <= 1.2x for
1 file, <= 1.5x for 1,000 files. One more row shows a commit the fast path cannot prove
clean (another holder's glob lease in the same directory), which runs the full check, and
one of a branch behind ``main`` (the fast path then also runs the stale-read predicate).

Bytecode is compiled first (``compileall``), as an installed package has it.

    python benchmarks/bench_hooks.py [--quick]
"""

from __future__ import annotations

import compileall
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

REFERENCE_HOOK = r'''
import os, sqlite3, subprocess, sys, time
out = subprocess.run(["git", "diff", "--cached", "--name-only", "-z"], capture_output=True).stdout
paths = [p for p in out.decode().split("\0") if p]
conn = sqlite3.connect(DB)
now = time.time()
me = os.path.realpath(os.getcwd())
for p in paths:
    keys = [p, ""] + [p[:i] for i, c in enumerate(p) if c == "/"]
    marks = ",".join("?" * len(keys))
    for worktree, kind in conn.execute(
        f"SELECT worktree, kind FROM leases WHERE state = 'active' AND expires_at > ? AND key IN ({marks})",
        (now, *keys),
    ):
        if worktree != me and kind != "glob":  # (too minimal to evaluate globs)
            sys.stderr.write(f"{p}: leased\n")
            sys.exit(1)
sys.exit(0)
'''


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_AUTHOR_NAME="Bench", GIT_AUTHOR_EMAIL="b@example.com",
        GIT_COMMITTER_NAME="Bench", GIT_COMMITTER_EMAIL="b@example.com",
        PYTHONPATH=str(ROOT),
    )
    return env


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=_env(), check=True, capture_output=True, text=True).stdout


def _setup(base: Path) -> tuple[Path, dict[str, Path]]:
    from fixtures.repos.recipes import lease_for_another, wide_tree
    from gitcoord import install

    repo = wide_tree(base)
    _git(repo, "checkout", "-q", "-b", "work")
    other_wt = base / "elsewhere" / "wt-other"
    other_wt.mkdir(parents=True)  # a lease whose worktree is gone is void
    db = lease_for_another(repo, other_wt)
    dirs = {name: base / "hooks" / name for name in ("none", "reference", "gitcoord")}
    for d in dirs.values():
        d.mkdir(parents=True)
    ref = base / "reference_hook.py"
    ref.write_text(f"DB = {str(db)!r}\n" + REFERENCE_HOOK)
    shim = dirs["reference"] / "pre-commit"
    shim.write_text(f"#!/bin/sh\nexec '{sys.executable}' '{ref}' \"$@\"\n")
    shim.chmod(0o755)
    for hook in install.CLIENT_HOOKS:
        p = dirs["gitcoord"] / hook
        p.write_text(install.render(hook, sys.executable))
        p.chmod(0o755)
    return repo, dirs


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _commit(repo: Path, hooks: Path, files: list[str], n: int) -> tuple[float, float]:
    """Wall time and CPU time (every process of the commit, hooks included)."""
    for f in files:
        (repo / f).write_text(f"bench {n}\n")
    _git(repo, "add", "--", *files)
    c0 = _cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(
        ["git", "-c", f"core.hooksPath={hooks}", "commit", "-q", "-m", f"bench {n}"],
        cwd=repo, env=_env(), capture_output=True, text=True,
    )
    elapsed = time.perf_counter() - t0
    cpu = _cpu() - c0
    if proc.returncode != 0:
        raise RuntimeError(f"commit failed with {hooks.name} hooks: {proc.stdout}{proc.stderr}")
    return elapsed, cpu


def _measure(repo: Path, dirs: dict[str, Path], files: list[str], rounds: int) -> dict[str, float]:
    names = list(dirs)
    raw: dict[tuple[str, int], list[float]] = {(n, k): [] for n in names for k in (0, 1)}
    added: dict[tuple[str, int], list[float]] = {(n, k): [] for n in ("reference", "gitcoord") for k in (0, 1)}
    n = 0
    _commit(repo, dirs["gitcoord"], files, n)  # warm caches once
    for r in range(rounds):
        order = names[r % 3 :] + names[: r % 3]  # A/B alternating: every order in turn
        t: dict[str, tuple[float, float]] = {}
        for name in order:
            n += 1
            t[name] = _commit(repo, dirs[name], files, n)
            for k in (0, 1):
                raw[(name, k)].append(t[name][k])
        for name in ("reference", "gitcoord"):
            for k in (0, 1):
                added[(name, k)].append(t[name][k] - t["none"][k])
    out: dict[str, float] = {}
    for k, suffix in ((0, ""), (1, "_cpu")):
        out["none" + suffix] = statistics.median(raw[("none", k)])
        out["reference" + suffix] = statistics.median(raw[("reference", k)])
        out["gitcoord" + suffix] = statistics.median(raw[("gitcoord", k)])
        out["ref_added" + suffix] = statistics.median(added[("reference", k)])
        out["gc_added" + suffix] = statistics.median(added[("gitcoord", k)])
    return out


def _row(label: str, m: dict[str, float], target: float | None) -> str:
    cells = [label]
    for suffix in ("", "_cpu"):
        ratio = m["gc_added" + suffix] / m["ref_added" + suffix] if m["ref_added" + suffix] > 0 else float("nan")
        verdict = "" if target is None else (" met" if ratio <= target else " MISSED")
        cells.append(
            f"{_ms(m['none' + suffix])} / {_ms(m['reference' + suffix])} / {_ms(m['gitcoord' + suffix])}"
        )
        cells.append(f"{_ms(m['ref_added' + suffix])} / {_ms(m['gc_added' + suffix])}")
        cells.append(f"**{ratio:.2f}x**{verdict}")
    cells.append(f"<= {target}x" if target is not None else "-")
    return "| " + " | ".join(cells) + " |"


def _ms(x: float) -> str:
    return f"{x * 1000:.1f} ms"


def run(quick: bool) -> str:
    compileall.compile_dir(str(ROOT / "gitcoord"), quiet=1)
    rounds = 5 if quick else 31  # the 1-file ratio swung 1.04-1.28x between runs at 15
    one = ["pkg000/mod000.py"]
    thousand = [f"pkg{d:03d}/mod{f:03d}.py" for d in range(10) for f in range(100)]
    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-hooks-") as d:
        repo, dirs = _setup(Path(d))
        for label, files, target in (("1 file", one, 1.2), ("1,000 files", thousand, 1.5)):
            rows.append(_row(label, _measure(repo, dirs, files, rounds), target))
        # main moves on (a file the commits do not touch): the branch is behind it now.
        _git(repo, "checkout", "-q", "main")
        (repo / "pkg050" / "mod000.py").write_text("main moved\n")
        _git(repo, "-c", f"core.hooksPath={dirs['none']}", "commit", "-q", "-am", "main moves")
        _git(repo, "checkout", "-q", "work")
        rows.append(_row("1 file, branch behind main", _measure(repo, dirs, one, rounds), None))
        # The full check: another holder's glob lease next to the staged file.
        from gitcoord import context

        ctx = context.load(repo, agent="other")
        try:
            from gitcoord.gitrepo import host_id
            from gitcoord.models import Holder
            from gitcoord.store.base import NewLease

            other = Holder(worktree=str(Path(d) / "elsewhere" / "wt-other"), host=host_id(), agent="other")
            with ctx.store().transaction() as tx:
                tx.insert_lease(
                    NewLease(pattern="pkg000/*.txt", kind="glob", key="pkg000", exclusive=True,
                             holder=other, epoch=tx.next_epoch(), ttl=86400.0,
                             expires_at=tx.now + 86400.0, reason="bench", task=None,
                             base_commit=None, base_blobs={})
                )
        finally:
            ctx.close()
        rows.append(_row("1 file, full check (glob lease of another holder nearby)", _measure(repo, dirs, one, rounds), None))
    head = [
        "## Hooks: what a commit pays for gitcoord",
        "",
        f"`benchmarks/bench_hooks.py{' --quick' if quick else ''}`: a 10,000-file repository, a work",
        "branch, 10,000 active leases of another holder. Each round commits with no hooks, with",
        "the reference hook and with gitcoord's hooks, in rotating order; medians of",
        f"{rounds} rounds. The reference hook is a minimal Python pre-commit (one",
        "`git diff --cached -z`, one SQLite query per path); gitcoord's is the installed",
        "pre-commit plus the journaling post-commit. Wall time is what a user waits; CPU time",
        "(every process of the commit) is the steadier figure on a busy machine.",
        f"Load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs.",
        "",
        "| commit | wall: none / reference / gitcoord | wall added: reference / gitcoord | wall ratio |"
        " CPU: none / reference / gitcoord | CPU added: reference / gitcoord | CPU ratio | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    return "\n".join(head + rows) + "\n"


if __name__ == "__main__":
    print(run("--quick" in sys.argv))
