#!/usr/bin/env bash
# The main job: two agents, two worktrees, one repository.
# Builds a scratch repository, shows a lease granted to one agent and denied to the other,
# and the audit trail. Usage: scripts/demo.sh [DIR]   (default: a new temp dir)
set -euo pipefail

PY=${PYTHON:-python3}
gitcoord() { "$PY" -m gitcoord "$@"; }
export -f gitcoord 2>/dev/null || true
bold() { if [ -t 1 ]; then printf '\n\033[1m%s\033[0m\n' "$*"; else printf '\n%s\n' "$*"; fi; }
step() { bold "\$ $*"; }
quoted() { local out="" a; for a in "$@"; do case $a in *[!A-Za-z0-9_./=:-]*) out+=" '$a'";; *) out+=" $a";; esac; done; echo "${out# }"; }
run() { step "$(quoted "$@")"; "$@"; }
try() { step "$(quoted "$@")"; set +e; "$@"; rc=$?; set -e; echo "(exit $rc)"; }

DIR=${1:-$(mktemp -d "${TMPDIR:-/tmp}/gitcoord-demo.XXXXXX")}
mkdir -p "$DIR"
cd "$DIR"
export GIT_AUTHOR_NAME=demo GIT_AUTHOR_EMAIL=demo@example.com
export GIT_COMMITTER_NAME=demo GIT_COMMITTER_EMAIL=demo@example.com
unset GITCOORD_AGENT GITCOORD_STORE || true

echo "demo repository: $DIR/project"
run git init -q -b main project
cd project
mkdir -p src/app docs
printf 'def handler():\n    return 1\n' > src/app/api.py
printf 'class Model:\n    pass\n' > src/app/models.py
printf '# guide\n' > docs/guide.md
git add -A && git commit -q -m "initial layout"
run gitcoord init
run git worktree add -q -b agent-a ../agent-a main
run git worktree add -q -b agent-b ../agent-b main

step "cd ../agent-a   # agent A leases the API module"
cd ../agent-a
run gitcoord --agent alice lease src/app/api.py --ttl 45m --reason "rename handler"

step "cd ../agent-b   # agent B wants the whole app package"
cd ../agent-b
try gitcoord --agent bob lease 'src/app/**' --reason "reformat"
run gitcoord --agent bob lease docs/ --shared --reason "docs pass"

run gitcoord leases
run gitcoord log
run gitcoord audit verify
