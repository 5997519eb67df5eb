"""Settings: defaults, then the environment, then explicit overrides. No I/O at import.

Environment variables:
- `FLOWDECK_DATABASE_URL`: SQLAlchemy URL (default: SQLite file `flowdeck.db` in the
  instance folder). `postgresql://user:pass@host/db` uses psycopg 3.
- `FLOWDECK_INSTANCE`: the instance folder (default `./instance`): database, secret key,
  uploaded files.
- `FLOWDECK_SECRET_KEY`: signs sessions; when unset, a random key is created once in the
  instance folder (file mode 0600) and reused.
- `FLOWDECK_FILES_DIR`: where uploaded files are kept (default `<instance>/files`).
- `FLOWDECK_SQLITE_SYNCHRONOUS`: NORMAL (default) or FULL.

Sign-in and sessions (read by `views/auth.py` and `views/security.py`):
- `FLOWDECK_SECURE_COOKIES`: `1`/`true` when the site is served over HTTPS: the session
  cookie gets the `Secure` flag and responses send `Strict-Transport-Security`. The cookie
  (`flowdeck_session`) is always `HttpOnly` and `SameSite=Lax`; it holds only a random
  session token (the session itself is a row in `fd_sessions`) and the CSRF secret.
- `FLOWDECK_IDLE_MINUTES` (default 120): a session unused this long is ended.
- `FLOWDECK_SESSION_HOURS` (default 12): a session is ended this long after sign-in,
  however busy; the cookie expires then too.
- `FLOWDECK_LOGIN_LIMIT` (default `10 per minute`): failed sign-ins allowed per client
  address; `FLOWDECK_LOGIN_USER_LIMIT` (default `5 per minute`): per username, from any
  address. Both in Flask-Limiter's notation (`"20 per hour; 5 per minute"`). Behind a
  reverse proxy, make the client address real (e.g. werkzeug's ProxyFix) or every user
  shares one budget.
- `FLOWDECK_RATELIMIT_STORAGE` (default `memory://`, one count per process): a shared
  store such as `redis://host:6379` makes the limits hold across gunicorn workers.

Guest access (read by `views/auth.py`; off unless set):
- `FLOWDECK_GUEST_USER`: a username. Requests without a session then act as that user: its
  roles apply (what they may read, create, update, which transitions), everything a guest
  does is recorded as done by that user, and pages show "Guest" with a sign-in link. Give it
  to an existing, active user made for the purpose (`flowdeck user create guest --role
  app:role`); never an admin: the app refuses to start when the guest user is an admin (or
  does not exist, or is deactivated), and a guest user made admin later gets no guest
  requests. CSRF protection, sign-in and admin pages work as without it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def instance_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("FLOWDECK_INSTANCE", "instance")).resolve()


def database_url(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    url = env.get("FLOWDECK_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{instance_path(env) / 'flowdeck.db'}"


def instance_secret(folder: Path) -> str:
    """The instance's own secret key, created on first use (used when none is configured)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip()


def settings(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    env = os.environ if env is None else env
    folder = instance_path(env)
    return {
        "FLOWDECK_DATABASE_URL": database_url(env),
        "FLOWDECK_INSTANCE": str(folder),
        "FLOWDECK_FILES_DIR": env.get("FLOWDECK_FILES_DIR", str(folder / "files")),
        "SECRET_KEY": env.get("FLOWDECK_SECRET_KEY"),
        "FLOWDECK_SECURE_COOKIES": _flag(env.get("FLOWDECK_SECURE_COOKIES", "")),
        "FLOWDECK_IDLE_MINUTES": _positive_int(env, "FLOWDECK_IDLE_MINUTES", 120),
        "FLOWDECK_SESSION_HOURS": _positive_int(env, "FLOWDECK_SESSION_HOURS", 12),
        "FLOWDECK_LOGIN_LIMIT": env.get("FLOWDECK_LOGIN_LIMIT", "10 per minute"),
        "FLOWDECK_LOGIN_USER_LIMIT": env.get("FLOWDECK_LOGIN_USER_LIMIT", "5 per minute"),
        "FLOWDECK_RATELIMIT_STORAGE": env.get("FLOWDECK_RATELIMIT_STORAGE", "memory://"),
        "FLOWDECK_GUEST_USER": env.get("FLOWDECK_GUEST_USER", "").strip().lower() or None,
    }


def _flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{name} must be a whole number above 0, not {text!r}")
    return int(text)
