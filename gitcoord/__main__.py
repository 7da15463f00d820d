"""``python -m gitcoord``. The hook path (``hook-impl``) skips click entirely, and reads
top-down: the pre-commit fast path (:mod:`gitcoord.fastpath`: the standard library and
sqlite3, nothing else imported on a pass), then :mod:`gitcoord.hookimpl` and the full
check."""

import sys


def _run() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "hook-impl":
        from gitcoord.fastpath import passes

        if passes(sys.argv[2:]):
            sys.exit(0)
        from gitcoord.hookimpl import main as hook_main

        sys.exit(hook_main(sys.argv[2:], fast_path=False))
    if len(sys.argv) > 1 and sys.argv[1] == "guard":  # Claude Code's edit guard: no click either
        from gitcoord.guard import main as guard_main

        sys.exit(guard_main(sys.argv[2:]))
    from gitcoord.cli import main

    main()


if __name__ == "__main__":
    _run()
