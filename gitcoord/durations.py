"""Durations like ``30m``, ``1h30m``, ``90s``, ``2d``, ``45`` (seconds)."""

from __future__ import annotations

import re

from gitcoord.errors import BadInput

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
MAX_SECONDS = 366 * 86400.0


def is_duration(text: str) -> bool:
    """Whether ``text`` is written as a duration (``30m``, ``1h30m``, ``45``), in range or not."""
    t = text.strip().lower()
    return bool(t) and (re.fullmatch(r"\d+(?:\.\d+)?", t) is not None or re.fullmatch(f"(?:{_PART.pattern})+", t) is not None)


def parse_duration(text: str, *, allow_zero: bool = False) -> float:
    """Seconds in ``text``; BadInput for anything else (negative, garbage, > 1 year)."""
    raw = text
    text = text.strip().lower()
    if not text:
        raise BadInput("empty duration (use e.g. 30m, 1h, 90s, 2d)")
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        seconds = float(text)
    else:
        pos = 0
        seconds = 0.0
        for m in _PART.finditer(text):
            if m.start() != pos:
                break
            seconds += float(m.group(1)) * _UNITS[m.group(2)]
            pos = m.end()
        if pos != len(text) or pos == 0:
            raise BadInput(f"bad duration {raw!r} (use e.g. 30m, 1h, 90s, 2d)")
    if seconds != seconds or seconds < 0 or (seconds == 0 and not allow_zero):
        raise BadInput(f"bad duration {raw!r}: must be positive")
    if seconds > MAX_SECONDS:
        raise BadInput(f"bad duration {raw!r}: longer than a year")
    return seconds


def optional_duration(text: str | None) -> float | None:
    """:func:`parse_duration` for an option that may be absent."""
    return None if text is None else parse_duration(text)


def parse_ttl(text: str) -> float:
    """A lease's or claim's time to live: a duration of at least a second (a shorter one
    would be over before anyone could use it)."""
    seconds = parse_duration(text)
    if seconds < 1:
        raise BadInput(f"bad TTL {text!r}: shorter than a second")
    return seconds


def optional_ttl(text: str | None) -> float | None:
    return None if text is None else parse_ttl(text)


def format_duration(seconds: float) -> str:
    """Compact human form: ``29m``, ``1h05m``, ``45s``, ``-3m`` (expired)."""
    neg = seconds < 0
    s = int(abs(seconds))
    if s < 60:
        out = f"{s}s"
    elif s < 3600:
        out = f"{s // 60}m"
    elif s < 86400:
        out = f"{s // 3600}h{(s % 3600) // 60:02d}m"
    else:
        out = f"{s // 86400}d{(s % 86400) // 3600:02d}h"
    return "-" + out if neg else out


def point_in_time(value: str, now: float) -> float:
    """A point in time: a duration ago (``30d``, ``1h``) or an ISO 8601 timestamp (UTC
    unless it names a zone)."""
    from datetime import datetime, timezone

    try:
        return now - parse_duration(value)
    except BadInput as e:
        as_duration = e
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        if is_duration(value):
            raise as_duration from None  # a duration, and what is wrong with it (400d: > a year)
        raise BadInput(f"bad time {value!r}: use a duration like 30d or an ISO date") from e
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()
