"""Settings: defaults, then the environment, then explicit overrides. No I/O at import.

Every `FLOWDECK_*` variable is read here, once, and checked: a wrong value raises
`ConfigError`, whose message is one line naming the variable, the value and what is
expected. `flowdeck` commands print that line and exit 2; the web app refuses to start.
`docs/deploy.md` lists every setting with its default (a test keeps the two in step).

Where the values go:
- `FLOWDECK_DATABASE_URL`: `sqlite:///PATH` or `postgresql://user:pass@host/db` (psycopg 3);
  default: SQLite file `flowdeck.db` in the instance folder.
- `FLOWDECK_INSTANCE` (default `./instance`): the database, the secret key, uploads.
- `FLOWDECK_SECRET_KEY`: signs sessions; when unset, a random key is created once in the
  instance folder (`secret_key`, mode 0600). Several app servers need the same key.
- `FLOWDECK_FILES_DIR` (default `<instance>/files`): uploaded files.
- `FLOWDECK_SQLITE_SYNCHRONOUS`: NORMAL (default) or FULL.
- `FLOWDECK_TIMEZONE` (default Asia/Shanghai): an IANA zone name; what "today" means.
- `FLOWDECK_BASE_URL`: the address people open (`https://flowdeck.example.com`); mail links
  to records with it, so it is required once SMTP is set.
- `FLOWDECK_PROXY_HOPS` (default 0): how many reverse proxies in front of the app set
  `X-Forwarded-For` / `-Proto` / `-Host` / `-Port` / `-Prefix`; with 1, the address and
  scheme the proxy saw are the ones rate limits, the audit log and links use. Never set it
  higher than the proxies there are: a client could then name any address it likes.
- Sign-in (`views/security.py`): `FLOWDECK_SECURE_COOKIES`, `FLOWDECK_IDLE_MINUTES` (120),
  `FLOWDECK_SESSION_HOURS` (12), `FLOWDECK_LOGIN_LIMIT` (`10 per minute`, failed sign-ins
  per client address, refused above it), `FLOWDECK_LOGIN_USER_LIMIT` (`5 per minute`,
  failed sign-ins per username from any address, slowed down above it, never locked),
  `FLOWDECK_RATELIMIT_STORAGE` (`database`, or `redis://host:6379/0` with `flowdeck[redis]`).
- `FLOWDECK_GUEST_USER`: see `views/auth.py`.
- Background work (`views/background.py`, `engine/jobs`): `FLOWDECK_EMBEDDED_WORKER` (on):
  each web process also runs jobs in a thread; off where `flowdeck worker` daemons do.
- Mail (the `mail.notification` job, `engine/jobs/mail.py`): `FLOWDECK_SMTP_HOST` (mail is off without it), `_PORT` (25, or
  465 with `_SSL`), `_FROM`, `_USER`, `_PASSWORD`, `_STARTTLS`, `_SSL` (implicit TLS),
  `_CAFILE` (a CA bundle for a company's own mail server certificate).
- `FLOWDECK_CHAT_HOSTS`: hosts (`host` or `host:port`, comma separated) chat bots may be on
  besides WeCom's, DingTalk's and Feishu's own (a private deployment); none by default.
- Webhooks (`engine/webhooks/addresses.py`): `FLOWDECK_WEBHOOK_ALLOW_PRIVATE` (off): outgoing
  webhooks may reach private, loopback and link-local addresses; `FLOWDECK_WEBHOOK_ALLOW_CIDRS`:
  only these networks besides public addresses (`10.1.2.0/24, fd00::/8`).
- `FLOWDECK_BUNDLE_UPLOAD_LIMIT`: the largest bundle the admin page accepts, in bytes.
- `flowdeck run`: `FLOWDECK_HOST`, `FLOWDECK_PORT`, `FLOWDECK_WORKERS` (see `cli.py`).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIMEZONE = "Asia/Shanghai"
DATABASE_STORAGE = "database"
REDIS_SCHEMES = ("redis", "rediss", "redis+unix")

# Every variable the settings read, with its default as docs/deploy.md shows it.
DOCUMENTED = {
    "FLOWDECK_DATABASE_URL": "sqlite:///<instance>/flowdeck.db",
    "FLOWDECK_INSTANCE": "./instance",
    "FLOWDECK_SECRET_KEY": "generated in <instance>/secret_key",
    "FLOWDECK_FILES_DIR": "<instance>/files",
    "FLOWDECK_SQLITE_SYNCHRONOUS": "NORMAL",
    "FLOWDECK_TIMEZONE": DEFAULT_TIMEZONE,
    "FLOWDECK_BASE_URL": "(none)",
    "FLOWDECK_PROXY_HOPS": "0",
    "FLOWDECK_SECURE_COOKIES": "off",
    "FLOWDECK_IDLE_MINUTES": "120",
    "FLOWDECK_SESSION_HOURS": "12",
    "FLOWDECK_LOGIN_LIMIT": "10 per minute",
    "FLOWDECK_LOGIN_USER_LIMIT": "5 per minute",
    "FLOWDECK_RATELIMIT_STORAGE": DATABASE_STORAGE,
    "FLOWDECK_GUEST_USER": "(none)",
    "FLOWDECK_SMTP_HOST": "(none: no mail)",
    "FLOWDECK_SMTP_PORT": "25, or 465 with FLOWDECK_SMTP_SSL",
    "FLOWDECK_SMTP_FROM": "flowdeck@localhost",
    "FLOWDECK_SMTP_USER": "(none)",
    "FLOWDECK_SMTP_PASSWORD": "(none)",
    "FLOWDECK_SMTP_STARTTLS": "off",
    "FLOWDECK_SMTP_SSL": "off",
    "FLOWDECK_SMTP_CAFILE": "(the system's CAs)",
    "FLOWDECK_BUNDLE_UPLOAD_LIMIT": "100 MiB (the request limit)",
    "FLOWDECK_CHAT_HOSTS": "(none: the platforms' own hosts only)",
    "FLOWDECK_EMBEDDED_WORKER": "on",
    "FLOWDECK_WEBHOOK_ALLOW_PRIVATE": "off",
    "FLOWDECK_WEBHOOK_ALLOW_CIDRS": "(none)",
    "FLOWDECK_ADMIN_PASSWORD": "(generated and printed by flowdeck init)",
    "FLOWDECK_USER_PASSWORD": "(asked for)",
    "FLOWDECK_HOST": "127.0.0.1",
    "FLOWDECK_PORT": "5000",
    "FLOWDECK_WORKERS": "2",
}


class ConfigError(ValueError):
    """A setting is wrong. The message is one line: the variable, the value, what is expected."""


@dataclass(frozen=True)
class RateLimit:
    """`amount` events per `seconds` (parsed from "10 per minute", "20/hour", "5 per 30 seconds")."""

    amount: int
    seconds: int


_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_LIMIT = re.compile(r"^\s*(\d+)\s*(?:per|/)\s*(\d+)?\s*(second|minute|hour|day)s?\s*$", re.IGNORECASE)
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


def parse_limits(text: str, name: str = "limit") -> tuple[RateLimit, ...]:
    """Limits separated by ";" or ",", each "N per [M] second|minute|hour|day"."""
    found = []
    for part in re.split(r"[;,]", text):
        if not part.strip():
            continue
        match = _LIMIT.match(part)
        if match is None or int(match.group(1)) < 1 or (match.group(2) is not None and int(match.group(2)) < 1):
            raise ConfigError(f'{name}={text!r}: expected limits such as "10 per minute" or "20 per hour; 5 per minute"')
        multiple = int(match.group(2) or 1)
        found.append(RateLimit(int(match.group(1)), multiple * _UNITS[match.group(3).lower()]))
    if not found:
        raise ConfigError(f'{name} is empty: expected limits such as "10 per minute"')
    return tuple(found)


def instance_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("FLOWDECK_INSTANCE", "instance")).resolve()


def database_url(env: Mapping[str, str] | None = None) -> str:
    """The database URL, checked (ConfigError for one that is not SQLite or PostgreSQL)."""
    env = os.environ if env is None else env
    url = env.get("FLOWDECK_DATABASE_URL", "").strip()
    if not url:
        return f"sqlite:///{instance_path(env) / 'flowdeck.db'}"
    check_database_url(url)
    return url


def check_database_url(url: str) -> None:
    import sqlalchemy as sa

    expected = "expected sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
    try:
        parsed = sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        raise ConfigError(f"FLOWDECK_DATABASE_URL is not a database URL: {expected}") from None
    shown = parsed.render_as_string(hide_password=True)
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql", "postgres"):
        raise ConfigError(f"FLOWDECK_DATABASE_URL={shown}: Flowdeck runs on SQLite or PostgreSQL; {expected}")
    if parsed.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql", "postgres", "postgresql+psycopg"):
        raise ConfigError(f"FLOWDECK_DATABASE_URL={shown}: the driver {parsed.drivername!r} is not installed; use {backend}://")
    if backend != "sqlite" and not parsed.database:
        raise ConfigError(f"FLOWDECK_DATABASE_URL={shown}: no database name; {expected}")
    if backend != "sqlite":
        try:
            parsed.port  # noqa: B018 -- SQLAlchemy parses the port lazily and raises here
        except ValueError:
            raise ConfigError(f"FLOWDECK_DATABASE_URL={shown}: the port is not a number; {expected}") from None


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
    """Every setting, checked. Raises ConfigError (one line) for the first wrong one."""
    env = os.environ if env is None else env
    folder = instance_path(env)
    secret = env.get("FLOWDECK_SECRET_KEY") or None
    if secret is not None and len(secret) < 16:
        raise ConfigError("FLOWDECK_SECRET_KEY is too short: use at least 16 random characters, e.g. from openssl rand -hex 32")
    login_limit = env.get("FLOWDECK_LOGIN_LIMIT", "10 per minute")
    user_limit = env.get("FLOWDECK_LOGIN_USER_LIMIT", "5 per minute")
    parse_limits(login_limit, "FLOWDECK_LOGIN_LIMIT")
    parse_limits(user_limit, "FLOWDECK_LOGIN_USER_LIMIT")
    base_url = base_url_setting(env)
    smtp = smtp_settings(env)
    if smtp is not None and not base_url:
        raise ConfigError(
            "FLOWDECK_SMTP_HOST is set but FLOWDECK_BASE_URL is not: mail links to records with it (e.g. https://flowdeck.example.com)"
        )
    return {
        "FLOWDECK_DATABASE_URL": database_url(env),
        "FLOWDECK_INSTANCE": str(folder),
        "FLOWDECK_FILES_DIR": env.get("FLOWDECK_FILES_DIR") or str(folder / "files"),
        "SECRET_KEY": secret,
        "FLOWDECK_SQLITE_SYNCHRONOUS": _choice(env, "FLOWDECK_SQLITE_SYNCHRONOUS", ("NORMAL", "FULL")),
        "FLOWDECK_TIMEZONE": timezone_setting(env),
        "FLOWDECK_BASE_URL": base_url,
        "FLOWDECK_PROXY_HOPS": _whole(env, "FLOWDECK_PROXY_HOPS", 0, minimum=0),
        "FLOWDECK_SECURE_COOKIES": _flag(env, "FLOWDECK_SECURE_COOKIES"),
        "FLOWDECK_IDLE_MINUTES": _whole(env, "FLOWDECK_IDLE_MINUTES", 120),
        "FLOWDECK_SESSION_HOURS": _whole(env, "FLOWDECK_SESSION_HOURS", 12),
        "FLOWDECK_LOGIN_LIMIT": login_limit,
        "FLOWDECK_LOGIN_USER_LIMIT": user_limit,
        "FLOWDECK_RATELIMIT_STORAGE": ratelimit_storage(env),
        "FLOWDECK_GUEST_USER": env.get("FLOWDECK_GUEST_USER", "").strip().lower() or None,
        "FLOWDECK_SMTP": smtp,
        "FLOWDECK_BUNDLE_UPLOAD_LIMIT": _whole(env, "FLOWDECK_BUNDLE_UPLOAD_LIMIT", None),
        "FLOWDECK_EMBEDDED_WORKER": _flag(env, "FLOWDECK_EMBEDDED_WORKER", default=True),
        "FLOWDECK_CHAT_HOSTS": tuple(h.strip().lower() for h in env.get("FLOWDECK_CHAT_HOSTS", "").split(",") if h.strip()),
        "FLOWDECK_WEBHOOK_ALLOW_PRIVATE": _flag(env, "FLOWDECK_WEBHOOK_ALLOW_PRIVATE"),
        "FLOWDECK_WEBHOOK_ALLOW_CIDRS": webhook_cidrs(env),
    }


def webhook_cidrs(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The networks outgoing webhooks may reach besides public addresses (comma separated)."""
    import ipaddress

    env = os.environ if env is None else env
    found = []
    for part in env.get("FLOWDECK_WEBHOOK_ALLOW_CIDRS", "").split(","):
        if part.strip():
            try:
                found.append(str(ipaddress.ip_network(part.strip(), strict=False)))
            except ValueError:
                raise ConfigError(
                    f"FLOWDECK_WEBHOOK_ALLOW_CIDRS: {part.strip()!r} is not a network: expected addresses such as 10.1.2.0/24, fd00::/8"
                ) from None
    return tuple(found)


def timezone_setting(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    name = env.get("FLOWDECK_TIMEZONE", "").strip() or DEFAULT_TIMEZONE
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"FLOWDECK_TIMEZONE={name!r} is not a time zone: use an IANA name such as Asia/Shanghai or Europe/Berlin"
        ) from None
    return name


def base_url_setting(env: Mapping[str, str] | None = None) -> str:
    """FLOWDECK_BASE_URL without a trailing slash ("" when unset)."""
    env = os.environ if env is None else env
    text = env.get("FLOWDECK_BASE_URL", "").strip()
    if not text:
        return ""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(f"FLOWDECK_BASE_URL={text!r}: expected the address people open, such as https://flowdeck.example.com")
    return text.rstrip("/")


def ratelimit_storage(env: Mapping[str, str] | None = None) -> str:
    """Where failed sign-ins are counted: `database` (every worker and server on the
    database shares the count) or a Redis URL (needs `flowdeck[redis]`)."""
    env = os.environ if env is None else env
    text = env.get("FLOWDECK_RATELIMIT_STORAGE", "").strip() or DATABASE_STORAGE
    scheme = text.split("://", 1)[0].lower()
    if text.lower() == DATABASE_STORAGE:
        return DATABASE_STORAGE
    if "://" in text and scheme in REDIS_SCHEMES:
        try:
            import redis  # noqa: F401
        except ImportError:
            raise ConfigError(
                f"FLOWDECK_RATELIMIT_STORAGE={scheme}://...: the Redis client is not installed; pip install 'flowdeck[redis]'"
            ) from None
        return text
    shown = text if "@" not in text else scheme + "://..."
    raise ConfigError(f"FLOWDECK_RATELIMIT_STORAGE={shown!r}: expected database or redis://HOST:PORT/DB (with flowdeck[redis])")


def smtp_settings(env: Mapping[str, str] | None = None) -> Any:
    """The mail server settings (`engine.notifications.SmtpSettings`), or None without a host."""
    env = os.environ if env is None else env
    host = env.get("FLOWDECK_SMTP_HOST", "").strip()
    if not host:
        return None
    from flowdeck.engine.notifications import SmtpSettings

    ssl = _flag(env, "FLOWDECK_SMTP_SSL")
    starttls = _flag(env, "FLOWDECK_SMTP_STARTTLS")
    if ssl and starttls:
        raise ConfigError("FLOWDECK_SMTP_SSL and FLOWDECK_SMTP_STARTTLS are both on: use SSL for port 465, STARTTLS for 587, not both")
    port = _whole(env, "FLOWDECK_SMTP_PORT", 465 if ssl else 25)
    if port > 65535:
        raise ConfigError(f"FLOWDECK_SMTP_PORT={port}: a port is at most 65535")
    sender = env.get("FLOWDECK_SMTP_FROM", "").strip() or "flowdeck@localhost"
    if not _EMAIL.match(sender.rpartition("<")[2].rstrip(">").strip()):
        raise ConfigError(f"FLOWDECK_SMTP_FROM={sender!r}: expected a mail address, such as flowdeck@example.com")
    username = env.get("FLOWDECK_SMTP_USER", "").strip() or None
    password = env.get("FLOWDECK_SMTP_PASSWORD") or None
    if (username is None) != (password is None):
        raise ConfigError("FLOWDECK_SMTP_USER and FLOWDECK_SMTP_PASSWORD go together: set both to sign in to the mail server, or neither")
    cafile = env.get("FLOWDECK_SMTP_CAFILE", "").strip() or None
    if cafile is not None and not Path(cafile).is_file():
        raise ConfigError(f"FLOWDECK_SMTP_CAFILE={cafile!r}: there is no such file")
    return SmtpSettings(
        host=host, port=port, sender=sender, username=username, password=password, starttls=starttls, ssl=ssl, cafile=cafile
    )


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


def _flag(env: Mapping[str, str], name: str, *, default: bool = False) -> bool:
    text = env.get(name, "").strip().lower()
    if not text:
        return default
    if text not in _TRUE + _FALSE:
        raise ConfigError(f"{name}={text!r}: expected on or off (1/0, true/false, yes/no)")
    return text in _TRUE


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    text = env.get(name, "").strip().upper() or allowed[0]
    if text not in allowed:
        raise ConfigError(f"{name}={text!r}: expected one of {', '.join(allowed)}")
    return text


def _whole(env: Mapping[str, str], name: str, default: int | None, *, minimum: int = 1) -> Any:
    text = env.get(name, "").strip()
    if not text:
        return default
    if not text.isascii() or not text.isdigit() or int(text) < minimum:
        raise ConfigError(f"{name}={text!r}: expected a whole number of at least {minimum}")
    return int(text)
