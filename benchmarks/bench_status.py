#!/usr/bin/env python3
"""`gitcoord status` cost with 5 and with 50 worktrees of a 10,000-file repository holding
10,000 active leases. Cost must grow no faster than linearly in the number of worktrees.

    python3 benchmarks/bench_status.py [--quick]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fixtures.repos.recipes import git, wide_tree  # noqa: E402


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "GITCOORD_"))}
    env["PYTHONPATH"] = str(ROOT)
    env["GITCOORD_HOST"] = "benchhost"
    return env


def _seed_leases(main: Path, worktrees: list[Path], n: int, n_files: int, per_dir: int) -> None:
    """n active leases spread over the worktrees (files mostly, some dirs and globs)."""
    from gitcoord.models import Holder
    from gitcoord.store.base import NewLease
    from gitcoord.store.sqlite import SQLiteStore

    store = SQLiteStore.open(main / ".git" / "gitcoord" / "gitcoord.db")
    holders = [Holder(worktree=str(w), host="benchhost", agent=f"agent{i}") for i, w in enumerate(worktrees)]
    with store.transaction() as tx:
        for i in range(n):
            h = holders[i % len(holders)]
            k = i % 10
            if k < 7:
                f = i % n_files
                pattern = f"pkg{f // per_dir:03d}/mod{f % per_dir:03d}.py"
                kind, key = "file", pattern
            elif k < 9:
                pattern, kind, key = f"pkg{i % (n_files // per_dir):03d}/sub{i}/", "dir", f"pkg{i % (n_files // per_dir):03d}/sub{i}"
            else:
                d = f"pkg{i % (n_files // per_dir):03d}"
                pattern, kind, key = f"{d}/gen{i}_*.py", "glob", d
            tx.insert_lease(
                NewLease(
                    pattern=pattern, kind=kind, key=key, exclusive=False, holder=h,
                    epoch=tx.next_epoch(), ttl=86400.0, expires_at=tx.now + 86400.0,
                    reason=None, task=None, base_commit=None, base_blobs={},
                )
            )
    store.close()


def _time_status(main: Path, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "gitcoord", "--json", "status"],
            cwd=main, env=_env(), check=True, capture_output=True,
        )
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run(quick: bool) -> str:
    n_files = 2_000 if quick else 10_000
    n_leases = 2_000 if quick else 10_000
    counts = (5, 50)
    runs = 3 if quick else 5
    results: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="gitcoord-bench-status-") as tmp:
        base = Path(tmp)
        main = wide_tree(base, n_files=n_files)
        subprocess.run([sys.executable, "-m", "gitcoord", "init"], cwd=main, env=_env(), check=True, capture_output=True)
        worktrees: list[Path] = [main]
        for n in counts:
            while len(worktrees) < n:
                wt = base / f"wt{len(worktrees):02d}"
                git(main, "worktree", "add", "-q", "-b", wt.name, str(wt), "main")
                # some real work in each: one dirty file
                i = len(worktrees)
                (wt / f"pkg{i % 10:03d}" / f"mod{i:03d}.py").write_text(f"edited {i}\n")
                worktrees.append(wt.resolve())
            if n == counts[0]:
                _seed_leases(main, worktrees, n_leases, n_files, 100)
            else:
                # the same leases, now spread over more holders: re-seed from scratch
                db = main / ".git" / "gitcoord" / "gitcoord.db"
                import sqlite3

                con = sqlite3.connect(db)
                con.execute("DELETE FROM leases")
                con.commit()
                con.close()
                _seed_leases(main, worktrees, n_leases, n_files, 100)
            _time_status(main, 1)  # warm the page cache and git's index stat data
            results[n] = _time_status(main, runs)
    t5, t50 = results[counts[0]], results[counts[1]]
    growth = t50 / t5
    per_wt = (t50 - t5) / (counts[1] - counts[0])
    linear_bound = counts[1] / counts[0]
    lines = [
        "## `gitcoord status` with many worktrees",
        "",
        f"Repository of {n_files:,} files, {n_leases:,} active leases, each linked worktree with one dirty file;"
        f" `gitcoord --json status` in a fresh process, median of {runs} runs after one warm-up.",
        "",
        "| worktrees | status wall time |",
        "|---:|---:|",
        f"| {counts[0]} | {t5 * 1000:.0f} ms |",
        f"| {counts[1]} | {t50 * 1000:.0f} ms |",
        "",
        f"Growth from {counts[0]} to {counts[1]} worktrees: **{growth:.1f}×** for {linear_bound:.0f}× the worktrees"
        f" (linear would be ≤ {linear_bound:.0f}×: {'met' if growth <= linear_bound else 'NOT met'});"
        f" marginal cost about {per_wt * 1000:.0f} ms per worktree (one `git status`, one ahead/behind count,"
        " one three-dot diff when it has commits).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run("--quick" in sys.argv))
