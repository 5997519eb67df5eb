"""System tables: users, role grants, applied app versions, history, comments, files.

They are declared once here and migrated with Alembic (`engine/migrations`); record tables
are generated from app documents instead (`engine/storage`). System table names start with
`fd_` and never contain `__`, which every record table name does, so the two cannot collide.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flowdeck.engine.sqltypes import UTCDateTime

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")
# PostgreSQL's JSONB reorders object keys, and key order is meaning in an app document
# (field order, the first state): documents are kept as plain JSON, which keeps the text.
DocumentJSON = sa.JSON()
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MessageJSON = sa.JSON(none_as_null=True)
"""A stored message (`Message.to_json()`); None is SQL NULL (no message), not JSON null."""

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "fd_users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(60), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(120))
    email: Mapped[str | None] = mapped_column(sa.String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    is_admin: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    locale: Mapped[str | None] = mapped_column(sa.String(10))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("fd_departments.id", ondelete="SET NULL", use_alter=True), index=True)
    manager_id: Mapped[int | None] = mapped_column(sa.ForeignKey("fd_users.id", ondelete="SET NULL"))
    must_change_password: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    mail_notifications: Mapped[bool] = mapped_column(sa.Boolean, default=True, server_default=sa.true())
    """Whether notifications are also mailed (the user's choice in their profile; in-app always)."""


class Department(Base):
    """The organisation tree approvals walk: each department has a parent and a head."""

    __tablename__ = "fd_departments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    name_zh: Mapped[str | None] = mapped_column(sa.String(120))
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("fd_departments.id", ondelete="SET NULL"))
    head_id: Mapped[int | None] = mapped_column(sa.ForeignKey("fd_users.id", ondelete="SET NULL", use_alter=True))


class RoleGrant(Base):
    """A user holds a role in one app; roles are defined by the app's document."""

    __tablename__ = "fd_role_grants"
    __table_args__ = (sa.UniqueConstraint("user_id", "app", "role"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("fd_users.id", ondelete="CASCADE"), index=True)
    app: Mapped[str] = mapped_column(sa.String(40))
    role: Mapped[str] = mapped_column(sa.String(40))


class InstalledApp(Base):
    __tablename__ = "fd_apps"

    key: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(80))
    version: Mapped[int] = mapped_column(sa.Integer)
    installed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AppVersion(Base):
    """Every applied document, so any version can be read, diffed or restored."""

    __tablename__ = "fd_app_versions"
    __table_args__ = (sa.UniqueConstraint("app", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    app: Mapped[str] = mapped_column(sa.String(40))
    version: Mapped[int] = mapped_column(sa.Integer)
    document: Mapped[Any] = mapped_column(DocumentJSON)
    checksum: Mapped[str] = mapped_column(sa.String(64))
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("fd_users.id", ondelete="SET NULL"))
    message: Mapped[str | None] = mapped_column(sa.Text)
    """The admin's own words for this version, as typed."""
    reason: Mapped[Any] = mapped_column(JSONType, nullable=True)
    """The system's reason ("bundled app", "rollback to v3") as a Message's JSON form."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Meta(Base):
    """Instance-wide counters; `schema_generation` grows with every applied change so that
    every worker process notices a new schema on its next request."""

    __tablename__ = "fd_meta"

    key: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    value: Mapped[int] = mapped_column(sa.BigInteger)


class ArchivedField(Base):
    """A field (or a whole entity, `field` empty) removed from a document whose data is kept."""

    __tablename__ = "fd_archived"
    __table_args__ = (sa.UniqueConstraint("app", "entity", "field"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    app: Mapped[str] = mapped_column(sa.String(40))
    entity: Mapped[str] = mapped_column(sa.String(40))
    field: Mapped[str] = mapped_column(sa.String(40), default="")
    storage: Mapped[str] = mapped_column(sa.String(200))
    definition: Mapped[Any] = mapped_column(DocumentJSON)
    archived_in_version: Mapped[int] = mapped_column(sa.Integer)
    archived_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Counter(Base):
    """Auto-number counters: one row per field and period, bumped inside the inserting
    transaction, so a rolled-back insert gives its number back (no gaps)."""

    __tablename__ = "fd_counters"

    app: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    entity: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    field: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    period: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    value: Mapped[int] = mapped_column(sa.BigInteger)


class HistoryEntry(Base):
    """One change of a record. `message` is what the system says about it (message JSON,
    worded in the reader's language when shown); `comment` is what the person wrote, as
    typed. Entries written before messages were data have their whole text in `comment`."""

    __tablename__ = "fd_history"
    __table_args__ = (sa.Index("ix_fd_history_record", "app", "entity", "record_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    app: Mapped[str] = mapped_column(sa.String(40))
    entity: Mapped[str] = mapped_column(sa.String(40))
    record_id: Mapped[int] = mapped_column(sa.BigInteger)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("fd_users.id", ondelete="SET NULL"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    action: Mapped[str] = mapped_column(sa.String(20))
    transition: Mapped[str | None] = mapped_column(sa.String(40))
    changes: Mapped[Any] = mapped_column(JSONType)
    comment: Mapped[str | None] = mapped_column(sa.Text)
    message: Mapped[Any | None] = mapped_column(MessageJSON)


class Comment(Base):
    __tablename__ = "fd_comments"
    __table_args__ = (sa.Index("ix_fd_comments_record", "app", "entity", "record_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    app: Mapped[str] = mapped_column(sa.String(40))
    entity: Mapped[str] = mapped_column(sa.String(40))
    record_id: Mapped[int] = mapped_column(sa.BigInteger)
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("fd_users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Watcher(Base):
    """A user's choice to follow (`following`) or not to follow a record. A record's creator
    follows it without a row; a row with `following` false is someone who stopped."""

    __tablename__ = "fd_watchers"
    __table_args__ = (sa.UniqueConstraint("app", "entity", "record_id", "user_id"), sa.Index("ix_fd_watchers_user", "user_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    app: Mapped[str] = mapped_column(sa.String(40))
    entity: Mapped[str] = mapped_column(sa.String(40))
    record_id: Mapped[int] = mapped_column(sa.BigInteger)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("fd_users.id", ondelete="CASCADE"))
    following: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Attachment(Base):
    """A stored file; the bytes live in the files folder under their SHA-256."""

    __tablename__ = "fd_attachments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    filename: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(120))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("fd_users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LoginSession(Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored, so
    a leaked table does not let anyone sign in. Ending the row signs the browser out."""

    __tablename__ = "fd_sessions"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("fd_users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(255))


class SavedView(Base):
    """A user's own list view: a name and the list's query string (filters, sort, columns)."""

    __tablename__ = "fd_saved_views"
    __table_args__ = (sa.UniqueConstraint("user_id", "app", "entity", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("fd_users.id", ondelete="CASCADE"), index=True)
    app: Mapped[str] = mapped_column(sa.String(40))
    entity: Mapped[str] = mapped_column(sa.String(40))
    name: Mapped[str] = mapped_column(sa.String(80))
    params: Mapped[Any] = mapped_column(DocumentJSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Notification(Base):
    """Something a user should see: a mention, an approval waiting, a decision.

    `message_json` says it (message JSON, worded in the reader's language: on the page,
    and in the mail); `message` holds the text of notifications made before that."""

    __tablename__ = "fd_notifications"
    __table_args__ = (sa.Index("ix_fd_notifications_user_unread", "user_id", "read_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("fd_users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(30))
    app: Mapped[str | None] = mapped_column(sa.String(40))
    entity: Mapped[str | None] = mapped_column(sa.String(40))
    record_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("fd_users.id", ondelete="SET NULL"))
    message: Mapped[str | None] = mapped_column(sa.Text)
    message_json: Mapped[Any | None] = mapped_column(MessageJSON)
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(200), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    emailed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ApprovalRequest(Base):
    """One round of approval for one transition of one record.

    `snapshot` holds the record's values when approval was asked: what approvers decide on.
    `snapshot_version` changes only when a pending request is reset by an edit; every
    decision stores the version it was given to, and the transition completes only on
    decisions given to the current one.
    """

    __tablename__ = "fd_approval_requests"
    __table_args__ = (sa.Index("ix_fd_approval_requests_record", "app", "entity", "record_id", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    app: Mapped[str] = mapped_column(sa.String(40))
    entity: Mapped[str] = mapped_column(sa.String(40))
    record_id: Mapped[int] = mapped_column(sa.BigInteger)
    transition: Mapped[str] = mapped_column(sa.String(40))
    round: Mapped[int] = mapped_column(sa.Integer)
    status: Mapped[str] = mapped_column(sa.String(20))
    requester_id: Mapped[int | None] = mapped_column(sa.ForeignKey("fd_users.id", ondelete="SET NULL"), index=True)
    from_state: Mapped[str | None] = mapped_column(sa.String(40))
    snapshot: Mapped[Any] = mapped_column(DocumentJSON)
    snapshot_version: Mapped[int] = mapped_column(sa.Integer, default=1)
    current_step: Mapped[int] = mapped_column(sa.Integer, default=0)
    comment: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ApprovalStep(Base):
    __tablename__ = "fd_approval_steps"
    __table_args__ = (sa.UniqueConstraint("request_id", "position"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("fd_approval_requests.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(sa.Integer)
    key: Mapped[str] = mapped_column(sa.String(40))
    mode: Mapped[str] = mapped_column(sa.String(10))
    quorum: Mapped[int | None] = mapped_column(sa.Integer)
    status: Mapped[str] = mapped_column(sa.String(20))
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    escalated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ApprovalTask(Base):
    """One approver's part in one step. A decision flips `status` from pending exactly once
    (`UPDATE ... WHERE status = 'pending'`), which is what makes races safe.

    `note_json` says why the task is there or ended (message JSON); `note` holds the text
    of notes written before that. `comment` is the approver's own words."""

    __tablename__ = "fd_approval_tasks"
    __table_args__ = (
        sa.UniqueConstraint("step_id", "approver_id"),
        sa.Index("ix_fd_approval_tasks_inbox", "approver_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    step_id: Mapped[int] = mapped_column(sa.ForeignKey("fd_approval_steps.id", ondelete="CASCADE"), index=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("fd_approval_requests.id", ondelete="CASCADE"), index=True)
    approver_id: Mapped[int] = mapped_column(sa.ForeignKey("fd_users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(sa.String(20))
    origin: Mapped[str] = mapped_column(sa.String(20))
    note: Mapped[str | None] = mapped_column(sa.Text)
    note_json: Mapped[Any | None] = mapped_column(MessageJSON)
    comment: Mapped[str | None] = mapped_column(sa.Text)
    decided_version: Mapped[int | None] = mapped_column(sa.Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class BundleImport(Base):
    """A document that came from a configuration bundle (`engine/bundles.py`): which local
    version it produced, and the bundle's document as received (in local terms: key,
    source and mapped usernames), the common base of the three-way merge of the next
    upgrade from the same source."""

    __tablename__ = "fd_bundle_imports"
    __table_args__ = (sa.Index("ix_fd_bundle_imports_app", "app", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    app: Mapped[str] = mapped_column(sa.String(40))
    version: Mapped[int] = mapped_column(sa.Integer)
    kind: Mapped[str] = mapped_column(sa.String(10))
    bundle_source: Mapped[str] = mapped_column(sa.String(80))
    bundle_version: Mapped[int] = mapped_column(sa.Integer)
    bundle_checksum: Mapped[str] = mapped_column(sa.String(64))
    document: Mapped[Any] = mapped_column(DocumentJSON)
    user_map: Mapped[Any] = mapped_column(DocumentJSON)
    imported_by: Mapped[int | None] = mapped_column(sa.ForeignKey("fd_users.id", ondelete="SET NULL"))
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEntry(Base):
    """Who did what outside records (`engine/audit.py`): sign-ins, accounts, apps, exports.
    Written once, never changed: triggers refuse UPDATE and DELETE (migration 0008), so
    `actor_id` has no foreign key (a deleted user's entries keep their id and name)."""

    __tablename__ = "fd_audit"
    __table_args__ = (sa.Index("ix_fd_audit_action", "action", "id"), sa.Index("ix_fd_audit_actor", "actor_id", "id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    action: Mapped[str] = mapped_column(sa.String(40))
    actor_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    actor_name: Mapped[str | None] = mapped_column(sa.String(60))
    address: Mapped[str | None] = mapped_column(sa.String(64))
    target: Mapped[str | None] = mapped_column(sa.String(200))
    message: Mapped[Any] = mapped_column(DocumentJSON)


class SigninFailure(Base):
    """A failed sign-in, counted per client address and per username by every worker and
    server on the database (`engine/signin_limits.py`); rows older than a day are purged."""

    __tablename__ = "fd_signin_failures"
    __table_args__ = (sa.Index("ix_fd_signin_failures_key", "scope", "key", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scope: Mapped[str] = mapped_column(sa.String(10))
    key: Mapped[str] = mapped_column(sa.String(100))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PasswordReset(Base):
    """A one-time link an admin sent to set a new password; only the token's SHA-256 is kept."""

    __tablename__ = "fd_password_resets"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("fd_users.id", ondelete="CASCADE"), index=True)
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("fd_users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Job(Base):
    """A piece of work done later by a worker (`engine/jobs`): written in the transaction of
    the change that causes it, claimed with a lease, retried with backoff, kept with its
    outcome. `status`: queued (waiting for `run_at`), running (leased until `lease_until`),
    done, failed (an error retrying cannot fix) or dead (attempts used up)."""

    __tablename__ = "fd_jobs"
    __table_args__ = (
        sa.Index("ix_fd_jobs_due", "status", "run_at"),
        sa.Index("ix_fd_jobs_kind", "kind", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(60))
    payload: Mapped[Any] = mapped_column(DocumentJSON)
    status: Mapped[str] = mapped_column(sa.String(10), default="queued")
    run_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(sa.Integer, default=5)
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(200), unique=True)
    lease_token: Mapped[str | None] = mapped_column(sa.String(32))
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    worker: Mapped[str | None] = mapped_column(sa.String(100))
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    result: Mapped[Any | None] = mapped_column(sa.JSON(none_as_null=True))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    duration_ms: Mapped[int | None] = mapped_column(sa.Integer)


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


class BusinessCalendar(Base):
    """A business calendar apps name by key (`engine/calendars`): working windows per weekday
    (`name`: a label, text or {"en", "zh"}; `week`: seven lists of "09:00-12:00" texts, Monday first), an IANA zone, the data package
    calendar its official days come from (`source`), and the years an admin marked complete."""

    __tablename__ = "fd_calendars"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[Any] = mapped_column(sa.JSON)
    time_zone: Mapped[str] = mapped_column(sa.String(64))
    week: Mapped[Any] = mapped_column(sa.JSON)
    source: Mapped[str | None] = mapped_column(sa.String(20))
    is_default: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    complete_years: Mapped[Any] = mapped_column(sa.JSON, default=list)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CalendarDay(Base):
    """A day an admin set apart on a calendar: a company day off or an extra working day,
    typed or imported from an ICS file (`origin`). It wins over the official day."""

    __tablename__ = "fd_calendar_days"
    __table_args__ = (sa.UniqueConstraint("calendar_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    calendar_id: Mapped[int] = mapped_column(sa.ForeignKey("fd_calendars.id", ondelete="CASCADE"), index=True)
    day: Mapped[dt.date] = mapped_column(sa.Date)
    working: Mapped[bool] = mapped_column(sa.Boolean)
    label: Mapped[str] = mapped_column(sa.String(200), default="")
    origin: Mapped[str] = mapped_column(sa.String(10), default="admin")


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


class ScheduleRun(Base):
    """One occurrence of a schedule that ran, was skipped or needs attention (`engine/schedules`).
    The unique (app, schedule, occurrence) is the lock that makes each occurrence run once,
    whatever the number of workers; a manual run has a key of its own (`manual:...`)."""

    __tablename__ = "fd_schedule_runs"
    __table_args__ = (
        sa.UniqueConstraint("app", "schedule", "occurrence"),
        sa.Index("ix_fd_schedule_runs_app_schedule_id", "app", "schedule", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    app: Mapped[str] = mapped_column(sa.String(40))
    schedule: Mapped[str] = mapped_column(sa.String(60))
    occurrence: Mapped[str] = mapped_column(sa.String(60))
    occurrence_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(sa.String(20))
    records_created: Mapped[int] = mapped_column(sa.Integer, default=0)
    error: Mapped[str | None] = mapped_column(sa.Text)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("fd_users.id", ondelete="SET NULL"))
    job_id: Mapped[int | None] = mapped_column(BigId)
    finished_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AutomationRun(Base):
    """One run of an automation rule (`engine/automations`): written in the transaction of
    the event that triggered it, finished in the transaction that applies its actions.
    `status`: queued, done, failed, skipped (rate limit, paused, condition false in a
    replay) or loop_stopped (the chain of automations reached the depth limit). `inputs`
    holds the event (kind, values before/after, changed keys), `changes` what the actions did."""

    __tablename__ = "fd_automation_runs"
    __table_args__ = (
        sa.Index("ix_fd_automation_runs_rule", "app", "rule", "id"),
        sa.Index("ix_fd_automation_runs_record", "app", "entity", "record_id"),
        sa.Index("ix_fd_automation_runs_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    app: Mapped[str] = mapped_column(sa.String(60))
    rule: Mapped[str] = mapped_column(sa.String(60))
    entity: Mapped[str] = mapped_column(sa.String(60))
    record_id: Mapped[int | None] = mapped_column(BigId)
    event: Mapped[str] = mapped_column(sa.String(40))
    status: Mapped[str] = mapped_column(sa.String(12), default="queued")
    depth: Mapped[int] = mapped_column(sa.Integer, default=1)
    actor_id: Mapped[int | None] = mapped_column(BigId)
    inputs: Mapped[Any] = mapped_column(sa.JSON(none_as_null=True))
    changes: Mapped[Any | None] = mapped_column(sa.JSON(none_as_null=True))
    error: Mapped[Any | None] = mapped_column(MessageJSON)
    attempt: Mapped[int] = mapped_column(sa.Integer, default=0)
    job_id: Mapped[int | None] = mapped_column(BigId)
    duration_ms: Mapped[int | None] = mapped_column(sa.Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class AutomationState(Base):
    """What a rule remembers between runs: failures in a row (5 pause it), whether it is
    paused, and the round-robin cursor of its `assign` actions."""

    __tablename__ = "fd_automation_state"

    app: Mapped[str] = mapped_column(sa.String(60), primary_key=True)
    rule: Mapped[str] = mapped_column(sa.String(60), primary_key=True)
    failures: Mapped[int] = mapped_column(sa.Integer, default=0)
    paused: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    paused_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cursor: Mapped[Any | None] = mapped_column(sa.JSON(none_as_null=True))


users = User.__table__
role_grants = RoleGrant.__table__
apps = InstalledApp.__table__
app_versions = AppVersion.__table__
meta = Meta.__table__
archived = ArchivedField.__table__
counters = Counter.__table__
history = HistoryEntry.__table__
comments = Comment.__table__
attachments = Attachment.__table__
login_sessions = LoginSession.__table__
saved_views = SavedView.__table__
notifications = Notification.__table__
departments = Department.__table__
approval_requests = ApprovalRequest.__table__
approval_steps = ApprovalStep.__table__
approval_tasks = ApprovalTask.__table__
bundle_imports = BundleImport.__table__
audit = AuditEntry.__table__
signin_failures = SigninFailure.__table__
password_resets = PasswordReset.__table__
jobs = Job.__table__
chat_channels = ChatChannel.__table__
chat_deliveries = ChatDelivery.__table__
watchers = Watcher.__table__
calendars = BusinessCalendar.__table__
calendar_days = CalendarDay.__table__
webhook_endpoints = WebhookEndpoint.__table__
webhook_deliveries = WebhookDelivery.__table__
webhook_hooks = WebhookHook.__table__
webhook_calls = WebhookCall.__table__
schedule_runs = ScheduleRun.__table__
automation_runs = AutomationRun.__table__
automation_state = AutomationState.__table__
