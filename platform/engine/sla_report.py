"""The SLA report: cycles met and breached per period (week or month in the instance time
zone), optionally per value of one field of the record (a priority, an assignee), with the
share met. One grouped statement on the database, whatever the number of cycles.

A cycle counts once it has an outcome: *breached* when its breach was recorded (or it stopped
past its goal), in the period of its breach; *met* when it stopped within its goal, in the
period it stopped. Running cycles within their goal are not counted yet. Periods are cut in
Python (the instance zone's midnights) and found in SQL by a CASE on the moment, so both
databases count the same. Only a reader of the entity gets a report, and a field hidden from
them in a record's state groups that record under no value (the report tells nothing more
than their lists do).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import clock, models
from flowdeck.engine.errors import NotFound
from flowdeck.engine.fieldtypes import LANE_TYPES
from flowdeck.engine.messages import M
from flowdeck.engine.permissions import Actor, hidden_states, require
from flowdeck.engine.query import sort_visible
from flowdeck.engine.storage.tables import EntityTables

PERIODS = ("week", "month")
MAX_PERIODS = 106
"""Two years of weeks: a wider range is cut to its last periods."""
C = models.sla_cycles


@dataclass(frozen=True)
class ReportRow:
    """Counts of one period and one value of the grouping field (None: no value)."""

    period: dt.date
    value: Any
    met: int
    breached: int

    @property
    def total(self) -> int:
        return self.met + self.breached

    @property
    def met_percent(self) -> float:
        return 100.0 * self.met / self.total if self.total else 0.0


@dataclass(frozen=True)
class Report:
    sla: str
    period: str
    by: str | None
    starts: tuple[dt.date, ...]
    rows: tuple[ReportRow, ...]


def period_start(day: dt.date, period: str) -> dt.date:
    """The first day of the week (Monday) or month holding `day`."""
    return day - dt.timedelta(days=day.weekday()) if period == "week" else day.replace(day=1)


def _next(start: dt.date, period: str) -> dt.date:
    if period == "week":
        return start + dt.timedelta(days=7)
    return (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def period_starts(first: dt.date, last: dt.date, period: str) -> list[dt.date]:
    """The periods from the one holding `first` to the one holding `last`, and the start of
    the period after (the range's end): at most MAX_PERIODS, the latest kept."""
    starts = [period_start(first, period)]
    end = period_start(last, period)
    while starts[-1] <= end:
        starts.append(_next(starts[-1], period))
    return starts[-MAX_PERIODS - 1 :]


def default_range(period: str, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The last 12 weeks or 6 months up to today."""
    today = today or clock.today()
    back = dt.timedelta(weeks=11) if period == "week" else dt.timedelta(days=5 * 31)
    return period_start(today - back, period), today


def group_fields(et: EntityTables) -> list[str]:
    """The fields a report may group by: single choices and single people (lanes' kinds)."""
    return [f.key for f in et.entity.fields if f.value_type in LANE_TYPES and not f.is_many and et.has_column(f.key)]


def sla_report(
    conn: Connection, et: EntityTables, *, actor: Actor, sla: str, period: str, first: dt.date, last: dt.date, by: str | None = None
) -> Report:
    """Met and breached cycles of `sla` per period from `first` to `last` (days in the
    instance zone), per value of `by`; refuses a reader who may not read the entity."""
    entity = et.entity
    require(actor, entity, "read")
    if sla not in {s.key for s in entity.slas} or period not in PERIODS or (by is not None and by not in group_fields(et)):
        raise NotFound(M("no such SLA report"))
    starts = period_starts(first, last, period)
    bounds = [clock.start_of(day) for day in starts]
    over = sa.and_(C.c.status == "stopped", C.c.used_seconds >= C.c.goal_seconds)
    breached = sa.or_(C.c.breached_at.is_not(None), over)
    moment = sa.case((C.c.breached_at.is_not(None), C.c.breached_at), else_=C.c.stopped_at)
    which = sa.case(*[(moment < bound, index) for index, bound in enumerate(bounds[1:])], else_=len(bounds) - 2).label("p")
    value = sort_visible(et, by, et.column(by), hidden_states(entity, actor)) if by else sa.null()
    grouped = value.label("v")
    statement = (
        sa.select(which, grouped, sa.func.sum(sa.case((breached, 0), else_=1)), sa.func.sum(sa.case((breached, 1), else_=0)))
        .select_from(C.join(et.table, et.table.c.id == C.c.record_id))
        .where(C.c.app == entity.app, C.c.entity == entity.key, C.c.sla == sla)
        .where(sa.or_(C.c.status == "stopped", C.c.breached_at.is_not(None)))
        .where(moment >= bounds[0], moment < bounds[-1])
        .group_by(which, *([grouped] if by else []))
    )
    rows = [ReportRow(starts[int(p)], v, int(met or 0), int(late or 0)) for p, v, met, late in conn.execute(statement)]
    rows.sort(key=lambda r: (r.period, r.value is None, str(r.value)))
    return Report(sla=sla, period=period, by=by, starts=tuple(starts[:-1]), rows=tuple(rows))


def totals(rows: Sequence[ReportRow]) -> ReportRow | None:
    """All rows summed (the period of the first), or None for none."""
    if not rows:
        return None
    return ReportRow(rows[0].period, None, sum(r.met for r in rows), sum(r.breached for r in rows))
