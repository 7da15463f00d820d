"""``gitcoord install --claude`` / ``uninstall --claude``: our ``PreToolUse`` entry in the
project's ``.claude/settings.json`` (SPEC section 9).

The entry::

    {"matcher": "Edit|Write|MultiEdit|NotebookEdit",
     "hooks": [{"type": "command", "command": "gitcoord guard"}]}

The command is ``gitcoord guard``, found on ``PATH`` as ``gitcoord mcp`` is: unlike the
git hook shims, which name the installing interpreter's absolute path, it works on every
machine that checks out a committed settings.json. (Where gitcoord is not on Claude
Code's ``PATH`` the hook fails, Claude Code reports the hook error and the edit goes
ahead; the git hooks still enforce at commit time.)

The file is edited as text, not rewritten: our entry is inserted (or replaced, or cut
out) at its place and every other byte -- other hooks, other settings, indentation, key
order -- stays as it was. A second install changes nothing; uninstall removes our entry
only (and the ``PreToolUse`` list and ``hooks`` object it leaves empty, and the file when
nothing else is left in it). Nothing here prints.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitcoord.errors import BadInput, EnvironmentFailure

COMMAND = "gitcoord guard"
MATCHER = "Edit|Write|MultiEdit|NotebookEdit"
ENTRY: dict[str, Any] = {"matcher": MATCHER, "hooks": [{"type": "command", "command": COMMAND}]}
_OURS = re.compile(r"(^|[\s/'\"])gitcoord(\.exe)?['\"]?\s+guard(\s|$)")


@dataclass(frozen=True)
class SettingsResult:
    path: Path
    action: str  # added | updated | unchanged | removed | absent
    command: str = COMMAND

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "action": self.action, "command": self.command, "matcher": MATCHER}


def settings_path(root: Path) -> Path:
    return root / ".claude" / "settings.json"


# ---------------------------------------------------------------- a JSON scanner with spans
@dataclass
class _Node:
    start: int
    end: int  # exclusive
    kind: str  # object | array | scalar
    members: list[tuple[str, int, _Node]]  # object: (key, key start, value); array: ("", 0, item)


_WS = " \t\r\n"
_SCALAR = re.compile(r'"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null', re.S)


def _ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def _parse(text: str, i: int) -> _Node:
    i = _ws(text, i)
    if i >= len(text):
        raise ValueError("unexpected end")
    c = text[i]
    if c in "{[":
        close = "}" if c == "{" else "]"
        node = _Node(i, i, "object" if c == "{" else "array", [])
        j = _ws(text, i + 1)
        if text[j : j + 1] == close:
            node.end = j + 1
            return node
        while True:
            key, key_at = "", 0
            if node.kind == "object":
                j = _ws(text, j)
                m = _SCALAR.match(text, j)
                if m is None or not m.group().startswith('"'):
                    raise ValueError(f"expected a key at {j}")
                key, key_at = json.loads(m.group()), j
                j = _ws(text, m.end())
                if text[j : j + 1] != ":":
                    raise ValueError(f"expected ':' at {j}")
                j += 1
            value = _parse(text, j)
            node.members.append((key, key_at, value))
            j = _ws(text, value.end)
            if text[j : j + 1] == ",":
                j += 1
                continue
            if text[j : j + 1] == close:
                node.end = j + 1
                return node
            raise ValueError(f"expected ',' or '{close}' at {j}")
    m = _SCALAR.match(text, i)
    if m is None:
        raise ValueError(f"unexpected {c!r} at {i}")
    return _Node(i, m.end(), "scalar", [])


def _member(node: _Node, key: str) -> _Node | None:
    for k, _, value in node.members:
        if k == key:
            return value
    return None


def _line_indent(text: str, at: int) -> str:
    start = text.rfind("\n", 0, at) + 1
    line = text[start:at]
    return line if not line.strip() else line[: len(line) - len(line.lstrip())]


def _unit(text: str) -> str:
    m = re.search(r"\n([ \t]+)\S", text)
    return m.group(1) if m else "  "


def _dump(value: Any, indent: str, unit: str) -> str:
    """``value`` as JSON indented by ``unit`` per level, its lines after the first at ``indent``."""
    width = len(unit.expandtabs()) if unit.strip("\t") else None
    text = json.dumps(value, indent=width if width is not None else 1, ensure_ascii=False)
    if width is None:  # tab indentation
        text = re.sub(r"(?m)^( +)", lambda m: "\t" * len(m.group(1)), text)
    return text.replace("\n", "\n" + indent)


def _insert(text: str, container: _Node, key: str | None, value: Any) -> str:
    """``text`` with ``value`` (under ``key`` in an object) added as the last member of
    ``container``, laid out like its siblings."""
    unit = _unit(text)
    if container.members:
        last = container.members[-1][2]
        first_at = container.members[0][1] if key is not None else container.members[0][2].start
        indent = _line_indent(text, first_at)
        multiline = "\n" in text[container.start : first_at]
        lead = ",\n" + indent if multiline else ", "
        body = (json.dumps(key) + ": " if key is not None else "") + _dump(value, indent, unit)
        return text[: last.end] + lead + body + text[last.end :]
    outer = _line_indent(text, container.start)
    indent = outer + unit
    body = (json.dumps(key) + ": " if key is not None else "") + _dump(value, indent, unit)
    inside = text[container.start + 1 : container.end - 1]
    return (
        text[: container.start + 1] + "\n" + indent + body + "\n" + outer + inside.strip(_WS)
        + text[container.end - 1 :]
    )


def _cut(text: str, container: _Node, index: int) -> str:
    """``text`` without member ``index`` of ``container`` (and the comma that joined it)."""
    members = container.members
    at = members[index][1] if container.kind == "object" else members[index][2].start
    end = members[index][2].end
    if len(members) == 1:
        return text[: container.start + 1] + text[container.end - 1 :]
    if index > 0:  # from the end of the one before: its comma, our lines
        return text[: members[index - 1][2].end] + text[end:]
    nxt = members[1][1] if container.kind == "object" else members[1][2].start
    return text[:at] + text[nxt:]


def _is_ours(text: str, node: _Node) -> bool:
    if node.kind != "object":
        return False
    hooks = _member(node, "hooks")
    if hooks is None or hooks.kind != "array":
        return False
    for _, _, h in hooks.members:
        try:
            hook = json.loads(text[h.start : h.end])
        except ValueError:
            continue
        if isinstance(hook, dict) and isinstance(hook.get("command"), str) and _OURS.search(hook["command"]):
            return True
    return False


def _load(path: Path) -> tuple[str | None, _Node | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError) as e:
        raise EnvironmentFailure(f"cannot read {path}: {e}") from None
    try:
        json.loads(text)
        root = _parse(text, 0)
    except ValueError as e:
        raise BadInput(f"{path} is not valid JSON ({e}): fix it by hand, then run this again") from None
    if root.kind != "object":
        raise BadInput(f"{path} is not a JSON object: fix it by hand, then run this again")
    return text, root


def _pre_tool_use(text: str, root: _Node, path: Path) -> tuple[_Node | None, _Node | None]:
    hooks = _member(root, "hooks")
    if hooks is not None and hooks.kind != "object":
        raise BadInput(f"{path}: \"hooks\" is not an object: fix it by hand, then run this again")
    ptu = _member(hooks, "PreToolUse") if hooks is not None else None
    if ptu is not None and ptu.kind != "array":
        raise BadInput(f"{path}: \"hooks.PreToolUse\" is not a list: fix it by hand, then run this again")
    return hooks, ptu


def install(root: Path) -> SettingsResult:
    """Merge our entry into ``root``'s .claude/settings.json (created if needed)."""
    path = settings_path(root)
    text, tree = _load(path)
    if text is None or tree is None:
        _write(path, json.dumps({"hooks": {"PreToolUse": [ENTRY]}}, indent=2) + "\n")
        return SettingsResult(path, "added")
    hooks, ptu = _pre_tool_use(text, tree, path)
    if hooks is None:
        new = _insert(text, tree, "hooks", {"PreToolUse": [ENTRY]})
    elif ptu is None:
        new = _insert(text, hooks, "PreToolUse", [ENTRY])
    else:
        ours = [i for i, (_, _, item) in enumerate(ptu.members) if _is_ours(text, item)]
        if not ours:
            new = _insert(text, ptu, None, ENTRY)
        else:
            item = ptu.members[ours[0]][2]
            if json.loads(text[item.start : item.end]) == ENTRY and len(ours) == 1:
                return SettingsResult(path, "unchanged")
            for i in reversed(ours[1:]):  # one entry of ours, not several
                text = _cut(text, ptu, i)
            indent = _line_indent(text, item.start)
            new = text[: item.start] + _dump(ENTRY, indent, _unit(text)) + text[item.end :]
            _write(path, new)
            return SettingsResult(path, "updated")
    _write(path, new)
    return SettingsResult(path, "added")


def uninstall(root: Path) -> SettingsResult:
    """Remove our entry (only ours) from ``root``'s .claude/settings.json."""
    path = settings_path(root)
    text, tree = _load(path)
    if text is None or tree is None:
        return SettingsResult(path, "absent")
    hooks, ptu = _pre_tool_use(text, tree, path)
    if hooks is None or ptu is None:
        return SettingsResult(path, "absent")
    ours = [i for i, (_, _, item) in enumerate(ptu.members) if _is_ours(text, item)]
    if not ours:
        return SettingsResult(path, "absent")
    for i in reversed(ours):
        text = _cut(text, ptu, i)
    # what our removal left empty goes too: the list, the hooks object, the file
    tree = _parse(text, 0)
    hooks, ptu = _pre_tool_use(text, tree, path)
    assert hooks is not None and ptu is not None
    if not ptu.members:
        text = _cut(text, hooks, [k for k, _, _ in hooks.members].index("PreToolUse"))
        tree = _parse(text, 0)
        hooks = _member(tree, "hooks")
        assert hooks is not None
        if not hooks.members:
            text = _cut(text, tree, [k for k, _, _ in tree.members].index("hooks"))
    if not json.loads(text):
        _remove(path)
    else:
        _write(path, text)
    return SettingsResult(path, "removed")


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(f".{path.name}.gitcoord-{os.getpid()}")
        tmp.write_text(text, encoding="utf-8")
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except OSError as e:
        raise EnvironmentFailure(f"cannot write {path}: {e.strerror or e}") from None


def _remove(path: Path) -> None:
    try:
        path.unlink()
        path.parent.rmdir()  # .claude/, when nothing else is in it
    except OSError:
        pass
