"""The SQL of `sla` fields: a fact of the record's current cycle of one SLA (the cycle with
the highest number), as one correlated scalar subquery on `fd_sla_cycles`.

Like a live lookup's, the subquery is a column of the statement that reads a list or a record
(`EntityTables.lookups`), so a list sorts and filters in SQL and the page is read in one
statement. The index (app, entity, sla, due_at) serves a filter such as "due within the
hour"; the unique (app, entity, record_id, sla, cycle) one serves the read per row.

Every measure is worked out at the moment the statement runs (the bind parameter `sla_now`
reads `clock.now()` then), as `sla.status.status_of` does, so a list never shows a running
cycle past its due time as in time because its timer job has not run yet:

- breached: marked, or the time used reached the goal, or running and `due_at <= now`
  (`due_at` is the moment the goal's time runs out, on the cycle's own calendar);
- warned: breached, marked, or running and `warn_at <= now`, or held past the threshold;
- status: met / breached / paused / running from those;
- remaining, elapsed of a held (paused, stopped) cycle: `goal - used`, `used`. A running
  cycle's are counted on its calendar in Python (`fill_running`): SQL has no calendar.

A filter on `remaining` is still exact in SQL: for a running cycle, "at most X seconds of
working time left" is "due at or before add_working_time(now, X)" on the cycle's calendar
(a due time always ends a stretch of working time, never falls inside a gap), so the
threshold is worked out once per calendar in Python and compared with `due_at`
(`remaining_clause`). Sorting by `remaining` puts running cycles first, by due time (exact
among cycles sharing a calendar), then held ones by the time they have left (two subqueries
per row, empty ones last either way). `elapsed` of a
running cycle is the goal minus that, a different amount per cycle: no exact comparison
exists, so it filters by `empty` only (`sla/measures.py`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from flowdeck.engine import clock, models
from flowdeck.engine.calendars import book
from flowdeck.engine.calendars.model import CalendarError
from flowdeck.engine.sla.clocks import moment_after
from flowdeck.engine.sqltypes import UTCDateTime

if TYPE_CHECKING:
    from flowdeck.engine.schema.model import Entity, Field
    from flowdeck.engine.storage.tables import AppTables

C = models.sla_cycles
Clause = Callable[[str, Any], sa.ColumnElement[bool]]


def _now() -> sa.BindParameter[Any]:
    """The moment a statement runs, read from the engine's clock at each execution."""
    return sa.bindparam("sla_now", callable_=clock.now, type_=UTCDateTime())


def _is_breached(cur: sa.Alias, now: sa.BindParameter[Any]) -> sa.ColumnElement[bool]:
    running = cur.c.status == "running"
    return sa.or_(cur.c.breached_at.is_not(None), cur.c.used_seconds >= cur.c.goal_seconds, sa.and_(running, cur.c.due_at <= now))


def _is_warned(cur: sa.Alias, now: sa.BindParameter[Any], warning: int) -> sa.ColumnElement[bool]:
    running = cur.c.status == "running"
    return sa.or_(
        _is_breached(cur, now),
        cur.c.warned_at.is_not(None),
        sa.and_(running, cur.c.warn_at <= now),
        cur.c.used_seconds * 100 >= cur.c.goal_seconds * warning,
    )


def _flag(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
    return sa.type_coerce(sa.case((condition, sa.true()), else_=sa.false()), sa.Boolean())


def _measure(cur: sa.Alias, measure: str, warning: int) -> sa.ColumnElement[Any]:
    """The value of `measure` for the cycle row `cur` (NULL where Python counts it)."""
    now = _now()
    running = cur.c.status == "running"
    if measure == "status":
        breached = _is_breached(cur, now)
        return sa.case(
            (sa.and_(cur.c.status == "stopped", sa.not_(breached)), "met"),
            (breached, "breached"),
            (cur.c.status == "paused", "paused"),
            else_="running",
        )
    if measure == "breached":
        return _flag(_is_breached(cur, now))
    if measure == "warned":
        return _flag(_is_warned(cur, now, warning))
    if measure == "remaining":
        return sa.case((running, sa.null()), else_=cur.c.goal_seconds - cur.c.used_seconds)
    if measure == "elapsed":
        return sa.case((running, sa.null()), else_=cur.c.used_seconds)
    return cur.c.due_at


def _current(app: str, entity: str, sla: str, record_id: sa.ColumnElement[Any]) -> tuple[sa.Alias, sa.ColumnElement[bool]]:
    """The cycle alias and the condition making it the record's current cycle of `sla`."""
    cur = C.alias("sla_cur")
    later = C.alias("sla_later")
    newer = sa.exists().where(
        later.c.app == cur.c.app, later.c.entity == cur.c.entity, later.c.record_id == cur.c.record_id,
        later.c.sla == cur.c.sla, later.c.cycle > cur.c.cycle,
    )  # fmt: skip
    return cur, sa.and_(cur.c.app == app, cur.c.entity == entity, cur.c.sla == sla, cur.c.record_id == record_id, ~newer)


def measure_value(app: str, entity: str, sla: str, measure: str, warning: int, record_id: sa.ColumnElement[Any]) -> sa.ScalarSelect[Any]:
    """The current cycle's `measure` of `sla` for the record whose id is `record_id`."""
    current = C.alias("sla_cur")
    return (
        sa.select(_measure(current, measure, warning))
        .where(current.c.app == app, current.c.entity == entity, current.c.sla == sla, current.c.record_id == record_id)
        .order_by(current.c.cycle.desc())
        .limit(1)
        .correlate_except(current)
        .scalar_subquery()
    )


def thresholds(seconds: int, now: dt.datetime) -> tuple[dict[str | None, dt.datetime | None], dt.datetime]:
    """The due time a running cycle with `seconds` left at `now` has: per calendar key (None:
    the default; a calendar without working time has none), and for a wall-clock goal."""
    current = book.current()
    found: dict[str | None, dt.datetime | None] = {}
    for key in (None, *current.calendars):
        try:
            found[key] = moment_after({"working_hours": 1}, key, now, seconds)
        except CalendarError:
            found[key] = None
    return found, now + dt.timedelta(seconds=seconds)


def _threshold(cur: sa.Alias, seconds: int) -> sa.ColumnElement[Any]:
    """The due time at which a running cycle `cur` has exactly `seconds` left now."""
    by_calendar, wall = thresholds(seconds, clock.now())
    known = [(cur.c.calendar == key, moment) for key, moment in by_calendar.items() if key is not None]
    working = sa.case(*known, else_=sa.literal(by_calendar[None], UTCDateTime())) if known else sa.literal(by_calendar[None], UTCDateTime())
    is_working = sa.cast(cur.c.goal, sa.Text).like('%"working\\_%', escape="\\")
    return sa.case((is_working, working), else_=sa.literal(wall, UTCDateTime()))


_COMPARE = {
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
}


def remaining_clause(app: str, entity: str, sla: str, record_id: sa.ColumnElement[Any]) -> Clause:
    """A filter on the working seconds left, exact at the moment of the query: a running
    cycle's due time against the threshold of its calendar, a held cycle's `goal - used`."""

    def clause(op: str, value: Any) -> sa.ColumnElement[bool]:
        cur, current = _current(app, entity, sla, record_id)
        if op == "empty":
            found = sa.exists().where(current)
            return ~found if value else found
        compare = _COMPARE[op]
        running = cur.c.status == "running"
        held = compare(cur.c.goal_seconds - cur.c.used_seconds, int(value))
        ticking = compare(cur.c.due_at, _threshold(cur, int(value)))
        return sa.exists().where(current, sa.or_(sa.and_(running, ticking), sa.and_(~running, held)))

    return clause


def empty_clause(app: str, entity: str, sla: str, record_id: sa.ColumnElement[Any]) -> Clause:
    """`empty` on a measure SQL does not hold for every cycle (`elapsed`): no current cycle."""

    def clause(op: str, value: Any) -> sa.ColumnElement[bool]:
        _, current = _current(app, entity, sla, record_id)
        found = sa.exists().where(current)
        return ~found if value else found

    return clause


def remaining_order(app: str, entity: str, sla: str, record_id: sa.ColumnElement[Any]) -> tuple[sa.ColumnElement[Any], ...]:
    """Sort keys of `remaining`: the due time (running cycles only), then a held cycle's time
    left; lists put empty keys last, so running cycles come first, records without a cycle last."""
    return measure_value(app, entity, sla, "due", 0, record_id), measure_value(app, entity, sla, "remaining", 0, record_id)


def _warning(entity: Entity, fld: Field) -> int:
    return next((s.warning for s in entity.slas if s.key == fld.sla), 75)


def attach_slas(tables: AppTables) -> None:
    """Give each entity's tables the expression of each of its `sla` fields (and, for the
    measures a plain comparison of that expression would get wrong, their filter and sort)."""
    for et in tables.entities.values():
        app, key = et.entity.app, et.entity.key
        for fld in et.entity.fields:
            if fld.sla is None:
                continue
            et.lookups[fld.key] = measure_value(app, key, fld.sla, fld.measure, _warning(et.entity, fld), et.table.c.id)
            if fld.measure == "remaining":
                et.clauses[fld.key] = remaining_clause(app, key, fld.sla, et.table.c.id)
                et.orders[fld.key] = remaining_order(app, key, fld.sla, et.table.c.id)
            elif fld.measure == "elapsed":
                et.clauses[fld.key] = empty_clause(app, key, fld.sla, et.table.c.id)
