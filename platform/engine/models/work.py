"""Tables of the work done after the change that causes it: jobs, schedule runs, automation runs, SLA cycles.

Every background mechanism (`engine/jobs`, `engine/schedules`, `engine/automations`) writes
its rows in the transaction of the change and finishes them from a worker, so these tables
live apart from the core tables they refer to by app / entity / record keys. Declared on the
one `Base` (`models/base.py`) and re-exported by `flowdeck.engine.models`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from flowdeck.engine.models.base import Base, BigId, DocumentJSON, JSONType, MessageJSON, utcnow
from flowdeck.engine.sqltypes import UTCDateTime


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


class ScheduleRun(Base):
    """One occurrence of a schedule that ran, was skipped or needs attention (`engine/schedules`).
    The unique (app, schedule, occurrence) is the lock that makes each occurrence run once,
    whatever the number of workers; a manual run has a key of its own (`manual:...`).
    `error` holds a schedule run's note as JSON (`schedules.run_note`: the failure and the
    skipped records' reasons, as messages); older rows and scheduled automations' runs hold
    plain text, which `schedules.read_note` reads as it is."""

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


class SlaCycle(Base):
    """One cycle of an SLA on a record (`engine/sla`): started, paused and resumed, stopped
    by the record-events listener, warned and breached by timer jobs. A reopened record
    resumes the same cycle with the working time already used. `version` is the definition's
    version when the cycle started (`engine/sla/versions.py`); a cycle keeps its goal and
    version, so editing a definition only reaches cycles started afterwards. The current cycle
    of a record and SLA is the one with the highest `cycle`."""

    __tablename__ = "fd_sla_cycles"
    __table_args__ = (
        sa.UniqueConstraint("app", "entity", "record_id", "sla", "cycle"),
        sa.Index("ix_fd_sla_cycles_due", "app", "entity", "sla", "due_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    app: Mapped[str] = mapped_column(sa.String(64))
    entity: Mapped[str] = mapped_column(sa.String(64))
    record_id: Mapped[int] = mapped_column(sa.BigInteger)
    sla: Mapped[str] = mapped_column(sa.String(64))
    cycle: Mapped[int] = mapped_column(sa.Integer, default=1)
    version: Mapped[int] = mapped_column(sa.Integer)
    goal: Mapped[Any] = mapped_column(JSONType)
    goal_seconds: Mapped[int] = mapped_column(sa.BigInteger)
    calendar: Mapped[str | None] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    running_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    used_seconds: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    warn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    warned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    breached_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    stopped_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
