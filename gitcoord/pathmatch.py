"""Does a lease pattern cover a path: git wildmatch in linear time, and the lease rules.

Import-light (the standard library only; ``re`` when a glob first needs a regex): the
pre-commit fast path (:mod:`gitcoord.fastpath`) evaluates candidate leases with it, and
:mod:`gitcoord.paths` (normalisation, overlap, the lease index) builds on it, so both
decide with the same code.

A glob is compiled once (cached by its text) into one of three engines:

* common shapes (no ``[``, ``?`` or ``\\``; at most one ``**``; one run of stars per
  segment, e.g. ``src/**/*.py``) -- string operations on path segments;
* otherwise, when backtracking is provably polynomial (at most one ``**`` and one ``*``
  per segment) -- a Python regular expression;
* otherwise -- an NFA simulated with sets of states (Thompson), memoised as a lazy DFA.

Matching never backtracks exponentially; the worst case is O(len(pattern) * len(path)).

Lease semantics on top of plain wildmatch (see :func:`covers`):

* a file lease covers its path; a directory lease its whole subtree;
* a glob that matches a directory covers everything below it (as a ``dir`` lease does);
* a glob also covers the path spelled by its own text taken literally (git's pathspec
  rule), so a file named ``app/[id].tsx`` is covered by the pattern ``app/[id].tsx``.
"""

from __future__ import annotations

from bisect import bisect_right
from functools import lru_cache

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from collections.abc import Iterable
    from typing import TypeVar

    from gitcoord.errors import BadInput

    E = TypeVar("E", bound="tuple[tuple[str, str, str], object]")


def _bad(message: str) -> BadInput:
    """A :class:`~gitcoord.errors.BadInput` (imported only when a glob is malformed)."""
    from gitcoord.errors import BadInput

    return BadInput(message)

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
        return _bad(
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
                    raise _bad(f"malformed glob {text!r}: unknown character class [:{name}:]")
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
        raise _bad(f"glob contains a NUL character: {text!r}")
    toks: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            if i + 1 >= n:
                raise _bad(f"malformed glob {text!r}: trailing backslash")
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
    # A set that runs to the last code point (a negated class: [!a] is everything but 'a'
    # and '/') is written as what it leaves out: re compiles [^/a] at once, but needs some
    # 20 ms to build the bitmap of ranges that span all of Unicode.
    negated = b[-1] == _MAXCP
    if negated:
        b = _cs_complement(b)
        if not b:
            return "(?s:.)"
    parts: list[str] = []
    for i in range(0, len(b), 2):
        lo, hi = b[i], b[i + 1] - 1
        parts.append(f"\\U{lo:08x}" if lo == hi else f"\\U{lo:08x}-\\U{hi:08x}")
    return ("[^" if negated else "[") + "".join(parts) + "]"


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
    import re  # (only a glob that needs a regex pays for the import)

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


def _literal_runs(toks: list[_Tok]) -> set[str]:
    """The runs of unescaped literal characters within segments: each stands in every
    path the glob matches, and in its text (an escaped one would not: the text has the
    backslash)."""
    runs: set[str] = set()
    run: list[str] = []
    for t in (*toks, None):
        if t is not None and t.kind == _LIT and not t.escaped and t.ch != "/":
            run.append(t.ch)
        elif run:
            runs.add("".join(run))
            run = []
    return runs


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
        # literal pieces every covered path contains (wildmatch of the path or of an
        # ancestor, or the text taken literally): a cheap rejection test
        if self.simple is not None:
            before, _, after = self.simple
            pieces = {x for seg in before + after for x in seg if x}
        else:
            pieces = _literal_runs(self.toks)  # (tokenizing validates the syntax now; the
            # regex, when safe, is built on the first path that has these pieces)
        self.required = tuple(sorted(pieces, key=len, reverse=True))

    @property
    def toks(self) -> list[_Tok]:
        if self._toks is None:
            self._toks = _tokenize(self.text)
        return self._toks

    @property
    def regex(self) -> re.Pattern[str] | None:
        if self._regex is False:
            import re

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
        for piece in self.required:  # pieces of the text, so of its literal spelling too
            if piece not in path:
                return False
        simple = self.simple
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
# Lease patterns
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


def covers(kind: str, text: str, key: str, path: str) -> bool:
    """Does a lease pattern (its ``kind``, canonical ``text`` and index ``key``, as
    :class:`gitcoord.paths.Pattern` holds them) cover the repository path ``path``?

    file: equal. dir: equal or below. glob: git wildmatch (``WM_PATHNAME``) of the path
    or of any of its ancestors (a matched directory covers its subtree), or the path is
    (below) the glob's text taken literally.
    """
    if kind == "file":
        return path == text
    if kind == "dir":
        return path.startswith(key) and (len(path) == len(key) or path[len(key)] == "/")
    return _compile(text, True).match(path)


def index_match(
    files: dict[str, list[E]], dirs: dict[str, list[E]], globs: dict[str, list[E]], path: str
) -> list[E]:
    """Every entry of a lease index that covers ``path``: entries are ``(pattern, item)``
    with ``pattern`` a ``(text, kind, key)`` tuple, in three tables by kind, keyed by the
    pattern's key (a file's path, a directory, a glob's literal directory prefix: every
    path a glob covers lies below it).

    Only the path's own entries and those keyed at its ancestors are looked at: files by
    equality, directories by their key alone (keyed at an ancestor, they cover the path),
    and only those globs, each compiled at most once. :class:`gitcoord.paths.LeaseIndex`
    matches through here; the hook's fast path through :func:`first_covered`.
    """
    out: list[E] = []
    hit = files.get(path)
    if hit:
        out.extend(hit)
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
                text = entry[0][0]
                glob = compiled(text) or _compile(text, True)
                if glob.match(path):
                    out.append(entry)
    return out


LeaseRow = tuple[str, str, str, bool]
"""A candidate lease as the store's hook query returns it: (pattern, kind, key, exclusive)."""


def first_covered(rows: Iterable[LeaseRow], paths: Iterable[str]) -> tuple[str, LeaseRow] | None:
    """A path that one of the lease ``rows`` covers, with that row; None when no row
    covers any of ``paths``. ``rows`` must hold every lease keyed at one of the paths or
    at an ancestor of one; a row of an unknown kind is a ValueError.

    The lookup of :func:`index_match`, turned around for many paths and few leases:
    files by path; a directory lease by its key alone (keyed at one of the paths or an
    ancestor, it covers that path); each glob, compiled once, against the paths at or
    below its key only, those without its literal pieces set aside in bulk first.
    """
    todo = list(paths)
    files: dict[str, LeaseRow] = {}
    dirs: dict[str, LeaseRow] = {}
    globs: dict[str, list[LeaseRow]] = {}
    for row in rows:
        kind, key = row[1], row[2]
        if kind == "file":
            files.setdefault(key, row)
        elif kind == "dir":
            dirs.setdefault(key, row)
        elif kind == "glob":
            globs.setdefault(key, []).append(row)
        else:
            raise ValueError(f"unknown pattern kind {kind!r}")
    for path in todo:
        hit = files.get(path)
        if hit is not None:
            return path, hit
    if not dirs and not globs:
        return None
    under: dict[str, list[str]] = {k: [] for k in (*dirs, *globs)}  # the paths at or below each key
    for path in todo:
        for k in (*ancestors(path), path):
            group = under.get(k)
            if group is not None:
                group.append(path)
    for key, row in dirs.items():
        if under[key]:
            return under[key][0], row
    for key, keyed in globs.items():
        group = under[key]
        for row in keyed if group else ():
            glob = _LEASE_GLOBS.get(row[0]) or _compile(row[0], True)
            for piece in glob.required:
                group = [p for p in group if piece in p]
            for path in group:
                if glob.match(path):
                    return path, row
            group = under[key]
    return None
