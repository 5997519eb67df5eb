#!/usr/bin/env bash
# Print key=value facts about the Flowdeck benchmark server (recorded in the results).
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$VENV/bin/python" - <<'PY'
import platform, sqlite3
from importlib.metadata import version
for pkg in ("flowdeck", "flask", "werkzeug", "jinja2", "sqlalchemy", "gunicorn", "flask-babel", "flask-wtf", "psycopg"):
    print("%s=%s" % (pkg, version(pkg)))
print("server_python=%s" % platform.python_version())
print("sqlite=%s" % sqlite3.sqlite_version)
PY
echo "flowdeck_commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo -dirty)"
echo "workers=$WORKERS"
echo "database=$BENCH_DATABASE"
if [ "$BENCH_DATABASE" = sqlite ]; then
  echo "sqlite_journal_mode=wal"
  echo "sqlite_synchronous=$FLOWDECK_SQLITE_SYNCHRONOUS"
  echo "sqlite_busy_timeout_ms=10000"
  echo "sqlite_write_tx=begin_immediate"
else
  echo "postgresql=$(psql "$FLOWDECK_DATABASE_URL" -Atc 'show server_version' 2>/dev/null || echo unknown)"
fi
echo "guest_user=$FLOWDECK_GUEST_USER"
echo "timezone=${FLOWDECK_TIMEZONE:-Asia/Shanghai}"
