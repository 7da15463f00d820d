#!/usr/bin/env python3
"""What `gitcoord status` costs against its git floor, with 5 and with 50 worktrees of a
10,000-file repository holding 10,000 active leases.

The floor is a reference script doing the least a status needs, run in the same rounds:
one ``git status --porcelain=v2 -z`` and one ``git rev-list --left-right --count`` per
worktree (as many at a time as gitcoord runs, ``gitcoord.jobs.width()``), one SQLite
read of every active lease, one JSON document of it all. Each round runs both, in
alternating order, as fresh processes; the ratio is taken round by round (wall clock,
and CPU of every process), the median reported. Target: status <= 2x the reference.

Bytecode is compiled first (``compileall``), as an installed package has it.

    python3 benchmarks/bench_status.py [--quick]
"""

from __future__ import annotations

import compileall
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fixtures.repos.recipes import git, wide_tree  # noqa: E402

REFERENCE = r'''
import json, os, sqlite3, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
db, ref, width, worktrees = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]

def one(wt):
    st = subprocess.run(["git", "-C", wt, "status", "--porcelain=v2", "-z"], capture_output=True, check=True).stdout
    ab = subprocess.run(["git", "-C", wt, "rev-list", "--left-right", "--count", f"HEAD...{ref}"],
                        capture_output=True, check=True).stdout.split()
    return {"path": wt, "changes": st.count(b"\0"), "ahead": int(ab[0]), "behind": int(ab[1])}

with ThreadPoolExecutor(width) as pool:
    states = list(pool.map(one, worktrees))
rows = sqlite3.connect(db).execute(
    "SELECT * FROM leases WHERE state = 'active' AND expires_at > ?", (time.time(),)).fetchall()
sys.stdout.write(json.dumps({"worktrees": states, "leases": rows}) + "\n")
'''


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "GITCOORD_"))}
    env["PYTHONPATH"] = str(ROOT)
    env["GITCOORD_HOST"] = "benchhost"
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure what an installed gitcoord does
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


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _timed(argv: list[str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU time (the process and every process it waited for)."""
    c0 = _cpu()
    t0 = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=_env(), check=True, capture_output=True)
    return time.perf_counter() - t0, _cpu() - c0


def _rounds(commands: dict[str, tuple[list[str], Path]], rounds: int) -> dict[str, list[tuple[float, float]]]:
    """Each command once per round, the order rotating; one warm-up round first."""
    names = list(commands)
    out: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    for name in names:
        _timed(*commands[name])
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            out[name].append(_timed(*commands[name]))
    return out


def _ratio(a: list[tuple[float, float]], b: list[tuple[float, float]], k: int) -> float:
    """The median of the round-by-round ratios of a to b (k = 0 wall, 1 CPU)."""
    return statistics.median(x[k] / y[k] for x, y in zip(a, b, strict=True))


def _med(xs: list[tuple[float, float]], k: int) -> float:
    return statistics.median(x[k] for x in xs)


def _cells(a: list[tuple[float, float]], b: list[tuple[float, float]], target: float) -> list[str]:
    """Table cells, wall then CPU: b's median, a's median, the ratio a/b and its verdict."""
    cells: list[str] = []
    for k in (0, 1):
        r = _ratio(a, b, k)
        verdict = "met" if r <= target else "NOT met"
        cells += [f"{_med(b, k) * 1000:,.0f} ms", f"{_med(a, k) * 1000:,.0f} ms", f"**{r:.2f}x** {verdict}"]
    return cells


def floor_section(quick: bool) -> str:
    """Issue 13: status against its git floor at 5 and 50 worktrees."""
    from gitcoord.jobs import width

    n_files = 2_000 if quick else 10_000
    n_leases = 2_000 if quick else 10_000
    counts = (5, 50)
    rounds = 3 if quick else 9
    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="gitcoord-bench-status-") as tmp:
        base = Path(tmp)
        main = wide_tree(base, n_files=n_files)
        subprocess.run([sys.executable, "-m", "gitcoord", "init"], cwd=main, env=_env(), check=True, capture_output=True)
        reference = base / "reference_status.py"
        reference.write_text(REFERENCE)
        db = main / ".git" / "gitcoord" / "gitcoord.db"
        worktrees: list[Path] = [main.resolve()]
        for n in counts:
            while len(worktrees) < n:
                wt = base / f"wt{len(worktrees):02d}"
                git(main, "worktree", "add", "-q", "-b", wt.name, str(wt), "main")
                i = len(worktrees)  # some real work in each: one dirty file
                (wt / f"pkg{i % 10:03d}" / f"mod{i:03d}.py").write_text(f"edited {i}\n")
                worktrees.append(wt.resolve())
            con = sqlite3.connect(db)  # the same leases, spread over this many holders
            con.execute("DELETE FROM leases")
            con.commit()
            con.close()
            _seed_leases(main, worktrees, n_leases, n_files, 100)
            m = _rounds(
                {
                    "reference": ([sys.executable, str(reference), str(db), "main", str(width()), *map(str, worktrees)], main),
                    "status": ([sys.executable, "-m", "gitcoord", "--json", "status"], main),
                },
                rounds,
            )
            rows.append("| " + " | ".join([str(n), *_cells(m["status"], m["reference"], 2.0)]) + " |")
    return "\n".join(
        [
            "## `gitcoord status` against its git floor",
            "",
            f"`benchmarks/bench_status.py{' --quick' if quick else ''}`: a repository of {n_files:,} files,"
            f" {n_leases:,} active leases spread over the worktrees, each linked worktree with one dirty file;"
            " `gitcoord --json status` in a fresh process against a reference script doing the least a status"
            " needs (one `git status --porcelain=v2 -z` and one `git rev-list --left-right --count` per"
            f" worktree, {width()} at a time as gitcoord runs them, one SQLite read of every active lease, one"
            f" JSON document). {rounds} rounds after a warm-up, the two in alternating order; ratios are"
            " medians of the round-by-round ratios. CPU counts every process. Target: status <= 2x the"
            " reference, wall and CPU.",
            f"Load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs.",
            "",
            "| worktrees | wall: reference | wall: status | wall ratio | CPU: reference | CPU: status | CPU ratio |",
            "|---:|---:|---:|---|---:|---:|---|",
            *rows,
            "",
        ]
    )


def _prediction_fixture(base: Path, n_files: int, n_worktrees: int) -> Path:
    """A wide tree plus 20 shared files of 240 lines; worktree i makes 10 commits over
    shared files i..i+4 (mod 20), each in lines of its own, except that worktrees 2k and
    2k+1 both change line 240 of shared file 2k+1 (a conflict: 10 pairs); one more change
    of its own stays uncommitted; main moves on by one unrelated commit."""
    main = wide_tree(base, n_files=n_files)
    shared = [f"shared/s{k:02d}.py" for k in range(20)]
    body = [f"line {n}\n" for n in range(1, 241)]
    for path in shared:
        (main / path).parent.mkdir(parents=True, exist_ok=True)
        (main / path).write_text("".join(body))
    git(main, "add", "shared")
    git(main, "commit", "-qm", "shared files")
    subprocess.run([sys.executable, "-m", "gitcoord", "init"], cwd=main, env=_env(), check=True, capture_output=True)
    for i in range(n_worktrees):
        wt = base / f"wt{i:02d}"
        git(main, "worktree", "add", "-q", "-b", wt.name, str(wt), "main")
        mine = [shared[(i + j) % 20] for j in range(5)]
        for c in range(10):
            path = wt / mine[c % 5]
            lines = path.read_text().splitlines(keepends=True)
            lines[i * 10 + c // 5] = f"worktree {i} commit {c}\n"
            path.write_text("".join(lines))
            if c == 9:  # the pair's conflict
                last = wt / shared[2 * (i // 2) + 1]
                lines = last.read_text().splitlines(keepends=True)
                lines[239] = f"worktree {i} was here last\n"
                last.write_text("".join(lines))
            git(wt, "commit", "-qam", f"worktree {i}, commit {c}")
        path = wt / mine[4]
        lines = path.read_text().splitlines(keepends=True)
        lines[i * 10 + 5] = f"worktree {i}, not committed yet\n"
        path.write_text("".join(lines))
    (main / "pkg000" / "mod000.py").write_text("main moved on\n")
    git(main, "commit", "-qam", "main moves on")
    return main


def prediction_section(quick: bool) -> str:
    """Issue 14: status with merge prediction against status without it, cache cold and warm."""
    n_files = 2_000 if quick else 10_000
    n_worktrees = 20
    rounds = 3 if quick else 7
    with tempfile.TemporaryDirectory(prefix="gitcoord-bench-predict-") as tmp:
        main = _prediction_fixture(Path(tmp), n_files, n_worktrees)
        cache = main / ".git" / "gitcoord" / "predict-cache.json"
        status = [sys.executable, "-m", "gitcoord", "--json", "status"]
        cold = ["sh", "-c", f'rm -f "{cache}" && exec "$@"', "sh", *status]
        m = _rounds(
            {"without": ([*status, "--no-predict"], main), "cold": (cold, main), "warm": (status, main)},
            rounds,
        )
        doc = json.loads(subprocess.run(status, cwd=main, env=_env(), check=True, capture_output=True).stdout)
    merges = [c for c in doc["conflicts"] if c["kind"] == "merge_conflict"]
    infos = [c for c in doc["conflicts"] if c["kind"] == "overlap" and c["severity"] == "info"]
    rows = []
    for name, target in (("cold", 2.0), ("warm", 1.1)):
        cells = [f"with prediction, cache {name}", *_cells(m[name], m["without"], target), f"<= {target}x"]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(
        [
            "## `gitcoord status`: predicting merge conflicts",
            "",
            f"`benchmarks/bench_status.py{' --quick' if quick else ''}`: a repository of {n_files:,} files and"
            f" {n_worktrees} worktrees, each with 10 commits over 5 of 20 shared files (every worktree shares"
            " files with 8 others) and one uncommitted change; main one commit ahead of them all."
            f" A status predicts {len(merges)} merge conflict(s) and {len(infos)} overlap(s) that merge"
            " cleanly (every pair of worktrees sharing a file, and each worktree against main). `gitcoord"
            " --json status` against `status --no-predict`, in fresh processes, in rotating order over"
            f" {rounds} rounds after a warm-up; cold: the prediction cache removed first (git merges"
            " every pair again); warm: a repeat status, nothing changed (no merge-tree runs).",
            f"Load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs.",
            "",
            "| status | wall: without | wall: with | wall ratio | CPU: without | CPU: with | CPU ratio | target |",
            "|---|---:|---:|---|---:|---:|---|---|",
            *rows,
            "",
        ]
    )


def run(quick: bool) -> str:
    compileall.compile_dir(str(ROOT / "gitcoord"), quiet=1)
    return floor_section(quick) + "\n" + prediction_section(quick)


if __name__ == "__main__":
    print(run("--quick" in sys.argv))
