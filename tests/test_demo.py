"""The README's main job runs end to end on this machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_tells_the_whole_story(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHON=sys.executable)
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo.sh"), str(tmp_path / "demo")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "commit refused" in out and "leased by alice" in out  # the lease refusal
    assert "stale read" in out and "git rebase --autostash main" in out  # the stale-read refusal and its fix
    assert "commit.recorded" in out  # the audit trail names commits
    assert "audit trail intact" in out
