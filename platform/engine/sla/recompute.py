"""Due and warning moments of running SLA cycles worked out again after a business calendar
changed (`calendar_changes.py` runs this in the `calendars.recompute` job).

Set-based: one query reads the running cycles counted on the changed calendars, cycles that
share a calendar, a running stretch start, the time used, the goal and the warning threshold
are worked out once (a cycle's moments depend on nothing else), and only the rows whose
moments moved are written in batches. The rows are read locked (FOR UPDATE on PostgreSQL; on
SQLite the job's transaction holds the write lock from its start), so no record save can
pause, stop or re-goal a cycle between the read and the write. The new moments get new
timer jobs (their keys hold the moment); the old jobs stay queued and do nothing when they
run, because marking is `... WHERE due_at = :moment` (`sla/timers.py`).

Only working-time goals move; `goal_seconds` stays as it was set when the cycle started (a
`working_days` goal was turned into seconds then), and so does the time already used.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import time
from collections.abc import Collection, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import models
from flowdeck.engine.calendars import arithmetic
from flowdeck.engine.calendars.book import CalendarBook
from flowdeck.engine.calendars.model import Calendar, CalendarError
from flowdeck.engine.calendars.timeline import Timeline
from flowdeck.engine.sla.clocks import warning_seconds
from flowdeck.engine.sla.status import is_working_goal
from flowdeck.engine.sla.timers import JOB, job_key
from flowdeck.engine.timers import arm_bulk

C = models.sla_cycles
WRITE_BATCH = 5000
TIMELINE_DAYS = dt.timedelta(days=400)
"""How far past the latest running stretch start the timeline reaches (longer goals walk days)."""
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


class _Adder:
    """Working time added on one calendar: through its timeline over the cycles' days, by
    walking days (`arithmetic`) where the timeline ends."""

    def __init__(self, cal: Calendar, moments: list[dt.datetime]) -> None:
        self.cal = cal
        first, last = (arithmetic.local_day(cal, m) for m in (min(moments), max(moments)))
        self.timeline = Timeline(cal, first - arithmetic.ONE_DAY, last + TIMELINE_DAYS)

    def moments(self, since: dt.datetime, goal_secs: int, used: int, warning: int) -> tuple[dt.datetime, dt.datetime]:
        amounts = (goal_secs - used, warning_seconds(goal_secs, warning) - used)
        due, warn = (
            found if found is not None else arithmetic.add_working_time(self.cal, since, dt.timedelta(seconds=seconds))
            for found, seconds in zip(self.timeline.add_each(since, amounts), amounts, strict=True)
        )
        return due, warn


def _by_calendar(rows: list[Any], book: CalendarBook) -> dict[str, list[Any]]:
    """The cycles with working goals, per calendar they count on."""
    found: dict[str, list[Any]] = {}
    for row in rows:
        if is_working_goal(row.goal):
            found.setdefault(row.calendar if row.calendar in book.calendars else book.default_key, []).append(row)
    return found


def _jobs(row: Any, due: dt.datetime, warn: dt.datetime) -> list[tuple[str, dict[str, Any], dt.datetime]]:
    """Timer jobs for the moments of a cycle that moved and are not marked yet."""
    moments = (("breach", due, row.due_at, row.breached_at), ("warning", warn, row.warn_at, row.warned_at))
    return [
        (job_key(row.id, what, row.running_since, moment), {"cycle": row.id, "what": what, "at": moment.isoformat()}, moment)
        for what, moment, before, marked in moments
        if moment != before and marked is None
    ]


def _write(conn: Connection, moved: list[tuple[int, dt.datetime, dt.datetime]]) -> None:
    """The new moments, by cycle id: on PostgreSQL `UPDATE ... FROM json_to_recordset(:rows)`
    per batch, the rows as one JSON text (adapting arrays of datetimes cost more than the
    update); on SQLite one prepared UPDATE run over the rows by the driver."""
    for start in range(0, len(moved), WRITE_BATCH):
        part = moved[start : start + WRITE_BATCH]
        if conn.dialect.name == "postgresql":
            conn.execute(
                sa.text(
                    f"UPDATE {C.name} AS c SET due_at = t.d, warn_at = t.w"
                    " FROM json_to_recordset(CAST(:rows AS json)) AS t(i bigint, d timestamptz, w timestamptz) WHERE c.id = t.i"
                ),
                {"rows": json.dumps([{"i": i, "d": d.isoformat(), "w": w.isoformat()} for i, d, w in part])},
            )
        else:
            statement = (
                C.update().where(C.c.id == sa.bindparam("b_id")).values(due_at=sa.bindparam("b_due"), warn_at=sa.bindparam("b_warn"))
            )
            conn.execute(statement, [{"b_id": i, "b_due": d, "b_warn": w} for i, d, w in part])


def recompute_cycles(
    conn: Connection, book: CalendarBook, keys: Collection[str], default_changed: bool, warnings: Warnings
) -> dict[str, Any]:
    """Work out the moments of every running cycle on the changed calendars again; write and
    arm those that moved. Returns counts (read, groups, moved, jobs, unknown: moments the
    calendar cannot say, left as they were) and the seconds each phase took."""
    clock = [time.perf_counter()]
    columns = (C.c.id, C.c.app, C.c.entity, C.c.sla, C.c.goal, C.c.goal_seconds, C.c.calendar, C.c.running_since,
               C.c.used_seconds, C.c.due_at, C.c.warn_at, C.c.warned_at, C.c.breached_at)  # fmt: skip
    query = sa.select(*columns).where(_selection(book, keys, default_changed)).order_by(C.c.id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()  # a record save changing a cycle waits (SQLite: the job holds the write lock)
    rows = conn.execute(query).all()
    clock.append(time.perf_counter())
    cache: dict[tuple[Any, ...], tuple[dt.datetime, dt.datetime] | None] = {}
    moved: list[tuple[int, dt.datetime, dt.datetime]] = []
    jobs: list[tuple[str, dict[str, Any], dt.datetime]] = []
    unknown = 0
    for cal_key, cycles in _by_calendar(rows, book).items():
        adder = _Adder(book.calendars[cal_key], [row.running_since for row in cycles])
        for row in cycles:
            group = (cal_key, row.running_since, int(row.goal_seconds), int(row.used_seconds),
                     warnings.get((row.app, row.entity, row.sla), DEFAULT_WARNING))  # fmt: skip
            if group not in cache:
                try:
                    cache[group] = adder.moments(*group[1:])
                except CalendarError:
                    cache[group] = None
            found = cache[group]
            if found is None:
                unknown += 1
            elif found != (row.due_at, row.warn_at):
                due, warn = found
                moved.append((row.id, due, warn))
                jobs.extend(_jobs(row, due, warn))
    clock.append(time.perf_counter())
    _write(conn, moved)
    clock.append(time.perf_counter())
    armed = arm_bulk(conn, JOB, jobs)
    clock.append(time.perf_counter())
    phases = dict(zip(("read_s", "compute_s", "write_s", "arm_s"), (round(b - a, 3) for a, b in itertools.pairwise(clock)), strict=True))
    return {"read": len(rows), "groups": len(cache), "moved": len(moved), "jobs": armed, "unknown": unknown, **phases}
