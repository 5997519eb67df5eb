"""Sending chat deliveries: the job kinds `chat.send` (one message) and `chat.digest` (what
a busy channel folded), with each channel's token bucket.

The bots take about 20 messages a minute each and refuse the rest, so a channel spends one
token a message and earns `per_minute` tokens a minute (at most `per_minute` kept, the
burst). A message that finds no token is not dropped: it is folded, and one digest job is
armed for the moment the next token is earned; the digest posts one message listing every
folded one. The bucket lives on the channel row, changed in the job's transaction with the
row locked, so two workers never spend the same token.

A delivery is marked sent in the job's transaction, before the platform is asked; a
refusal raises, rolling the mark (and the token) back, and the job engine retries with
backoff. A crash after the platform took the message and before the commit sends it again:
at least once, like mail.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine.channels.platforms import PLATFORMS, Outgoing, plain
from flowdeck.engine.channels.store import DIGEST_JOB, SEND_JOB, C, D
from flowdeck.engine.jobs.kinds import JobContext, JobKind, PermanentError, register
from flowdeck.engine.jobs.queue import enqueue
from flowdeck.engine.messages import ENGLISH, Message, Mn, Mp, Translator, render

TIMEOUT = httpx.Timeout(10.0)
DIGEST_ITEMS = 30


class Refused(Exception):
    """The platform did not take the message (retried with backoff)."""


def _locked_channel(conn: Connection, channel_id: int) -> Any:
    query = sa.select(C).where(C.c.id == channel_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).first()


def take_token(conn: Connection, channel: Any, now: dt.datetime) -> dt.timedelta | None:
    """Spend one token of the (locked) channel's bucket: None when spent, else how long
    until the next one is earned."""
    rate = channel.per_minute / 60.0
    tokens = float(channel.per_minute) if channel.tokens_at is None else channel.tokens
    if channel.tokens_at is not None:
        tokens = min(float(channel.per_minute), tokens + max(0.0, (now - channel.tokens_at).total_seconds()) * rate)
    if tokens >= 1.0:
        conn.execute(C.update().where(C.c.id == channel.id).values(tokens=tokens - 1.0, tokens_at=now))
        return None
    conn.execute(C.update().where(C.c.id == channel.id).values(tokens=tokens, tokens_at=now))
    return dt.timedelta(seconds=(1.0 - tokens) / rate)


def _link(link: str | None, base_url: str) -> str | None:
    if link and link.startswith("/"):
        return base_url.rstrip("/") + link if base_url else None
    return link


def _translator(context: JobContext, language: str) -> Translator:
    return context.translator(language) if context.translator else ENGLISH


def deliver(channel: Any, title: str, text: str, link: str | None, now: dt.datetime) -> str:
    """Post one message to the channel's bot; returns the platform's answer as text, or
    raises Refused."""
    platform = PLATFORMS[channel.platform]
    body = platform.build(plain(title), text, link)
    outgoing = (
        platform.sign(channel.url, body, channel.secret, int(now.timestamp() * 1000)) if channel.secret else Outgoing(channel.url, body)
    )
    data = json.dumps(outgoing.body, ensure_ascii=False).encode()
    try:
        with httpx.Client(timeout=TIMEOUT, follow_redirects=False) as client:
            response = client.post(outgoing.url, content=data, headers={"Content-Type": "application/json; charset=utf-8"})
    except httpx.HTTPError as exc:
        raise Refused(f"{channel.platform}: {type(exc).__name__}: {exc}") from exc
    answer_text = response.text[:2000]
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code != 200 or not isinstance(answer, dict) or not platform.taken(answer):
        raise Refused(f"{channel.platform} answered {response.status_code}: {answer_text}")
    return answer_text


def _arm_digest(conn: Connection, channel: Any, wait: dt.timedelta, now: dt.datetime, tag: int) -> None:
    if channel.digest_due is not None and channel.digest_due > now:
        return
    due = now + wait
    conn.execute(C.update().where(C.c.id == channel.id).values(digest_due=due))
    enqueue(conn, DIGEST_JOB, {"channel": channel.id}, run_at=due, dedupe_key=f"chat-digest:{channel.id}:{tag}")


def send_delivery(conn: Connection, payload: dict[str, Any], context: JobContext) -> dict[str, Any]:
    delivery_id = payload.get("delivery")
    if not isinstance(delivery_id, int):
        raise PermanentError("the payload names no delivery")
    row = conn.execute(sa.select(D).where(D.c.id == delivery_id)).first()
    if row is None:
        return {"skipped": "delivery_deleted"}
    channel = _locked_channel(conn, row.channel_id)
    if row.status != "queued":
        return {"skipped": row.status}
    if channel is None or not channel.enabled:
        conn.execute(D.update().where(D.c.id == delivery_id).values(status="failed", response="channel disabled"))
        return {"skipped": "channel_disabled"}
    wait = take_token(conn, channel, context.now)
    if wait is not None:
        conn.execute(D.update().where(D.c.id == delivery_id).values(status="folded"))
        _arm_digest(conn, channel, wait, context.now, delivery_id)
        return {"folded": True}
    translator = _translator(context, channel.language)
    title = render(Message.from_json(row.title_json), translator)
    text = render(Message.from_json(row.body_json), translator) if row.body_json else ""
    conn.execute(D.update().where(D.c.id == delivery_id).values(status="sent", sent_at=context.now))
    answer = deliver(channel, title, plain(text), _link(row.link, context.settings.get("FLOWDECK_BASE_URL", "")), context.now)
    conn.execute(D.update().where(D.c.id == delivery_id).values(response=answer))
    return {"sent": delivery_id}


def send_digest(conn: Connection, payload: dict[str, Any], context: JobContext) -> dict[str, Any]:
    channel_id = payload.get("channel")
    if not isinstance(channel_id, int):
        raise PermanentError("the payload names no channel")
    channel = _locked_channel(conn, channel_id)
    if channel is None:
        return {"skipped": "channel_deleted"}
    folded = conn.execute(
        sa.select(D.c.id, D.c.title_json).where((D.c.channel_id == channel_id) & (D.c.status == "folded")).order_by(D.c.id)
    ).all()
    if not folded or not channel.enabled:
        conn.execute(C.update().where(C.c.id == channel_id).values(digest_due=None))
        return {"skipped": "nothing_folded" if not folded else "channel_disabled"}
    wait = take_token(conn, channel, context.now)
    if wait is not None:
        conn.execute(C.update().where(C.c.id == channel_id).values(digest_due=None))
        _arm_digest(conn, _locked_channel(conn, channel_id), wait, context.now, -context.job_id)
        return {"waiting": True}
    title = Mn("%(num)s notification while the bot was busy", "%(num)s notifications while the bot was busy", len(folded))
    digest_id = int(
        conn.execute(
            D.insert().values(channel_id=channel_id, status="sent", title_json=title.to_json(), created_at=context.now, sent_at=context.now)
        ).inserted_primary_key[0]
    )
    conn.execute(D.update().where(D.c.id.in_([f.id for f in folded])).values(status="digested", digest_id=digest_id))
    conn.execute(C.update().where(C.c.id == channel_id).values(digest_due=None))
    translator = _translator(context, channel.language)
    lines = [f"- {plain(render(Message.from_json(f.title_json), translator))}" for f in folded[:DIGEST_ITEMS]]
    if len(folded) > DIGEST_ITEMS:
        lines.append(render(Mn("… and %(num)s more", "… and %(num)s more", len(folded) - DIGEST_ITEMS), translator))
    answer = deliver(channel, render(title, translator), "\n".join(lines), None, context.now)
    conn.execute(D.update().where(D.c.id == digest_id).values(response=answer))
    return {"digest": digest_id, "messages": len(folded)}


register(JobKind(SEND_JOB, Mp("a kind of job", "Chat message"), send_delivery, max_attempts=8))
register(JobKind(DIGEST_JOB, Mp("a kind of job", "Chat digest"), send_digest, max_attempts=8))
