#!/usr/bin/env bash
# The main job: two agents, two worktrees, one repository — the whole story.
#   tasks claimed into worktrees, a lease, a refused commit, a stale-read refusal and its
#   fix, the human status view, and the audit trail with commit SHAs.
# Usage: scripts/demo.sh [DIR]   (default: a new temp dir)
set -euo pipefail

PY=${PYTHON:-python3}
gitcoord() { "$PY" -m gitcoord "$@"; }
bold() { if [ -t 1 ]; then printf '\n\033[1m%s\033[0m\n' "$*"; else printf '\n%s\n' "$*"; fi; }
say() { if [ -t 1 ]; then printf '\n\033[36m# %s\033[0m\n' "$*"; else printf '\n# %s\n' "$*"; fi; }
step() { bold "\$ $*"; }
quoted() { local out="" a; for a in "$@"; do case $a in *[!A-Za-z0-9_./=:-]*) out+=" '$a'";; *) out+=" $a";; esac; done; echo "${out# }"; }
run() { step "$(quoted "$@")"; "$@"; }
# a step that is expected to be refused: show it, check it was
refused() { step "$(quoted "$@")"; set +e; "$@"; rc=$?; set -e; echo "(exit $rc)"; [ "$rc" -ne 0 ] || { echo "demo: expected a refusal" >&2; exit 1; }; }

DIR=${1:-$(mktemp -d "${TMPDIR:-/tmp}/gitcoord-demo.XXXXXX")}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd -P)
cd "$DIR"
export GIT_AUTHOR_NAME=demo GIT_AUTHOR_EMAIL=demo@example.com
export GIT_COMMITTER_NAME=demo GIT_COMMITTER_EMAIL=demo@example.com
unset GITCOORD_AGENT GITCOORD_STORE GITCOORD_JSON || true

say "a project with a main worktree"
run git init -q -b main project
cd project
mkdir -p src/app docs
printf 'def handler():\n    return 1\n' > src/app/api.py
printf 'class Model:\n    pass\n' > src/app/models.py
printf '# guide\n' > docs/guide.md
git add -A && git commit -q -m "initial layout"
run gitcoord init

say "two tasks, each claimed into its own worktree and agent"
run gitcoord task add T-1 --title "Rename the API handler"
run gitcoord task add T-2 --title "Tidy the models"
A=$(gitcoord worktree add T-1 --agent alice --path "$DIR/alice")
B=$(gitcoord worktree add T-2 --agent bob --path "$DIR/bob")
step "gitcoord worktree add T-1 --agent alice --path $DIR/alice"; echo "$A"
step "gitcoord worktree add T-2 --agent bob --path $DIR/bob"; echo "$B"
run gitcoord worktree list

say "alice leases the file she will change"
cd "$A"
run gitcoord lease src/app/api.py --reason "rename handler"

say "bob edits the same file anyway; the pre-commit hook refuses his commit"
cd "$B"
printf 'def handler():\n    return 2\n' > src/app/api.py
run git add src/app/api.py
refused git commit -q -m "bob: tweak handler"
run git restore --staged --worktree src/app/api.py

say "meanwhile a human changes models.py on main"
cd "$DIR/project"
printf 'class Model:\n    id: int = 0\n' > src/app/models.py
run git commit -q -am "main: models get an id"

say "bob, forked before that, edits models.py: a stale read, refused"
cd "$B"
printf 'class Model:\n    name: str = ""\n' > src/app/models.py
run git add src/app/models.py
refused git commit -q -m "bob: models get a name"

say "the fix the refusal names: bring in main first, then commit"
run git stash -q
run git rebase -q main
set +e; git stash pop -q >/dev/null 2>&1; set -e
printf 'class Model:\n    id: int = 0\n    name: str = ""\n' > src/app/models.py
run git add src/app/models.py
run git commit -q -m "bob: models get a name (on top of main)"

say "alice commits her leased change"
cd "$A"
printf 'def handle_request():\n    return 1\n' > src/app/api.py
run git commit -q -am "alice: rename handler"
run gitcoord done T-1

say "what a reviewer sees"
cd "$DIR/project"
run gitcoord status
run gitcoord log --kind commit.refused --kind commit.recorded --kind lease.granted
run gitcoord audit verify
echo
echo "demo repository left in $DIR"
