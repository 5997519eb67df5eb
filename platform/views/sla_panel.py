"""The record page's SLA panel: each SLA's current cycle with its goal, due time, working
time used and left, running or paused, warned or breached, and the calendar it counts on.

The statuses come from the engine (`engine.sla.status`, one statement); the calendars the
cycles count on are read with one more, only for a record that has cycles."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from markupsafe import Markup
from sqlalchemy.engine import Connection

from flowdeck.engine import models
from flowdeck.engine.durations import SECONDS, duration_of, duration_words
from flowdeck.engine.sla.status import SlaStatus, calendar_named
from flowdeck.engine.storage.tables import EntityTables
from flowdeck.views.i18n import say, tr
from flowdeck.views.sla_badges import badge, status_name, working_time


@dataclass(frozen=True)
class SlaRow:
    """One SLA as the panel shows it."""

    label: str
    badge: Markup
    state: str
    goal: str
    due_at: dt.datetime | None
    elapsed: str
    remaining: str
    calendar: str


def _calendars(conn: Connection, et: EntityTables, record_id: int) -> dict[str, str | None]:
    """The calendar key of each SLA's current cycle of the record (None: the default one)."""
    c = models.sla_cycles
    rows = conn.execute(
        sa.select(c.c.sla, c.c.calendar)
        .where(c.c.app == et.entity.app, c.c.entity == et.entity.key, c.c.record_id == record_id)
        .order_by(c.c.sla, c.c.cycle)
    )
    return {sla: calendar for sla, calendar in rows}  # the highest cycle is read last


def _calendar_name(key: str | None) -> str:
    return tr(calendar_named(key).name)


def _goal(st: SlaStatus) -> str:
    """The goal in the unit the document gave it ("2 working days", "4 working hours"); a
    cycle without its goal kept reads as the working time it counts."""
    if isinstance(st.goal, dict) and any(key in SECONDS for key in st.goal):
        return say(duration_words(duration_of(st.goal)))
    return working_time(st.goal_seconds)


def _row(st: SlaStatus, calendar: str | None) -> SlaRow:
    # a met clock has nothing left to run: its leftover goal would read as time still to go
    left = working_time(st.remaining_seconds) if st.remaining_seconds > 0 and st.status != "met" else "—"
    return SlaRow(
        label=tr(st.label),
        badge=badge(st, named=False),
        state=status_name(st),
        goal=_goal(st),
        due_at=st.due_at,
        elapsed=working_time(st.elapsed_seconds),
        remaining=left,
        calendar=_calendar_name(calendar),
    )


def record_slas(conn: Connection, et: EntityTables, record_id: int, found: Sequence[SlaStatus]) -> Sequence[SlaRow]:
    """The panel's rows for the record's statuses `found` (no statement when it has none)."""
    if not found:
        return ()
    calendars = _calendars(conn, et, record_id)
    return tuple(_row(st, calendars.get(st.sla)) for st in found)
