"""Tables of Flowdeck's talks with other systems: webhooks out and in, chat group bots.

Outgoing webhook endpoints and their deliveries, incoming hooks and their calls
(`engine/webhooks`), chat channels and their deliveries (`engine/channels`): each keeps what
was sent or received, so an admin can read the log and replay. Declared on the one `Base`
(`models/base.py`) and re-exported by `flowdeck.engine.models`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from flowdeck.engine.models.base import Base, BigId, DocumentJSON, MessageJSON, utcnow
from flowdeck.engine.sqltypes import UTCDateTime


class WebhookEndpoint(Base):
    """Where an app's events are sent (`engine/webhooks/outgoing.py`): the URL, the kinds of
    event and entities it wants, its signing secret, and whether it is on (and why not).
    `failures` counts the deliveries in a row that used up their attempts; `failing_since`
    is when that run of failures began (a success resets both)."""

    __tablename__ = "fd_webhook_endpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    app: Mapped[str] = mapped_column(sa.String(40), index=True)
    url: Mapped[str] = mapped_column(sa.Text)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    events: Mapped[Any] = mapped_column(DocumentJSON)
    entities: Mapped[Any] = mapped_column(DocumentJSON)
    secret: Mapped[str] = mapped_column(sa.String(100))
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    disabled_json: Mapped[Any | None] = mapped_column(MessageJSON)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(sa.Integer, default=0)
    failing_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("fd_users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """One message to one endpoint: the exact body fixed when the event happened, its
    `message_id` (the `webhook-id` header, the same on every attempt and replay) and what
    the last attempt sent and got back. `status`: pending, retrying, delivered, failed
    (attempts used up or refused) or skipped (the endpoint was off or gone)."""

    __tablename__ = "fd_webhook_deliveries"
    __table_args__ = (
        sa.Index("ix_fd_webhook_deliveries_endpoint", "endpoint_id", "id"),
        sa.Index("ix_fd_webhook_deliveries_app", "app", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(sa.ForeignKey("fd_webhook_endpoints.id", ondelete="CASCADE"))
    app: Mapped[str] = mapped_column(sa.String(40))
    event_type: Mapped[str] = mapped_column(sa.String(60))
    message_id: Mapped[str] = mapped_column(sa.String(60))
    entity: Mapped[str | None] = mapped_column(sa.String(40))
    record_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    body: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(10), default="pending")
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    replay_of: Mapped[int | None] = mapped_column(sa.BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    request_headers: Mapped[Any | None] = mapped_column(sa.JSON(none_as_null=True))
    response_code: Mapped[int | None] = mapped_column(sa.Integer)
    response_headers: Mapped[Any | None] = mapped_column(sa.JSON(none_as_null=True))
    response_body: Mapped[str | None] = mapped_column(sa.Text)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    duration_ms: Mapped[int | None] = mapped_column(sa.Integer)


class WebhookHook(Base):
    """An incoming webhook of an app (`engine/webhooks/incoming.py`): a caller holding its
    token creates a record, or updates / moves the record a payload value identifies,
    acting as `run_as`. Only the token's SHA-256 is kept."""

    __tablename__ = "fd_webhook_hooks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    app: Mapped[str] = mapped_column(sa.String(40), index=True)
    key: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    token_hash: Mapped[str] = mapped_column(sa.String(64))
    token_hint: Mapped[str] = mapped_column(sa.String(8))
    entity: Mapped[str] = mapped_column(sa.String(40))
    action: Mapped[str] = mapped_column(sa.String(12))
    mapping: Mapped[Any] = mapped_column(DocumentJSON)
    match_field: Mapped[str | None] = mapped_column(sa.String(40))
    match_path: Mapped[str | None] = mapped_column(sa.String(200))
    transition: Mapped[str | None] = mapped_column(sa.String(40))
    run_as: Mapped[int | None] = mapped_column(sa.ForeignKey("fd_users.id", ondelete="SET NULL"))
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("fd_users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookCall(Base):
    """One call of an incoming webhook, kept whatever its outcome: the answer's status,
    what it did (`outcome`, the record), why it refused (message JSON) and the start of
    the body it was sent."""

    __tablename__ = "fd_webhook_calls"
    __table_args__ = (sa.Index("ix_fd_webhook_calls_hook", "hook_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    hook_id: Mapped[int] = mapped_column(sa.ForeignKey("fd_webhook_hooks.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_code: Mapped[int] = mapped_column(sa.Integer)
    outcome: Mapped[str] = mapped_column(sa.String(20))
    record_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    error_json: Mapped[Any | None] = mapped_column(MessageJSON)
    remote_addr: Mapped[str | None] = mapped_column(sa.String(64))
    body: Mapped[str | None] = mapped_column(sa.Text)


class ChatChannel(Base):
    """A group bot of WeCom, DingTalk or Feishu that notifications can be posted to
    (`engine/channels`). Its address and signing secret are instance settings, never in an
    app document (documents are exported and shared). `tokens`/`tokens_at` are its token
    bucket: `per_minute` messages a minute, the overflow folded into one digest."""

    __tablename__ = "fd_chat_channels"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(40), unique=True)
    platform: Mapped[str] = mapped_column(sa.String(20))
    url: Mapped[str] = mapped_column(sa.String(1000))
    secret: Mapped[str | None] = mapped_column(sa.String(200))
    language: Mapped[str] = mapped_column(sa.String(10), default="zh")
    per_minute: Mapped[int] = mapped_column(sa.Integer, default=20)
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    tokens: Mapped[float] = mapped_column(sa.Float, default=0.0)
    tokens_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    digest_due: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChatDelivery(Base):
    """One message for one chat channel: queued, sent, folded (waiting for the channel's
    digest), digested (sent inside the digest `digest_id`) or failed; with the platform's
    answer, kept for the delivery log."""

    __tablename__ = "fd_chat_deliveries"
    __table_args__ = (sa.Index("ix_fd_chat_deliveries_channel", "channel_id", "status", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel_id: Mapped[int] = mapped_column(sa.ForeignKey("fd_chat_channels.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(sa.String(10), default="queued")
    title_json: Mapped[Any] = mapped_column(MessageJSON)
    body_json: Mapped[Any | None] = mapped_column(MessageJSON)
    link: Mapped[str | None] = mapped_column(sa.String(1000))
    digest_id: Mapped[int | None] = mapped_column(BigId)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    response: Mapped[str | None] = mapped_column(sa.Text)
