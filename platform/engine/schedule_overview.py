"""What the admin's Schedules page shows: every time-driven thing of an app (its
`schedules` and its scheduled automations), each with its recurrence in words, the
business calendar that decides its working days, its next occurrences, the one armed as a
job, its last runs with their status, and the occurrences failing and waiting for a retry;
then the next reminders armed on the app's records.

Occurrences come from the same `Recurrence.after` the arming uses (skip, forward and back
applied through `recurrence.working_day`), so the page cannot disagree with what will run.
Runs are the rows of `fd_schedule_runs` (a scheduled rule's under `automation:{rule}`),
each with its `note` (`schedules.read_note`: the failure and the skipped records, as messages);
what is armed or retrying is read from the job queue by the keys the two job kinds use.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import clock, models, reminders, schedules
from flowdeck.engine.automations import scheduled
from flowdeck.engine.automations.triggers import Every
from flowdeck.engine.calendars import book
from flowdeck.engine.messages import Message
from flowdeck.engine.recurrence import Recurrence
from flowdeck.engine.recurrence_words import describe, non_working_day_policy
from flowdeck.engine.schema.label import Label
from flowdeck.engine.schema.model import App

R = models.schedule_runs
J = models.jobs
STATUSES = ("done", "skipped", "needs_attention", "running")
SCHEDULE, AUTOMATION = "schedule", "automation"


@dataclass(frozen=True)
class Timed:
    """One schedule or scheduled automation as the page shows it."""

    kind: str
    """`schedule` or `automation`."""
    key: str
    label: Label
    recurrence: Recurrence
    words: Message
    policy: Message
    """What an occurrence on a non-working day does."""
    enabled: bool
    upcoming: list[dt.datetime]
    armed: dt.datetime | None
    """The occurrence whose job is queued (None: none armed yet, e.g. before the worker's first pass)."""
    runs: list[dict[str, Any]]
    counts: dict[str, int]
    """Runs by status, all of them (not only the last ones shown)."""
    retrying: list[dict[str, Any]]
    """Occurrences whose job failed and waits for its next attempt (time, attempts, error)."""
    entity: str | None = None

    @property
    def attention(self) -> bool:
        """Whether the newest run needs attention or an occurrence is failing now."""
        return bool(self.retrying) or bool(self.runs and self.runs[0]["status"] == "needs_attention")


@dataclass(frozen=True)
class ArmedReminder:
    """A reminder job waiting for its moment."""

    at: dt.datetime
    entity: str
    record_id: int
    reminder: str


@dataclass(frozen=True)
class Overview:
    calendar: Label
    calendar_key: str
    zone: str
    items: list[Timed] = field(default_factory=list)
    reminders: list[ArmedReminder] = field(default_factory=list)


def _runs(conn: Connection, app: str, name: str, limit: int) -> tuple[list[dict[str, Any]], dict[str, int]]:
    where = (R.c.app == app) & (R.c.schedule == name)
    rows = [
        {**r, "note": schedules.read_note(r["error"])}
        for r in conn.execute(sa.select(R).where(where).order_by(R.c.id.desc()).limit(limit)).mappings()
    ]
    counts = {str(s): int(n) for s, n in conn.execute(sa.select(R.c.status, sa.func.count()).where(where).group_by(R.c.status))}
    return rows, counts


def _queued(conn: Connection, prefix: str) -> tuple[dt.datetime | None, list[dict[str, Any]]]:
    """The occurrence armed and not tried yet, and those retrying, of the jobs keyed `prefix...`."""
    rows = conn.execute(
        sa.select(J.c.payload, J.c.attempts, J.c.max_attempts, J.c.run_at, J.c.last_error)
        .where(J.c.dedupe_key.startswith(prefix, autoescape=True) & (J.c.status == "queued"))
        .order_by(J.c.run_at)
    ).mappings()
    armed: dt.datetime | None = None
    retrying = []
    for row in rows:
        moment = dt.datetime.fromisoformat(row["payload"]["at"])
        if row["attempts"] > 0:
            retrying.append({**dict(row), "occurrence_at": moment})
        elif armed is None:
            armed = moment
    return armed, retrying


def _timed(
    conn: Connection, app: App, kind: str, key: str, label: Label, recurrence: Recurrence, *,
    now: dt.datetime, upcoming: int, runs: int, enabled: bool = True, entity: str | None = None,
) -> Timed:  # fmt: skip
    name, prefix = (key, f"sched:{app.key}:{key}:") if kind == SCHEDULE else (scheduled.lock_name(key), f"auto:{app.key}:{key}:")
    shown, counts = _runs(conn, app.key, name, runs)
    armed, retrying = _queued(conn, prefix)
    ahead = recurrence.after(now, upcoming) if enabled else []
    return Timed(
        kind, key, label, recurrence, describe(recurrence), non_working_day_policy(recurrence), enabled, ahead, armed, shown, counts,
        retrying, entity,
    )  # fmt: skip


def armed_reminders(conn: Connection, app: str, *, limit: int) -> list[ArmedReminder]:
    """The next reminder jobs of the app's records (a job whose record's date has changed
    since is listed too: when due it finds its moment gone and sends nothing)."""
    rows = conn.execute(
        sa.select(J.c.payload, J.c.run_at)
        .where((J.c.kind == reminders.JOB) & (J.c.status == "queued") & J.c.dedupe_key.startswith(f"rem:{app}:", autoescape=True))
        .order_by(J.c.run_at)
        .limit(limit)
    ).mappings()
    return [
        ArmedReminder(r["run_at"], str(r["payload"]["entity"]), int(r["payload"]["record"]), str(r["payload"]["reminder"])) for r in rows
    ]


def overview(conn: Connection, app: App, *, now: dt.datetime, upcoming: int = 7, runs: int = 10, reminders_shown: int = 10) -> Overview:
    """The app's schedules, then its scheduled automations (in document order), each with its
    next `upcoming` occurrences after `now` and its last `runs` runs (newest first)."""
    items = [_timed(conn, app, SCHEDULE, s.key, s.label, s.recurrence, now=now, upcoming=upcoming, runs=runs) for s in app.schedules]
    for rule in app.automations:
        if rule.trigger == scheduled.TRIGGER and isinstance(rule.trigger_settings, Every):
            every: Every = rule.trigger_settings
            items.append(
                _timed(conn, app, AUTOMATION, rule.key, rule.label, every.recurrence, now=now, upcoming=upcoming, runs=runs,
                       enabled=rule.enabled, entity=rule.entity)
            )  # fmt: skip
    calendar = book.current().default
    return Overview(calendar.name, calendar.key, clock.zone().key, items, armed_reminders(conn, app.key, limit=reminders_shown))
