"""Settings from git config (``gitcoord.*``) and the environment, read with one git call."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import NamedTuple

from gitcoord.durations import parse_duration, parse_ttl
from gitcoord.errors import BadInput
from gitcoord.gitrepo import Repo

DEFAULT_LEASE_TTL = 30 * 60.0
DEFAULT_CLAIM_TTL = 60 * 60.0
DEFAULT_HEALTH_TIMEOUT = 600.0
DEFAULT_HOOK_TIMEOUT = 30.0

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0", ""}


def _bool(key: str, value: str | None, default: bool) -> bool:
    if value is None:
        return default
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise BadInput(f"git config {key}={value!r} is not a boolean")


class Settings(NamedTuple):
    integration: str | None = None
    lease_ttl: float = DEFAULT_LEASE_TTL
    claim_ttl: float = DEFAULT_CLAIM_TTL
    require_lease: bool = False
    strict_reads: bool = False
    require_recorded: bool = False
    allow_self_review: bool = False
    store: str | None = None
    project: str | None = None
    connect_timeout: float | None = None  # seconds; None: the URL's, libpq's or 5
    health: str | None = None
    health_timeout: float = DEFAULT_HEALTH_TIMEOUT
    hook_timeout: float = DEFAULT_HOOK_TIMEOUT
    event_hooks: dict[str, str] = {}  # never mutated: shared default is safe
    raw: dict[str, str] = {}
    auto_lease: bool = False  # the edit guard leases an unleased path before an edit
    edit_guard_open: bool = False  # the edit guard lets edits through when the store fails


def _duration(key: str, value: str | None, default: float, parse: Callable[[str], float] = parse_duration) -> float:
    if not value:
        return default
    try:
        return parse(value)
    except BadInput as e:
        raise BadInput(f"git config {key}: {e.message}") from e


def _seconds(key: str, value: str | None) -> float | None:
    """A connect timeout: whole seconds (1 to 3600) or a duration (``10s``)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = _duration(key, value, 0.0)
    if not 1 <= seconds <= 3600:
        raise BadInput(f"{key}={value!r}: give a number of seconds from 1 to 3600")
    return seconds


def load(repo: Repo) -> Settings:
    raw = repo.config_get_all_prefixed("gitcoord.")
    get = raw.get
    hooks = {k[len("gitcoord.on.") :]: v for k, v in raw.items() if k.startswith("gitcoord.on.")}
    return Settings(
        integration=get("gitcoord.integration") or None,
        lease_ttl=_duration(
            "gitcoord.leaseTtl", get("gitcoord.leasettl") or get("gitcoord.ttl"), DEFAULT_LEASE_TTL, parse_ttl
        ),
        claim_ttl=_duration("gitcoord.claimTtl", get("gitcoord.claimttl"), DEFAULT_CLAIM_TTL, parse_ttl),
        require_lease=_bool("gitcoord.requireLease", get("gitcoord.requirelease"), False),
        strict_reads=_bool("gitcoord.strictReads", get("gitcoord.strictreads"), False),
        require_recorded=_bool("gitcoord.requireRecorded", get("gitcoord.requirerecorded"), False),
        allow_self_review=_bool("gitcoord.allowSelfReview", get("gitcoord.allowselfreview"), False),
        store=os.environ.get("GITCOORD_STORE") or get("gitcoord.store") or None,
        project=os.environ.get("GITCOORD_PROJECT") or get("gitcoord.project") or None,
        connect_timeout=_seconds(
            "gitcoord.connectTimeout",
            os.environ.get("GITCOORD_CONNECT_TIMEOUT") or get("gitcoord.connecttimeout"),
        ),
        health=get("gitcoord.health") or None,
        health_timeout=_duration(
            "gitcoord.healthTimeout", get("gitcoord.healthtimeout"), DEFAULT_HEALTH_TIMEOUT
        ),
        hook_timeout=_duration("gitcoord.hookTimeout", get("gitcoord.hooktimeout"), DEFAULT_HOOK_TIMEOUT),
        event_hooks=hooks,
        raw=raw,
        auto_lease=_bool("gitcoord.autoLease", get("gitcoord.autolease"), False),
        edit_guard_open=edit_guard_open(get("gitcoord.editguard")),
    )


def edit_guard_open(value: str | None) -> bool:
    """``gitcoord.editGuard``: ``closed`` (the default: an unreadable store denies edits)
    or ``open`` (it lets them through)."""
    v = (value or "closed").strip().lower()
    if v not in ("open", "closed"):
        raise BadInput(f"git config gitcoord.editGuard={value!r}: use open or closed")
    return v == "open"
