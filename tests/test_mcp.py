"""``gitcoord mcp`` as a real process, driven by the MCP SDK's own stdio client
(SPEC section 9): the tools' results are the CLI's ``--json`` documents, a denial is a
normal result, bad input a tool error that changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_types import CallToolResult, TextContent

from fixtures.repos.recipes import Project
from tests.conftest import run_cli, store_dump

TOOLS = {
    "lease", "release", "renew", "leases", "read", "check", "claim", "unclaim", "done",
    "task_add", "task_list", "task_show", "status", "send", "inbox", "log",
}


@asynccontextmanager
async def mcp_session(cwd: Path, *args: str, env: dict[str, str] | None = None) -> AsyncIterator[ClientSession]:
    """A session with ``python -m gitcoord [args] mcp`` started in ``cwd``."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "gitcoord", *args, "mcp"],
        cwd=str(cwd),
        env={**os.environ, **(env or {})},
    )
    with tempfile.TemporaryFile("w+") as errlog:
        async with stdio_client(params, errlog=errlog) as (r, w), ClientSession(r, w) as session:
            await session.initialize()
            yield session
        errlog.seek(0)
        assert "Traceback" not in errlog.read()


def drive(cwd: Path, scenario: Callable[[ClientSession], Awaitable[None]], *args: str, env: dict[str, str] | None = None) -> None:
    async def main() -> None:
        async with mcp_session(cwd, *args, env=env) as session:
            await scenario(session)

    anyio.run(main)


def text(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


async def ok(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, text(result)
    assert isinstance(result.structured_content, dict)
    return result.structured_content


def timeless(doc: Any) -> Any:
    """A document without what moves with the clock (seconds left, the time it was made)."""
    if isinstance(doc, dict):
        return {k: timeless(v) for k, v in doc.items() if k not in ("expires_in", "time")}
    if isinstance(doc, list):
        return [timeless(v) for v in doc]
    return doc


def test_tools_are_listed_with_typed_schemas(project: Project) -> None:
    async def scenario(s: ClientSession) -> None:
        tools = {t.name: t for t in (await s.list_tools()).tools}
        assert set(tools) == TOOLS
        lease = tools["lease"]
        assert lease.input_schema["required"] == ["patterns"]
        assert lease.input_schema["properties"]["patterns"]["type"] == "array"
        assert lease.input_schema["properties"]["shared"]["type"] == "boolean"
        assert tools["claim"].input_schema["properties"]["count"]["type"] == "integer"
        assert all(t.output_schema and t.output_schema["type"] == "object" for t in tools.values())
        assert all(t.description for t in tools.values())

    drive(project.wt("wt-a"), scenario)


def test_a_lease_over_mcp_denies_another_worktrees_cli_lease(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")

    async def scenario(s: ClientSession) -> None:
        doc = await ok(s, "lease", patterns=["src/app/api.py"], reason="rename handler", ttl="45m")
        granted = doc["granted"][0]
        assert granted["holder"] == {"agent": "alice", "worktree": str(a), "host": "testhost"}
        r = run_cli(b, "--json", "--agent", "bob", "lease", "src/app/**")
        assert r.code == 1
        conflict = r.err_json()["error"]["details"]["conflicts"][0]
        assert conflict["lease"]["holder"]["agent"] == "alice"
        assert conflict["witness"] == "src/app/api.py"
        # the CLI sees the same lease the server granted
        listed = run_cli(b, "--json", "leases").json()
        assert timeless(listed) == timeless(await ok(s, "leases"))

    drive(a, scenario, "--agent", "alice")


def test_a_denial_over_mcp_is_a_result_with_the_conflicts(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    assert run_cli(b, "--agent", "bob", "lease", "docs/", "--reason", "docs sweep").code == 0
    cli_denial = run_cli(a, "--json", "lease", "docs/guide.md").err_json()["error"]

    async def scenario(s: ClientSession) -> None:
        result = await s.call_tool("lease", {"patterns": ["docs/guide.md"]})
        assert not result.is_error
        doc = result.structured_content
        assert doc is not None
        assert doc["granted"] is False
        assert doc["code"] == "denied" == cli_denial["code"]
        [conflict] = doc["conflicts"]
        assert conflict["requested"] == "docs/guide.md"
        assert conflict["witness"] == "docs/guide.md"
        assert conflict["lease"]["pattern"] == "docs/"
        assert conflict["lease"]["holder"]["agent"] == "bob"
        assert conflict["lease"]["reason"] == "docs sweep"
        assert conflict["lease"]["expires_at"]
        assert timeless(doc["conflicts"]) == timeless(cli_denial["details"]["conflicts"])
        assert "held by bob" in doc["message"]
        assert json.loads(text(result)) == doc
        # a task another worktree holds: a denial too
        assert run_cli(b, "task", "add", "T-7", "--title", "taken").code == 0
        assert run_cli(b, "--agent", "bob", "claim", "T-7").code == 0
        taken = await s.call_tool("claim", {"ids": ["T-7"]})
        assert not taken.is_error
        assert taken.structured_content is not None
        assert taken.structured_content["granted"] is False
        assert taken.structured_content["denied"][0]["task"] == "T-7"
        assert "claimed by bob" in taken.structured_content["message"]

    drive(a, scenario)


def test_claim_next_and_status_over_mcp_equal_the_cli(project: Project) -> None:
    a = project.wt("wt-a")
    assert run_cli(project.main, "task", "add", "T-1", "--title", "first", "--priority", "1").code == 0

    async def scenario(s: ClientSession) -> None:
        doc = await ok(s, "claim", next=True)
        [claimed] = doc["claimed"]
        assert claimed["task"] == "T-1"
        assert claimed["holder"]["worktree"] == str(a)
        # nothing left: the CLI's empty document, and why in the text
        result = await s.call_tool("claim", {"next": True})
        assert not result.is_error
        assert result.structured_content == {"claimed": [], "renewed": []}
        assert "nothing to claim" in text(result)
        cli = run_cli(a, "--json", "claim", "--next")
        assert cli.code == 1 and cli.json() == result.structured_content
        # read-only tools answer exactly what --json prints
        for tool, args, argv in [
            ("status", {}, ["status"]),
            ("task_list", {}, ["task", "list"]),
            ("task_show", {"id": "T-1"}, ["task", "show", "T-1"]),
            ("leases", {"all": True}, ["leases", "--all"]),
            ("inbox", {}, ["inbox"]),
            ("log", {"task": "T-1"}, ["log", "--task", "T-1"]),
        ]:
            got = await ok(s, tool, **args)
            assert timeless(got) == timeless(run_cli(a, "--json", *argv).json()), tool
        status = await ok(s, "status")
        assert [c["task"] for c in status["claims"]] == ["T-1"]
        done = await ok(s, "done", id="T-1")
        assert done["task"]["state"] == "done"

    drive(a, scenario)


def test_bad_arguments_and_hostile_paths_are_tool_errors_that_change_nothing(project: Project) -> None:
    a = project.wt("wt-a")
    outside = project.main.parent / "outside.txt"
    outside.write_text("not in the repository\n")
    assert run_cli(a, "lease", "README.md").code == 0  # the store exists, with something in it
    before = store_dump(project.main)

    async def scenario(s: ClientSession) -> None:
        cases: list[tuple[str, dict[str, Any], str | None]] = [
            ("lease", {"patterns": ["../x"]}, "outside the repository"),
            ("lease", {"patterns": ["src/a\x00b.py"]}, "NUL"),
            ("lease", {"patterns": [str(outside)]}, "outside the repository"),
            ("lease", {"patterns": ["src/ok.py", "../../etc/passwd"]}, "outside the repository"),
            ("lease", {"patterns": []}, "no pattern given"),
            ("lease", {"patterns": ["src/x.py"], "ttl": "-3m"}, "bad duration"),
            ("read", {"paths": ["/etc/passwd"]}, "outside the repository"),
            ("release", {"patterns": ["README.md"], "all": True}, "not both"),
            ("claim", {"ids": ["T-9"], "next": True}, "not both"),
            ("task_show", {"id": "T-404"}, "no task T-404"),
            ("log", {"since": "yesterday-ish"}, "bad time"),
            ("lease", {"patterns": 5}, None),  # malformed: the SDK's schema check
            ("claim", {"count": 0, "next": True}, None),
            ("task_add", {}, None),
        ]
        for tool, args, message in cases:
            result = await s.call_tool(tool, args)
            assert result.is_error, (tool, args, text(result))
            assert "Traceback" not in text(result)
            if message is not None:
                assert message in text(result), (tool, args, text(result))
                assert result.structured_content is not None
                assert result.structured_content["error"]["message"] == text(result)

    drive(a, scenario)
    assert store_dump(project.main) == before


def test_a_tool_error_carries_the_clis_message(project: Project) -> None:
    a = project.wt("wt-a")
    cli = run_cli(a, "--json", "lease", "../x")
    assert cli.code == 2

    async def scenario(s: ClientSession) -> None:
        result = await s.call_tool("lease", {"patterns": ["../x"]})
        assert result.is_error
        assert result.structured_content == cli.err_json()

    drive(a, scenario)


def test_the_agent_comes_from_the_environment_and_C_names_the_worktree(project: Project) -> None:
    b = project.wt("wt-b")

    async def scenario(s: ClientSession) -> None:
        doc = await ok(s, "lease", patterns=["src/lib/parse.py"])
        assert doc["granted"][0]["holder"]["agent"] == "carol"
        assert doc["granted"][0]["holder"]["worktree"] == str(b)

    drive(project.main, scenario, "-C", str(b), env={"GITCOORD_AGENT": "carol"})


def test_the_server_ends_when_stdin_closes(project: Project) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gitcoord", "mcp"],
        cwd=project.wt("wt-a"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    hello = {
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "test", "version": "0"}},
    }
    proc.stdin.write((json.dumps(hello) + "\n").encode())
    proc.stdin.flush()
    answer = json.loads(proc.stdout.readline())
    assert answer["id"] == 1 and answer["result"]["serverInfo"]["name"] == "gitcoord"
    proc.stdin.close()
    try:
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read().decode() if proc.stderr else ""
    assert code == 0, err
    assert "Traceback" not in err


def test_mcp_outside_a_repository_exits_3(tmp_path: Path) -> None:
    r = run_cli(tmp_path, "mcp", input="")
    assert r.code == 3
    assert "not a git repository" in r.stderr.lower() or "repository" in r.stderr


def test_only_gitcoord_mcp_imports_the_sdk(project: Project) -> None:
    probe = (
        "import sys\n"
        "from gitcoord import cli\n"
        "try:\n"
        "    cli.main(['--json', 'leases'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mcp', 'mcp_types', 'pydantic')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], cwd=project.wt("wt-a"), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
