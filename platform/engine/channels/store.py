"""Chat channels and their delivery log: saving a channel (checked, its address held to
its platform's hosts), posting a message to one in the caller's transaction, and reading
the log for the admin pages.

A bot's address carries its access key, so it is kept in the instance (never in an app
document, which is exported and shared) and shown masked. Only the platform's own hosts
are accepted unless `FLOWDECK_CHAT_HOSTS` names others (a private deployment, or the fake
endpoints of the tests): the server never posts to an address an admin typed elsewhere.
"""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import clock, models
from flowdeck.engine.channels.platforms import PLATFORMS
from flowdeck.engine.errors import RecordInvalid
from flowdeck.engine.jobs.queue import enqueue
from flowdeck.engine.messages import M, Message, Mp

C = models.chat_channels
D = models.chat_deliveries
SEND_JOB = "chat.send"
DIGEST_JOB = "chat.digest"
KEY = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
LANGUAGES = ("zh", "en")
STATUSES: dict[str, Message] = {
    "queued": Mp("a chat delivery status", "waiting to be sent"),
    "sent": Mp("a chat delivery status", "sent"),
    "folded": Mp("a chat delivery status", "waiting for the digest"),
    "digested": Mp("a chat delivery status", "sent in a digest"),
    "failed": Mp("a chat delivery status", "not sent"),
}


@dataclass(frozen=True)
class Channel:
    id: int
    key: str
    platform: str
    url: str
    secret: str | None
    language: str
    per_minute: int
    enabled: bool
    sent: int = 0
    waiting: int = 0

    @property
    def masked_url(self) -> str:
        return mask(self.url)


@dataclass(frozen=True)
class Delivery:
    id: int
    status: str
    title: Message | str
    link: str | None
    digest_id: int | None
    created_at: dt.datetime
    sent_at: dt.datetime | None
    response: str | None


def mask(url: str) -> str:
    """The address with its access key hidden: query values and a last path segment
    longer than 12 characters keep only their last four characters."""
    parts = urllib.parse.urlsplit(url)
    path = parts.path
    head, _, last = path.rpartition("/")
    if len(last) > 12:
        path = f"{head}/…{last[-4:]}"
    query = "&".join(f"{k}=…{v[-4:]}" for k, v in urllib.parse.parse_qsl(parts.query))
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def allowed_hosts(setting: str | None) -> tuple[str, ...]:
    """`FLOWDECK_CHAT_HOSTS`: extra hosts (host or host:port, comma separated)."""
    return tuple(h.strip().lower() for h in (setting or "").split(",") if h.strip())


def _url_problem(platform: str, url: str, extra_hosts: Iterable[str]) -> Message | None:
    parts = urllib.parse.urlsplit(url.strip())
    extra = set(extra_hosts)
    host = (parts.hostname or "").lower()
    netloc = parts.netloc.lower()
    if netloc in extra or host in extra:
        return None if parts.scheme in ("http", "https") else M("must start with https://")
    if parts.scheme != "https":
        return M("must start with https://")
    if host not in PLATFORMS[platform].hosts or parts.port not in (None, 443) or parts.username or parts.password:
        return M("must be an address on %(hosts)s", hosts=", ".join(PLATFORMS[platform].hosts))
    return None


def save_channel(
    conn: Connection,
    *,
    key: str,
    platform: str,
    url: str,
    secret: str | None,
    language: str,
    per_minute: int | None,
    enabled: bool = True,
    extra_hosts: Iterable[str] = (),
    channel_id: int | None = None,
) -> int:
    """Add a channel (or change `channel_id`; an empty `secret` keeps the stored one).
    Raises RecordInvalid with every problem, by field."""
    errors: dict[str, list[Message | str]] = {}
    key = key.strip()
    if not KEY.match(key):
        errors["key"] = [M("must start with a lowercase letter and use only a-z, 0-9, _ and - (at most 40)")]
    elif conn.execute(sa.select(C.c.id).where((C.c.key == key) & (C.c.id != (channel_id or 0)))).first() is not None:
        errors["key"] = [M("is already used by another channel")]
    if platform not in PLATFORMS:
        errors["platform"] = [M("is not one of the offered choices")]
    elif (problem := _url_problem(platform, url, extra_hosts)) is not None:
        errors["url"] = [problem]
    elif secret and not PLATFORMS[platform].signs:
        errors["secret"] = [M("this platform does not sign its messages; leave it empty")]
    if language not in LANGUAGES:
        errors["language"] = [M("is not one of the offered choices")]
    if per_minute is None or not 1 <= per_minute <= 600:
        errors["per_minute"] = [M("must be a whole number from %(min)s to %(max)s", min=1, max=600)]
    if errors:
        raise RecordInvalid(errors)
    values: dict[str, Any] = {"key": key, "platform": platform, "url": url.strip(), "language": language, "per_minute": per_minute}
    values["enabled"] = enabled
    if secret:
        values["secret"] = secret.strip()
    if channel_id is None:
        values.update(tokens=float(per_minute or 0), tokens_at=None, secret=values.get("secret"))
        return int(conn.execute(C.insert().values(**values)).inserted_primary_key[0])
    conn.execute(C.update().where(C.c.id == channel_id).values(**values))
    return channel_id


def _channel(row: Any, sent: int = 0, waiting: int = 0) -> Channel:
    return Channel(row.id, row.key, row.platform, row.url, row.secret, row.language, row.per_minute, row.enabled, sent, waiting)


def list_channels(conn: Connection) -> list[Channel]:
    counts: dict[tuple[int, str], int] = {
        (r.channel_id, r.status): r.n
        for r in conn.execute(sa.select(D.c.channel_id, D.c.status, sa.func.count().label("n")).group_by(D.c.channel_id, D.c.status))
    }
    rows = conn.execute(sa.select(C).order_by(C.c.key))
    return [_channel(r, counts.get((r.id, "sent"), 0), counts.get((r.id, "queued"), 0) + counts.get((r.id, "folded"), 0)) for r in rows]


def get_channel(conn: Connection, channel_id: int) -> Channel | None:
    row = conn.execute(sa.select(C).where(C.c.id == channel_id)).first()
    return _channel(row) if row is not None else None


def delete_channel(conn: Connection, channel_id: int) -> bool:
    return conn.execute(C.delete().where(C.c.id == channel_id)).rowcount == 1


def post(
    conn: Connection, channel: str, title: Message, *, body: Message | None = None, link: str | None = None, now: dt.datetime | None = None
) -> int | None:
    """Queue a message for the channel keyed `channel`, in the caller's transaction (it is
    sent only if that commits). Returns the delivery's id; None when there is no such
    enabled channel (a document may name a channel this instance has not set up)."""
    row = conn.execute(sa.select(C.c.id).where((C.c.key == channel) & C.c.enabled)).first()
    if row is None:
        return None
    values = {"channel_id": row.id, "status": "queued", "title_json": title.to_json(), "link": link}
    values["body_json"] = body.to_json() if body is not None else None
    values["created_at"] = now or clock.now()
    delivery_id = int(conn.execute(D.insert().values(**values)).inserted_primary_key[0])
    enqueue(conn, SEND_JOB, {"delivery": delivery_id}, dedupe_key=f"chat:{delivery_id}")
    return delivery_id


def deliveries(conn: Connection, channel_id: int, *, limit: int = 100) -> list[Delivery]:
    rows = conn.execute(sa.select(D).where(D.c.channel_id == channel_id).order_by(D.c.id.desc()).limit(limit))
    return [
        Delivery(r.id, r.status, Message.from_json(r.title_json), r.link, r.digest_id, r.created_at, r.sent_at, r.response) for r in rows
    ]
