"""The stale-read predicate of SPEC section 5, on its own: the pre-commit fast path
(:mod:`gitcoord.hookimpl`) applies it without importing :mod:`gitcoord.staleness`."""

from __future__ import annotations


def is_stale(at_tip: str | None, at_base: str | None, at_parent: str | None) -> bool:
    """The integration line changed the path since the fork (blob at its tip differs
    from the merge base's), and this side does not have that version."""
    return at_tip != at_base and at_tip != at_parent
