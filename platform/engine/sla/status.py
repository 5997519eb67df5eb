"""What the SLA clocks of a page of records say now: the read API of lists, boards and the
record page (`views` and the `sla` field type read here, never the cycle rows themselves).

A cycle row holds the working seconds used before its current running stretch; the elapsed
time up to `now` is that plus the working time since `running_since` on the goal's calendar,
so nothing has to be written for the clock to move. One statement per page of records.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import models
from flowdeck.engine.calendars import arithmetic, book
from flowdeck.engine.calendars.model import Calendar, CalendarError
from flowdeck.engine.durations import SECONDS
from flowdeck.engine.schema.label import Label
from flowdeck.engine.schema.model import Entity
from flowdeck.engine.sla.measures import DURATIONS

C = models.sla_cycles


@dataclass(frozen=True)
class SlaStatus:
    sla: str
    label: Label
    status: str
    due_at: dt.datetime | None
    elapsed_seconds: int
    goal_seconds: int
    remaining_seconds: int
    warned: bool
    breached: bool
    tone: str
    goal: Mapping[str, Any] | None = None
    """The goal as the document gave it (`{"working_days": 2, "calendar": "cn"}`), kept by the
    cycle: what people are shown, since a goal in working days has no fixed length in hours."""


def calendar_named(key: str | None) -> Calendar:
    """The calendar a cycle counts on (its own, else the instance default when it was removed)."""
    current = book.current()
    try:
        return current.get(key)
    except CalendarError:
        return current.default


def is_working_goal(goal: Mapping[str, Any]) -> bool:
    """Whether a goal counts working time (else wall-clock time)."""
    return any(key.startswith("working_") for key in goal if key in SECONDS)


def elapsed_between(goal: Mapping[str, Any], calendar: str | None, start: dt.datetime, end: dt.datetime) -> int:
    """The seconds a goal counts from `start` to `end`: working time on the calendar for a
    working goal, wall-clock time otherwise."""
    if end <= start:
        return 0
    if not is_working_goal(goal):
        return int((end - start).total_seconds())
    return int(arithmetic.working_time_between(calendar_named(calendar), start, end).total_seconds())


def elapsed_of(row: Any, now: dt.datetime) -> int:
    """Working seconds a cycle row has used up to `now`."""
    used = int(row.used_seconds)
    if row.status == "running" and row.running_since is not None:
        used += elapsed_between(row.goal, row.calendar, row.running_since, now)
    return used


def status_of(row: Any, label: Label, now: dt.datetime, warning: int = 75) -> SlaStatus:
    """The status of one cycle row at `now` (a cycle past its warning threshold or goal
    counts as warned or breached before its job has run, so a lagging worker never shows it
    green)."""
    elapsed = elapsed_of(row, now)
    goal = int(row.goal_seconds)
    breached = row.breached_at is not None or elapsed >= goal
    # a running cycle is warned from `warn_at` on, the moment its warning job is due (`storage/sla_sql.py` says the same)
    reached = row.status == "running" and row.warn_at is not None and row.warn_at <= now
    warned = breached or row.warned_at is not None or reached or elapsed * 100 >= goal * warning
    status = ("breached" if breached else "met") if row.status == "stopped" else row.status
    tone = "grey" if status == "met" else "red" if breached else "amber" if warned else "green"
    due = row.due_at if row.status == "running" else None
    return SlaStatus(row.sla, label, status, due, elapsed, goal, goal - elapsed, warned, breached, tone, row.goal)


def current_cycles(entity: Entity, record_ids: Sequence[int]) -> sa.Select:
    """The current (highest) cycle of each SLA of the records: one statement."""
    inner = C.alias("later")
    latest = (
        sa.select(sa.func.max(inner.c.cycle))
        .where(inner.c.app == C.c.app, inner.c.entity == C.c.entity, inner.c.record_id == C.c.record_id, inner.c.sla == C.c.sla)
        .scalar_subquery()
    )
    return sa.select(C).where(
        C.c.app == entity.app,
        C.c.entity == entity.key,
        C.c.record_id.in_(list(record_ids)),
        C.c.sla.in_([s.key for s in entity.slas]),
        C.c.cycle == latest,
    )


def statuses(conn: Connection, entity: Entity, record_ids: Sequence[int], now: dt.datetime) -> dict[int, tuple[SlaStatus, ...]]:
    """The current cycle of each SLA of each record (records without a cycle are absent); one statement."""
    if not record_ids or not entity.slas:
        return {}
    order = {s.key: index for index, s in enumerate(entity.slas)}
    labels = {s.key: s.label for s in entity.slas}
    warnings = {s.key: s.warning for s in entity.slas}
    found: dict[int, list[Any]] = {}
    for row in conn.execute(current_cycles(entity, record_ids)):
        found.setdefault(int(row.record_id), []).append(row)
    return {
        record_id: tuple(status_of(row, labels[row.sla], now, warnings[row.sla]) for row in sorted(rows, key=lambda r: order[r.sla]))
        for record_id, rows in found.items()
    }


def fill_running(conn: Connection, entity: Entity, rows: Mapping[int, MutableMapping[str, Any]], now: dt.datetime) -> None:
    """Put the `remaining` and `elapsed` seconds of running cycles into rows read by SQL
    (record id -> values): SQL reads a held cycle's but cannot count working time on a
    calendar (`storage/sla_sql.py`). One statement for the rows, none without such fields."""
    counted = [f for f in entity.fields if f.sla is not None and f.measure in DURATIONS]
    wanted = [f for f in counted if any(f.key in row for row in rows.values())]
    if not wanted:
        return
    found = statuses(conn, entity, list(rows), now)
    for record_id, row in rows.items():
        by_sla = {st.sla: st for st in found.get(record_id, ())}
        for fld in wanted:
            st = by_sla.get(fld.sla or "")
            if fld.key in row and st is not None:
                row[fld.key] = st.remaining_seconds if fld.measure == "remaining" else st.elapsed_seconds
