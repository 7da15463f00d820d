"""Path patterns: normalisation, git wildmatch, exact overlap with a witness, a lease index.

SPEC section 2. Three kinds of pattern:

* ``file``  -- one path (``src/foo.py``);
* ``dir``   -- a directory and its whole subtree (``src/pkg/``);
* ``glob``  -- git wildmatch with ``WM_PATHNAME`` semantics (``src/**/*.py``).

Matching never backtracks exponentially; the worst case is O(len(pattern) * len(path)).
A glob is compiled once (cached by its text) into one of three engines:

* common shapes (no ``[``, ``?`` or ``\\``; at most one ``**``; one run of stars per
  segment, e.g. ``src/**/*.py``) -- string operations on path segments;
* otherwise, when backtracking is provably polynomial (at most one ``**`` and one ``*``
  per segment) -- a Python regular expression;
* otherwise -- an NFA simulated with sets of states (Thompson), memoised as a lazy DFA.

Overlap of two patterns is exact: both sides become automata over Unicode code points
(transitions labelled with sets of code points), the product with an automaton of valid
repository paths is searched breadth-first for the shortest accepted string (avoiding
segments that start with '.' when it can), and that string is the witness path.

Lease semantics on top of plain wildmatch (see :func:`matches`):

* a glob that matches a directory covers everything below it (as a ``dir`` lease does);
* a glob also covers the path spelled by its own text taken literally (git's pathspec
  rule), so a file named ``app/[id].tsx`` is covered by the pattern ``app/[id].tsx``.
"""

from __future__ import annotations

import os
import re
from bisect import bisect_left, bisect_right
from functools import lru_cache
from typing import Generic, NamedTuple, TypeVar

from gitcoord.errors import BadInput

__all__ = [
    "MAX_GLOB_LENGTH",
    "MAX_GLOB_STARS",
    "MAX_PATTERN_LENGTH",
    "WILDCARD_CHARS",
    "LeaseIndex",
    "Pattern",
    "ancestors",
    "matches",
    "normalize_path",
    "overlap",
    "parse_pattern",
    "pattern_from_text",
    "stored_pattern",
    "wildmatch",
]

WILDCARD_CHARS = "*?[\\"
"""A pattern containing any of these (unescaped) is a glob; a backslash escapes."""

MAX_PATTERN_LENGTH = 4096
"""Longest accepted pattern or path (characters, after normalisation)."""

MAX_GLOB_LENGTH = 512
"""Longest accepted glob. Exact overlap of two globs explores a product automaton of
size O(len(a) * len(b)); this bound keeps the worst adversarial pair under a second."""

MAX_GLOB_STARS = 64
"""Most ``*``/``**`` runs accepted in one glob."""

T = TypeVar("T")


# ---------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------


def _check_raw(raw: str, what: str) -> None:
    if not isinstance(raw, str) or raw == "":
        raise BadInput(f"empty {what}")
    if "\0" in raw:
        raise BadInput(f"{what} contains a NUL character: {raw!r}")
    if "\n" in raw or "\r" in raw:
        raise BadInput(f"{what} contains a newline: {raw!r}")
    if len(raw) > MAX_PATTERN_LENGTH:
        raise BadInput(f"{what} is longer than {MAX_PATTERN_LENGTH} characters")


def _strip_root(p: str, root: str) -> str | None:
    """``p`` relative to ``root`` (both absolute, normalised), or None when outside."""
    if p == root:
        return ""
    prefix = root if root.endswith(os.sep) else root + os.sep
    if p.startswith(prefix):
        return p[len(prefix) :]
    return None


def _is_dotgit(segment: str) -> bool:
    # git refuses ".git" in any ASCII case (read-cache.c: verify_dotfile)
    return len(segment) == 4 and segment.isascii() and segment.lower() == ".git"


def _relativize(
    raw: str, cwd: str | os.PathLike[str], root: str | os.PathLike[str], *, allow_root: bool
) -> str:
    """Repo-relative POSIX form of ``raw`` (relative to ``cwd``, or absolute)."""
    root_s = os.fspath(root)
    root_real = os.path.realpath(root_s)
    rel: str | None
    if os.path.isabs(raw):
        p = os.path.normpath(raw)
        rel = _strip_root(p, root_real)
        if rel is None:
            rel = _strip_root(p, os.path.normpath(os.path.abspath(root_s)))
        if rel is None:
            # written through a symlinked alias of the root: resolve the directory part
            # (never the final component -- a symlink in the tree is a path of its own)
            head, tail = os.path.split(p)
            resolved = os.path.realpath(head)
            rel = _strip_root(os.path.join(resolved, tail) if tail else resolved, root_real)
    else:
        base = os.path.realpath(os.fspath(cwd))
        rel = _strip_root(os.path.normpath(os.path.join(base, raw)), root_real)
    if rel is None:
        raise BadInput(f"path is outside the repository: {raw!r}")
    if os.sep != "/":  # pragma: no cover - POSIX only
        rel = rel.replace(os.sep, "/")
    if rel in ("", "."):
        if allow_root:
            return ""
        raise BadInput(f"path is the repository root itself: {raw!r} (use '**' for everything)")
    for segment in rel.split("/"):
        if _is_dotgit(segment):
            raise BadInput(f"path inside .git is not allowed: {raw!r}")
    parent = rel.rpartition("/")[0]
    if parent and _strip_root(os.path.realpath(os.path.join(root_real, parent)), root_real) is None:
        # a directory on the way is a symlink out of the tree (the last component may be
        # a symlink: git tracks those as files of their own)
        raise BadInput(f"path is outside the repository (through a symlink): {raw!r}")
    return rel


def _no_way_out(rel: str, root: str | os.PathLike[str], raw: str) -> None:
    """A directory a pattern looks inside (a dir lease, a glob's literal prefix) must not
    be a symlink out of the tree: what it covers would be outside the repository."""
    root_real = os.path.realpath(os.fspath(root))
    if rel and _strip_root(os.path.realpath(os.path.join(root_real, rel)), root_real) is None:
        raise BadInput(f"path is outside the repository (through a symlink): {raw!r}")


def normalize_path(raw: str, *, cwd: str | os.PathLike[str], root: str | os.PathLike[str]) -> str:
    """Repository-relative POSIX path for ``raw`` (relative to ``cwd``, or absolute).

    Lexical: ``..`` and ``.`` are resolved without following symlinks, but ``root`` and
    ``cwd`` are compared through :func:`os.path.realpath`, so a symlinked checkout works.
    Raises :class:`BadInput` for an empty path, NUL or newline, a path outside the root,
    the root itself, or a ``.git`` component.
    """
    _check_raw(raw, "path")
    return _relativize(raw, cwd, root, allow_root=False)


# ---------------------------------------------------------------------------------------
# Character sets: sorted boundaries over code points; [b0, b1) [b2, b3) ... are inside.
# ---------------------------------------------------------------------------------------

_Bounds = tuple[int, ...]
_MAXCP = 0x110000
_ALL: _Bounds = (0, _MAXCP)
_EMPTY: _Bounds = ()
_SLASH_CP = ord("/")
_SLASH: _Bounds = (_SLASH_CP, _SLASH_CP + 1)
_NOT_SLASH: _Bounds = (0, _SLASH_CP, _SLASH_CP + 1, _MAXCP)


def _cs_char(c: str) -> _Bounds:
    cp = ord(c)
    return (cp, cp + 1)


def _cs_from_ranges(ranges: list[tuple[int, int]]) -> _Bounds:
    """Set from inclusive ``(lo, hi)`` code point ranges (any order, may overlap)."""
    out: list[int] = []
    for lo, hi in sorted(r for r in ranges if r[0] <= r[1]):
        if out and lo <= out[-1]:
            out[-1] = max(out[-1], hi + 1)
        else:
            out.extend((lo, hi + 1))
    return tuple(out)


def _cs_contains(b: _Bounds, cp: int) -> bool:
    return bool(bisect_right(b, cp) & 1)


def _cs_complement(b: _Bounds) -> _Bounds:
    out = list(b)
    if out and out[0] == 0:
        del out[0]
    else:
        out.insert(0, 0)
    if out and out[-1] == _MAXCP:
        del out[-1]
    else:
        out.append(_MAXCP)
    return tuple(out)


@lru_cache(maxsize=65536)
def _cs_and(a: _Bounds, b: _Bounds) -> _Bounds:
    if not a or not b:
        return _EMPTY
    if a == b or b == _ALL:
        return a
    if a == _ALL:
        return b
    out: list[int] = []
    inside = False
    for p in sorted(set(a) | set(b)):
        now = bool(bisect_right(a, p) & 1) and bool(bisect_right(b, p) & 1)
        if now != inside:
            out.append(p)
            inside = now
    return tuple(out)


def _cs_or(a: _Bounds, b: _Bounds) -> _Bounds:
    return _cs_complement(_cs_and(_cs_complement(a), _cs_complement(b)))


def _r(lo: str, hi: str) -> tuple[int, int]:
    return (ord(lo), ord(hi))


# Preferred witness characters, best first (half-open code point ranges).
_PICK_ORDER: tuple[tuple[int, int], ...] = (
    (ord("a"), ord("z") + 1),
    (ord("0"), ord("9") + 1),
    (ord("A"), ord("Z") + 1),
    (ord("-"), ord("-") + 1),
    (ord("_"), ord("_") + 1),
    (ord("."), ord(".") + 1),
    (0x21, 0x7F),
    (0x20, 0x21),
    (0xA1, 0xD800),
    (0xE000, _MAXCP),
)


def _cs_pick(b: _Bounds) -> int:
    """A readable member of the non-empty set ``b``."""
    for lo, hi in _PICK_ORDER:
        idx = bisect_right(b, lo)
        if idx & 1:
            return lo
        if idx < len(b) and b[idx] < hi:
            return b[idx]
    return b[0]


# POSIX classes as git's wildmatch defines them: ASCII only (git's sane ctype).
_POSIX: dict[str, _Bounds] = {
    "alnum": _cs_from_ranges([_r("0", "9"), _r("A", "Z"), _r("a", "z")]),
    "alpha": _cs_from_ranges([_r("A", "Z"), _r("a", "z")]),
    "blank": _cs_from_ranges([_r(" ", " "), _r("\t", "\t")]),
    "cntrl": _cs_from_ranges([(0, 31), (127, 127)]),
    "digit": _cs_from_ranges([_r("0", "9")]),
    "graph": _cs_from_ranges([(0x21, 0x7E)]),
    "lower": _cs_from_ranges([_r("a", "z")]),
    "print": _cs_from_ranges([(0x20, 0x7E)]),
    "punct": _cs_from_ranges([(0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)]),
    "space": _cs_from_ranges([(9, 10), (13, 13), (32, 32)]),
    "upper": _cs_from_ranges([_r("A", "Z")]),
    "xdigit": _cs_from_ranges([_r("0", "9"), _r("A", "F"), _r("a", "f")]),
}


# ---------------------------------------------------------------------------------------
# Glob tokens (a faithful port of git's wildmatch.c syntax)
# ---------------------------------------------------------------------------------------

_LIT, _ANY, _CLASS, _STAR, _DSTAR = range(5)


class _Tok:
    __slots__ = ("kind", "ch", "escaped", "cs", "raw", "skip")

    def __init__(
        self,
        kind: int,
        ch: str = "",
        *,
        escaped: bool = False,
        cs: _Bounds = _EMPTY,
        raw: str = "",
    ) -> None:
        self.kind = kind
        self.ch = ch  # _LIT: the character
        self.escaped = escaped
        self.cs = cs  # _CLASS: members (never '/')
        self.raw = raw  # _CLASS: source text; _STAR/_DSTAR: the run of stars
        self.skip = False  # _DSTAR followed by an unescaped '/': may match zero dirs

    def is_slash(self) -> bool:
        return self.kind == _LIT and self.ch == "/"


def _parse_class(text: str, start: int) -> tuple[_Bounds, int]:
    """Parse ``[...]`` at ``text[start]``; returns (members, index after ']')."""
    n = len(text)

    def at(k: int) -> str:
        return text[k] if k < n else ""

    def unterminated() -> BadInput:
        return BadInput(
            f"malformed glob {text!r}: unterminated '[' at offset {start}"
            " (escape a literal '[' as '\\[')"
        )

    ranges: list[tuple[int, int]] = []
    extra: list[_Bounds] = []
    p = start + 1
    p_ch = at(p)
    if p_ch == "^":
        p_ch = "!"
    negated = p_ch == "!"
    if negated:
        p += 1
        p_ch = at(p)
    prev_ch = ""
    while True:  # do { ... } while (prev_ch = p_ch, (p_ch = *++p) != ']')
        if not p_ch:
            raise unterminated()
        if p_ch == "\\":
            p += 1
            p_ch = at(p)
            if not p_ch:
                raise unterminated()
            ranges.append((ord(p_ch), ord(p_ch)))
        elif p_ch == "-" and prev_ch and at(p + 1) and at(p + 1) != "]":
            p += 1
            p_ch = at(p)
            if p_ch == "\\":
                p += 1
                p_ch = at(p)
                if not p_ch:
                    raise unterminated()
            ranges.append((ord(prev_ch), ord(p_ch)))
            p_ch = ""
        elif p_ch == "[" and at(p + 1) == ":":
            p += 2
            s = p
            while at(p) and at(p) != "]":
                p += 1
            p_ch = at(p)
            if not p_ch:
                raise unterminated()
            length = p - s - 1
            if length < 0 or text[p - 1] != ":":
                # no ":]": a literal '[' and carry on from the ':'
                p = s - 2
                p_ch = "["
                ranges.append((ord("["), ord("[")))
            else:
                name = text[s : s + length]
                cls = _POSIX.get(name)
                if cls is None:
                    raise BadInput(f"malformed glob {text!r}: unknown character class [:{name}:]")
                extra.append(cls)
                p_ch = ""
        else:
            ranges.append((ord(p_ch), ord(p_ch)))
        prev_ch = p_ch
        p += 1
        p_ch = at(p)
        if p_ch == "]":
            break
    members = _cs_from_ranges(ranges)
    for cls in extra:
        members = _cs_or(members, cls)
    if negated:
        members = _cs_complement(members)
    return _cs_and(members, _NOT_SLASH), p + 1


def _tokenize(text: str) -> list[_Tok]:
    """Tokens of a wildmatch pattern; :class:`BadInput` when malformed."""
    if "\0" in text:
        raise BadInput(f"glob contains a NUL character: {text!r}")
    toks: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            if i + 1 >= n:
                raise BadInput(f"malformed glob {text!r}: trailing backslash")
            toks.append(_Tok(_LIT, text[i + 1], escaped=True))
            i += 2
        elif c == "*":
            j = i
            while j < n and text[j] == "*":
                j += 1
            toks.append(_Tok(_STAR, raw=text[i:j]))
            i = j
        elif c == "?":
            toks.append(_Tok(_ANY))
            i += 1
        elif c == "[":
            cs, j = _parse_class(text, i)
            toks.append(_Tok(_CLASS, cs=cs, raw=text[i:j]))
            i = j
        else:
            toks.append(_Tok(_LIT, c))
            i += 1
    # '**' is special only as a whole segment: after start or '/', before end or '/'
    last = len(toks) - 1
    for k, t in enumerate(toks):
        if t.kind != _STAR or len(t.raw) < 2:
            continue
        if (k == 0 or toks[k - 1].is_slash()) and (k == last or toks[k + 1].is_slash()):
            t.kind = _DSTAR
            t.skip = k < last and not toks[k + 1].escaped
    return toks


def _has_wildcard(toks: list[_Tok]) -> bool:
    return any(t.kind != _LIT for t in toks)


def _escape_literal(s: str) -> str:
    if "*" not in s and "?" not in s and "[" not in s and "\\" not in s:
        return s
    return "".join("\\" + c if c in WILDCARD_CHARS else c for c in s)


def _serialize(toks: list[_Tok]) -> str:
    out: list[str] = []
    for t in toks:
        if t.kind == _LIT:
            out.append("\\" + t.ch if t.ch in WILDCARD_CHARS else t.ch)
        elif t.kind == _ANY:
            out.append("?")
        elif t.kind == _CLASS:
            out.append(t.raw)
        elif t.kind == _DSTAR:
            out.append("**")
        else:
            out.append("*")
    return "".join(out)


# ---------------------------------------------------------------------------------------
# NFA
# ---------------------------------------------------------------------------------------


class _Nfa:
    """States 0..n-1; ``trans[s]`` = [(charset, target)], ``eps[s]`` = [target]."""

    __slots__ = ("trans", "eps", "accept", "start", "_closure", "_sure")

    def __init__(self) -> None:
        self.trans: list[list[tuple[_Bounds, int]]] = []
        self.eps: list[list[int]] = []
        self.accept: list[bool] = []
        self.start = 0
        self._closure: list[frozenset[int]] | None = None
        self._sure: frozenset[int] | None = None

    def new(self, count: int = 1) -> int:
        first = len(self.trans)
        for _ in range(count):
            self.trans.append([])
            self.eps.append([])
            self.accept.append(False)
        return first

    def chain(self, start: int, text: str) -> int:
        """Literal transitions spelling ``text`` from ``start``; returns the end state."""
        cur = start
        for c in text:
            nxt = self.new()
            self.trans[cur].append((_cs_char(c), nxt))
            cur = nxt
        return cur

    def closures(self) -> list[frozenset[int]]:
        if self._closure is None:
            out: list[frozenset[int]] = []
            for s in range(len(self.trans)):
                seen = {s}
                stack = [s]
                while stack:
                    for y in self.eps[stack.pop()]:
                        if y not in seen:
                            seen.add(y)
                            stack.append(y)
                out.append(frozenset(seen))
            self._closure = out
        return self._closure

    def sure(self) -> frozenset[int]:
        """States from which every continuation is accepted."""
        if self._sure is None:
            clo = self.closures()
            self._sure = frozenset(
                s
                for s in range(len(self.trans))
                if (_ALL, s) in self.trans[s] and any(self.accept[x] for x in clo[s])
            )
        return self._sure


def _add_subtree(nfa: _Nfa, end: int) -> None:
    """Accept ``end`` followed by '/' and anything: a match covers its subtree."""
    sub = nfa.new()
    nfa.trans[end].append((_SLASH, sub))
    nfa.trans[sub].append((_ALL, sub))
    nfa.accept[sub] = True


def _glob_nfa(toks: list[_Tok], literal: str | None) -> _Nfa:
    nfa = _Nfa()
    k = len(toks)
    if literal is not None:
        nfa.start = nfa.new()
        base = nfa.new(k + 1)
        nfa.eps[nfa.start].append(base)
    else:
        base = nfa.new(k + 1)
        nfa.start = base
    for i, t in enumerate(toks):
        s = base + i
        if t.kind == _LIT:
            nfa.trans[s].append((_cs_char(t.ch), s + 1))
        elif t.kind == _ANY:
            nfa.trans[s].append((_NOT_SLASH, s + 1))
        elif t.kind == _CLASS:
            if t.cs:
                nfa.trans[s].append((t.cs, s + 1))
        elif t.kind == _STAR:
            nfa.trans[s].append((_NOT_SLASH, s))
            nfa.eps[s].append(s + 1)
        elif not t.skip:  # _DSTAR: anything at all
            nfa.trans[s].append((_ALL, s))
            nfa.eps[s].append(s + 1)
        else:  # _DSTAR before '/': zero directories (skip the '/'), or anything then '/'
            loop = nfa.new()
            nfa.eps[s].extend((s + 2, loop))
            nfa.trans[loop].append((_ALL, loop))
            nfa.eps[loop].append(s + 1)
    end = base + k
    nfa.accept[end] = True
    if literal is not None:
        lit_start = nfa.new()  # after the wildmatch branch: witnesses prefer it
        nfa.eps[nfa.start].append(lit_start)
        last = nfa.chain(lit_start, literal)
        nfa.eps[last].append(end)
        _add_subtree(nfa, end)
    return nfa


class _LazyDfa:
    """Thompson simulation with memoised state-set transitions (a lazily built DFA)."""

    __slots__ = ("nfa", "sets", "ids", "step_cache", "status")

    DEAD, LIVE, ACCEPT, SURE = 0, 1, 2, 3

    def __init__(self, nfa: _Nfa) -> None:
        self.nfa = nfa
        self.sets: list[frozenset[int]] = []
        self.ids: dict[frozenset[int], int] = {}
        self.status: list[int] = []
        self.step_cache: dict[tuple[int, str], int] = {}
        self.intern(frozenset())
        self.intern(nfa.closures()[nfa.start])

    def intern(self, states: frozenset[int]) -> int:
        sid = self.ids.get(states)
        if sid is None:
            sid = len(self.sets)
            self.sets.append(states)
            self.ids[states] = sid
            if not states:
                st = self.DEAD
            elif states & self.nfa.sure():
                st = self.SURE
            elif any(self.nfa.accept[s] for s in states):
                st = self.ACCEPT
            else:
                st = self.LIVE
            self.status.append(st)
        return sid

    def step(self, sid: int, ch: str) -> int:
        cp = ord(ch)
        nfa = self.nfa
        clo = nfa.closures()
        nxt: set[int] = set()
        for s in self.sets[sid]:
            for b, t in nfa.trans[s]:
                if bisect_right(b, cp) & 1:
                    nxt |= clo[t]
        res = self.intern(frozenset(nxt))
        self.step_cache[(sid, ch)] = res
        return res

    def run(self, text: str) -> bool:
        cache = self.step_cache
        status = self.status
        sid = 1
        for ch in text:
            nxt = cache.get((sid, ch))
            if nxt is None:
                nxt = self.step(sid, ch)
            st = status[nxt]
            if st == 0:
                return False
            if st == 3:
                return True
            sid = nxt
        return status[sid] >= 2


_LAZY_DFA_LIMIT = 20000  # memoised state sets per glob before the cache is rebuilt


# ---------------------------------------------------------------------------------------
# Compiled globs
# ---------------------------------------------------------------------------------------


def _cs_regex(b: _Bounds) -> str:
    if not b:
        return "(?!)"
    parts: list[str] = []
    for i in range(0, len(b), 2):
        lo, hi = b[i], b[i + 1] - 1
        parts.append(f"\\U{lo:08x}" if lo == hi else f"\\U{lo:08x}-\\U{hi:08x}")
    return "[" + "".join(parts) + "]"


def _regex_source(toks: list[_Tok]) -> str | None:
    """Regex for the tokens when backtracking is provably polynomial, else None.

    Safe: at most one '**' in all, and at most one '*' per path segment. A '*' can only
    stop at one place that lets the next '/' match, so segments never multiply.
    """
    dstars = 0
    stars_in_segment = 0
    for t in toks:
        if t.is_slash():
            stars_in_segment = 0
        elif t.kind == _STAR:
            stars_in_segment += 1
            if stars_in_segment > 1:
                return None
        elif t.kind == _DSTAR:
            dstars += 1
            if dstars > 1:
                return None
    out: list[str] = []
    i = 0
    while i < len(toks):
        t = toks[i]
        if t.kind == _LIT:
            out.append(re.escape(t.ch))
        elif t.kind == _ANY:
            out.append("[^/]")
        elif t.kind == _CLASS:
            out.append(_cs_regex(t.cs))
        elif t.kind == _STAR:
            out.append("[^/]*")
        elif t.skip:
            out.append("(?:.*/)?")
            i += 1  # the '/' is part of the group
        else:
            out.append(".*")
        i += 1
    return "".join(out)


# A "simple" glob: no '[', '?' or '\\', at most one '**' segment, at most one run of
# stars per other segment. Matched with string operations on path segments -- no
# tokenizer, no regex compilation. Segments are (literal, None) or (prefix, suffix) for
# 'prefix*suffix'.
_Seg = tuple[str, str | None]
_Simple = tuple[tuple[_Seg, ...], bool, tuple[_Seg, ...]]  # (before '**', has '**', after)


def _simple_spec(text: str) -> _Simple | None:
    if "[" in text or "?" in text or "\\" in text:
        return None
    before: list[_Seg] = []
    after: list[_Seg] = []
    cur = before
    dstar = False
    for seg in text.split("/"):
        first = seg.find("*")
        if first < 0:
            cur.append((seg, None))
            continue
        last = seg.rfind("*")
        if seg.count("*") != last - first + 1:
            return None  # two separate runs of stars
        if first == 0 and last == len(seg) - 1 and last > 0:  # '**' as a whole segment
            if dstar:
                return None
            dstar = True
            cur = after
            continue
        cur.append((seg[:first], seg[last + 1 :]))
    return tuple(before), dstar, tuple(after)


def _seg_ok(g: _Seg, s: str) -> bool:
    lit, suffix = g
    if suffix is None:
        return s == lit
    return len(s) >= len(lit) + len(suffix) and s.startswith(lit) and s.endswith(suffix)


def _simple_match(spec: _Simple, path: str, lease: bool) -> bool:
    """wildmatch on path segments; with ``lease``, also of any ancestor."""
    before, dstar, after = spec
    segs = path.split("/")
    ns, na = len(segs), len(before)
    if ns < na:
        return False
    for i in range(na):
        if not _seg_ok(before[i], segs[i]):
            return False
    if not dstar:
        return lease or ns == na
    nb = len(after)
    if nb == 0:  # 'x/**': at least one more segment; '**' alone: anything
        return na == 0 or ns > na
    # 'x/**/y': 'y' matches the last len(y) segments of the path (or of an ancestor)
    ends = range(na + nb, ns + 1) if lease else (ns,)
    for end in ends:
        if end < na + nb:
            continue
        base = end - nb
        for j in range(nb):
            if not _seg_ok(after[j], segs[base + j]):
                break
        else:
            return True
    return False


class _Glob:
    """A compiled glob. ``lease`` adds the subtree and literal-text rules.

    Engines: :func:`_simple_match` for simple globs, else a regex when backtracking is
    provably polynomial, else Thompson simulation of the NFA. The NFA is also what
    :func:`overlap` intersects.
    """

    __slots__ = ("text", "lease", "simple", "required", "_toks", "_regex", "_nfa", "_dfa")

    def __init__(self, text: str, lease: bool) -> None:
        self.text = text
        self.lease = lease
        self._toks: list[_Tok] | None = None
        self._regex: re.Pattern[str] | None | bool = False  # False: not built yet
        self._nfa: _Nfa | None = None
        self._dfa: _LazyDfa | None = None
        self.simple = _simple_spec(text)
        # literal pieces every covered path contains: a cheap rejection test
        self.required: tuple[str, ...] = ()
        if self.simple is not None:
            before, _, after = self.simple
            pieces = {x for seg in before + after for x in seg if x}
            self.required = tuple(sorted(pieces, key=len, reverse=True))
        else:
            _ = self.regex  # validates the syntax now; builds the regex when safe

    @property
    def toks(self) -> list[_Tok]:
        if self._toks is None:
            self._toks = _tokenize(self.text)
        return self._toks

    @property
    def regex(self) -> re.Pattern[str] | None:
        if self._regex is False:
            src = _regex_source(self.toks)
            self._regex = (
                None
                if src is None
                else re.compile(src + ("(?:/.*)?" if self.lease else ""), re.DOTALL)
            )
        assert not isinstance(self._regex, bool)
        return self._regex

    @property
    def nfa(self) -> _Nfa:
        if self._nfa is None:
            self._nfa = _glob_nfa(self.toks, self.text if self.lease else None)
        return self._nfa

    def _literal_hit(self, path: str) -> bool:
        text = self.text
        return path.startswith(text) and (len(path) == len(text) or path[len(text)] == "/")

    def match(self, path: str) -> bool:
        simple = self.simple
        if simple is not None:
            for piece in self.required:  # pieces of the text, so of its literal spelling too
                if piece not in path:
                    return False
        text = self.text
        if (
            self.lease
            and path.startswith(text)
            and (len(path) == len(text) or path[len(text)] == "/")
        ):
            return True
        if simple is not None:
            return _simple_match(simple, path, self.lease)
        regex = self.regex
        if regex is not None:
            return regex.fullmatch(path) is not None
        return self.match_nfa(path)

    def match_regex(self, path: str) -> bool | None:
        """The regex engine alone (None when the glob is not regex-safe). For tests."""
        regex = self.regex
        if regex is None:
            return None
        return (self.lease and self._literal_hit(path)) or regex.fullmatch(path) is not None

    def match_nfa(self, path: str) -> bool:
        """Thompson simulation alone (the literal-text rule is part of the NFA)."""
        dfa = self._dfa
        if dfa is None or len(dfa.sets) > _LAZY_DFA_LIMIT:
            dfa = self._dfa = _LazyDfa(self.nfa)
        return dfa.run(path)


_CACHE_LIMIT = 16384
_LEASE_GLOBS: dict[str, _Glob] = {}
_PLAIN_GLOBS: dict[str, _Glob] = {}


def _compile(text: str, lease: bool) -> _Glob:
    """The compiled glob for ``text`` (cached; :class:`BadInput` when malformed)."""
    cache = _LEASE_GLOBS if lease else _PLAIN_GLOBS
    glob = cache.get(text)
    if glob is None:
        glob = _Glob(text, lease)
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[text] = glob
    return glob


def wildmatch(pattern: str, path: str) -> bool:
    """Plain git ``wildmatch(pattern, path, WM_PATHNAME)``: no subtree, no literal rule.

    Characters are Unicode code points (git compares bytes; identical for ASCII).
    Raises :class:`BadInput` for a malformed pattern.
    """
    return _compile(pattern, False).match(path)


# ---------------------------------------------------------------------------------------
# Patterns
# ---------------------------------------------------------------------------------------


class Pattern(NamedTuple):
    """A normalised pattern.

    ``text``: canonical form -- ``src/foo.py`` (file), ``src/pkg/`` (dir, always ends with
    '/'), ``src/**/*.py`` (glob). ``key``: where it lives in a :class:`LeaseIndex` -- the
    file path, the directory without '/', or a glob's literal directory prefix ('' at root;
    cut back where that prefix has escapes, :func:`_covering_key`).

    A NamedTuple rather than a dataclass: importing dataclasses (and inspect) would cost
    a hook or a fresh process about 10 ms before it matched anything.
    """

    text: str
    kind: str  # 'file' | 'dir' | 'glob'
    key: str


_tuple_new = tuple.__new__


def _make_pattern(text: str, kind: str, key: str) -> Pattern:
    """``Pattern(text, kind, key)`` without the keyword-handling constructor, for bulk loads."""
    p: Pattern = _tuple_new(Pattern, (text, kind, key))
    return p


def _covering_key(text: str, key: str) -> str:
    """A glob's key: its literal directory prefix (``key``, unescaped), cut back to where
    the path spelled by its text taken literally -- which the glob covers too (git's
    pathspec rule) -- still lies below it. They differ only where the prefix has escapes:
    ``d\\*r/*.py`` covers ``d*r/x.py`` and the path ``d\\*r/*.py``, so its key is ''."""
    if "\\" not in text:
        return key
    common: list[str] = []
    for a, b in zip(key.split("/") if key else [], text.split("/")[:-1]):
        if a != b:
            break
        common.append(a)
    return "/".join(common)


def _glob_key(text: str) -> str:
    """Literal directory prefix of a glob text, unescaped, without trailing '/' (see
    :func:`_covering_key`)."""
    segments: list[str] = []
    cur: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n:
            c = text[i + 1]
            i += 2
        elif c in "*?[":
            break
        else:
            i += 1
        if c == "/":
            segments.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    return _covering_key(text, "/".join(segments))


def _has_unescaped_wildcard(text: str) -> bool:
    """Precondition: ``text`` contains '*', '?' or '['. Is one of them unescaped?"""
    if "\\" not in text:
        return True
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c in "*?[":
            return True
        i += 1
    return False


def pattern_from_text(text: str) -> Pattern:
    """Rebuild a :class:`Pattern` from its canonical text (no filesystem access).

    Trailing '/' -> dir; an unescaped ``*``, ``?`` or ``[`` -> glob; else a file.
    Note: a *file* whose name contains ``*``, ``?`` or ``[`` comes back as a glob that
    still covers it (a glob covers its own literal text), i.e. never less than before.
    """
    if not text:
        raise BadInput("empty pattern")
    if text[-1] == "/":
        if len(text) == 1:
            raise BadInput("a directory pattern needs a name")
        return _make_pattern(text, "dir", text[:-1])
    if ("*" in text or "?" in text or "[" in text) and _has_unescaped_wildcard(text):
        return _make_pattern(text, "glob", _glob_key(text))
    return _make_pattern(text, "file", text)


def stored_pattern(text: str, kind: str, key: str) -> Pattern:
    """A pattern as stored with a lease (its text, kind and key): exact, where
    :func:`pattern_from_text` would read a file named ``a*b`` as a glob."""
    if kind not in ("file", "dir", "glob"):
        raise BadInput(f"unknown pattern kind {kind!r}")
    return _make_pattern(text, kind, key)


def _segments(toks: list[_Tok]) -> list[list[_Tok]]:
    segs: list[list[_Tok]] = [[]]
    for t in toks:
        if t.is_slash():
            segs.append([])
        else:
            segs[-1].append(t)
    return segs


def _literal(seg: list[_Tok]) -> str:
    return "".join(t.ch for t in seg)


def parse_pattern(
    raw: str, *, cwd: str | os.PathLike[str], root: str | os.PathLike[str]
) -> Pattern:
    """Parse a user's pattern (relative to ``cwd``, or absolute) into a :class:`Pattern`.

    * ends with '/' and has no wildcard -> dir;
    * has an unescaped ``*``, ``?`` or ``[`` -> glob (made repository-relative: the
      literal leading segments are resolved against ``cwd``; a trailing '/' on a glob
      means "inside matching directories" and becomes ``/**``);
    * else an existing directory (not a symlink) -> dir, anything else -> file.

    A backslash escapes the next character (``a\\*b`` is the file ``a*b``).
    """
    _check_raw(raw, "pattern")
    toks = _tokenize(raw)
    trailing_slash = bool(toks) and toks[-1].is_slash()
    if not _has_wildcard(toks):
        literal = "".join(t.ch for t in toks)
        path = _relativize(literal, cwd, root, allow_root=False)
        if trailing_slash:
            _no_way_out(path, root, raw)
            return Pattern(path + "/", "dir", path)
        full = os.path.join(os.path.realpath(os.fspath(root)), path)
        if os.path.isdir(full) and not os.path.islink(full):
            return Pattern(path + "/", "dir", path)
        return Pattern(path, "file", path)

    segs = _segments(toks)
    first_wild = next(i for i, seg in enumerate(segs) if _has_wildcard(seg))
    prefix = "/".join(_literal(seg) for seg in segs[:first_wild])
    if first_wild > 0 and not segs[0]:  # absolute
        prefix = prefix or "/"
    key = _relativize(prefix or ".", cwd, root, allow_root=True)
    _no_way_out(key, root, raw)

    rest: list[list[_Tok]] = []
    for seg in segs[first_wild:]:
        if not seg:
            continue  # '//' or the trailing '/'
        if not _has_wildcard(seg):
            lit = _literal(seg)
            if lit == ".":
                continue
            if lit == "..":
                raise BadInput(f"'..' after a wildcard is not allowed: {raw!r}")
            if _is_dotgit(lit):
                raise BadInput(f"pattern inside .git is not allowed: {raw!r}")
        rest.append(seg)
    if trailing_slash and not (len(rest[-1]) == 1 and rest[-1][0].kind == _DSTAR):
        rest.append([_Tok(_DSTAR, raw="**")])
    body = "/".join(_serialize(seg) for seg in rest)
    text = _escape_literal(key) + "/" + body if key else body
    if len(text) > MAX_GLOB_LENGTH:
        raise BadInput(f"glob is longer than {MAX_GLOB_LENGTH} characters: {raw!r}")
    glob = _compile(text, True)  # validates; canonical text re-tokenizes the same way
    stars = sum(1 for t in glob.toks if t.kind in (_STAR, _DSTAR))
    if stars > MAX_GLOB_STARS:
        raise BadInput(f"glob has more than {MAX_GLOB_STARS} '*' wildcards: {raw!r}")
    return Pattern(text, "glob", _covering_key(text, key))


# ---------------------------------------------------------------------------------------
# Matching
# ---------------------------------------------------------------------------------------


def ancestors(path: str) -> list[str]:
    """Proper ancestor directories, root ('') first, nearest last.

    ``'a/b/c.py'`` -> ``['', 'a', 'a/b']``; ``'a'`` -> ``['']``; ``''`` -> ``[]``.
    """
    if not path:
        return []
    out = [""]
    i = path.find("/")
    while i != -1:
        out.append(path[:i])
        i = path.find("/", i + 1)
    return out


def matches(pattern: Pattern, path: str) -> bool:
    """Does the lease ``pattern`` cover the repository path ``path``?

    file: equal. dir: equal or below. glob: git wildmatch (``WM_PATHNAME``) of the path
    or of any of its ancestors (a matched directory covers its subtree), or the path is
    (below) the glob's text taken literally.
    """
    kind = pattern.kind
    if kind == "file":
        return path == pattern.text
    if kind == "dir":
        key = pattern.key
        return path.startswith(key) and (len(path) == len(key) or path[len(key)] == "/")
    return _compile(pattern.text, True).match(path)


# ---------------------------------------------------------------------------------------
# Overlap
# ---------------------------------------------------------------------------------------

# The valid-path automaton: non-empty segments, no '.', '..' or '.git' (any case)
# segment, no NUL/newline/CR. State 0 is "at the start of a segment".
_V_START, _V_OTHER, _V_DOT, _V_DOTDOT, _V_G, _V_GI, _V_GIT = range(7)
_V_ACCEPT = (False, True, False, False, True, True, False)


def _valid_path_dfa() -> tuple[tuple[tuple[_Bounds, int, int], ...], ...]:
    bad = _cs_from_ranges([(0, 0), (10, 10), (13, 13)])
    dot = _cs_char(".")
    g = _cs_from_ranges([_r("g", "g"), _r("G", "G")])
    i = _cs_from_ranges([_r("i", "i"), _r("I", "I")])
    t = _cs_from_ranges([_r("t", "t"), _r("T", "T")])

    def others(*taken: _Bounds) -> _Bounds:
        used = _cs_or(bad, _SLASH)
        for b in taken:
            used = _cs_or(used, b)
        return _cs_complement(used)

    # (charset, target, hidden): hidden = starts a segment with '.' (avoided in witnesses)
    # ordinary characters first: the search prefers what it finds first in a layer
    return (
        ((others(dot), _V_OTHER, 0), (dot, _V_DOT, 1)),  # _V_START
        ((others(), _V_OTHER, 0), (_SLASH, _V_START, 0)),  # _V_OTHER
        ((others(dot, g), _V_OTHER, 0), (dot, _V_DOTDOT, 0), (g, _V_G, 0)),  # _V_DOT
        ((others(), _V_OTHER, 0),),  # _V_DOTDOT
        ((others(i), _V_OTHER, 0), (i, _V_GI, 0), (_SLASH, _V_START, 0)),  # _V_G
        ((others(t), _V_OTHER, 0), (t, _V_GIT, 0), (_SLASH, _V_START, 0)),  # _V_GI
        ((others(), _V_OTHER, 0),),  # _V_GIT
    )


_V_TRANS = _valid_path_dfa()


@lru_cache(maxsize=4096)
def _pattern_nfa(pattern: Pattern) -> _Nfa:
    if pattern.kind == "glob":
        return _compile(pattern.text, True).nfa
    nfa = _Nfa()
    nfa.start = nfa.new()
    end = nfa.chain(nfa.start, pattern.key)
    nfa.accept[end] = True
    if pattern.kind == "dir":
        _add_subtree(nfa, end)
    return nfa


def _product_search(a: _Nfa, b: _Nfa, allow_hidden: bool) -> tuple[str | None, bool]:
    """Shortest valid path accepted by both automata: breadth-first over the product
    (a-state, b-state, valid-path state), one layer per character, each layer closed
    under epsilon moves before the next is generated.

    With ``allow_hidden`` false, segments starting with '.' are not entered; the second
    result says whether that restriction cut anything off.
    """
    nb = len(b.trans)
    a_trans, b_trans, a_eps, b_eps = a.trans, b.trans, a.eps, b.eps
    a_acc, b_acc = a.accept, b.accept
    start = ((a.start * nb + b.start) << 3) | _V_START
    back: dict[int, tuple[int, str]] = {start: (-1, "")}
    inter: dict[tuple[int, int], _Bounds] = {}
    splits: dict[tuple[int, int], list[tuple[int, str]]] = {}
    keep: list[_Bounds] = []  # keeps id()-keyed sets alive for the whole search
    pruned = False
    layer = [start]
    while layer:
        # close the layer under epsilon moves
        i = 0
        while i < len(layer):
            st = layer[i]
            i += 1
            qv = st & 7
            qa, qb = divmod(st >> 3, nb)
            for e in a_eps[qa]:
                ns = ((e * nb + qb) << 3) | qv
                if ns not in back:
                    back[ns] = (st, "")
                    layer.append(ns)
            for e in b_eps[qb]:
                ns = ((qa * nb + e) << 3) | qv
                if ns not in back:
                    back[ns] = (st, "")
                    layer.append(ns)
        for st in layer:
            qv = st & 7
            qa, qb = divmod(st >> 3, nb)
            if a_acc[qa] and b_acc[qb] and _V_ACCEPT[qv]:
                chars: list[str] = []
                while st != start:
                    st, ch = back[st]
                    chars.append(ch)
                return "".join(reversed(chars)), pruned
        nxt: list[int] = []
        for st in layer:
            qv = st & 7
            qa, qb = divmod(st >> 3, nb)
            for sa, ta in a_trans[qa]:
                for sb, tb in b_trans[qb]:
                    key = (id(sa), id(sb))
                    both = inter.get(key)
                    if both is None:
                        both = inter[key] = _cs_and(sa, sb)
                        keep.extend((sa, sb, both))
                    if not both:
                        continue
                    skey = (id(both), qv)
                    moves = splits.get(skey)
                    if moves is None:
                        moves = []
                        for sv, tv, hidden in _V_TRANS[qv]:
                            chars_ok = _cs_and(both, sv)
                            if not chars_ok:
                                continue
                            if hidden and not allow_hidden:
                                pruned = True
                                continue
                            moves.append((tv, chr(_cs_pick(chars_ok))))
                        splits[skey] = moves
                    base = (ta * nb + tb) << 3
                    for tv, ch in moves:
                        ns = base | tv
                        if ns not in back:
                            back[ns] = (st, ch)
                            nxt.append(ns)
        layer = nxt
    return None, pruned


def _product_witness(a: _Nfa, b: _Nfa) -> str | None:
    """Shortest valid path accepted by both, avoiding hidden segments when possible."""
    witness, pruned = _product_search(a, b, allow_hidden=False)
    if witness is None and pruned:
        witness, _ = _product_search(a, b, allow_hidden=True)
    return witness


@lru_cache(maxsize=8192)
def overlap(a: Pattern, b: Pattern) -> str | None:
    """A path matched by both patterns, or None iff there is none (exact).

    Paths considered are valid repository paths: non-empty segments, no '.', '..' or
    '.git' segment, no NUL or newline.
    """
    if a.kind == "file":
        return a.key if matches(b, a.key) else None
    if b.kind == "file":
        return b.key if matches(a, b.key) else None
    if a.kind == "dir" and b.kind == "dir":
        ka, kb = a.key, b.key
        if ka == kb or kb.startswith(ka + "/"):
            return kb
        if ka.startswith(kb + "/"):
            return ka
        return None
    # a glob's matches all lie below its key: disjoint subtrees never overlap
    ka, kb = a.key, b.key
    if ka and kb and not (ka == kb or ka.startswith(kb + "/") or kb.startswith(ka + "/")):
        return None
    return _product_witness(_pattern_nfa(a), _pattern_nfa(b))


# ---------------------------------------------------------------------------------------
# Lease index
# ---------------------------------------------------------------------------------------


class LeaseIndex(Generic[T]):
    """Patterns with payloads, indexed so that a lookup never scans every entry.

    Files by path, directories by path, globs bucketed by their literal directory prefix.
    """

    __slots__ = ("_files", "_dirs", "_globs", "_sorted_keys", "_len")

    def __init__(self) -> None:
        self._files: dict[str, list[tuple[Pattern, T]]] = {}
        self._dirs: dict[str, list[tuple[Pattern, T]]] = {}
        self._globs: dict[str, list[tuple[Pattern, T]]] = {}
        self._sorted_keys: list[str] | None = None
        self._len = 0

    def add(self, pattern: Pattern, item: T) -> None:
        kind = pattern.kind
        if kind == "file":
            table = self._files
        elif kind == "dir":
            table = self._dirs
        elif kind == "glob":
            table = self._globs
        else:
            raise BadInput(f"unknown pattern kind {kind!r}")
        bucket = table.get(pattern.key)
        if bucket is None:
            table[pattern.key] = [(pattern, item)]
            self._sorted_keys = None
        else:
            bucket.append((pattern, item))
        self._len += 1

    def __len__(self) -> int:
        return self._len

    def match(self, path: str) -> list[tuple[Pattern, T]]:
        """Every (pattern, item) whose pattern matches ``path``."""
        out: list[tuple[Pattern, T]] = []
        hit = self._files.get(path)
        if hit:
            out.extend(hit)
        dirs, globs = self._dirs, self._globs
        if not dirs and not globs:
            return out
        keys = ancestors(path)
        keys.append(path)
        compiled = _LEASE_GLOBS.get
        for k in keys:
            d = dirs.get(k)
            if d:
                out.extend(d)
            g = globs.get(k)
            if g:
                for entry in g:
                    text = entry[0].text
                    glob = compiled(text) or _compile(text, True)
                    if glob.match(path):
                        out.append(entry)
        return out

    def _subtree_keys(self, key: str) -> list[str]:
        """Index keys strictly below ``key`` (every key when ``key`` is the root)."""
        keys = self._sorted_keys
        if keys is None:
            keys = self._sorted_keys = sorted(
                self._files.keys() | self._dirs.keys() | self._globs.keys()
            )
        if not key:
            return keys
        # strings starting with key + '/' sort in [key + '/', key + '0')
        return keys[bisect_left(keys, key + "/") : bisect_left(keys, key + "0")]

    def overlapping(self, pattern: Pattern) -> list[tuple[Pattern, T, str]]:
        """Every (pattern, item, witness) whose pattern overlaps ``pattern``."""
        key = pattern.key
        cand = ancestors(key)
        cand.append(key)
        if pattern.kind != "file":
            cand.extend(k for k in self._subtree_keys(key) if k != key)
        out: list[tuple[Pattern, T, str]] = []
        seen: set[str] = set()
        for k in cand:
            if k in seen:
                continue
            seen.add(k)
            for table in (self._files, self._dirs, self._globs):
                bucket = table.get(k)
                if not bucket:
                    continue
                for p, item in bucket:
                    w = overlap(pattern, p)
                    if w is not None:
                        out.append((p, item, w))
        return out
