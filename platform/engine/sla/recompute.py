"""Due and warning moments of running SLA cycles worked out again after a business calendar
changed (`calendar_changes.py` runs this in the `calendars.recompute` job).

Set-based: one query reads the running cycles counted on the changed calendars, cycles that
share a calendar, a running stretch start, the time used, the goal and the warning threshold
are worked out once (a cycle's moments depend on nothing else), and only the rows whose
moments moved are written, in batches of one prepared UPDATE each. The UPDATE is guarded by
the columns the moments came from, so a cycle a record save paused, stopped or re-goaled
meanwhile keeps what that save wrote. The new moments get new timer jobs (their keys hold
the moment); the old jobs stay queued and do nothing when they run, because marking is
`... WHERE due_at = :moment` (`sla/timers.py`).

Only working-time goals move; `goal_seconds` stays as it was set when the cycle started (a
`working_days` goal was turned into seconds then), and so does the time already used.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import models
from flowdeck.engine.calendars import arithmetic
from flowdeck.engine.calendars.book import CalendarBook
from flowdeck.engine.calendars.model import Calendar, CalendarError
from flowdeck.engine.sla.clocks import warning_seconds
from flowdeck.engine.sla.status import is_working_goal
from flowdeck.engine.sla.timers import JOB, job_key
from flowdeck.engine.timers import arm

C = models.sla_cycles
WRITE_BATCH = 5000
DEFAULT_WARNING = 75
Warnings = Mapping[tuple[str, str, str], int]
"""(app, entity, sla key) -> the definition's warning threshold in per cent."""


def affected(calendar: str | None, book: CalendarBook, keys: Collection[str], default_changed: bool) -> bool:
    """Whether a cycle naming `calendar` counts on one of the changed calendars: its own, or
    the default when it names none (or a calendar since deleted)."""
    if calendar is not None and calendar in book.calendars:
        return calendar in keys
    return default_changed or book.default_key in keys


def _selection(book: CalendarBook, keys: Collection[str], default_changed: bool) -> Any:
    named = C.c.calendar.in_(sorted(keys))
    if default_changed or book.default_key in keys:
        named = sa.or_(named, C.c.calendar.is_(None), C.c.calendar.not_in(sorted(book.calendars)))
    return sa.and_(C.c.status == "running", C.c.running_since.is_not(None), named)


def _moments(cal: Calendar, since: dt.datetime, goal_secs: int, used: int, warning: int) -> tuple[dt.datetime, dt.datetime]:
    due = arithmetic.add_working_time(cal, since, dt.timedelta(seconds=goal_secs - used))
    warn = arithmetic.add_working_time(cal, since, dt.timedelta(seconds=warning_seconds(goal_secs, warning) - used))
    return due, warn


def recompute_cycles(
    conn: Connection, book: CalendarBook, keys: Collection[str], default_changed: bool, warnings: Warnings
) -> dict[str, int]:
    """Work out the moments of every running cycle on the changed calendars again; write and
    arm those that moved. Returns counts (read, groups, moved, jobs, unknown: moments the
    calendar cannot say, left as they were)."""
    columns = (C.c.id, C.c.app, C.c.entity, C.c.sla, C.c.goal, C.c.goal_seconds, C.c.calendar, C.c.running_since,
               C.c.used_seconds, C.c.due_at, C.c.warn_at, C.c.warned_at, C.c.breached_at)  # fmt: skip
    rows = conn.execute(sa.select(*columns).where(_selection(book, keys, default_changed)).order_by(C.c.id)).all()
    cache: dict[tuple[Any, ...], tuple[dt.datetime, dt.datetime] | None] = {}
    moved: list[dict[str, Any]] = []
    jobs: list[tuple[str, dict[str, Any], dt.datetime]] = []
    unknown = 0
    for row in rows:
        if not is_working_goal(row.goal):
            continue
        cal_key = row.calendar if row.calendar in book.calendars else book.default_key
        warning = warnings.get((row.app, row.entity, row.sla), DEFAULT_WARNING)
        group = (cal_key, row.running_since, int(row.goal_seconds), int(row.used_seconds), warning)
        if group not in cache:
            try:
                cache[group] = _moments(book.calendars[cal_key], row.running_since, *group[2:])
            except CalendarError:
                cache[group] = None
        found = cache[group]
        if found is None:
            unknown += 1
            continue
        due, warn = found
        if due == row.due_at and warn == row.warn_at:
            continue
        moved.append({"b_id": row.id, "b_since": row.running_since, "b_used": row.used_seconds, "b_goal": row.goal_seconds,
                      "b_due": due, "b_warn": warn})  # fmt: skip
        if row.breached_at is None:
            jobs.append(
                (job_key(row.id, "breach", row.running_since, due), {"cycle": row.id, "what": "breach", "at": due.isoformat()}, due)
            )
        if row.warned_at is None:
            jobs.append(
                (job_key(row.id, "warning", row.running_since, warn), {"cycle": row.id, "what": "warning", "at": warn.isoformat()}, warn)
            )
    statement = (
        C.update()
        .where(C.c.id == sa.bindparam("b_id"), C.c.status == "running", C.c.running_since == sa.bindparam("b_since"),
               C.c.used_seconds == sa.bindparam("b_used"), C.c.goal_seconds == sa.bindparam("b_goal"))
        .values(due_at=sa.bindparam("b_due"), warn_at=sa.bindparam("b_warn"))
    )  # fmt: skip
    for start in range(0, len(moved), WRITE_BATCH):
        conn.execute(statement, moved[start : start + WRITE_BATCH])
    armed = arm(conn, JOB, jobs)
    return {"read": len(rows), "groups": len(cache), "moved": len(moved), "jobs": armed, "unknown": unknown}
