"""The protocol for agents, written into ``AGENTS.md`` (and ``CLAUDE.md`` when that file
exists) at the top of the worktree, between two marker lines (``gitcoord init --agents``,
``gitcoord agents``).

The text is one template shipped in the package (``gitcoord/templates/agents.md``).
Writing is idempotent: the block between the markers is replaced (or, the first time,
appended, and ``AGENTS.md`` created if needed); every byte outside the markers stays as
it was. A file that is a symbolic link is written through the link, once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from gitcoord.errors import BadInput, EnvironmentFailure

BEGIN = "<!-- gitcoord:agents:begin (written by `gitcoord agents`; edit outside these markers) -->"
END = "<!-- gitcoord:agents:end -->"
FILES = ("AGENTS.md", "CLAUDE.md")  # AGENTS.md always; CLAUDE.md when it exists


def template() -> str:
    """The protocol text, as shipped."""
    return (resources.files("gitcoord") / "templates" / "agents.md").read_text(encoding="utf-8")


def block(newline: str = "\n") -> str:
    """What goes into a file: the markers around the template, with ``newline`` line ends."""
    text = f"{BEGIN}\n{template().rstrip(chr(10))}\n{END}\n"
    return text.replace("\n", newline)


@dataclass(frozen=True)
class Written:
    path: Path
    action: str  # created | added | updated | unchanged

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "action": self.action}


def merged(current: bytes | None) -> tuple[bytes, str]:
    """``current`` with the block in place, and what that did."""
    if current is None:
        return block().encode("utf-8"), "created"
    try:
        text = current.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput("it is not UTF-8 text") from None
    newline = "\r\n" if "\r\n" in text else "\n"
    begins, ends = text.count(BEGIN), text.count(END)
    if begins == 0 and ends == 0:
        if not text or text.endswith(newline * 2):
            sep = ""
        else:
            sep = newline if text.endswith(newline) else newline * 2
        new = text + sep + block(newline)
        return new.encode("utf-8"), "added"
    start, stop = text.find(BEGIN), text.find(END)
    if begins != 1 or ends != 1 or stop < start:
        raise BadInput(
            f"its gitcoord markers are broken ({begins} begin, {ends} end marker(s)):"
            " fix them by hand (or delete both) and run `gitcoord agents` again"
        )
    stop += len(END)
    if text.startswith(newline, stop):
        stop += len(newline)
    elif text.startswith("\n", stop):
        stop += 1
    new = text[:start] + block(newline) + text[stop:]
    return new.encode("utf-8"), "unchanged" if new == text else "updated"


def write(root: Path) -> list[Written]:
    """Write the protocol into ``root``'s AGENTS.md (created if needed) and CLAUDE.md (if
    it exists). Each file is checked before any is written: all or nothing."""
    plans: list[tuple[Path, Path, bytes, str]] = []
    seen: set[str] = set()
    for name in FILES:
        path = root / name
        if name != FILES[0] and not path.exists():
            continue
        target = Path(os.path.realpath(path))
        if str(target) in seen:
            continue  # CLAUDE.md a link to AGENTS.md: written once
        seen.add(str(target))
        try:
            current = target.read_bytes() if target.exists() else None
        except OSError as e:
            raise EnvironmentFailure(f"cannot read {path}: {e.strerror or e}") from None
        if current is not None and not target.is_file():
            raise BadInput(f"{path} is not a file")
        try:
            data, action = merged(current)
        except BadInput as e:
            raise BadInput(f"{name}: {e.message}") from None
        plans.append((path, target, data, action))
    out: list[Written] = []
    for path, target, data, action in plans:
        if action != "unchanged":
            _write_atomic(target, data)
        out.append(Written(path, action))
    return out


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.gitcoord-{os.getpid()}")
    try:
        mode = path.stat().st_mode & 0o7777 if path.exists() else None
        with open(tmp, "wb") as f:
            f.write(data)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise EnvironmentFailure(f"cannot write {path}: {e.strerror or e}") from None
