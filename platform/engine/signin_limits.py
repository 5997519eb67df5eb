"""Failed sign-ins, counted where every worker and every app server sees the same count.

Two budgets, both over moving windows (`FLOWDECK_LOGIN_LIMIT`, `FLOWDECK_LOGIN_USER_LIMIT`):

- per client address: over it, that address is refused (429) until the oldest failure in
  the window has aged out. The address is the client's own (behind a proxy, only with
  `FLOWDECK_PROXY_HOPS` set), so one person's typos never block a colleague.
- per username, from any address: over it, sign-in for that username is *slowed down*,
  never locked: each further attempt must wait 1, 2, 4 ... seconds after the last failure
  (at most the limit's period). A correct password after the wait signs in. Guessing one
  account from many addresses gains a few tries a minute, while its owner waits seconds at
  most; and the browser its owner signed in with before is not slowed at all (the views
  remember it in a signed cookie), so an attack on a name never keeps its owner out.

Only failures count, and a refused attempt does not (its password is not even checked).
Counts live in the database (`fd_signin_failures`, purged as they age out) or, with
`FLOWDECK_RATELIMIT_STORAGE=redis://...` (`flowdeck[redis]`), in Redis.

Why not Flask-Limiter (used before): its shared storages are Redis, Memcached and MongoDB,
never the app's own SQL database, so the embedded default would count per process; and it
limits requests, where this must count failures only and slow a name down instead of
refusing it. Both needs are a few statements here.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import clock, models
from flowdeck.engine.db import Database

ADDRESS = "address"
USERNAME = "username"
_F = models.signin_failures


@dataclass(frozen=True)
class Window:
    """`amount` failures per `seconds` (config.RateLimit has the same shape)."""

    amount: int
    seconds: int


@dataclass(frozen=True)
class Budgets:
    address: tuple[Window, ...]
    username: tuple[Window, ...]

    @property
    def longest(self) -> int:
        return max(w.seconds for w in (*self.address, *self.username))

    @property
    def most(self) -> int:
        return max(w.amount for w in (*self.address, *self.username))


@dataclass(frozen=True)
class Verdict:
    """May the password be checked now? If not, `retry_after` seconds and which budget."""

    allowed: bool
    retry_after: int = 0
    budget: str | None = None


class FailureStore(Protocol):
    def add(self, scope: str, key: str, now: dt.datetime, keep: int) -> None: ...

    def recent(self, scope: str, key: str, since: dt.datetime, limit: int) -> list[dt.datetime]:
        """The latest failures after `since`, at most `limit`, oldest first."""
        ...


def _now() -> dt.datetime:
    return clock.now()


def _key(text: str) -> str:
    return text.strip().lower()[:100]


def check(store: FailureStore, budgets: Budgets, *, address: str, username: str, known: bool, now: dt.datetime | None = None) -> Verdict:
    """Whether this attempt may check its password. `known`: the browser signed in as this
    username before (not slowed down by the username budget)."""
    now = now or _now()
    since = now - dt.timedelta(seconds=budgets.longest)
    waits: list[Verdict] = []
    times = store.recent(ADDRESS, _key(address), since, budgets.most)
    for window in budgets.address:
        inside = [t for t in times if t > now - dt.timedelta(seconds=window.seconds)]
        if len(inside) >= window.amount:
            free_at = inside[-window.amount] + dt.timedelta(seconds=window.seconds)
            waits.append(Verdict(False, _seconds(free_at - now), ADDRESS))
    if not known and username.strip():
        times = store.recent(USERNAME, _key(username), since, budgets.most + 64)
        for window in budgets.username:
            inside = [t for t in times if t > now - dt.timedelta(seconds=window.seconds)]
            if len(inside) >= window.amount:
                delay = min(window.seconds, 2 ** min(len(inside) - window.amount, 30))
                free_at = inside[-1] + dt.timedelta(seconds=delay)
                if free_at > now:
                    waits.append(Verdict(False, _seconds(free_at - now), USERNAME))
    return max(waits, key=lambda v: v.retry_after) if waits else Verdict(True)


def record_failure(store: FailureStore, budgets: Budgets, *, address: str, username: str, now: dt.datetime | None = None) -> None:
    now = now or _now()
    store.add(ADDRESS, _key(address), now, budgets.longest)
    if username.strip():
        store.add(USERNAME, _key(username), now, budgets.longest)


def _seconds(delta: dt.timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))


class DatabaseStore:
    """Failures as rows of `fd_signin_failures`; each insert also removes what has aged out."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, scope: str, key: str, now: dt.datetime, keep: int) -> None:
        def work(conn: Connection) -> None:
            conn.execute(_F.delete().where(_F.c.at < now - dt.timedelta(seconds=keep)))
            conn.execute(_F.insert().values(scope=scope, key=key, at=now))

        self.db.run(work)

    def recent(self, scope: str, key: str, since: dt.datetime, limit: int) -> list[dt.datetime]:
        query = (
            sa.select(_F.c.at).where((_F.c.scope == scope) & (_F.c.key == key) & (_F.c.at > since)).order_by(_F.c.at.desc()).limit(limit)
        )
        return sorted(self.db.read(lambda conn: list(conn.execute(query).scalars())))


class RedisStore:
    """Failures as members of one sorted set per scope and key (score: the time)."""

    def __init__(self, url: str, client: Any = None) -> None:
        if client is None:
            import redis

            client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.client = client

    def _name(self, scope: str, key: str) -> str:
        return f"flowdeck:signin:{scope}:{key}"

    def add(self, scope: str, key: str, now: dt.datetime, keep: int) -> None:
        name, score = self._name(scope, key), now.timestamp()
        pipe = self.client.pipeline()
        pipe.zadd(name, {f"{score}:{uuid.uuid4().hex[:8]}": score})
        pipe.zremrangebyscore(name, "-inf", score - keep)
        pipe.expire(name, keep + 1)
        pipe.execute()

    def recent(self, scope: str, key: str, since: dt.datetime, limit: int) -> list[dt.datetime]:
        found = self.client.zrevrangebyscore(self._name(scope, key), "+inf", f"({since.timestamp()}", start=0, num=limit, withscores=True)
        return sorted(dt.datetime.fromtimestamp(score, dt.UTC) for _, score in found)


def budgets_from(address: Sequence[Any], username: Sequence[Any]) -> Budgets:
    """Budgets from parsed limits (anything with `amount` and `seconds`)."""
    return Budgets(tuple(Window(w.amount, w.seconds) for w in address), tuple(Window(w.amount, w.seconds) for w in username))
