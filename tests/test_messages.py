"""Messages between holders: send, inbox, ack; gitcoord's own messages (SPEC section 4)."""

from __future__ import annotations

from pathlib import Path

from fixtures.repos.recipes import Project
from tests.conftest import Result, run_inproc


def j(cwd: Path, *args: str, agent: str | None = None) -> Result:
    return run_inproc(cwd, "--json", *args, env={"GITCOORD_AGENT": agent} if agent else None)


def bodies(cwd: Path, agent: str, *extra: str) -> list[str]:
    r = j(cwd, "inbox", *extra, agent=agent)
    assert r.code == 0, r.stderr
    return [m["body"] for m in r.json()["messages"]]


def test_send_to_agent_and_ack(project: Project, gc) -> None:  # type: ignore[no-untyped-def]
    a, b = project.wt("wt-a"), project.wt("wt-b")
    r = gc(a, "--json", "--agent", "alice", "send", "bob", "I need", "src/api.py for ten minutes")
    assert r.code == 0, r.stderr
    msg = r.json()["message"]
    assert msg["body"] == "I need src/api.py for ten minutes"
    assert msg["from"]["agent"] == "alice" and msg["to"]["agent"] == "bob"

    assert bodies(b, "bob") == ["I need src/api.py for ten minutes"]
    assert bodies(a, "alice") == []  # not to alice
    human = gc(b, "--agent", "bob", "inbox")
    assert "from alice" in human.stdout and "ten minutes" in human.stdout
    r = gc(b, "--json", "--agent", "bob", "inbox", "--ack")
    assert len(r.json()["messages"]) == 1
    assert bodies(b, "bob") == []
    assert bodies(b, "bob", "--all") == ["I need src/api.py for ten minutes"]
    assert any(e["kind"] == "message.sent" for e in j(a, "log").json()["events"])


def test_broadcast_is_acked_per_recipient(project: Project) -> None:
    main, a, b = project.main, project.wt("wt-a"), project.wt("wt-b")
    assert j(main, "send", "--all", "main", "is", "frozen", agent="lead").code == 0
    assert bodies(a, "alice") == ["main is frozen"]
    assert bodies(b, "bob") == ["main is frozen"]
    assert bodies(main, "lead") == []  # not to its sender
    j(a, "inbox", "--ack", agent="alice")
    assert bodies(a, "alice") == []
    assert bodies(b, "bob") == ["main is frozen"]  # bob has not read it


def test_forced_release_leaves_the_former_holder_a_message(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    assert j(a, "lease", "docs/guide.md", agent="alice").code == 0
    r = j(b, "release", "--force", "docs/guide.md", agent="bob")
    assert r.code == 0, r.stderr
    (body,) = bodies(a, "alice")
    assert "bob force-released your lease on docs/guide.md" in body
    # it is addressed to the worktree: it arrives whatever name the agent uses now
    assert bodies(a, "alice-renamed") == [body]
    assert bodies(b, "bob") == []


def test_messages_reach_an_agent_in_any_worktree(project: Project) -> None:
    main, b = project.main, project.wt("wt-b")
    j(main, "send", "carol", "hello", agent="lead")
    assert bodies(b, "carol") == ["hello"]


def test_bad_messages_change_nothing(project: Project) -> None:
    from tests.conftest import store_dump

    main = project.main
    before = store_dump(main)
    for args in (["send", "bob"], ["send", "--all"], ["send", "bob", ""], ["send", "--all", " "]):
        r = j(main, *args)
        assert r.code == 2, (args, r.stderr)
    r = j(main, "send", "bad\nname", "hi")
    assert r.code == 2
    assert store_dump(main) == before
