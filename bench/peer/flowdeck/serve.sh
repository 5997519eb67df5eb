#!/usr/bin/env bash
# Serve the benchmark instance with gunicorn on loopback, as the floor is served.
#   PORT=8101 ./serve.sh    (foreground; exec: the gunicorn master's PID is this script's)
# WORKERS (default 2) sync workers, bind 127.0.0.1 only, no access log (the floor has none);
# flowdeck.serving's hook, as `flowdeck run` uses (gc.freeze() once the app is loaded).
# Requests without a session act as FLOWDECK_GUEST_USER (default "guest", see env.sh).
set -euo pipefail
source "$(dirname "$0")/env.sh"
PORT="${PORT:-8101}"
if [ "$BENCH_DATABASE" = sqlite ] && [ ! -f "$FLOWDECK_INSTANCE/bench.db" ]; then
  echo "no benchmark database; run setup.sh first" >&2
  exit 1
fi
exec "$VENV/bin/gunicorn" \
  --workers "$WORKERS" --worker-class sync \
  --bind "127.0.0.1:$PORT" \
  --timeout 120 --no-control-socket \
  --config python:flowdeck.serving \
  --error-logfile "$BENCH_WORK/gunicorn.log" \
  --pid "$BENCH_WORK/gunicorn.pid" \
  "flowdeck.app:create_app()"
