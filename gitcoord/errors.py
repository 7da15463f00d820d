"""The error tree. Every error maps to one exit code (SPEC section 8).

0 done; 1 denied or refused; 2 usage or bad input; 3 environment or store failure.
Core modules raise these; only the CLI layer turns them into output.
"""

from __future__ import annotations

from typing import Any


class GitcoordError(Exception):
    """Base class. ``code`` is the stable machine-readable error code."""

    exit_code = 3
    code = "error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}

    def to_json(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            err["details"] = self.details
        return {"error": err}


class Denied(GitcoordError):
    """A lease is held, a claim is taken, a hook refuses: exit 1."""

    exit_code = 1
    code = "denied"


class Superseded(Denied):
    """The caller's claim or lease was re-granted to someone else (newer epoch)."""

    code = "superseded"


class NothingToClaim(Denied):
    code = "nothing_to_claim"


class BadInput(GitcoordError):
    """Usage error or bad input: exit 2."""

    exit_code = 2
    code = "bad_input"


class NotFound(BadInput):
    """An unknown id (task, lease, event)."""

    code = "not_found"


class EnvironmentFailure(GitcoordError):
    """Not a repository, git missing, ...: exit 3."""

    exit_code = 3
    code = "environment"


class NotARepository(EnvironmentFailure):
    code = "not_a_repository"


class StoreError(EnvironmentFailure):
    """The store is unreachable, locked past the timeout, corrupt, or too new."""

    code = "store"


class StoreLocked(StoreError):
    code = "store_locked"


class StoreCorrupt(StoreError):
    code = "store_corrupt"


class SchemaTooNew(StoreError):
    code = "schema_too_new"
