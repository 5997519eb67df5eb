#!/usr/bin/env bash
# Set up Flowdeck for the peer benchmark: a fresh instance holding dataset.records(N).
#   N=10000 ./setup.sh                       (SQLite in bench/.work/flowdeck/instance)
#   N=1000000 FLOWDECK_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/flowdeck_bench ./setup.sh
# Installs the project's .venv first when it is missing (make's rule). See load.py for
# what is loaded and how, and docs/performance.md.
set -euo pipefail
source "$(dirname "$0")/env.sh"
[ -f "$PEERS_HOME/dataset.py" ] || { echo "no harness at $PEERS_HOME (set PEERS_HOME)" >&2; exit 1; }
if [ ! -x "$VENV/bin/flowdeck" ] || [ ! -x "$VENV/bin/gunicorn" ]; then
  make -C "$REPO" --no-print-directory VENV="$VENV" "$VENV/bin/flowdeck"
fi
mkdir -p "$FLOWDECK_INSTANCE"
N="${N:-10000}" "$VENV/bin/python" "$PEER_HERE/load.py"
