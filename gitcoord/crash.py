"""Internal errors: the traceback goes to a crash log, never to the user (or the MCP
client), who gets one line naming the log."""

from __future__ import annotations

import sys
from pathlib import Path


def write_log(exc: BaseException) -> str | None:
    """Write the traceback under the gitcoord dir (or the temp dir) and return its path."""
    import tempfile
    import traceback
    from datetime import datetime, timezone

    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    candidates: list[Path] = []
    try:
        from gitcoord import gitrepo
        from gitcoord.store import store_dir

        candidates.append(store_dir(gitrepo.discover().common_dir))
    except Exception:
        pass
    candidates.append(Path(tempfile.gettempdir()))
    for d in candidates:
        try:
            d.mkdir(parents=True, exist_ok=True)
            p = d / "gitcoord-crash.log"
            with p.open("a") as f:
                f.write(f"--- {datetime.now(timezone.utc).isoformat()} {shown(sys.argv)!r}\n{text}\n")
            return str(p)
        except OSError:
            continue
    return None


def shown(argv: list[str]) -> list[str]:
    """The command line as a log may show it: store URLs without their passwords."""
    import re

    from gitcoord.store.pgurl import redact

    return [re.sub(r"postgres(?:ql)?://\S+", lambda m: redact(m.group()), a) for a in argv]


def message(exc: BaseException) -> str:
    """The one line shown for an internal error, naming the crash log."""
    where = write_log(exc)
    return f"internal error: {type(exc).__name__}: {exc}" + (f" (details in {where})" if where else "")
