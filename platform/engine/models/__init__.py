"""System tables: users, role grants, applied app versions, history, comments, files.

They are declared once here and migrated with Alembic (`engine/migrations`); record tables
are generated from app documents instead (`engine/storage`). System table names start with
`fd_` and never contain `__`, which every record table name does, so the two cannot collide.

This module holds the core tables (people, apps and versions, history, comments, files,
notifications, approvals, audit); the newer tables are grouped by concept in `work.py`
(jobs, schedule runs, automations), `integrations.py` (webhooks, chat channels) and
`calendars.py`, all on the one `Base` of `base.py`. Every class and table alias is
re-exported here, so `models.jobs` or `from flowdeck.engine.models import Base` work as
before, and importing this package registers every table on `Base.metadata` (Alembic).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from flowdeck.engine.models.base import NAMING as NAMING
from flowdeck.engine.models.base import Base, BigId, DocumentJSON, JSONType, MessageJSON, utcnow
from flowdeck.engine.models.calendars import BusinessCalendar, CalendarDay
from flowdeck.engine.models.integrations import ChatChannel, ChatDelivery, WebhookCall, WebhookDelivery, WebhookEndpoint, WebhookHook
from flowdeck.engine.models.work import AutomationRun, AutomationState, Job, ScheduleRun, SlaCycle
from flowdeck.engine.sqltypes import UTCDateTime


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
sla_cycles = SlaCycle.__table__
automation_runs = AutomationRun.__table__
automation_state = AutomationState.__table__
