"""The audit trail: hash chain, verify, log filters, export, prune."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixtures.repos.recipes import Project
from gitcoord import audit
from tests.conftest import run_cli, store_sql


def db_path(project: Project) -> Path:
    return project.main / ".git" / "gitcoord" / "gitcoord.db"


def tamper(project: Project, sql: str) -> None:
    """Change the store (either) behind gitcoord's back."""
    store_sql(project.main, sql)


def busy(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    run_cli(a, "--agent", "alice", "lease", "src/app/api.py", "--task", "T-1")
    run_cli(b, "--agent", "bob", "lease", "src/app/")  # denied
    run_cli(b, "--agent", "bob", "lease", "docs/guide.md", "--task", "T-2")
    run_cli(a, "--agent", "alice", "release", "src/app/api.py")


def test_every_step_is_an_event_with_a_valid_chain(project: Project) -> None:
    busy(project)
    events = run_cli(project.main, "--json", "log").json()["events"]
    kinds = [e["kind"] for e in events]
    assert kinds == ["lease.granted", "lease.denied", "lease.granted", "lease.released"]
    assert [e["seq"] for e in events] == [1, 2, 3, 4]
    for prev, cur in zip(events, events[1:]):
        assert cur["prev_hash"] == prev["hash"]
    assert events[0]["shas"]  # grant names the base commit
    r = run_cli(project.main, "--json", "audit", "verify")
    assert r.code == 0 and r.json()["ok"] and r.json()["checked"] == 4


def test_verify_detects_tampering(project: Project) -> None:
    busy(project)
    tamper(project, "UPDATE events SET agent = 'mallory' WHERE seq = 2")
    r = run_cli(project.main, "--json", "audit", "verify")
    assert r.code == 1
    assert r.json()["problems"][0]["seq"] == 2
    tamper(project, "UPDATE events SET agent = 'bob' WHERE seq = 2")
    tamper(project, "DELETE FROM events WHERE seq = 3")
    r = run_cli(project.main, "audit", "verify")
    assert r.code == 1 and "event 4" in r.stdout


def test_log_filters(project: Project) -> None:
    busy(project)
    log = lambda *a: run_cli(project.main, "--json", "log", *a).json()["events"]  # noqa: E731
    assert {e["agent"] for e in log("--agent", "bob")} == {"bob"}
    assert [e["kind"] for e in log("--task", "T-1")] == ["lease.granted", "lease.released"]
    assert [e["subject"] for e in log("--path", "docs")] == ["docs/guide.md"]
    assert len(log("--path", "src/app/api.py")) == 3  # grant, the denial's witness, release
    assert log("--since", "1h") and len(log("--since", "2026-01-01T00:00:00Z")) == 4
    assert [e["kind"] for e in log("--kind", "lease.denied")] == ["lease.denied"]
    assert len(log("--limit", "2")) == 2
    r = run_cli(project.main, "log")
    assert "lease.denied" in r.stdout


def test_export_json_and_jsonl(project: Project) -> None:
    busy(project)
    doc = run_cli(project.main, "export").json()
    assert len(doc["events"]) == 4
    lines = run_cli(project.main, "export", "--format", "jsonl").stdout.splitlines()
    assert [json.loads(x)["seq"] for x in lines] == [1, 2, 3, 4]


def test_prune_keeps_chain_verifiable(project: Project) -> None:
    busy(project)
    later = {"GITCOORD_TEST_CLOCK_OFFSET": str(40 * 86400)}
    run_cli(project.main, "lease", "README.md", env=later)
    r = run_cli(project.main, "--json", "prune", "--before", "30d", env=later)
    assert r.code == 0 and r.json()["deleted"] == 4
    events = run_cli(project.main, "--json", "log", env=later).json()["events"]
    # the later lease reaped bob's expired one first, then was granted
    assert [e["kind"] for e in events] == ["lease.expired", "lease.granted", "audit.pruned"]
    assert run_cli(project.main, "--json", "audit", "verify", env=later).json()["ok"]
    # tampering after a prune is still caught
    tamper(project, "UPDATE events SET subject = 'x' WHERE kind = 'lease.granted'")
    assert run_cli(project.main, "audit", "verify", env=later).code == 1


def test_prune_after_a_clock_step_back_removes_only_the_old_prefix(project: Project) -> None:
    """The newest event carries a time ten days back (the clock stepped back): pruning
    everything older than five days must keep every event after the first recent one,
    and report what it deleted."""
    busy(project)  # four events, now
    back = {"GITCOORD_TEST_CLOCK_OFFSET": str(-10 * 86400)}
    run_cli(project.main, "--agent", "x", "lease", "docs/", env=back)  # seq 5, ten days ago
    r = run_cli(project.main, "--json", "prune", "--before", "5d")
    assert r.code == 0 and r.json()["deleted"] == 0
    seqs = [e["seq"] for e in run_cli(project.main, "--json", "log").json()["events"]]
    assert seqs[:5] == [1, 2, 3, 4, 5]
    assert run_cli(project.main, "--json", "audit", "verify").json()["ok"]


_json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8)
)
_json_value = st.recursive(
    _json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=4), inner, max_size=3),
    ),
    max_leaves=8,
)


@given(st.dictionaries(st.text(max_size=6), _json_value, max_size=6))
def test_canonical_details_are_what_a_json_round_trip_gives(details: dict[str, Any]) -> None:
    """Event details are stored and hashed canonically: the fast path for flat dicts of
    scalars must give exactly what the JSON round trip gives, key order included."""
    want = json.loads(json.dumps(details, sort_keys=True))
    got = audit.canonical(details)
    assert got == want
    assert list(got) == list(want)
    assert json.dumps(got) == json.dumps(want)


def test_verify_detects_removed_newest_events_and_a_changed_task_index(project: Project) -> None:
    """SPEC section 6: verify detects tampering. Deleting the newest events leaves a
    valid chain, so the head each commit records must catch it; rewriting the task
    column would make `log --task` lie, so it must agree with the hashed details."""
    busy(project)
    run_cli(project.main, "task", "add", "T-9", "--title", "x")
    assert run_cli(project.main, "--json", "audit", "verify").json()["ok"]
    tamper(project, "DELETE FROM events WHERE seq = (SELECT max(seq) FROM events)")
    r = run_cli(project.main, "--json", "audit", "verify")
    assert r.code == 1 and "newest events were removed" in json.dumps(r.json()["problems"])
    # (a later write chains on from what is left and records a new head: a clean start
    # for the second half)
    run_cli(project.main, "task", "add", "T-10", "--title", "y")
    assert run_cli(project.main, "--json", "audit", "verify").json()["ok"]
    tamper(project, "UPDATE events SET task = 'T-9' WHERE seq = 1")
    r = run_cli(project.main, "--json", "audit", "verify")
    assert r.code == 1
    assert r.json()["problems"] == [{"seq": 1, "problem": "task column changed: it is not the task in details"}]


def test_log_path_finds_the_leases_that_cover_it_exactly(project: Project) -> None:
    """`log --path P`: events about P, including leases on patterns that cover it
    (`*.md` at the root, `src/**`) and not those that only share a directory with it."""
    a = project.wt("wt-a")
    for pattern in ("*.md", "src/**", "src/**/*.rs"):
        assert run_cli(a, "lease", pattern).code == 0

    def subjects(*args: str) -> list[str]:
        doc = run_cli(project.main, "--json", "log", "--kind", "lease.granted", *args).json()
        return [e["subject"] for e in doc["events"]]

    assert subjects("--path", "README.md") == ["*.md"]
    assert subjects("--path", "src/app/api.py") == ["src/**"]
    assert subjects("--path", "src/app/lib.rs") == ["src/**", "src/**/*.rs"]
    assert subjects("--path", "*.md") == ["*.md"]
    assert subjects("--path", "src/app/api.py", "--limit", "1") == ["src/**"]


def test_verify_detects_a_rewritten_path_index_and_export_carries_it(project: Project) -> None:
    """SPEC section 6: `log --path` finds events by the paths they were recorded under,
    so rewriting that index (to hide a bypass from `log --path`) must break the chain;
    `export` dumps everything, paths included."""
    busy(project)
    exported = run_cli(project.main, "export").json()["events"]
    assert [e["paths"] for e in exported] == [
        ["src/app/api.py"], ["src/app/api.py"], ["docs/guide.md"], ["src/app/api.py"]
    ]
    assert run_cli(project.main, "--json", "audit", "verify").json()["ok"]
    tamper(project, "DELETE FROM event_paths WHERE seq = 3")
    assert run_cli(project.main, "--json", "log", "--path", "docs/guide.md").json()["events"] == []
    r = run_cli(project.main, "--json", "audit", "verify")
    assert r.code == 1 and [p["seq"] for p in r.json()["problems"]] == [3]
    tamper(project, "INSERT INTO event_paths(seq, path) VALUES (3, 'docs/guide.md')")
    assert run_cli(project.main, "--json", "audit", "verify").json()["ok"]
    tamper(project, "UPDATE event_paths SET path = 'elsewhere.md' WHERE seq = 1")
    assert [p["seq"] for p in run_cli(project.main, "--json", "audit", "verify").json()["problems"]] == [1]


@pytest.mark.sqlite_only  # (PostgreSQL projects start at the newest schema)
def test_events_hashed_before_schema_5_still_verify_after_the_upgrade(project: Project) -> None:
    """A store written before event hashes covered paths: migration 5 marks where the
    new rule starts, old events verify by the old rule, new ones by the new."""
    busy(project)
    con = sqlite3.connect(db_path(project))
    con.row_factory = sqlite3.Row
    with con:  # what schema 4 wrote: hashes without the paths, no boundary record
        prev = audit.GENESIS
        for row in con.execute("SELECT * FROM events ORDER BY seq").fetchall():
            h = audit.event_hash(
                seq=row["seq"], ts=row["ts"], kind=row["kind"], agent=row["agent"],
                worktree=row["worktree"], host=row["host"], subject=row["subject"],
                shas=json.loads(row["shas"]), details=json.loads(row["details"]), prev_hash=prev,
            )
            con.execute("UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, h, row["seq"]))
            prev = h
        con.execute("UPDATE meta SET value = ? WHERE key = 'audit.head'", (f"4 {prev}",))
        con.execute("DELETE FROM meta WHERE key = 'audit.paths_hashed_after'")
        con.execute("DELETE FROM schema_migrations WHERE version >= 5")
        con.execute("ALTER TABLE events DROP COLUMN role")  # (added by migration 6)
        con.execute("PRAGMA user_version = 4")
    con.close()
    run_cli(project.wt("wt-b"), "--agent", "bob", "lease", "docs/other.md")  # migrates, appends seq 5
    r = run_cli(project.main, "--json", "audit", "verify")
    assert r.code == 0 and r.json()["checked"] == 5, r.stdout
    tamper(project, "DELETE FROM event_paths WHERE seq = 5")
    assert [p["seq"] for p in run_cli(project.main, "--json", "audit", "verify").json()["problems"]] == [5]


def test_log_path_reads_a_file_lease_with_wildcard_characters_as_that_file(project: Project) -> None:
    """SPEC section 2: overlap is exact. A lease on the file literally named `docs/a*b`
    (typed `docs/a\\*b`) is not about `docs/axb`; lease events name their pattern's kind
    so `log --path` does not read the text back as a glob."""
    a = project.wt("wt-a")
    (a / "docs").mkdir(exist_ok=True)
    (a / "docs" / "a*b").write_text("x\n")
    assert run_cli(a, "lease", "docs/a\\*b").code == 0
    assert run_cli(a, "lease", "docs/c*d").code == 0  # a glob, for contrast

    def subjects(path: str) -> list[str]:
        doc = run_cli(project.main, "--json", "log", "--kind", "lease.granted", "--path", path).json()
        return [e["subject"] for e in doc["events"]]

    assert subjects("docs/axb") == []
    assert subjects("docs/ax*") == []  # the glob docs/a*b would overlap it (docs/axb)
    assert subjects("docs/a\\*b") == ["docs/a*b"]
    assert subjects("docs/cx*") == ["docs/c*d"]
