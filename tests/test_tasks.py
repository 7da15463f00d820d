"""Tasks: add, list, show, edit, import, dependencies; bad input changes nothing (SPEC section 4)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.repos.recipes import Project, small_project
from tests.conftest import Result, env_set, run_cli, run_inproc, store_dump


def gcj(cwd: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return run_inproc(cwd, "--json", *args, env=env)


def test_add_with_and_without_ids_then_list_and_show(project: Project, gc) -> None:  # type: ignore[no-untyped-def]
    main = project.main
    r = gc(main, "--json", "task", "add", "--title", "Write the migration", "--priority", "1")
    assert r.code == 0, r.stderr
    first = r.json()["task"]
    assert first["id"] == "T-1" and first["priority"] == 1 and first["state"] == "open"
    r = gc(main, "--json", "task", "add", "github:acme/api#12", "--title", "Fix login", "--after", "T-1")
    assert r.code == 0, r.stderr
    t = r.json()["task"]
    assert t["id"] == "github:acme/api#12"
    assert t["after"] == ["T-1"] and t["deps_pending"] == 1
    assert t["priority"] == 2  # the default
    # a generated id never collides with a free-text one
    gcj(main, "task", "add", "T-2", "--title", "taken by hand")
    assert gcj(main, "task", "add", "--title", "generated").json()["task"]["id"] == "T-3"

    tasks = gc(main, "--json", "task", "list").json()["tasks"]
    assert [x["id"] for x in tasks] == ["T-1", "github:acme/api#12", "T-2", "T-3"]  # priority, then age
    shown = gc(main, "--json", "task", "show", "T-1").json()["task"]
    assert shown["dependents"] == ["github:acme/api#12"]
    assert shown["claims"] == [] and shown["status"] == "open"
    human = gc(main, "task", "list")
    assert human.code == 0 and "Fix login" in human.stdout
    # every task's creation is in the audit trail, findable by task
    events = gcj(main, "log", "--task", "T-1").json()["events"]
    assert [e["kind"] for e in events] == ["task.added"]


def test_list_filters_by_effective_status(project: Project) -> None:
    main = project.main
    for title in ("a", "b", "c"):
        gcj(main, "task", "add", "--title", title)
    assert gcj(main, "claim", "T-1", "--ttl", "1m").code == 0
    assert gcj(main, "block", "T-3", "--reason", "later").code == 0

    def ids(*st: str) -> list[str]:
        doc = gcj(main, "task", "list", *[f"--status={s}" for s in st]).json()
        return [t["id"] for t in doc["tasks"]]

    assert ids("claimed") == ["T-1"]
    assert ids("open") == ["T-2"]
    assert ids("blocked") == ["T-3"]
    # two minutes later the claim has expired: it counts as open
    later = {"GITCOORD_TEST_CLOCK_OFFSET": "120"}
    doc = gcj(main, "task", "list", "--status", "open", env=later).json()["tasks"]
    assert [t["id"] for t in doc] == ["T-1", "T-2"]
    assert doc[0]["claim"]["active"] is False
    assert [t["id"] for t in gcj(main, "task", "list", "--mine").json()["tasks"]] == ["T-1"]


def test_edit_title_priority_and_dependencies(project: Project) -> None:
    main = project.main
    for title in ("a", "b", "c"):
        gcj(main, "task", "add", "--title", title)
    r = gcj(main, "task", "edit", "T-3", "--priority", "0", "--title", "c!", "--after", "T-1", "--after", "T-2")
    assert r.code == 0, r.stderr
    t = r.json()["task"]
    assert (t["priority"], t["title"], t["after"], t["deps_pending"]) == (0, "c!", ["T-1", "T-2"], 2)
    t = gcj(main, "task", "edit", "T-3", "--not-after", "T-2").json()["task"]
    assert t["after"] == ["T-1"] and t["deps_pending"] == 1
    kinds = [e["kind"] for e in gcj(main, "log", "--task", "T-3").json()["events"]]
    assert kinds == ["task.added", "task.edited", "task.edited"]


def test_dependency_cycle_is_refused_naming_the_cycle(project: Project, gc) -> None:  # type: ignore[no-untyped-def]
    main = project.main
    gcj(main, "task", "add", "A", "--title", "a")
    gcj(main, "task", "add", "B", "--title", "b", "--after", "A")
    gcj(main, "task", "add", "C", "--title", "c", "--after", "B")
    before = store_dump(main)
    r = gc(main, "--json", "task", "edit", "A", "--after", "C")
    assert r.code == 2
    err = r.err_json()["error"]
    assert err["code"] == "bad_input"
    assert "A -> C -> B -> A" in err["message"]
    r = gc(main, "task", "edit", "B", "--after", "B")
    assert r.code == 2 and "B -> B" in r.stderr
    assert store_dump(main) == before


def test_import_json_lines(project: Project, tmp_path: Path) -> None:
    main = project.main
    gcj(main, "task", "add", "OLD", "--title", "exists already")
    lines = [
        {"id": "I-1", "title": "schema", "priority": 1},
        {"id": "I-2", "title": "api", "after": ["I-1", "OLD"]},
        {"title": "no id, generated"},
        {"id": "I-3", "title": "docs", "after": "I-2", "body": "long text"},
    ]
    f = tmp_path / "backlog.jsonl"
    f.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    r = gcj(main, "task", "import", str(f))
    assert r.code == 0, r.stderr
    created = r.json()["created"]
    assert [t["id"] for t in created] == ["I-1", "I-2", "T-1", "I-3"]
    assert created[1]["after"] == ["I-1", "OLD"] and created[1]["deps_pending"] == 2
    assert created[3]["body"] == "long text"
    # importing again: all refused unless --skip-existing
    before = store_dump(main)
    r = gcj(main, "task", "import", str(f))
    assert r.code == 2 and "already exist" in r.err_json()["error"]["message"]
    assert store_dump(main) == before
    r = gcj(main, "task", "import", "--skip-existing", str(f))
    assert r.code == 0
    assert r.json()["skipped"] == ["I-1", "I-2", "I-3"]
    assert [t["id"] for t in r.json()["created"]] == ["T-2"]  # the id-less line again


def test_import_generates_ids_that_miss_the_files_own(project: Project, tmp_path: Path) -> None:
    """A line without an id before a line with ``T-1``: the generated id must not take
    ``T-1`` (it would clash when that line is inserted)."""
    f = tmp_path / "in.jsonl"
    f.write_text('{"title": "generated"}\n{"id": "T-1", "title": "explicit"}\n')
    r = gcj(project.main, "task", "import", str(f))
    assert r.code == 0, r.stderr
    created = {t["id"]: t["title"] for t in r.json()["created"]}
    assert created["T-1"] == "explicit"
    assert len(created) == 2 and "generated" in created.values()


def test_import_from_stdin_subprocess(project: Project) -> None:
    body = "\n".join(json.dumps({"id": f"S-{i}", "title": f"t{i}"}) for i in range(5))
    r = run_cli(project.main, "--json", "task", "import", "-", input=body)
    assert r.code == 0, r.stderr
    assert len(r.json()["created"]) == 5


@pytest.mark.parametrize(
    "content, needle",
    [
        pytest.param('{"title": "a"}\nnot json\n', "line 2", id="not-json"),
        pytest.param('{"id": "X", "title": "a"}\n{"id": "X", "title": "b"}\n', "twice", id="duplicate"),
        pytest.param('{"id": "X", "title": ""}\n', "empty title", id="empty-title"),
        pytest.param('{"id": "X", "title": "a", "prio": 1}\n', "unknown key", id="unknown-key"),
        pytest.param('{"id": "X", "title": "a", "after": ["NOPE"]}\n', "NOPE", id="unknown-dep"),
        pytest.param('{"id": "X", "title": "a", "after": ["Y"]}\n{"id": "Y", "title": "b", "after": ["X"]}\n', "X -> Y -> X", id="cycle"),
        pytest.param('{"id": "X", "title": "a", "priority": -1}\n', "priority", id="negative-priority"),
        pytest.param('[1, 2]\n', "JSON object", id="not-object"),
        pytest.param("\n\n", "nothing to import", id="empty"),
        pytest.param('{"id": "X", "title": "a"}\n\udcff\udcfe\n', "not UTF-8", id="not-utf8"),
        pytest.param("[" * 100_000 + "]" * 100_000 + "\n", "nested too deeply", id="deep-json"),
        pytest.param('{"id": "X", "title": "t\\u001b[2J"}\n', "control character", id="escape-title"),
    ],
)
def test_bad_imports_change_nothing(project: Project, tmp_path: Path, content: str, needle: str) -> None:
    main = project.main
    gcj(main, "task", "add", "--title", "keep me")
    before = store_dump(main)
    f = tmp_path / "in.jsonl"
    f.write_bytes(content.encode("utf-8", "surrogateescape"))  # (not-utf8: raw bytes)
    r = gcj(main, "task", "import", str(f))
    assert r.code == 2, (r.stdout, r.stderr)
    assert needle in r.err_json()["error"]["message"]
    assert store_dump(main) == before


BAD_TASK_INPUTS = [
    pytest.param(["task", "add", "--title", ""], id="empty-title"),
    pytest.param(["task", "add", "--title", "   "], id="blank-title"),
    pytest.param(["task", "add"], id="no-title"),
    pytest.param(["task", "add", "--title", "a\nb"], id="newline-title"),
    pytest.param(["task", "add", "X\nY", "--title", "t"], id="newline-id"),
    pytest.param(["task", "add", "X\0Y", "--title", "t"], id="nul-id"),
    pytest.param(["task", "add", " ", "--title", "t"], id="blank-id"),
    pytest.param(["task", "add", "T-1", "--title", "dup"], id="duplicate-id"),
    pytest.param(["task", "add", "--title", "t", "--priority", "high"], id="garbage-priority"),
    pytest.param(["task", "add", "--title", "t", "--priority", "-1"], id="negative-priority"),
    pytest.param(["task", "add", "--title", "t", "--after", "NOPE"], id="unknown-dependency"),
    pytest.param(["task", "add", "Z", "--title", "t", "--after", "Z"], id="self-dependency"),
    pytest.param(["task", "show", "NOPE"], id="show-unknown"),
    pytest.param(["task", "edit", "NOPE", "--title", "x"], id="edit-unknown"),
    pytest.param(["task", "edit", "T-1"], id="edit-nothing"),
    pytest.param(["task", "edit", "T-1", "--not-after", "T-2"], id="edit-drop-missing-dep"),
    pytest.param(["task", "list", "--status", "sleeping"], id="bad-status"),
    pytest.param(["task", "import", "/no/such/file"], id="import-missing-file"),
    pytest.param(["claim"], id="claim-nothing"),
    pytest.param(["claim", "NOPE"], id="claim-unknown"),
    pytest.param(["claim", "T-1", "NOPE"], id="claim-one-unknown"),
    pytest.param(["claim", "T-1", "--next"], id="claim-ids-and-next"),
    pytest.param(["claim", "--next", "--ttl", "soon"], id="garbage-ttl"),
    pytest.param(["claim", "--next", "--ttl", "0"], id="zero-ttl"),
    pytest.param(["claim", "--next", "--ttl", "-5m"], id="negative-ttl"),
    pytest.param(["claim", "--next", "--count", "0"], id="zero-count"),
    pytest.param(["claim", "--next", "--count", "1001"], id="count-over-the-limit"),
    pytest.param(["claim", "--next", "--count", "4611686018427387904"], id="huge-count"),
    pytest.param(["claim", "--next", "--count", "99999999999999999999"], id="huger-count"),
    pytest.param(["task", "add", "b\x1b]0;pwned\x07x", "--title", "t"], id="escape-in-id"),
    pytest.param(["task", "add", "z\u2028y", "--title", "t"], id="line-separator-in-id"),
    pytest.param(["task", "add", "a\u200bb", "--title", "t"], id="zero-width-in-id"),
    pytest.param(["task", "add", "--title", "ti\x1b[2Jtle"], id="escape-in-title"),
    pytest.param(["task", "add", "--title", "a\tb"], id="tab-in-title"),
    pytest.param(["task", "edit", "T-1", "--title", "x\x07"], id="bell-in-edited-title"),
    pytest.param(["claim", "T-1", "--count", "2"], id="count-without-next"),
    pytest.param(["claim", "X\nY"], id="newline-claim"),
    pytest.param(["done", "NOPE"], id="done-unknown"),
    pytest.param(["unclaim", "NOPE"], id="unclaim-unknown"),
    pytest.param(["approve", "NOPE"], id="approve-unknown"),
    pytest.param(["reject", "T-1"], id="reject-without-reason"),
    pytest.param(["block", "T-1", "--reason", " "], id="block-blank-reason"),
    pytest.param(["unblock", "NOPE"], id="unblock-unknown"),
    pytest.param(["renew", "--ttl", "forever"], id="renew-garbage-ttl"),
    pytest.param(["send", "bob"], id="send-no-text"),
    pytest.param(["send", "bob", " "], id="send-blank-text"),
    pytest.param(["send", "--all"], id="send-all-no-text"),
    pytest.param(["worktree", "add", "NOPE"], id="worktree-unknown-task"),
    pytest.param(["worktree", "add", "T-1", "--branch", "bad..name"], id="worktree-bad-branch"),
    pytest.param(["worktree", "add", "T-1", "--branch", "main"], id="worktree-existing-branch"),
    pytest.param(["worktree", "remove", "/no/such/worktree"], id="worktree-remove-unknown"),
]


@pytest.fixture(scope="module")
def _seeded_projects() -> dict[str, tuple[Project, dict[str, str]]]:
    return {}


@pytest.fixture
def seeded(
    _seeded_projects: dict[str, tuple[Project, dict[str, str]]],
    store_kind: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Project]:
    """One project per store for all bad-input cases: each case proves it changed nothing
    (on PostgreSQL, one project name for the whole module)."""
    if store_kind not in _seeded_projects:
        env = {"GITCOORD_PROJECT": f"seeded-{os.getpid()}-{time.time_ns()}"} if store_kind == "postgres" else {}
        with env_set(env):
            project = small_project(tmp_path_factory.mktemp("bad"))
            assert gcj(project.main, "task", "add", "--title", "existing").code == 0
            gcj(project.main, "task", "add", "--title", "second")
        _seeded_projects[store_kind] = (project, env)
    project, env = _seeded_projects[store_kind]
    with env_set(env):
        yield project


@pytest.mark.parametrize("args", BAD_TASK_INPUTS)
def test_bad_input_exits_2_and_changes_nothing(seeded: Project, args: list[str]) -> None:
    main = seeded.main
    before = store_dump(main)
    r = run_inproc(main, *args)
    assert r.code == 2, (r.code, r.stdout, r.stderr)
    assert r.stderr.strip() and "Traceback" not in r.stderr
    assert store_dump(main) == before
    r = run_inproc(main, "--json", *args)
    assert r.code == 2
    assert set(r.err_json()["error"]) >= {"code", "message"}
    assert store_dump(main) == before


def test_bad_input_via_subprocess(project: Project) -> None:
    main = project.main
    run_cli(main, "task", "add", "--title", "existing")
    before = store_dump(main)
    for args in (["claim", "NOPE"], ["task", "add", "--title", ""], ["claim", "--next", "--ttl", "x"]):
        r = run_cli(main, "--json", *args)
        assert r.code == 2, (args, r.stderr)
        assert r.err_json()["error"]["code"] in ("not_found", "bad_input", "usage")
    assert store_dump(main) == before


def test_task_json_from_writes_says_status_and_whether_the_claim_is_live(project: Project) -> None:
    """add/unclaim/block/... print the task as `task show` does: with its status, and a
    claim flagged inactive once it ended (not a bare copy of the last holder)."""
    main = project.main
    added = gcj(main, "task", "add", "J-1", "--title", "j").json()["task"]
    assert added["status"] == "open" and added["claim"] is None
    assert gcj(main, "claim", "J-1").code == 0
    released = gcj(main, "unclaim", "J-1").json()["task"]
    assert released["status"] == "open"
    assert released["claim"]["active"] is False
    blocked = gcj(main, "block", "J-1", "--reason", "waiting").json()["task"]
    assert blocked["status"] == "blocked"


def test_task_json_after_any_write_lists_dependencies_and_events_carry_the_epoch(project: Project) -> None:
    """SPEC section 8: one document with stable fields (a task with a dependency says so
    after block, unblock, unclaim and reject too); docs/concepts.md: every claim
    transition is an event carrying holder, epoch and task."""
    a, b = project.wt("wt-a"), project.wt("wt-b")
    m = project.main
    gcj(m, "task", "add", "D", "--title", "dep")
    gcj(m, "task", "add", "X", "--title", "x", "--after", "D")
    assert gcj(m, "block", "X", "--reason", "r").json()["task"]["after"] == ["D"]
    assert gcj(m, "unblock", "X").json()["task"]["after"] == ["D"]
    gcj(m, "task", "add", "Y", "--title", "y", "--after", "D")
    assert gcj(a, "claim", "D").code == 0
    assert gcj(a, "done", "D").code == 0
    assert gcj(a, "claim", "Y").code == 0
    assert gcj(a, "unclaim", "Y").json()["task"]["after"] == ["D"]
    assert gcj(a, "claim", "Y").code == 0
    epoch = gcj(m, "task", "show", "Y").json()["task"]["claim"]["epoch"]
    assert gcj(b, "claim", "Y").code == 1  # held: denied
    assert gcj(b, "done", "Y").code == 1  # not b's: refused
    events = gcj(m, "log", "--task", "Y").json()["events"]
    by_kind = {e["kind"]: e for e in events}
    assert by_kind["claim.denied"]["details"]["epoch"] == epoch
    assert by_kind["claim.refused"]["details"]["epoch"] == epoch
    blocked = [e for e in gcj(m, "log", "--task", "X").json()["events"] if e["kind"] == "task.unblocked"]
    assert blocked and "epoch" in blocked[0]["details"]


def test_task_show_says_an_expired_claim_expired(project: Project) -> None:
    m = project.main
    gcj(m, "task", "add", "E", "--title", "e")
    assert gcj(m, "claim", "E", "--ttl", "1m").code == 0
    out = run_cli(m, "task", "show", "E", env={"GITCOORD_TEST_CLOCK_OFFSET": "600"}).stdout
    assert "expired 9m" in out and "expires in -" not in out and " active (" not in out


def test_a_rejections_reason_survives_a_block_and_unblock(project: Project) -> None:
    """docs/concepts.md: reject sends the task back to open with the reason kept."""
    a, b = project.wt("wt-a"), project.wt("wt-b")
    m = project.main
    gcj(m, "task", "add", "R", "--title", "r")
    assert gcj(a, "claim", "R").code == 0
    assert gcj(a, "done", "R", "--review").code == 0
    assert gcj(b, "reject", "R", "--reason", "needs tests").code == 0
    assert gcj(m, "block", "R", "--reason", "waiting for CI").json()["task"]["reason"] == "waiting for CI"
    assert gcj(m, "unblock", "R").json()["task"]["reason"] == "needs tests"
    assert gcj(m, "task", "show", "R").json()["task"]["reason"] == "needs tests"
