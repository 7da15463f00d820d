"""``python -m gitcoord``. The hook path (``hook-impl``) skips click entirely."""

import sys


def _run() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "hook-impl":
        from gitcoord.hookimpl import main as hook_main

        sys.exit(hook_main(sys.argv[2:]))
    if len(sys.argv) > 1 and sys.argv[1] == "guard":  # Claude Code's edit guard: no click either
        from gitcoord.guard import main as guard_main

        sys.exit(guard_main(sys.argv[2:]))
    from gitcoord.cli import main

    main()


if __name__ == "__main__":
    _run()
