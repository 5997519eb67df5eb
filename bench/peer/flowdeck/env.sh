# Sourced by setup.sh, serve.sh and meta.sh: where Flowdeck's benchmark instance lives.
#   FLOWDECK_BENCH_DATABASE_URL  PostgreSQL instead of SQLite (its database is DROPPED and
#                                re-created by setup.sh, so its name must contain "bench")
#   FLOWDECK_BENCH_WORK          work folder (default: <repo>/bench/.work/flowdeck)
#   PEERS_HOME                   the shared harness (default: <repo>/../shared/peers); run.sh sets it
PEER_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$PEER_HERE/../../.." && pwd)"
VENV="${FLOWDECK_VENV:-$REPO/.venv}"
export PEERS_HOME="${PEERS_HOME:-$(cd "$REPO/../shared/peers" 2>/dev/null && pwd || echo "$REPO/../shared/peers")}"
export PYTHONPATH="$PEERS_HOME${PYTHONPATH:+:$PYTHONPATH}"
BENCH_WORK="${FLOWDECK_BENCH_WORK:-$REPO/bench/.work/flowdeck}"
# Bytecode of what is imported from the (read-only) harness goes here, not beside it.
export PYTHONPYCACHEPREFIX="${PYTHONPYCACHEPREFIX:-$BENCH_WORK/pycache}"
export FLOWDECK_INSTANCE="$BENCH_WORK/instance"
if [ -n "${FLOWDECK_BENCH_DATABASE_URL:-}" ]; then
  export FLOWDECK_DATABASE_URL="$FLOWDECK_BENCH_DATABASE_URL"
  BENCH_DATABASE=postgresql
else
  export FLOWDECK_DATABASE_URL="sqlite:///$FLOWDECK_INSTANCE/bench.db"
  BENCH_DATABASE=sqlite
fi
# Requests without a session act as this user (role bench:member), as Trac and Redmine
# are run with anonymous permissions: the harness has no sign-in step.
export FLOWDECK_GUEST_USER="${FLOWDECK_GUEST_USER:-guest}"
export FLOWDECK_SQLITE_SYNCHRONOUS="${FLOWDECK_SQLITE_SYNCHRONOUS:-NORMAL}"
WORKERS="${WORKERS:-2}"
