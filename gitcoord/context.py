"""Where a command runs: the worktree, its settings, the holder, and the store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gitcoord import config, gitrepo
from gitcoord.errors import BadInput, StoreError
from gitcoord.models import Holder
from gitcoord.store import Store, open_store, store_dir


def _check_agent(name: str) -> str:
    name = name.strip()
    if not name or any(c in name for c in "\0\n\r"):
        raise BadInput(f"bad agent name {name!r}")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise BadInput(f"bad agent name {name!r}: not valid UTF-8") from None
    return name


class Context:
    def __init__(
        self,
        repo: gitrepo.Repo,
        settings: config.Settings,
        cwd: Path,
        agent_override: str | None = None,
        *,
        drain_journal: bool = True,
        create_store: bool = True,
    ) -> None:
        self.repo = repo
        self.settings = settings
        self.cwd = cwd
        self.agent_override = agent_override
        # Drain the hook journal into the store when it is opened (hooks on the commit
        # path turn this off; see gitcoord.journal).
        self.drain_journal = drain_journal
        # Hooks never create a store: a missing one is a failure (fail closed).
        self.create_store = create_store
        self._store: Store | None = None
        # A store that could not be opened is not tried again by this process (a hook
        # recording its bypass would wait out a dead server's connect timeout twice).
        self._open_failed: tuple[tuple[bool, bool], StoreError] | None = None
        self._holder: Holder | None = None
        self._integration: str | None = None
        # Per-process helpers closed with the context (gitcoord.combining.Combiner).
        self.closers: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"Context(repo={self.repo!r}, cwd={self.cwd!r}, agent_override={self.agent_override!r})"

    @property
    def host(self) -> str:
        return gitrepo.host_id()

    def store(self, *, create: bool = True, anew: bool = False) -> Store:
        if self._store is None:
            how = (create and self.create_store, anew)
            if self._open_failed is not None and self._open_failed[0] == how:
                raise self._open_failed[1]
            try:
                self._store = open_store(
                    self.repo.common_dir,
                    self.settings.store,
                    create=how[0],
                    anew=anew,
                    project=self.settings.project,
                    connect_timeout=self.settings.connect_timeout,
                )
            except StoreError as e:
                self._open_failed = (how, e)
                raise
            if self.settings.event_hooks:  # gitcoord.on.<event>: run after each commit
                from gitcoord import eventhooks

                eventhooks.attach(self, self._store)
            if self.drain_journal:
                self._drain()
        return self._store

    def _drain(self) -> None:
        # One stat (and no import of the journal machinery) when there is nothing to do:
        # the journal and its in-progress drains are all named journal*.
        try:
            names = os.listdir(store_dir(self.repo.common_dir))
        except OSError:
            return
        if any(name.startswith("journal") and name != "journal.lock" for name in names):
            from gitcoord import journal

            if journal.pending(self.repo.common_dir):
                journal.drain_quietly(self)

    def holder(self) -> Holder:
        """The caller: this worktree on this host, with its agent name (SPEC section 1)."""
        if self._holder is None:
            worktree = str(self.repo.root)
            host = self.host
            agent = self.agent_override or os.environ.get("GITCOORD_AGENT")
            if not agent:
                with self.store().snapshot() as tx:
                    agent = tx.get_binding(worktree, host)
            if not agent:
                agent = self.repo.root.name
            self._holder = Holder(worktree=worktree, host=host, agent=_check_agent(agent))
        return self._holder

    def integration_ref(self) -> str:
        """The integration ref. A configured one must name a commit (once there is any):
        otherwise every stale-read check would pass for want of a tip."""
        if self._integration is None:
            ref = self.repo.integration_ref(self.settings.integration)
            if self.settings.integration and self.repo.rev_parse(ref) is None and self.repo.head():
                raise BadInput(
                    f"gitcoord.integration is {self.settings.integration!r}, which names no commit"
                    f" here ({ref}): set it to the branch work merges into"
                    " (git config gitcoord.integration main), or fetch it first"
                )
            self._integration = ref
        return self._integration

    def close(self) -> None:
        for helper in self.closers.values():
            helper.close()
        self.closers.clear()
        if self._store is not None:
            self._store.close()
            self._store = None


def load(cwd: str | os.PathLike[str] | None = None, *, agent: str | None = None) -> Context:
    where = Path(cwd) if cwd is not None else Path.cwd()
    repo = gitrepo.discover(where)
    return Context(
        repo=repo,
        settings=config.load(repo),
        cwd=where,
        agent_override=_check_agent(agent) if agent is not None else None,
    )
