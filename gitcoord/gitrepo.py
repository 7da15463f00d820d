"""The only module that talks to git.

Everything goes through the ``git`` CLI with ``-z`` output (cheap to start, honours
``GIT_INDEX_FILE`` and every config a user has). Git sets ``GIT_DIR``, ``GIT_INDEX_FILE``
and friends inside hooks; :func:`no_git_env` clears them before we run git anywhere
else, and the few callers that must see the hook's index pass it explicitly.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from gitcoord.errors import EnvironmentFailure, NotARepository

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
MERGE_TREE_NEEDS = "predicting merges needs git 2.38 or later"
ZERO_SHA = "0" * 40

# Variables git exports to hooks that must not leak into git calls against another
# repository or worktree (pre-commit's no_git_env keeps the same allow-list).
_KEEP = frozenset(
    {
        "GIT_EXEC_PATH",
        "GIT_SSH",
        "GIT_SSH_COMMAND",
        "GIT_SSL_CAINFO",
        "GIT_SSL_NO_VERIFY",
        "GIT_CONFIG_COUNT",
        "GIT_HTTP_PROXY_AUTHMETHOD",
        "GIT_ALLOW_PROTOCOL",
        "GIT_ASKPASS",
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_AUTHOR_DATE",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
        "GIT_COMMITTER_DATE",
        "GIT_CONFIG_GLOBAL",
        "GIT_CONFIG_SYSTEM",
        "GIT_CONFIG_NOSYSTEM",
        "GIT_TERMINAL_PROMPT",
        "GIT_TRACE",
    }
)


def no_git_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    return {
        k: v
        for k, v in env.items()
        if not k.startswith("GIT_")
        or k in _KEEP
        or k.startswith("GIT_CONFIG_KEY_")
        or k.startswith("GIT_CONFIG_VALUE_")
    }


class GitError(EnvironmentFailure):
    code = "git"


def run_git(
    args: Sequence[str],
    *,
    cwd: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run git with a clean environment (plus ``env`` overrides)."""
    full_env = no_git_env()
    full_env["GIT_LITERAL_PATHSPECS"] = "1"
    if env:
        full_env.update(env)
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=full_env,
            input=input,
            capture_output=True,
            check=False,
        )
    except FileNotFoundError as e:
        raise GitError("git is not installed or not on PATH") from e
    except NotADirectoryError as e:
        raise GitError(f"not a directory: {cwd}") from e
    if check and proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip()
        raise GitError(f"git {' '.join(args[:3])} failed: {msg}")
    return proc


def _out(proc: subprocess.CompletedProcess[bytes]) -> str:
    return proc.stdout.decode(errors="surrogateescape")


def zsplit(data: bytes | str) -> list[str]:
    if isinstance(data, bytes):
        data = data.decode(errors="surrogateescape")
    parts = data.split("\0")
    if parts and parts[-1] == "":
        parts.pop()
    return parts


class DiffEntry(NamedTuple):
    """One path a commit records (``git diff --raw``): status A/M/D/T, modes, blob ids
    (None for the missing side)."""

    path: str
    status: str
    old_mode: str
    new_mode: str
    old_blob: str | None
    new_blob: str | None


def _parse_raw(items: Sequence[str]) -> list[DiffEntry]:
    """Parse ``--raw -z --no-renames`` output (``:meta`` then path, repeated)."""
    out: list[DiffEntry] = []
    for i in range(0, len(items) - 1, 2):
        meta = items[i].lstrip(":").split()
        if len(meta) < 5:
            continue
        old_mode, new_mode, old_sha, new_sha, status = meta[:5]
        out.append(
            DiffEntry(
                path=items[i + 1],
                status=status[:1],
                old_mode=old_mode,
                new_mode=new_mode,
                old_blob=None if old_sha == ZERO_SHA or old_mode == "000000" else old_sha,
                new_blob=None if new_sha == ZERO_SHA or new_mode == "000000" else new_sha,
            )
        )
    return out


class Repo(NamedTuple):
    """A worktree of a repository: where commands act."""

    root: Path  # top of this worktree (absolute, real path); for a bare repo, the git dir
    git_dir: Path  # this worktree's git dir
    common_dir: Path  # shared by every worktree: the store lives here
    bare: bool = False
    # Extra environment for every git call (e.g. a pre-receive hook's quarantine object
    # directory, which no_git_env() would otherwise strip).
    extra_env: tuple[tuple[str, str], ...] = ()

    def git(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        input: bytes | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[bytes]:
        extra: dict[str, str] = {"GIT_DIR": str(self.git_dir)}
        if not self.bare:
            extra["GIT_WORK_TREE"] = str(self.root)
        if self.extra_env:
            extra.update(self.extra_env)
        if env:
            extra.update(env)
        return run_git(args, cwd=self.root, env=extra, input=input, check=check)

    # ---- refs and objects -------------------------------------------------
    def rev_parse(self, rev: str) -> str | None:
        proc = self.git("rev-parse", "--verify", "--quiet", "--end-of-options", rev + "^{commit}", check=False)
        if proc.returncode != 0:
            return None
        return _out(proc).strip() or None

    def head(self) -> str | None:
        return self.rev_parse("HEAD")

    def current_branch(self) -> str | None:
        proc = self.git("symbolic-ref", "--quiet", "HEAD", check=False)
        return _out(proc).strip() or None if proc.returncode == 0 else None

    def config_get_all_prefixed(self, prefix: str) -> dict[str, str]:
        """Every ``key value`` whose key starts with ``prefix`` (lower-cased keys, last wins)."""
        proc = self.git("config", "-z", "--get-regexp", "^" + prefix.replace(".", r"\."), check=False)
        result: dict[str, str] = {}
        for item in zsplit(proc.stdout):
            key, sep, value = item.partition("\n")
            # A key written with no value (`[gitcoord] requireLease`) is boolean true in git.
            result[key] = value if sep else "true"
        return result

    def integration_ref(self, configured: str | None = None) -> str:
        """The ref work merges into: configured, else the default branch."""
        if configured:
            return configured if configured.startswith("refs/") else self._expand(configured)
        proc = self.git("symbolic-ref", "--quiet", "refs/remotes/origin/HEAD", check=False)
        if proc.returncode == 0:
            name = _out(proc).strip().removeprefix("refs/remotes/origin/")
            if self.rev_parse(f"refs/heads/{name}"):
                return f"refs/heads/{name}"
        for name in ("main", "master", "trunk"):
            if self.rev_parse(f"refs/heads/{name}"):
                return f"refs/heads/{name}"
        # The main worktree's branch (HEAD in the common dir).
        head_file = self.common_dir / "HEAD"
        try:
            text = head_file.read_text().strip()
        except OSError:
            text = ""
        if text.startswith("ref: "):
            return text[5:]
        return "refs/heads/main"

    def _expand(self, name: str) -> str:
        """A short ref name as git reads it (``main``: ``refs/heads/main``; ``origin/main``:
        ``refs/remotes/origin/main``); one that names no ref is taken as a branch."""
        if name.startswith("-"):  # (rev-parse --symbolic-full-name echoes --end-of-options)
            return f"refs/heads/{name}"
        proc = self.git("rev-parse", "--symbolic-full-name", name, "--", check=False)
        full = next((ln for ln in _lines(_out(proc)) if ln.startswith("refs/")), "")
        return full or f"refs/heads/{name}"

    def full_ref(self, name: str) -> str | None:
        """The full name of the ref ``name`` names (``main``: ``refs/heads/main``), or None
        when it names no ref (a commit id, ``HEAD~2``)."""
        if name.startswith("-"):
            return None
        proc = self.git("rev-parse", "--symbolic-full-name", name, "--", check=False)
        return next((ln for ln in _lines(_out(proc)) if ln.startswith("refs/")), None)

    def merge_base(self, a: str, b: str) -> str | None:
        proc = self.git("merge-base", a, b, check=False)
        return _out(proc).strip() or None if proc.returncode == 0 else None

    def blobs_at(self, commit: str | None, paths: Iterable[str]) -> dict[str, str | None]:
        """Blob id of each path at ``commit`` (None where it does not exist or is a tree)."""
        wanted = list(dict.fromkeys(paths))
        result: dict[str, str | None] = dict.fromkeys(wanted)
        if not commit or not wanted:
            return result
        data = "".join(f"{commit}:{p}\n" for p in wanted).encode(errors="surrogateescape")
        proc = self.git("cat-file", "--batch-check=%(objectname) %(objecttype)", input=data)
        for path, line in zip(wanted, _lines(_out(proc))):
            parts = line.split()
            if len(parts) == 2 and parts[1] in ("blob", "commit"):
                result[path] = parts[0]
        return result

    def ls_files_under(self, commit: str, prefix: str) -> dict[str, str]:
        """path -> blob id for every file at ``commit`` below ``prefix`` ('' for all)."""
        args = ["ls-tree", "-r", "-z", "--full-tree", commit]
        if prefix:
            args += ["--", prefix]
        proc = self.git(*args, check=False)
        out: dict[str, str] = {}
        if proc.returncode != 0:
            return out
        for item in zsplit(proc.stdout):
            meta, _, path = item.partition("\t")
            parts = meta.split()
            if len(parts) == 3:
                out[path] = parts[2]
        return out

    def changed_paths(self, a: str, b: str) -> list[str]:
        """Paths that differ between two commits (both sides of renames)."""
        proc = self.git("diff", "--no-renames", "--no-ext-diff", "--name-only", "-z", a, b)
        return zsplit(proc.stdout)

    def authors(self, shas: Sequence[str]) -> dict[str, str]:
        """The author name of each commit (one git process; unknown ones left out)."""
        if not shas:
            return {}
        proc = self.git("log", "--no-walk=unsorted", "-z", "--format=%H %an", *shas, "--", check=False)
        out: dict[str, str] = {}
        for item in zsplit(proc.stdout):
            sha, _, name = item.strip("\n").partition(" ")
            if sha and name:
                out[sha] = name
        return out

    def ahead_behind(self, rev: str, upstream: str) -> tuple[int, int]:
        """(commits in ``rev`` not in ``upstream``, commits in ``upstream`` not in ``rev``)."""
        if rev == upstream:
            return 0, 0
        proc = self.git("rev-list", "--left-right", "--count", f"{rev}...{upstream}", "--", check=False)
        parts = _out(proc).split()
        if proc.returncode != 0 or len(parts) != 2:
            return 0, 0
        return int(parts[0]), int(parts[1])

    def changed_since_fork(self, rev: str, upstream: str) -> list[str]:
        """Paths ``rev`` changed since it forked from ``upstream`` (``git diff
        upstream...rev``), both sides of renames; none when they share no history."""
        proc = self.git(
            "diff", "--no-renames", "--no-ext-diff", "--name-only", "-z", f"{upstream}...{rev}", "--",
            check=False,
        )
        return zsplit(proc.stdout) if proc.returncode == 0 else []

    def commits_touching(self, a: str, b: str, path: str, limit: int = 5) -> list[str]:
        proc = self.git("log", f"--max-count={limit}", "--format=%H", f"{a}..{b}", "--", path, check=False)
        return _out(proc).split()

    # ---- what commits record (hooks and `gitcoord check`) ----------------------
    def staged_changes(self, parent: str | None, index_file: str | None = None) -> list[DiffEntry]:
        """What committing the index (``index_file``, else the worktree's) would record
        relative to ``parent`` (None: a root commit). Both sides of renames, deletions,
        mode changes and submodule pointers included."""
        env = {"GIT_INDEX_FILE": index_file} if index_file else None
        proc = self.git(
            "diff-index", "--cached", "-z", "--raw", "--no-renames", "--ignore-submodules=none",
            parent or EMPTY_TREE, env=env,
        )
        return _parse_raw(zsplit(proc.stdout))

    def tree_changes(self, parent: str | None, tree: str) -> list[DiffEntry]:
        """What a commit of ``tree`` on top of ``parent`` records (None: a root commit).
        Two trees: git reads only the subtrees that differ."""
        proc = self.git(
            "diff-tree", "-r", "-z", "--raw", "--no-renames", "--ignore-submodules=none",
            parent or EMPTY_TREE, tree, "--",
        )
        return _parse_raw(zsplit(proc.stdout))

    def write_tree(self, index_file: str | None = None) -> str:
        env = {"GIT_INDEX_FILE": index_file} if index_file else None
        return _out(self.git("write-tree", env=env)).strip()

    def commit_diffs(self, pairs: Sequence[tuple[str, str | None]]) -> list[list[DiffEntry]]:
        """For each (commit, parent) the changes the commit records relative to that
        parent (parent None: a root commit, against the empty tree). One git process."""
        if not pairs:
            return []
        data = "".join(f"{c} {p}\n" if p else f"{c}\n" for c, p in pairs).encode()
        proc = self.git(
            "diff-tree", "--stdin", "-r", "-z", "--raw", "--no-renames", "--root", "--always",
            "--ignore-submodules=none", input=data,
        )
        groups: list[list[DiffEntry]] = []
        items = zsplit(proc.stdout)
        i = 0
        while i < len(items):
            item = items[i]
            if item.startswith(":") and groups and i + 1 < len(items):
                groups[-1].extend(_parse_raw(items[i : i + 2]))
                i += 2
            else:  # a commit header: one per input line (--always)
                groups.append([])
                i += 1
        if len(groups) != len(pairs):
            raise GitError(f"git diff-tree returned {len(groups)} diffs for {len(pairs)} commits")
        return groups

    def commit_parents(self, revs: Sequence[str]) -> dict[str, list[str]]:
        """commit -> its parents, for commits given as revision arguments to rev-list
        (e.g. ``["B", "^A"]``), oldest first. Unknown revisions raise GitError."""
        proc = self.git("rev-list", "--parents", "--reverse", "--topo-order", *revs, "--")
        out: dict[str, list[str]] = {}
        for line in _lines(_out(proc)):
            parts = line.split()
            if parts:
                out[parts[0]] = parts[1:]
        return out

    def parents_of(self, shas: Sequence[str]) -> dict[str, list[str]]:
        """commit -> its parents for exactly the given commits (no history walk)."""
        wanted = list(dict.fromkeys(shas))
        if not wanted:
            return {}
        proc = self.git(
            "rev-list", "--no-walk=unsorted", "--parents", "--stdin",
            input="".join(f"{s}\n" for s in wanted).encode(),
        )
        out: dict[str, list[str]] = {}
        for line in _lines(_out(proc)):
            parts = line.split()
            if parts:
                out[parts[0]] = parts[1:]
        return out

    def refs(self, *patterns: str) -> dict[str, tuple[str, str]]:
        """refname -> (object id, symref target or '') for refs matching ``patterns``."""
        proc = self.git(
            "for-each-ref", "--format=%(refname)%00%(objectname)%00%(symref)", *patterns, check=False
        )
        out: dict[str, tuple[str, str]] = {}
        for line in _lines(_out(proc)):
            parts = line.split("\0")
            if len(parts) == 3:
                out[parts[0]] = (parts[1], parts[2])
        return out

    def is_ancestor(self, a: str, b: str) -> bool:
        return self.git("merge-base", "--is-ancestor", a, b, check=False).returncode == 0

    def objects_exist(self, shas: Iterable[str]) -> dict[str, bool]:
        wanted = list(dict.fromkeys(shas))
        if not wanted:
            return {}
        proc = self.git("cat-file", "--batch-check=%(objectname)", input="".join(f"{s}\n" for s in wanted).encode())
        return {s: "missing" not in line for s, line in zip(wanted, _lines(_out(proc)))}

    def commit_trees(self, shas: Iterable[str]) -> dict[str, str | None]:
        """The tree of each commit (None where there is no such commit). One git process."""
        wanted = list(dict.fromkeys(shas))
        if not wanted:
            return {}
        data = "".join(f"{s}^{{tree}}\n" for s in wanted).encode()
        proc = self.git("cat-file", "--batch-check=%(objectname) %(objecttype)", input=data)
        out: dict[str, str | None] = dict.fromkeys(wanted)
        for sha, line in zip(wanted, _lines(_out(proc))):
            parts = line.split()
            if len(parts) == 2 and parts[1] == "tree":
                out[sha] = parts[0]
        return out

    def blobs_many(self, specs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
        """Blob id of each (commit, path) (None where absent or a tree). One git process."""
        wanted = list(dict.fromkeys(specs))
        result: dict[tuple[str, str], str | None] = dict.fromkeys(wanted)
        if not wanted:
            return result
        data = "".join(f"{c}:{p}\n" for c, p in wanted).encode(errors="surrogateescape")
        proc = self.git("cat-file", "--batch-check=%(objectname) %(objecttype)", input=data)
        for key, line in zip(wanted, _lines(_out(proc))):
            parts = line.split()
            if len(parts) == 2 and parts[1] in ("blob", "commit"):
                result[key] = parts[0]
        return result

    def log_commits(self, a: str, b: str, paths: Sequence[str]) -> list[str]:
        """The commits in ``a..b`` that changed any of ``paths``, newest first."""
        if not paths:
            return []
        proc = self.git("log", "--format=%H", f"{a}..{b}", "--", *paths, check=False)
        return _out(proc).split()

    def log_paths(self, a: str, b: str, paths: Sequence[str]) -> dict[str, list[str]]:
        """For each path, the commits in ``a..b`` that changed it (newest first)."""
        out: dict[str, list[str]] = {p: [] for p in paths}
        if not paths:
            return out
        proc = self.git(
            "log", "--no-renames", "--name-only", "-z", "--format=%x01%H", f"{a}..{b}", "--",
            *paths, check=False,
        )
        sha = None
        for item in zsplit(proc.stdout):
            if item.startswith("\x01"):
                sha = item[1:]
                continue
            path = item[1:] if item.startswith("\n") else item
            if sha and path in out:
                out[path].append(sha)
        return out

    def merge_heads(self) -> list[str]:
        """The commits being merged (``MERGE_HEAD``) while a merge is in progress."""
        try:
            text = (self.git_dir / "MERGE_HEAD").read_text()
        except OSError:
            return []
        return text.split()

    def operation_in_progress(self) -> str | None:
        """'rebase' / 'am' / 'cherry-pick' / 'revert' when such an operation is under way."""
        if (self.git_dir / "rebase-apply" / "applying").exists():
            return "am"
        if (self.git_dir / "rebase-merge").is_dir() or (self.git_dir / "rebase-apply").is_dir():
            return "rebase"
        if (self.git_dir / "CHERRY_PICK_HEAD").exists():
            return "cherry-pick"
        if (self.git_dir / "REVERT_HEAD").exists():
            return "revert"
        return None

    # ---- worktrees ----------------------------------------------------------
    def hooks_dir(self) -> Path:
        """Where git runs hooks for every worktree (honours core.hooksPath)."""
        proc = self.git("rev-parse", "--git-path", "hooks")
        p = Path(_out(proc).strip())
        if not p.is_absolute():
            p = self.root / p
        return Path(os.path.abspath(p))

    def worktree_paths(self) -> list[Path]:
        proc = self.git("worktree", "list", "--porcelain", "-z")
        paths: list[Path] = []
        bare_next = False
        for item in zsplit(proc.stdout):
            if item.startswith("worktree "):
                paths.append(Path(item[len("worktree ") :]))
                bare_next = True
            elif item == "bare" and bare_next and paths:
                paths.pop()
        return paths

    # ---- worktree management (tasks) -----------------------------------------
    def worktree_entries(self) -> list[WorktreeEntry]:
        """Every worktree of the repository (the main one first), bare entries skipped."""
        proc = self.git("worktree", "list", "--porcelain", "-z")
        out: list[WorktreeEntry] = []
        cur: dict[str, str] = {}

        def flush() -> None:
            if cur.get("worktree") and "bare" not in cur:
                branch = cur.get("branch")
                out.append(
                    WorktreeEntry(
                        path=Path(cur["worktree"]),
                        head=cur.get("HEAD"),
                        branch=branch,
                        locked="locked" in cur,
                        prunable="prunable" in cur,
                    )
                )
            cur.clear()

        for item in zsplit(proc.stdout):
            if not item:
                flush()
                continue
            key, _, value = item.partition(" ")
            if key == "worktree":
                flush()
            cur[key] = value
        flush()
        return out

    def branch_name_ok(self, name: str) -> bool:
        """A name for a new branch, taken literally (``--branch`` alone would accept
        ``@{-1}``, which it expands)."""
        if name.startswith("-"):
            return False
        literal = self.git("check-ref-format", f"refs/heads/{name}", check=False)
        if literal.returncode != 0:
            return False
        return self.git("check-ref-format", "--branch", name, check=False).returncode == 0

    def delete_branch(self, name: str, *, expect: str) -> bool:
        """Delete branch ``name`` if it points at ``expect`` (compare-and-swap)."""
        proc = self.git("update-ref", "-d", f"refs/heads/{name}", expect, check=False)
        return proc.returncode == 0

    def ignores(self, path: Path) -> bool:
        """Whether this worktree's ignore rules cover ``path`` (inside it)."""
        try:
            rel = "./" + path.relative_to(self.root.resolve()).as_posix()  # (never magic)
        except ValueError:
            return False
        proc = self.git(  # (check-ignore refuses GIT_LITERAL_PATHSPECS)
            "check-ignore", "-q", "--no-index", "--", rel, env={"GIT_LITERAL_PATHSPECS": "0"},
            check=False,
        )
        return proc.returncode == 0

    def worktree_add(self, path: Path, branch: str, start: str) -> None:
        """``git worktree add -b BRANCH PATH START``."""
        self.git("worktree", "add", "-q", "-b", branch, str(path), start)

    def worktree_remove(self, path: Path, *, force: bool = False) -> None:
        """``git worktree remove`` (forced: even dirty or locked), run from the common dir,
        so it works from inside the worktree it removes too."""
        args = ["worktree", "remove"] + (["--force", "--force"] if force else []) + [str(path)]
        run_git(args, cwd=self.common_dir)

    def worktree_move(self, path: Path, to: Path, *, force: bool = False) -> None:
        """``git worktree move`` (a rename, with git's checks: no submodules inside; forced:
        even locked), run from the common dir."""
        args = ["worktree", "move"] + (["--force", "--force"] if force else []) + [str(path), str(to)]
        run_git(args, cwd=self.common_dir)

    def dirty_paths(self) -> list[str]:
        """Paths with uncommitted changes in this worktree (untracked files included)."""
        proc = self.git("status", "--porcelain=v1", "-z", "--untracked-files=normal")
        out: list[str] = []
        items = zsplit(proc.stdout)
        i = 0
        while i < len(items):
            entry = items[i]
            out.append(entry[3:])
            if entry[:1] in ("R", "C"):
                i += 1  # the rename's source follows
            i += 1
        return out

    # ---- status (status.py) ---------------------------------------------------
    def for_worktree(self, path: Path) -> Repo:
        """The Repo of another worktree of this repository, found without running git
        (its ``.git`` is a directory for the main worktree, a ``gitdir:`` file otherwise)."""
        dotgit = path / ".git"
        git_dir = dotgit
        if dotgit.is_file():
            text = dotgit.read_text(errors="replace").strip()
            if text.startswith("gitdir:"):
                p = Path(text[len("gitdir:") :].strip())
                git_dir = p if p.is_absolute() else (path / p)
        return Repo(root=path, git_dir=Path(os.path.abspath(git_dir)), common_dir=self.common_dir)

    def worktree_status(self, ignore: Collection[str] = ()) -> tuple[list[str], dict[str, int]]:
        """Uncommitted paths (both sides of renames, untracked included) and the count of
        each kind, from one ``git status`` (which trusts the index's stat data and the
        untracked cache where enabled, so an unchanged tree costs stat calls only); the
        paths in ``ignore`` left out. An observer's read: ``--no-optional-locks``, so it
        never rewrites the worktree's index (nor holds its lock while its owner commits)."""
        proc = self.git("--no-optional-locks", "status", "--porcelain=v1", "-z", "--untracked-files=all")
        out: list[str] = []
        kinds = {"staged": 0, "unstaged": 0, "untracked": 0, "conflicted": 0}
        items = zsplit(proc.stdout)
        i = 0
        while i < len(items):
            entry = items[i]
            xy, path = entry[:2], entry[3:]
            if path in ignore:
                i += 1
                continue
            out.append(path)
            if xy == "??":
                kinds["untracked"] += 1
            elif "U" in xy or xy in ("AA", "DD"):
                kinds["conflicted"] += 1
            else:
                if xy[0] not in (" ", "?"):
                    kinds["staged"] += 1
                if xy[1] not in (" ", "?"):
                    kinds["unstaged"] += 1
            if xy[:1] in ("R", "C") and i + 1 < len(items):
                out.append(items[i + 1])  # the rename's source
                i += 1
            i += 1
        return list(dict.fromkeys(out)), kinds

    # ---- merge prediction (predict.py) -------------------------------------------
    def worktree_tree(self, changed: Sequence[str]) -> str:
        """The tree of this worktree's files as they are now: its index (HEAD's tree when it
        has none) with the ``changed`` paths (what ``git status`` lists: staged, modified,
        deleted, untracked) taken from the work tree, built in a temporary index
        (``GIT_INDEX_FILE``, a copy). The real index and the files are only read; blobs
        and trees are written to the object store."""
        import shutil
        import tempfile

        with tempfile.TemporaryDirectory(prefix="gitcoord-index-") as tmp:
            index = os.path.join(tmp, "index")
            # (one shared index would be written next to the real one: not from here)
            env = {"GIT_INDEX_FILE": index, "GIT_CONFIG_PARAMETERS": "'core.splitindex=false'"}
            try:
                # (its time too: git trusts an entry's stat data only when the file did not
                # change in the same tick as the index was written, as for the real one)
                shutil.copy2(self.git_dir / "index", index)
            except FileNotFoundError:
                if self.rev_parse("HEAD") is None:
                    self.git("read-tree", "--empty", env=env)
                else:
                    self.git("read-tree", "HEAD", env=env)
            # (an untracked nested repository is listed as 'dir/': not content we can stage)
            listed = [p for p in changed if p and not p.endswith("/")]
            if listed:
                data = "".join(p + "\0" for p in listed).encode(errors="surrogateescape")
                self.git("update-index", "--add", "--remove", "--replace", "-z", "--stdin", env=env, input=data)
            return _out(self.git("write-tree", env=env)).strip()

    def synthetic_commits(self, items: Sequence[tuple[str, str | None]]) -> list[str]:
        """A commit object of each (tree, parent) -- no ref points at it -- so that git's
        merge machinery, which merges commits, can merge uncommitted work. Author, date and
        message are fixed, so the same tree on the same parent is the same commit (as
        ``git commit-tree`` would write it). One git process; the trees must exist."""
        if not items:
            return []
        import tempfile

        who = "gitcoord <gitcoord@localhost> 0 +0000"
        with tempfile.TemporaryDirectory(prefix="gitcoord-commits-") as tmp:
            files = []
            for k, (tree, parent) in enumerate(items):
                f = os.path.join(tmp, str(k))
                head = f"tree {tree}\n" + (f"parent {parent}\n" if parent else "")
                with open(f, "w") as out:
                    out.write(f"{head}author {who}\ncommitter {who}\n\ngitcoord: uncommitted changes\n")
                files.append(f)
            proc = self.git("hash-object", "-t", "commit", "-w", "--stdin-paths", input="".join(f + "\n" for f in files).encode())
        shas = _out(proc).split()
        if len(shas) != len(items):
            raise GitError(f"git hash-object wrote {len(shas)} commits for {len(items)}")
        return shas

    def merge_bases(self, a: str, b: str) -> list[str]:
        """Every best common ancestor of two commits (none: unrelated histories)."""
        proc = self.git("merge-base", "--all", a, b, check=False)
        return sorted(_out(proc).split()) if proc.returncode == 0 else []

    def merge_bases_many(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
        """:meth:`merge_bases` of many pairs of commits in two git processes, not one a
        pair: O, the best common ancestors of every commit named (``merge-base --octopus``),
        and the graph of what they reach beyond O (``rev-list --parents``). A best common
        ancestor of two of them lies in that graph or is in O. Without a common ancestor of
        them all, one merge-base a pair."""
        wanted = list(dict.fromkeys(pairs))
        heads = list(dict.fromkeys(c for pair in wanted for c in pair))
        if not wanted:
            return {}
        proc = self.git("merge-base", "--octopus", "--all", *heads, check=False)
        octopus = _out(proc).split()
        if proc.returncode != 0 or not octopus:
            return {pair: self.merge_bases(*pair) for pair in wanted}
        proc = self.git("rev-list", "--parents", *heads, "--not", *octopus, "--")
        parents: dict[str, list[str]] = {}
        for line in _lines(_out(proc)):
            parts = line.split()
            if parts:
                parents[parts[0]] = parts[1:]
        reach: dict[str, set[str]] = {}

        def ancestors(c: str) -> set[str]:
            """``c`` and its ancestors in the graph (empty when ``c`` is not in it)."""
            if c not in reach:
                seen: set[str] = set()
                todo = [c] if c in parents else []
                while todo:
                    x = todo.pop()
                    if x not in seen:
                        seen.add(x)
                        todo.extend(p for p in parents[x] if p in parents and p not in seen)
                reach[c] = seen
            return reach[c]

        out: dict[tuple[str, str], list[str]] = {}
        for a, b in wanted:
            if a not in parents or b not in parents:  # (one reaches no further than O: an ancestor of the other)
                out[(a, b)] = [b if a in parents else a]
                continue
            common = ancestors(a) & ancestors(b)  # (closed under "parent of")
            below = {p for c in common for p in parents[c]}
            out[(a, b)] = sorted((common - below) | (set(octopus) - below))
        return out

    def trees_of(self, commits: Iterable[str]) -> dict[str, str | None]:
        """commit -> its tree (None when the commit is missing). One git process."""
        wanted = list(dict.fromkeys(commits))
        if not wanted:
            return {}
        proc = self.git(
            "cat-file", "--batch-check=%(objectname) %(objecttype)",
            input="".join(f"{c}^{{tree}}\n" for c in wanted).encode(),
        )
        out: dict[str, str | None] = {}
        for c, line in zip(wanted, _lines(_out(proc))):
            parts = line.split()
            out[c] = parts[0] if len(parts) == 2 and parts[1] == "tree" else None
        return out

    def merge_tree(self, pairs: Sequence[tuple[str, str]]) -> list[MergeOutcome | GitError]:
        """What merging each pair of commits would give, from ``git merge-tree --write-tree``
        (git 2.38 or later; one process for all pairs with ``--stdin``, git 2.39 or later).
        Nothing outside the object store is written. A pair git cannot merge gives its
        GitError in its place; git without ``--write-tree`` raises GitError."""
        if not pairs:
            return []
        if len(pairs) > 1:
            data = "".join(f"{a} {b}\n" for a, b in pairs).encode()
            proc = self.git("merge-tree", "--write-tree", "--name-only", "-z", "--stdin", input=data, check=False)
            if proc.returncode == 0:
                outcomes = _parse_merge_batch(zsplit(proc.stdout))
                if len(outcomes) == len(pairs):
                    return list(outcomes)
            # (an older git without --stdin, or one pair it cannot merge: one at a time)
        out: list[MergeOutcome | GitError] = []
        for a, b in pairs:
            proc = self.git("merge-tree", "--write-tree", "--name-only", "-z", a, b, check=False)
            items = zsplit(proc.stdout)
            if proc.returncode not in (0, 1) or not items:  # (a commit it cannot find: 1 too)
                msg = proc.stderr.decode(errors="replace").strip()
                if proc.returncode == 129:  # usage: this git has no --write-tree
                    raise GitError(f"{MERGE_TREE_NEEDS} (git merge-tree --write-tree): {msg}")
                out.append(GitError(f"git merge-tree {a[:10]} {b[:10]} failed: {msg}"))
                continue
            out.append(_parse_merge(items, 0, clean=proc.returncode == 0)[0])
        return out

    # ---- hooks (install.py) -------------------------------------------------
    def hooks_path_config(self) -> str | None:
        """``core.hooksPath`` as git reads it (``~`` expanded), or None when unset."""
        proc = self.git("config", "--type=path", "--get", "core.hooksPath", check=False)
        value = _out(proc).rstrip("\n")
        return value if proc.returncode == 0 and value else None

    def relative_hooks_path(self) -> str | None:
        """``core.hooksPath`` when it is relative (taken from the top of each worktree)."""
        value = self.hooks_path_config()
        return value if value is not None and not os.path.isabs(value) else None

    def hooks_dirs_per_worktree(self) -> bool:
        """A relative ``core.hooksPath`` is taken from the top of each worktree, so each
        worktree (including ones created later) has a hooks directory of its own; and with
        ``extensions.worktreeConfig`` any worktree may set a ``core.hooksPath`` of its own."""
        if self.relative_hooks_path() is not None:
            return True
        proc = self.git("config", "--type=bool", "--get", "extensions.worktreeConfig", check=False)
        return proc.returncode == 0 and _out(proc).strip() == "true"

    def all_hooks_dirs(self) -> list[Path]:
        """Every directory git runs this repository's hooks from: ``hooks_dir()``, plus,
        when they can differ (:meth:`hooks_dirs_per_worktree`), that of every other worktree."""
        dirs = [self.hooks_dir()]
        if self.hooks_dirs_per_worktree():
            for wt in self.worktree_paths():
                if not wt.is_dir():
                    continue  # a worktree whose directory is gone (prunable)
                proc = run_git(["rev-parse", "--git-path", "hooks"], cwd=wt, check=False)
                value = _out(proc).strip()
                if proc.returncode != 0 or not value:
                    continue
                p = Path(value)
                dirs.append(Path(os.path.abspath(p if p.is_absolute() else wt / p)))
        seen: set[Path] = set()
        unique: list[Path] = []
        for d in dirs:
            key = d.resolve()
            if key not in seen:
                seen.add(key)
                unique.append(d)
        return unique

    def all_hooks_dirs_quickly(self) -> list[Path]:
        """:meth:`all_hooks_dirs` in one git call in the common case: with neither
        ``core.hooksPath`` (in any config file) nor ``extensions.worktreeConfig`` set, git
        runs every worktree's hooks from ``<common dir>/hooks``."""
        proc = self.git(
            "config", "-z", "--get-regexp", r"^(core\.hookspath|extensions\.worktreeconfig)$", check=False
        )
        if proc.returncode == 1 and not proc.stdout:  # (exit 1: no such key)
            return [self.common_dir / "hooks"]
        return self.all_hooks_dirs()


class MergeConflict(NamedTuple):
    """One conflict git reports for a merge: its kind (content, add/add, modify/delete,
    rename/delete, rename/rename, file/directory, ...), the paths, and git's message."""

    kind: str
    paths: tuple[str, ...]
    message: str


class MergeOutcome(NamedTuple):
    clean: bool
    tree: str  # the merge result (with conflict markers where it conflicts)
    paths: tuple[str, ...]  # conflicted paths
    conflicts: tuple[MergeConflict, ...]


def _conflict_kind(kind: str, message: str) -> str:
    """'CONFLICT (add/add): Merge conflict in x' -> 'add/add'; git's type for add/add is
    'CONFLICT (contents)', so its message says more."""
    for text in (message, kind):
        if text.startswith("CONFLICT (") and ")" in text:
            name = text[len("CONFLICT (") : text.index(")")]
            return "content" if name in ("content", "contents") else name
    return kind


def _parse_merge(items: Sequence[str], i: int, *, clean: bool) -> tuple[MergeOutcome, int]:
    """One result of ``merge-tree --write-tree --name-only -z`` from ``items[i]``: the tree,
    then (when it conflicts) the conflicted paths, an empty item, and the messages
    (a count, that many paths, a type, a message). Returns it and the next index."""
    tree = items[i]
    i += 1
    if clean:
        return MergeOutcome(True, tree, (), ()), i
    paths: list[str] = []
    while i < len(items) and items[i] != "":
        paths.append(items[i])
        i += 1
    i += 1  # the empty item between the sections
    conflicts: list[MergeConflict] = []
    while i < len(items) and items[i].isdigit():
        n = int(items[i])
        mpaths = tuple(items[i + 1 : i + 1 + n])
        kind, message = items[i + 1 + n], items[i + 2 + n]
        i += 3 + n
        if kind.startswith("CONFLICT"):
            conflicts.append(MergeConflict(_conflict_kind(kind, message), mpaths, message.rstrip("\n")))
    return MergeOutcome(False, tree, tuple(dict.fromkeys(paths)), tuple(conflicts)), i


def _parse_merge_batch(items: Sequence[str]) -> list[MergeOutcome]:
    """``merge-tree --stdin`` output: per merge, '1' (clean) or '0', the result as
    :func:`_parse_merge` reads it, and an empty item."""
    out: list[MergeOutcome] = []
    i = 0
    while i < len(items):
        status = items[i]
        if status not in ("0", "1"):
            break
        outcome, i = _parse_merge(items, i + 1, clean=status == "1")
        out.append(outcome)
        if i < len(items) and items[i] == "":
            i += 1
    return out


class WorktreeEntry(NamedTuple):
    path: Path
    head: str | None
    branch: str | None  # refs/heads/...; None when detached
    locked: bool = False
    prunable: bool = False


def discover(cwd: str | os.PathLike[str] | None = None) -> Repo:
    """Find the worktree containing ``cwd`` (any subdirectory of a main or linked worktree)."""
    where = Path(cwd) if cwd is not None else Path.cwd()
    env: dict[str, str] = {}
    # Inside a hook git tells us exactly which repository this is.
    if os.environ.get("GIT_DIR"):
        env["GIT_DIR"] = os.path.abspath(os.environ["GIT_DIR"])
        if os.environ.get("GIT_WORK_TREE"):
            env["GIT_WORK_TREE"] = os.path.abspath(os.environ["GIT_WORK_TREE"])
    proc = run_git(
        ["rev-parse", "--is-bare-repository", "--absolute-git-dir", "--git-common-dir", "--show-toplevel"],
        cwd=where,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        # --show-toplevel fails in a bare repository; retry without it.
        proc2 = run_git(
            ["rev-parse", "--is-bare-repository", "--absolute-git-dir", "--git-common-dir"],
            cwd=where,
            env=env,
            check=False,
        )
        if proc2.returncode != 0 or _out(proc2).split("\n", 1)[0].strip() != "true":
            raise NotARepository(f"not a git repository: {where}")
        lines = _lines(_out(proc2))
        git_dir = Path(lines[1]).resolve()
        return Repo(root=git_dir, git_dir=git_dir, common_dir=_abs(lines[2], where), bare=True)
    lines = _lines(_out(proc))
    bare = lines[0].strip() == "true"
    git_dir = Path(lines[1]).resolve()
    common = _abs(lines[2], where)
    root = Path(lines[3]).resolve() if len(lines) > 3 and lines[3] else git_dir
    return Repo(root=root, git_dir=git_dir, common_dir=common, bare=bare)


def _lines(text: str) -> list[str]:
    """The lines of git's output: split at '\n' only (``str.splitlines`` also splits at
    CR, form feed, U+2028 and more, which paths may hold)."""
    return text.removesuffix("\n").split("\n") if text else []


def _abs(p: str, where: Path) -> Path:
    path = Path(p)
    if not path.is_absolute():
        path = where / path
    return path.resolve()


def locked_worktrees(common_dir: str | os.PathLike[str]) -> set[str]:
    """Real paths of the linked worktrees git keeps registered as locked (``git worktree
    lock``: on a removable disk, say; absent maybe, but not gone). Read from
    ``<common-dir>/worktrees/*/{locked,gitdir}``, without starting git."""
    out: set[str] = set()
    try:
        entries = list(os.scandir(os.path.join(common_dir, "worktrees")))
    except OSError:
        return out
    for e in entries:
        if not os.path.exists(os.path.join(e.path, "locked")):
            continue
        try:
            with open(os.path.join(e.path, "gitdir")) as f:
                gitdir = f.read().strip()  # <worktree>/.git
        except OSError:
            continue
        out.add(os.path.realpath(os.path.dirname(gitdir)))
    return out


def host_id() -> str:
    # os.uname() is gethostname() without importing socket (a few ms on every command).
    return os.environ.get("GITCOORD_HOST") or os.uname().nodename or "localhost"
