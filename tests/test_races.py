"""Several OS processes racing on one store: never two overlapping exclusive grants."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

from fixtures.repos.recipes import Project, git
from gitcoord import paths
from tests.conftest import run_cli

PATTERNS = ["src/", "src/app/", "src/app/api.py", "src/**/*.py", "src/app/*.py", "docs/", "*.md", "docs/api.md"]


def test_16_processes_leasing_overlapping_patterns(project: Project, tmp_path) -> None:  # type: ignore[no-untyped-def]
    run_cli(project.main, "init")
    worktrees = []
    for i in range(16):
        wt = tmp_path / f"racer{i}"
        git(project.main, "worktree", "add", "-q", "--detach", str(wt), "main")
        worktrees.append(wt.resolve())
    procs = []
    for i, wt in enumerate(worktrees):
        pats = [PATTERNS[i % len(PATTERNS)], PATTERNS[(i * 3 + 1) % len(PATTERNS)]]
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "gitcoord", "--json", "lease", *pats],
                cwd=wt,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=dict(os.environ),
            )
        )
    codes = [p.wait(timeout=120) for p in procs]
    for p in procs:
        assert p.stdout is not None and p.stderr is not None
        p.stdout.close()
        p.stderr.close()
    assert set(codes) <= {0, 1}, codes
    assert 0 in codes and 1 in codes
    leases = run_cli(project.main, "--json", "leases").json()["leases"]
    assert leases
    for x, y in itertools.combinations(leases, 2):
        if x["holder"]["worktree"] == y["holder"]["worktree"]:
            continue
        w = paths.overlap(paths.pattern_from_text(x["pattern"]), paths.pattern_from_text(y["pattern"]))
        assert w is None, (x["pattern"], y["pattern"], w)
    # every grant and every denial is in the audit trail, and the chain is intact
    events = run_cli(project.main, "--json", "log").json()["events"]
    assert sum(e["kind"] == "lease.denied" for e in events) == codes.count(1)
    assert run_cli(project.main, "--json", "audit", "verify").json()["ok"]
