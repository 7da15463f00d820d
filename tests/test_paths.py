"""gitcoord.paths: normalisation, wildmatch, exact overlap with witnesses, the lease index."""

from __future__ import annotations

import itertools
import os
import string
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitcoord.errors import BadInput
from gitcoord.paths import (
    MAX_GLOB_LENGTH,
    MAX_GLOB_STARS,
    LeaseIndex,
    Pattern,
    ancestors,
    matches,
    normalize_path,
    overlap,
    parse_pattern,
    pattern_from_text,
    wildmatch,
)
from gitcoord.paths import _compile as compile_glob

pytestmark = pytest.mark.no_store  # pure pattern logic: no store

R = TypeVar("R")
P = pattern_from_text


# ---------------------------------------------------------------------------------------
# A reference wildmatch: a direct, backtracking port of git's dowild() (wildmatch.c),
# without its fast-forward shortcuts. Exponential in the worst case: short inputs only.
# ---------------------------------------------------------------------------------------

_MATCH, _NOMATCH, _ABORT_ALL, _ABORT_TO_STARSTAR = 0, 1, -1, -2


def _ctype(name: str, c: str) -> bool | None:
    if not c or not c.isascii():
        return False if name in _CLASSES else None
    o = ord(c)
    tests: dict[str, Callable[[], bool]] = {
        "alnum": lambda: c.isalnum(),
        "alpha": lambda: c.isalpha(),
        "blank": lambda: c in " \t",
        "cntrl": lambda: o < 32 or o == 127,
        "digit": lambda: c in string.digits,
        "graph": lambda: 0x21 <= o <= 0x7E,
        "lower": lambda: c in string.ascii_lowercase,
        "print": lambda: 0x20 <= o <= 0x7E,
        "punct": lambda: 0x21 <= o <= 0x7E and not c.isalnum(),
        "space": lambda: c in " \t\n\r",
        "upper": lambda: c in string.ascii_uppercase,
        "xdigit": lambda: c in string.hexdigits,
    }
    test = tests.get(name)
    return None if test is None else test()


_CLASSES = {
    "alnum",
    "alpha",
    "blank",
    "cntrl",
    "digit",
    "graph",
    "lower",
    "print",
    "punct",
    "space",
    "upper",
    "xdigit",
}


def _dowild(p: str, pi: int, t: str, ti: int) -> int:
    np_, nt = len(p), len(t)

    def at(k: int) -> str:
        return p[k] if k < np_ else ""

    while pi < np_:
        p_ch = p[pi]
        t_ch = t[ti] if ti < nt else ""
        if not t_ch and p_ch != "*":
            return _ABORT_ALL
        if p_ch == "\\":
            pi += 1
            if t_ch != at(pi):
                return _NOMATCH
        elif p_ch == "?":
            if t_ch == "/":
                return _NOMATCH
        elif p_ch == "*":
            pi += 1
            match_slash = False
            if at(pi) == "*":
                prev = pi - 2
                while at(pi) == "*":
                    pi += 1
                if (prev < 0 or p[prev] == "/") and (
                    pi == np_ or p[pi] == "/" or (p[pi] == "\\" and at(pi + 1) == "/")
                ):
                    if at(pi) == "/" and _dowild(p, pi + 1, t, ti) == _MATCH:
                        return _MATCH
                    match_slash = True
            if pi == np_:
                if not match_slash and "/" in t[ti:]:
                    return _NOMATCH
                return _MATCH
            if not match_slash and p[pi] == "/":
                k = t.find("/", ti)
                if k < 0:
                    return _NOMATCH
                ti, pi = k + 1, pi + 1
                continue
            while ti < nt:
                m = _dowild(p, pi, t, ti)
                if m != _NOMATCH:
                    if not match_slash or m != _ABORT_TO_STARSTAR:
                        return m
                elif not match_slash and t[ti] == "/":
                    return _ABORT_TO_STARSTAR
                ti += 1
            return _ABORT_ALL
        elif p_ch == "[":
            pi += 1
            c = at(pi)
            if c == "^":
                c = "!"
            negated = c == "!"
            if negated:
                pi += 1
                c = at(pi)
            prev_ch = ""
            matched = False
            while True:
                if not c:
                    return _ABORT_ALL
                if c == "\\":
                    pi += 1
                    c = at(pi)
                    if not c:
                        return _ABORT_ALL
                    matched = matched or t_ch == c
                elif c == "-" and prev_ch and at(pi + 1) and at(pi + 1) != "]":
                    pi += 1
                    c = at(pi)
                    if c == "\\":
                        pi += 1
                        c = at(pi)
                        if not c:
                            return _ABORT_ALL
                    matched = matched or prev_ch <= t_ch <= c
                    c = ""
                elif c == "[" and at(pi + 1) == ":":
                    pi += 2
                    s = pi
                    while at(pi) and at(pi) != "]":
                        pi += 1
                    c = at(pi)
                    if not c:
                        return _ABORT_ALL
                    i = pi - s - 1
                    if i < 0 or p[pi - 1] != ":":
                        pi = s - 2
                        c = "["
                        matched = matched or t_ch == c
                    else:
                        r = _ctype(p[s : s + i], t_ch)
                        if r is None:
                            return _ABORT_ALL
                        matched = matched or r
                        c = ""
                else:
                    matched = matched or t_ch == c
                prev_ch = c
                pi += 1
                c = at(pi)
                if c == "]":
                    break
            if matched == negated or t_ch == "/":
                return _NOMATCH
        elif t_ch != p_ch:
            return _NOMATCH
        pi += 1
        ti += 1
    return _MATCH if ti >= nt else _NOMATCH


def ref_wildmatch(pattern: str, text: str) -> bool:
    return _dowild(pattern, 0, text, 0) == _MATCH


def ref_matches(pattern: Pattern, path: str) -> bool:
    """Lease semantics from first principles."""
    if pattern.kind == "file":
        return path == pattern.text
    if pattern.kind == "dir":
        return path == pattern.key or path.startswith(pattern.key + "/")
    text = pattern.text
    if path == text or path.startswith(text + "/"):
        return True
    return ref_wildmatch(text, path) or any(ref_wildmatch(text, a) for a in ancestors(path))


def in_thread(fn: Callable[[], R], timeout: float = 10.0) -> R:
    """Run ``fn`` in a thread; fail unless it finishes within ``timeout`` seconds."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # pragma: no cover - re-raised below
            box["error"] = e

    th = threading.Thread(target=target, daemon=True)
    th.start()
    th.join(timeout)
    assert not th.is_alive(), f"did not finish within {timeout} s (backtracking?)"
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "src" / "foo.py").write_text("x\n")
    return root


def test_normalize_relative_from_subdir(repo: Path) -> None:
    assert normalize_path("foo.py", cwd=repo / "src", root=repo) == "src/foo.py"
    assert normalize_path("pkg/mod.py", cwd=repo / "src", root=repo) == "src/pkg/mod.py"
    assert normalize_path("./pkg//mod.py", cwd=repo / "src", root=repo) == "src/pkg/mod.py"
    assert normalize_path("src/foo.py", cwd=repo, root=repo) == "src/foo.py"
    assert normalize_path("not/yet/there.py", cwd=repo, root=repo) == "not/yet/there.py"


def test_normalize_absolute_inside(repo: Path) -> None:
    assert (
        normalize_path(str(repo / "src" / "foo.py"), cwd=repo / "docs", root=repo) == "src/foo.py"
    )
    assert normalize_path(str(repo) + "/docs/", cwd=repo, root=repo) == "docs"


def test_normalize_dotdot_staying_inside(repo: Path) -> None:
    assert normalize_path("../docs/a.md", cwd=repo / "src", root=repo) == "docs/a.md"
    assert normalize_path("pkg/../foo.py", cwd=repo / "src", root=repo) == "src/foo.py"
    assert normalize_path(str(repo / "src" / ".." / "docs"), cwd=repo, root=repo) == "docs"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "a\0b",
        "a\nb",
        "a\rb",
        "..",
        "../x",
        "src/../../x",
        ".",
        "src/..",
        ".git",
        ".git/config",
        "src/.git/x",
        ".GIT/HEAD",
        "a/.Git",
    ],
)
def test_normalize_bad_input(repo: Path, raw: str) -> None:
    with pytest.raises(BadInput):
        normalize_path(raw, cwd=repo, root=repo)


def test_normalize_outside_absolute(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(BadInput):
        normalize_path(str(tmp_path / "elsewhere.py"), cwd=repo, root=repo)
    with pytest.raises(BadInput):
        normalize_path(str(repo), cwd=repo, root=repo)  # the root itself
    with pytest.raises(BadInput):
        normalize_path(str(repo) + "2/x", cwd=repo, root=repo)  # sibling sharing a prefix


def test_normalize_symlinked_root(repo: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(repo, target_is_directory=True)
    # root through the link, cwd real -- and the other way round
    assert normalize_path("foo.py", cwd=repo / "src", root=link) == "src/foo.py"
    assert normalize_path("foo.py", cwd=link / "src", root=repo) == "src/foo.py"
    assert normalize_path("foo.py", cwd=link / "src", root=link) == "src/foo.py"
    # absolute paths written through either spelling
    assert normalize_path(str(link / "src" / "foo.py"), cwd=repo, root=repo) == "src/foo.py"
    assert normalize_path(str(repo / "src" / "foo.py"), cwd=repo, root=link) == "src/foo.py"
    with pytest.raises(BadInput):
        normalize_path("../../x", cwd=link / "src", root=link)
    with pytest.raises(BadInput):
        normalize_path(str(link), cwd=repo, root=repo)


def test_normalize_keeps_final_symlink(repo: Path) -> None:
    (repo / "alias.py").symlink_to(repo / "src" / "foo.py")
    assert normalize_path("alias.py", cwd=repo, root=repo) == "alias.py"


def test_normalize_accepts_pathlike(repo: Path) -> None:
    assert normalize_path("x", cwd=str(repo / "src"), root=str(repo)) == "src/x"


# ---------------------------------------------------------------------------------------
# parse_pattern / pattern_from_text
# ---------------------------------------------------------------------------------------


def test_parse_kinds(repo: Path) -> None:
    assert parse_pattern("src/foo.py", cwd=repo, root=repo) == Pattern(
        "src/foo.py", "file", "src/foo.py"
    )
    assert parse_pattern("src/pkg/", cwd=repo, root=repo) == Pattern("src/pkg/", "dir", "src/pkg")
    assert parse_pattern("src/pkg", cwd=repo, root=repo) == Pattern("src/pkg/", "dir", "src/pkg")
    assert parse_pattern("new/", cwd=repo, root=repo) == Pattern("new/", "dir", "new")
    assert parse_pattern(".", cwd=repo / "src", root=repo) == Pattern("src/", "dir", "src")
    assert parse_pattern("src/**/*.py", cwd=repo, root=repo) == Pattern(
        "src/**/*.py", "glob", "src"
    )
    assert parse_pattern("*.md", cwd=repo, root=repo) == Pattern("*.md", "glob", "")
    assert parse_pattern("docs/a?.md", cwd=repo, root=repo).key == "docs"
    assert parse_pattern("a/b/c*", cwd=repo, root=repo).key == "a/b"
    assert parse_pattern("**", cwd=repo, root=repo) == Pattern("**", "glob", "")
    assert parse_pattern("*", cwd=repo, root=repo) == Pattern("*", "glob", "")


def test_parse_glob_relative_to_cwd(repo: Path) -> None:
    assert parse_pattern("*.py", cwd=repo / "src", root=repo) == Pattern("src/*.py", "glob", "src")
    assert parse_pattern("../docs/*.md", cwd=repo / "src", root=repo) == Pattern(
        "docs/*.md", "glob", "docs"
    )
    assert parse_pattern("../*.md", cwd=repo / "src", root=repo) == Pattern("*.md", "glob", "")
    assert parse_pattern(str(repo) + "/src/*.py", cwd=repo / "docs", root=repo).text == "src/*.py"
    assert parse_pattern("pkg/./x/*.py", cwd=repo / "src", root=repo).text == "src/pkg/x/*.py"
    assert parse_pattern("src/*/./b//c", cwd=repo, root=repo).text == "src/*/b/c"
    with pytest.raises(BadInput):
        parse_pattern("../*.md", cwd=repo, root=repo)
    with pytest.raises(BadInput):
        parse_pattern("src/*/../x", cwd=repo, root=repo)


def test_parse_escapes(repo: Path) -> None:
    assert parse_pattern("a\\*b", cwd=repo, root=repo) == Pattern("a*b", "file", "a*b")
    p = parse_pattern("we\\[ird\\]/*.py", cwd=repo, root=repo)
    # key '': besides we[ird]/x.py it covers its text taken literally, we\[ird]/*.py
    assert p == Pattern("we\\[ird]/*.py", "glob", "")
    assert matches(p, "we\\[ird]/*.py")
    assert pattern_from_text(p.text) == p
    assert matches(p, "we[ird]/x.py")
    assert not matches(p, "wei/x.py")
    assert parse_pattern("src/\\a*", cwd=repo, root=repo).text == "src/a*"


def test_parse_glob_trailing_slash_means_inside(repo: Path) -> None:
    p = parse_pattern("src/*/", cwd=repo, root=repo)
    assert p == Pattern("src/*/**", "glob", "src")
    assert matches(p, "src/pkg/a.py")
    assert not matches(p, "src/foo.py")
    assert parse_pattern("src/**/", cwd=repo, root=repo).text == "src/**"


def test_parse_symlinked_dir_is_a_file(repo: Path) -> None:
    (repo / "lnk").symlink_to(repo / "src", target_is_directory=True)
    assert parse_pattern("lnk", cwd=repo, root=repo).kind == "file"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "x\n",
        "x\0",
        "src/[ab",
        "[",
        "a[]b",
        "[!",
        "[a-",
        "x\\",
        "*/\\",
        "[[:foo:]]",
        "[[::]ab]",
        "[\\]",
        ".git/*",
        "*/.git/x",
        ".git",
        "/etc/*.conf",
        "..",
        "../*",
        "src/*/..",
    ],
)
def test_parse_bad_input(repo: Path, raw: str) -> None:
    with pytest.raises(BadInput):
        parse_pattern(raw, cwd=repo, root=repo)


def test_parse_root_itself_is_bad(repo: Path) -> None:
    with pytest.raises(BadInput):
        parse_pattern(".", cwd=repo, root=repo)
    with pytest.raises(BadInput):
        parse_pattern(str(repo) + "/", cwd=repo, root=repo)


def test_parse_complexity_limit(repo: Path) -> None:
    ok = "*a" * MAX_GLOB_STARS
    assert parse_pattern(ok, cwd=repo, root=repo).kind == "glob"
    with pytest.raises(BadInput):
        parse_pattern(ok + "*", cwd=repo, root=repo)
    with pytest.raises(BadInput):
        parse_pattern("a/" * 3000 + "*", cwd=repo, root=repo)
    long_dir = "d" * (MAX_GLOB_LENGTH - 5)
    assert parse_pattern(long_dir + "/*.py", cwd=repo, root=repo).kind == "glob"
    with pytest.raises(BadInput):
        parse_pattern(long_dir + "/*.pyx", cwd=repo, root=repo)
    assert parse_pattern("f" * 4000, cwd=repo, root=repo).kind == "file"


def test_pattern_from_text() -> None:
    assert P("src/foo.py") == Pattern("src/foo.py", "file", "src/foo.py")
    assert P("src/pkg/") == Pattern("src/pkg/", "dir", "src/pkg")
    assert P("src/**/*.py") == Pattern("src/**/*.py", "glob", "src")
    assert P("src/**") == Pattern("src/**", "glob", "src")
    assert P("*.md") == Pattern("*.md", "glob", "")
    assert P("docs/a?.md").key == "docs"
    assert P("a/b/c*").key == "a/b"
    assert P("a/[x]/c").key == "a"
    assert P("a\\*b") == Pattern("a\\*b", "file", "a\\*b")  # only escaped: a file, text kept
    assert P("x\\[y]/z/*").key == ""  # (it covers the path x\[y]/z/* too: see below)
    assert P("src/x\\[y]/*").key == "src"
    assert P("odd[dir]/") == Pattern("odd[dir]/", "dir", "odd[dir]")
    with pytest.raises(BadInput):
        P("")
    with pytest.raises(BadInput):
        P("/")


def test_round_trip(repo: Path) -> None:
    for raw in ["src/foo.py", "src/pkg", "src/pkg/", "src/**/*.py", "*.md", "x/[ab]?/**", "\\?x*"]:
        p = parse_pattern(raw, cwd=repo, root=repo)
        assert pattern_from_text(p.text) == p, raw


def test_file_with_wildcard_chars_reloads_as_covering_glob(repo: Path) -> None:
    # documented asymmetry: 'a[1].txt' (escaped on input) reloads as a glob, which still
    # covers the literal path (and, conservatively, 'a1.txt')
    p = parse_pattern("a\\[1\\].txt", cwd=repo, root=repo)
    assert p == Pattern("a[1].txt", "file", "a[1].txt")
    q = pattern_from_text(p.text)
    assert q.kind == "glob"
    assert matches(q, "a[1].txt")
    assert matches(q, "a1.txt")


# ---------------------------------------------------------------------------------------
# wildmatch: git's t/t3070-wildmatch.sh, glob column (WM_PATHNAME). None = malformed.
# ---------------------------------------------------------------------------------------

T3070: list[tuple[bool | None, str, str]] = [
    # Basic wildmatch features
    (True, "foo", "foo"),
    (False, "foo", "bar"),
    (True, "", ""),
    (True, "foo", "???"),
    (False, "foo", "??"),
    (True, "foo", "*"),
    (True, "foo", "f*"),
    (False, "foo", "*f"),
    (True, "foo", "*foo*"),
    (True, "foobar", "*ob*a*r*"),
    (True, "aaaaaaabababab", "*ab"),
    (True, "foo*", "foo\\*"),
    (False, "foobar", "foo\\*bar"),
    (True, "f\\oo", "f\\\\oo"),
    (True, "ball", "*[al]?"),
    (False, "ten", "[ten]"),
    (True, "ten", "**[!te]"),
    (False, "ten", "**[!ten]"),
    (True, "ten", "t[a-g]n"),
    (False, "ten", "t[!a-g]n"),
    (True, "ton", "t[!a-g]n"),
    (True, "ton", "t[^a-g]n"),
    (True, "a]b", "a[]]b"),
    (True, "a-b", "a[]-]b"),
    (True, "a]b", "a[]-]b"),
    (False, "aab", "a[]-]b"),
    (True, "aab", "a[]a-]b"),
    (True, "]", "]"),
    # Extended slash-matching features
    (False, "foo/baz/bar", "foo*bar"),
    (False, "foo/baz/bar", "foo**bar"),
    (True, "foobazbar", "foo**bar"),
    (True, "foo/baz/bar", "foo/**/bar"),
    (True, "foo/baz/bar", "foo/**/**/bar"),
    (True, "foo/b/a/z/bar", "foo/**/bar"),
    (True, "foo/b/a/z/bar", "foo/**/**/bar"),
    (True, "foo/bar", "foo/**/bar"),
    (True, "foo/bar", "foo/**/**/bar"),
    (False, "foo/bar", "foo?bar"),
    (False, "foo/bar", "foo[/]bar"),
    (False, "foo/bar", "foo[^a-z]bar"),
    (False, "foo/bar", "f[^eiu][^eiu][^eiu][^eiu][^eiu]r"),
    (True, "foo-bar", "f[^eiu][^eiu][^eiu][^eiu][^eiu]r"),
    (True, "foo", "**/foo"),
    (True, "XXX/foo", "**/foo"),
    (True, "bar/baz/foo", "**/foo"),
    (False, "bar/baz/foo", "*/foo"),
    (False, "foo/bar/baz", "**/bar*"),
    (True, "deep/foo/bar/baz", "**/bar/*"),
    (False, "deep/foo/bar/baz/", "**/bar/*"),
    (True, "deep/foo/bar/baz/", "**/bar/**"),
    (False, "deep/foo/bar", "**/bar/*"),
    (True, "deep/foo/bar/", "**/bar/**"),
    (False, "foo/bar/baz", "**/bar**"),
    (True, "foo/bar/baz/x", "*/bar/**"),
    (False, "deep/foo/bar/baz/x", "*/bar/**"),
    (True, "deep/foo/bar/baz/x", "**/bar/*/*"),
    # Various additional tests
    (False, "acrt", "a[c-c]st"),
    (True, "acrt", "a[c-c]rt"),
    (False, "]", "[!]-]"),
    (True, "a", "[!]-]"),
    (None, "", "\\"),
    (None, "\\", "\\"),
    (None, "XXX/\\", "*/\\"),
    (True, "XXX/\\", "*/\\\\"),
    (True, "foo", "foo"),
    (True, "@foo", "@foo"),
    (False, "foo", "@foo"),
    (True, "[ab]", "\\[ab]"),
    (True, "[ab]", "[[]ab]"),
    (True, "[ab]", "[[:]ab]"),
    (None, "[ab]", "[[::]ab]"),
    (True, "[ab]", "[[:digit]ab]"),
    (True, "[ab]", "[\\[:]ab]"),
    (True, "?a?b", "\\??\\?b"),
    (True, "abc", "\\a\\b\\c"),
    (True, "foo/bar/baz/to", "**/t[o]"),
    # Character class tests
    (True, "a1B", "[[:alpha:]][[:digit:]][[:upper:]]"),
    (False, "a", "[[:digit:][:upper:][:space:]]"),
    (True, "A", "[[:digit:][:upper:][:space:]]"),
    (True, "1", "[[:digit:][:upper:][:space:]]"),
    (None, "1", "[[:digit:][:upper:][:spaci:]]"),
    (True, " ", "[[:digit:][:upper:][:space:]]"),
    (False, ".", "[[:digit:][:upper:][:space:]]"),
    (True, ".", "[[:digit:][:punct:][:space:]]"),
    (True, "5", "[[:xdigit:]]"),
    (True, "f", "[[:xdigit:]]"),
    (True, "D", "[[:xdigit:]]"),
    (
        True,
        "_",
        "[[:alnum:][:alpha:][:blank:][:cntrl:][:digit:][:graph:][:lower:][:print:][:punct:][:space:][:upper:][:xdigit:]]",
    ),
    (
        True,
        ".",
        "[^[:alnum:][:alpha:][:blank:][:cntrl:][:digit:][:lower:][:space:][:upper:][:xdigit:]]",
    ),
    (True, "5", "[a-c[:digit:]x-z]"),
    (True, "b", "[a-c[:digit:]x-z]"),
    (True, "y", "[a-c[:digit:]x-z]"),
    (False, "q", "[a-c[:digit:]x-z]"),
    # Additional tests, including some malformed wildmatch patterns
    (True, "]", "[\\\\-^]"),
    (False, "[", "[\\\\-^]"),
    (True, "-", "[\\-_]"),
    (True, "]", "[\\]]"),
    (False, "\\]", "[\\]]"),
    (False, "\\", "[\\]]"),
    (None, "ab", "a[]b"),
    (None, "a[]b", "a[]b"),
    (None, "ab[", "ab["),
    (None, "ab", "[!"),
    (None, "ab", "[-"),
    (True, "-", "[-]"),
    (None, "-", "[a-"),
    (None, "-", "[!a-"),
    (True, "-", "[--A]"),
    (True, "5", "[--A]"),
    (True, " ", "[ --]"),
    (True, "$", "[ --]"),
    (True, "-", "[ --]"),
    (False, "0", "[ --]"),
    (True, "-", "[---]"),
    (True, "-", "[------]"),
    (False, "j", "[a-e-n]"),
    (True, "-", "[a-e-n]"),
    (True, "a", "[!------]"),
    (False, "[", "[]-a]"),
    (True, "^", "[]-a]"),
    (False, "^", "[!]-a]"),
    (True, "[", "[!]-a]"),
    (True, "^", "[a^bc]"),
    (True, "-b]", "[a-]b]"),
    (None, "\\", "[\\]"),
    (True, "\\", "[\\\\]"),
    (False, "\\", "[!\\\\]"),
    (True, "G", "[A-\\\\]"),
    (False, "aaabbb", "b*a"),
    (False, "aabcaa", "*ba*"),
    (True, ",", "[,]"),
    (True, ",", "[\\\\,]"),
    (True, "\\", "[\\\\,]"),
    (True, "-", "[,-.]"),
    (False, "+", "[,-.]"),
    (False, "-.]", "[,-.]"),
    (True, "2", "[\\1-\\3]"),
    (True, "3", "[\\1-\\3]"),
    (False, "4", "[\\1-\\3]"),
    (True, "\\", "[[-\\]]"),
    (True, "[", "[[-\\]]"),
    (True, "]", "[[-\\]]"),
    (False, "-", "[[-\\]]"),
    # Test recursion
    (
        True,
        "-adobe-courier-bold-o-normal--12-120-75-75-m-70-iso8859-1",
        "-*-*-*-*-*-*-12-*-*-*-m-*-*-*",
    ),
    (
        False,
        "-adobe-courier-bold-o-normal--12-120-75-75-X-70-iso8859-1",
        "-*-*-*-*-*-*-12-*-*-*-m-*-*-*",
    ),
    (
        False,
        "-adobe-courier-bold-o-normal--12-120-75-75-/-70-iso8859-1",
        "-*-*-*-*-*-*-12-*-*-*-m-*-*-*",
    ),
    (
        True,
        "XXX/adobe/courier/bold/o/normal//12/120/75/75/m/70/iso8859/1",
        "XXX/*/*/*/*/*/*/12/*/*/*/m/*/*/*",
    ),
    (
        False,
        "XXX/adobe/courier/bold/o/normal//12/120/75/75/X/70/iso8859/1",
        "XXX/*/*/*/*/*/*/12/*/*/*/m/*/*/*",
    ),
    (True, "abcd/abcdefg/abcdefghijk/abcdefghijklmnop.txt", "**/*a*b*g*n*t"),
    (False, "abcd/abcdefg/abcdefghijk/abcdefghijklmnop.txtz", "**/*a*b*g*n*t"),
    (False, "foo", "*/*/*"),
    (False, "foo/bar", "*/*/*"),
    (True, "foo/bba/arr", "*/*/*"),
    (False, "foo/bb/aa/rr", "*/*/*"),
    (True, "foo/bb/aa/rr", "**/**/**"),
    (True, "abcXdefXghi", "*X*i"),
    (False, "ab/cXd/efXg/hi", "*X*i"),
    (True, "ab/cXd/efXg/hi", "*/*X*/*/*i"),
    (True, "ab/cXd/efXg/hi", "**/*X*/**/*i"),
    # Extra pathmatch tests
    (False, "foo", "fo"),
    (True, "foo/bar", "foo/bar"),
    (True, "foo/bar", "foo/*"),
    (False, "foo/bba/arr", "foo/*"),
    (True, "foo/bba/arr", "foo/**"),
    (False, "foo/bba/arr", "foo*"),
    (False, "foo/bba/arr", "foo**"),
    (False, "foo/bba/arr", "foo/*arr"),
    (False, "foo/bba/arr", "foo/**arr"),
    (False, "foo/bba/arr", "foo/*z"),
    (False, "foo/bba/arr", "foo/**z"),
    (False, "foo/bar", "foo?bar"),
    (False, "foo/bar", "foo[/]bar"),
    (False, "foo/bar", "foo[^a-z]bar"),
    (False, "ab/cXd/efXg/hi", "*Xg*i"),
    # Extra case-sensitivity tests
    (False, "a", "[A-Z]"),
    (True, "A", "[A-Z]"),
    (False, "A", "[a-z]"),
    (True, "a", "[a-z]"),
    (False, "a", "[[:upper:]]"),
    (True, "A", "[[:upper:]]"),
    (False, "A", "[[:lower:]]"),
    (True, "a", "[[:lower:]]"),
    (False, "A", "[B-Za]"),
    (True, "a", "[B-Za]"),
    (False, "A", "[B-a]"),
    (True, "a", "[B-a]"),
    (False, "z", "[Z-y]"),
    (True, "Z", "[Z-y]"),
    # the brief's examples
    (True, "foo/x/y/bar", "foo/**/bar"),
    (True, "a/b/foo", "**/foo"),
    (True, "foo/a", "foo/**"),
    (False, "foo", "foo/**"),
    (False, "a/b", "*"),
    (True, "b", "[!a]"),
    (False, "a", "[!a]"),
    (False, "/", "[!a]"),
    (True, "foo/a/b", "foo/**"),
    (True, "x/y", "**"),
    (True, "axb", "a**b"),
    (False, "a/b", "a**b"),
    (True, "x/bar", "**\\/bar"),  # '**' before an escaped slash: no zero-directory shortcut
    (False, "bar", "**\\/bar"),
]


@pytest.mark.parametrize(("expected", "text", "pattern"), T3070)
def test_t3070_wildmatch(expected: bool | None, text: str, pattern: str) -> None:
    if expected is None:
        with pytest.raises(BadInput):
            wildmatch(pattern, text)
        assert not ref_wildmatch(pattern, text)
        return
    assert ref_wildmatch(pattern, text) is expected  # the reference agrees with git
    assert wildmatch(pattern, text) is expected
    glob = compile_glob(pattern, False)
    assert glob.match_nfa(text) is expected
    assert glob.match_regex(text) in (None, expected)


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("src/*", "src/a/b.py", True),  # a matched directory covers its subtree
        ("src/*", "src/a", True),
        ("src/*", "src", False),
        ("src/*.py", "src/a.py/x", True),
        ("src/*.py", "src/a/b.py", False),
        ("**/build", "x/build/out.o", True),
        ("**/build", "build/out.o", True),
        ("**/build", "x/builds/o", False),
        ("foo/**", "foo", False),
        ("foo/**", "foo/x/y", True),
        ("*", "a/b/c", True),
        ("*.md", "docs/a.md", False),
        ("docs/*.md", "docs/sub/a.md", False),
        ("app/[id].tsx", "app/[id].tsx", True),  # the literal text, as git pathspecs do
        ("app/[id].tsx", "app/i.tsx", True),
        ("app/[id]", "app/[id]/page.tsx", True),
        ("app/[id]", "app/x/page.tsx", False),
    ],
)
def test_matches_lease_rules(pattern: str, path: str, expected: bool) -> None:
    assert matches(P(pattern), path) is expected
    assert ref_matches(P(pattern), path) is expected
    glob = compile_glob(pattern, True)
    assert glob.match_nfa(path) is expected
    assert glob.match_regex(path) in (None, expected)


def test_engine_selection() -> None:
    """Simple globs use string operations; others a regex when safe; else the NFA."""
    assert compile_glob("src/**/*.py", True).simple is not None
    assert compile_glob("docs/*.md", True).simple is not None
    assert compile_glob("src/?.py", True).simple is None
    assert compile_glob("src/?.py", True).regex is not None
    assert compile_glob("**/a/**/b", True).simple is None
    assert compile_glob("**/a/**/b", True).regex is None
    assert compile_glob("x/*a*b", True).regex is None


def test_matches_file_and_dir() -> None:
    assert matches(P("src/a.py"), "src/a.py")
    assert not matches(P("src/a.py"), "src/a.py/x")
    assert matches(P("src/"), "src")
    assert matches(P("src/"), "src/a/b")
    assert not matches(P("src/"), "srcx/a")
    assert not matches(P("src/"), "sr")


def test_ancestors() -> None:
    assert ancestors("a/b/c.py") == ["", "a", "a/b"]
    assert ancestors("a") == [""]
    assert ancestors("") == []


# ---------------------------------------------------------------------------------------
# Overlap
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("src/a.py", "src/a.py", "src/a.py"),
        ("src/a.py", "src/b.py", None),
        ("src/a.py", "src/", "src/a.py"),
        ("src/a.py", "src/*.py", "src/a.py"),
        ("src/a.py", "docs/", None),
        ("src/", "src/pkg/", "src/pkg"),
        ("src/pkg/", "src/", "src/pkg"),
        ("src/", "srcx/", None),
        ("src/", "src/**/*.py", "src/a.py"),
        ("docs/", "**/*.py", "docs/a.py"),
        ("**/*.py", "**/*.md", "a.py/a.md"),  # a directory named a.py covers a.py/a.md
        ("*.py", "docs/*", None),
        ("src/*", "src/a/b.py", "src/a/b.py"),
        ("**/x/**", "**/y/**", "x/y/a"),
        ("a*a*a*b", "*c", None),
        ("[!a]*", "a*", None),
        ("[[:digit:]]*", "[[:alpha:]]*", None),
        ("src/**", "src/", "src/a"),
        ("*", "docs/", "docs"),
        ("?", "??", None),  # first segments of different lengths
        ("?", "*/b", "a/b"),
        ("**/.git/*", "*", None),  # '.git' is never a valid path segment
        (".g*/x", "*/x", ".g/x"),
    ],
)
def test_overlap_examples(a: str, b: str, expected: str | None) -> None:
    pa, pb = P(a), P(b)
    w = overlap(pa, pb)
    assert w == expected
    assert (overlap(pb, pa) is None) is (expected is None)
    if w is not None:
        assert matches(pa, w) and matches(pb, w)


def test_overlap_witness_is_readable() -> None:
    w = overlap(P("**/[!a-z0-9]*"), P("src/**"))
    assert w is not None and w.startswith("src/")
    assert overlap(P("**/*.py"), P("src/**/test_*")) == "src/test_.py"
    w = overlap(P("a/**/b"), P("a/*/*/b"))
    assert w is not None and len(w) == len("a/x/y/b") and w.startswith("a/") and w.endswith("/b")


# ---------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------

SEG_BLOCKS = ["a", "b", "*", "?", "[ab]", "[!a]", "a*", "*b", "[a-b]"]


@st.composite
def glob_texts(draw: st.DrawFn) -> str:
    segs: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.integers(0, 4)) == 0:
            segs.append("**")
        else:
            blocks = draw(st.lists(st.sampled_from(SEG_BLOCKS), min_size=1, max_size=3))
            segs.append("".join(blocks))
    text = "/".join(segs)
    if not any(c in text for c in "*?["):
        text += "*"
    return text


path_segments = st.text(alphabet="ab", min_size=1, max_size=3)
path_texts = st.lists(path_segments, min_size=1, max_size=5).map("/".join)


@st.composite
def patterns(draw: st.DrawFn) -> Pattern:
    kind = draw(st.sampled_from(["file", "dir", "glob", "glob"]))
    if kind == "glob":
        return P(draw(glob_texts()))
    path = draw(
        st.lists(st.text(alphabet="ab", min_size=1, max_size=2), min_size=1, max_size=3).map(
            "/".join
        )
    )
    return P(path + "/" if kind == "dir" else path)


def _all_paths() -> list[str]:
    segs = ["".join(t) for n in (1, 2) for t in itertools.product("ab", repeat=n)]
    out: list[str] = []
    for depth in (1, 2, 3):
        out.extend("/".join(t) for t in itertools.product(segs, repeat=depth))
    return out


ALL_PATHS = _all_paths()


@settings(max_examples=300)
@given(patterns(), patterns())
def test_overlap_is_exact(a: Pattern, b: Pattern) -> None:
    w = overlap(a, b)
    w2 = overlap(b, a)
    assert (w is None) is (w2 is None)  # (3) symmetric in None-ness
    for witness in (w, w2):
        if witness is not None:  # (2) every witness matches both
            assert matches(a, witness) and matches(b, witness), witness
            assert ref_matches(a, witness) and ref_matches(b, witness), witness
            segs = witness.split("/")
            assert all(s and s not in (".", "..") for s in segs)
    if w is None:  # (1) no path matches both
        for path in ALL_PATHS:
            assert not (matches(a, path) and matches(b, path)), path


SHORT_PATHS = [p for p in ALL_PATHS if p.count("/") <= 1]


@settings(max_examples=300)
@given(glob_texts(), path_texts)
def test_matches_agrees_with_reference(text: str, path: str) -> None:
    """matches()/wildmatch() -- both the regex fast path and the NFA -- agree with the
    backtracking reference on the drawn path and on every short path."""
    p = P(text)
    lease, plain = compile_glob(text, True), compile_glob(text, False)
    for candidate in [path, *SHORT_PATHS]:
        expected = ref_matches(p, candidate)
        assert matches(p, candidate) is expected, candidate
        assert lease.match_nfa(candidate) is expected, candidate
        assert lease.match_regex(candidate) in (None, expected), candidate
        raw = ref_wildmatch(text, candidate)
        assert wildmatch(text, candidate) is raw, candidate
        assert plain.match_nfa(candidate) is raw, candidate
        assert plain.match_regex(candidate) in (None, raw), candidate


ODD_ALPHABET = "ab/*?[]!^-\\:."


@settings(max_examples=400)
@given(st.text(alphabet=ODD_ALPHABET, max_size=8), st.text(alphabet="ab/[]-!\\*?.", max_size=8))
def test_wildmatch_syntax_fuzz(pattern: str, text: str) -> None:
    """Arbitrary pattern syntax: same verdict as git's algorithm, or BadInput where git
    reports a malformed pattern."""
    try:
        got = wildmatch(pattern, text)
    except BadInput:
        assert not ref_wildmatch(pattern, text)
        return
    assert got is ref_wildmatch(pattern, text)
    glob = compile_glob(pattern, False)
    assert glob.match_nfa(text) is got
    assert glob.match_regex(text) in (None, got)


@settings(max_examples=150)
@given(
    st.lists(patterns(), max_size=25),
    st.lists(path_texts, min_size=1, max_size=10),
    st.lists(patterns(), min_size=1, max_size=5),
)
def test_lease_index_equals_brute_force(
    entries: list[Pattern], queries: list[str], probes: list[Pattern]
) -> None:
    index: LeaseIndex[int] = LeaseIndex()
    for i, p in enumerate(entries):
        index.add(p, i)
    assert len(index) == len(entries)
    for path in queries:
        got = sorted(i for _, i in index.match(path))
        assert got == [i for i, p in enumerate(entries) if matches(p, path)]
    for q in probes:
        found = index.overlapping(q)
        assert sorted(i for _, i, _ in found) == [
            i for i, p in enumerate(entries) if overlap(q, p) is not None
        ]
        for p, _, w in found:
            assert matches(p, w) and matches(q, w)


def test_lease_index_basics() -> None:
    index: LeaseIndex[str] = LeaseIndex()
    index.add(P("src/a.py"), "file")
    index.add(P("src/"), "dir")
    index.add(P("src/**/*.py"), "glob")
    index.add(P("*.md"), "root-glob")
    index.add(P("docs/"), "docs")
    assert sorted(i for _, i in index.match("src/a.py")) == ["dir", "file", "glob"]
    assert sorted(i for _, i in index.match("README.md")) == ["root-glob"]
    assert sorted(i for _, i in index.match("docs/x.md")) == ["docs"]
    assert index.match("other/x") == []
    got = {i: w for _, i, w in index.overlapping(P("src/pkg/"))}
    assert got == {"dir": "src/pkg", "glob": "src/pkg/a.py"}
    got = {i: w for _, i, w in index.overlapping(P("**/*.md"))}
    assert got["glob"] == "src/a.py/a.md"  # a directory named a.py may hold a.md
    assert set(got) == {"root-glob", "docs", "dir", "glob"}
    assert {i for _, i, _ in index.overlapping(P("src/b.py"))} == {"dir", "glob"}


# ---------------------------------------------------------------------------------------
# Adversarial inputs: linear time, never backtracking
# ---------------------------------------------------------------------------------------


def test_adversarial_star_runs_are_linear() -> None:
    p = P("a*a*a*a*a*a*a*b")
    assert compile_glob(p.text, True).regex is None  # too many stars for a regex
    assert in_thread(lambda: matches(p, "a" * 5000)) is False
    assert in_thread(lambda: wildmatch(p.text, "a" * 5000)) is False
    assert in_thread(lambda: matches(p, "a" * 5000 + "b")) is True


def test_adversarial_deep_paths() -> None:
    deep = "/".join(["a" * 30] * 300)
    assert in_thread(lambda: matches(P("**/a*a*a*a*b"), deep)) is False
    assert in_thread(lambda: matches(P("**/a/**/a/**/a/**/b"), "a/" * 3000 + "c")) is False
    assert in_thread(lambda: matches(P("**/*b"), "/".join(["a" * 50] * 2000))) is False
    assert in_thread(lambda: matches(P("*/*/*/*/*/*/*/*/*/*/b"), "/".join(["a"] * 5000))) is False
    long_segment = "x/" + "a" * 100_000
    assert in_thread(lambda: matches(P("x/*a*a*a*a*a*b"), long_segment)) is False


def test_adversarial_overlap_is_prompt() -> None:
    a = P("a*a*a*a*a*a*a*a*a*a*a*a*b")
    b = P("*a*a*a*a*a*a*a*a*a*a*a*c")
    assert in_thread(lambda: overlap(a, b)) is None
    c = P("**/*a*b*/**/*c*d*/**/*e*")
    d = P("**/*d*c*/**/*b*a*/**/*f*")
    w = in_thread(lambda: overlap(c, d))
    assert w is not None and matches(c, w) and matches(d, w)
    big_a = P("*x" * 30 + "/**/" + "?*" * 30)
    big_b = P("**/" + "x*" * 30 + "/" + "*y" * 30)
    w = in_thread(lambda: overlap(big_a, big_b))
    assert w is not None and matches(big_a, w) and matches(big_b, w)


def test_unicode_and_odd_characters() -> None:
    p = P("docs/*.md")
    assert matches(p, "docs/é.md")
    assert matches(P("[!a]"), "é")
    w = overlap(P("[!a-z0-9]"), P("[[:punct:]]"))
    assert w is not None and len(w) == 1 and matches(P("[[:punct:]]"), w)
    assert os.sep == "/"


def test_a_glob_with_escapes_in_its_directories_is_found_wherever_it_matches(repo: Path) -> None:
    """Its key must hold every path it covers, the literal spelling of its text included,
    or overlap, the lease lookup and the hooks' index miss what matches() says."""
    g = parse_pattern("d\\*r/*.py", cwd=repo, root=repo)
    f = parse_pattern("d\\\\\\*r/\\*.py", cwd=repo, root=repo)  # the file d\*r/*.py
    d = parse_pattern("d\\\\\\*r/", cwd=repo, root=repo)  # the directory d\*r/
    w = "d\\*r/*.py"
    assert (f.kind, f.text, d.kind) == ("file", w, "dir")
    assert matches(g, w) and matches(g, "d*r/x.py")
    assert overlap(g, f) == w and overlap(g, d) == w
    index: LeaseIndex[str] = LeaseIndex()
    index.add(g, "glob")
    assert [x for _, x in index.match(w)] == ["glob"]
    assert pattern_from_text(g.text) == g
