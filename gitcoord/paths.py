"""Path patterns: normalisation, git wildmatch, exact overlap with a witness, a lease index.

SPEC section 2. Three kinds of pattern:

* ``file``  -- one path (``src/foo.py``);
* ``dir``   -- a directory and its whole subtree (``src/pkg/``);
* ``glob``  -- git wildmatch with ``WM_PATHNAME`` semantics (``src/**/*.py``).

Matching (git wildmatch in linear time, and the lease rules below) lives in
:mod:`gitcoord.pathmatch`, which the hook's fast path imports without this module; the
names are re-exported here.

Overlap of two patterns is exact: both sides become automata over Unicode code points
(transitions labelled with sets of code points), the product with an automaton of valid
repository paths is searched breadth-first for the shortest accepted string (avoiding
segments that start with '.' when it can), and that string is the witness path.

Lease semantics on top of plain wildmatch (see :func:`matches`):

* a file lease covers its path; a directory lease its whole subtree;
* a glob that matches a directory covers everything below it (as a ``dir`` lease does);
* a glob also covers the path spelled by its own text taken literally (git's pathspec
  rule), so a file named ``app/[id].tsx`` is covered by the pattern ``app/[id].tsx``.
"""

from __future__ import annotations

import os
from bisect import bisect_left, bisect_right
from functools import lru_cache
from typing import Generic, NamedTuple, TypeVar

from gitcoord.errors import BadInput
from gitcoord.pathmatch import (
    _ANY,
    _CLASS,
    _DSTAR,
    _LIT,
    _MAXCP,
    _SLASH,
    _STAR,
    _add_subtree,
    _Bounds,
    _compile,
    _cs_and,
    _cs_char,
    _cs_complement,
    _cs_from_ranges,
    _cs_or,
    _has_wildcard,
    _Nfa,
    _r,
    _Tok,
    _tokenize,
    ancestors,
    covers,
    index_match,
    wildmatch,
)

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
# Pattern text
# ---------------------------------------------------------------------------------------

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


def matches(pattern: Pattern, path: str) -> bool:
    """Does the lease ``pattern`` cover the repository path ``path``?
    (:func:`gitcoord.pathmatch.covers`: file equal; dir equal or below; glob by wildmatch
    of the path or an ancestor, or the glob's text taken literally.)"""
    return covers(pattern.kind, pattern.text, pattern.key, path)


# ---------------------------------------------------------------------------------------
# Overlap
# ---------------------------------------------------------------------------------------

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
        return index_match(self._files, self._dirs, self._globs, path)

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
