"""`gitcoord check`: the hooks' checks by hand (issue 3, item 6)."""

from __future__ import annotations

from fixtures.repos.recipes import Project
from tests.test_hooks_support import (
    API,
    API_REASON,
    cli,
    head,
    leased_project,  # noqa: F401 (the project fixture)
    ok,
    write,
)


def test_staged_is_the_default_and_exits_1_on_violations(project: Project) -> None:
    b = project.wt("wt-b")
    r = cli(b, "check")
    assert r.code == 0 and r.stdout.startswith("ok: the index, 0 path(s)")
    write(b, API, "x = 1\n")
    ok(b, "add", API)
    r = cli(b, "check", "--staged")
    assert r.code == 1
    assert f"{API}: leased by wt-a" in r.stdout and "git restore --staged" in r.stdout
    doc = cli(b, "--json", "check").json()
    assert doc["ok"] is False and doc["checked"] == {"commits": [], "paths": 1}
    (v,) = doc["violations"]
    assert v["rule"] == "lease" and v["holder"]["agent"] == "wt-a" and v["lease"]["reason"] == API_REASON
    # the holder's own view: fine
    assert cli(project.wt("wt-a"), "check").code == 0


def test_range_checks_each_commit_as_its_maker(project: Project) -> None:
    a, b = project.wt("wt-a"), project.wt("wt-b")
    write(b, "docs/guide.md", "# b\n")
    ok(b, "commit", "-qam", "b: guide")
    write(b, API, "x = 2\n")
    ok(b, "commit", "-qam", "b: api", "--no-verify")
    bad = head(b)
    r = cli(b, "check", "--range", "main..wt-b", "--json")
    assert r.code == 1
    doc = r.json()
    assert len(doc["checked"]["commits"]) == 2
    assert [v["commit"] for v in doc["violations"]] == [bad]
    assert "gitcoord send wt-a" in doc["fixes"][0]
    # one commit alone
    assert cli(b, "check", "--range", "HEAD~1").code == 0
    assert cli(b, "check", "--range", bad).code == 1
    # A's own commits on the api are A's
    write(a, API, "x = 3\n")
    ok(a, "commit", "-qam", "a: api")
    assert cli(b, "check", "--range", "main..wt-a").code == 0


def test_bad_usage_exits_2(project: Project) -> None:
    b = project.wt("wt-b")
    assert cli(b, "check", "--staged", "--range", "main..HEAD").code == 2
    r = cli(b, "check", "--range", "no-such-ref..HEAD")
    assert r.code == 2 and "bad range" in r.stderr
