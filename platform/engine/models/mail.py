"""Tables of how a user's notification mail is delivered: their choice (immediately or a
daily digest, quiet hours, their time zone) and the digests sent.

`fd_mail_prefs` has a row only for users who changed something: no row means "immediately,
no quiet hours, the instance's time zone" (whether mail goes at all stays
`fd_users.mail_notifications`). `fd_digest_runs` is the exactly-once lock of the daily
digest: one row per user and local day, written in the digest job's transaction with the
`emailed_at` marks of what it listed.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from flowdeck.engine.models.base import Base, BigId, utcnow
from flowdeck.engine.sqltypes import UTCDateTime


class MailPreference(Base):
    """One user's delivery choice. Times are minutes after local midnight in `time_zone`
    (None: the instance's zone, `FLOWDECK_TIMEZONE`)."""

    __tablename__ = "fd_mail_prefs"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("fd_users.id", ondelete="CASCADE"), primary_key=True)
    delivery: Mapped[str] = mapped_column(sa.String(12), default="immediate")
    """`immediate` (one mail per notification) or `digest` (one mail a day at `digest_at`)."""
    digest_at: Mapped[int] = mapped_column(sa.Integer, default=18 * 60)
    quiet_from: Mapped[int | None] = mapped_column(sa.Integer)
    quiet_to: Mapped[int | None] = mapped_column(sa.Integer)
    quiet_weekends: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    time_zone: Mapped[str | None] = mapped_column(sa.String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class DigestRun(Base):
    """A digest sent (or found empty) for one user and local day: the unique key is the lock
    two workers racing for the same digest meet at."""

    __tablename__ = "fd_digest_runs"
    __table_args__ = (sa.UniqueConstraint("user_id", "day"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("fd_users.id", ondelete="CASCADE"))
    day: Mapped[dt.date] = mapped_column(sa.Date)
    status: Mapped[str] = mapped_column(sa.String(12))
    """`sent`, `empty` (nothing unread: no mail) or `failed` (the mail server refused to the last attempt)."""
    notifications: Mapped[int] = mapped_column(sa.Integer, default=0)
    covered_until: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    """The moment its listing ends: the next digest lists what came after."""
    job_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    finished_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
