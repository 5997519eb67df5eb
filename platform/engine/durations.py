"""Spans of time a document names: "4 working hours on the cn calendar", "7 days".

One shape, `{"working_hours": 4, "calendar": "cn"}`, shared by everything that waits
(SLA goals, transitions the system performs after a time in a state, approval step time
limits), so a document says a duration the same way everywhere and the arithmetic on
business calendars lives in one place. Plain units are wall-clock time; `working_*` units
count only the calendar's working windows (its holidays and make-up working days included).
The calendar is optional: without one, the instance's default calendar counts, read when the
duration is used, so an admin's change of the default reaches every waiting record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flowdeck.engine.calendars import arithmetic, book
from flowdeck.engine.calendars.model import Calendar
from flowdeck.engine.messages import M, Message, Mn

SECONDS: dict[str, int] = {
    "minutes": 60,
    "hours": 3600,
    "days": 86400,
    "working_minutes": 60,
    "working_hours": 3600,
    "working_days": 0,
}
"""Every unit a duration may be given in (the document's key), with its seconds; working
days have none: they are counted on the calendar, each ending at the start's time of day."""

UNITS: tuple[str, ...] = tuple(SECONDS)


@dataclass(frozen=True)
class Duration:
    unit: str
    amount: Decimal
    calendar: str | None = None

    @property
    def working(self) -> bool:
        return self.unit.startswith("working_")

    def to_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {self.unit: int(self.amount) if self.amount == self.amount.to_integral_value() else float(self.amount)}
        if self.calendar is not None:
            found["calendar"] = self.calendar
        return found


def duration_problems(raw: Mapping[str, Any]) -> list[tuple[tuple[str, ...], Message]]:
    """What is wrong with a duration the meta-schema let through, each at its path below the
    duration: exactly one unit, a calendar only for working units, and a calendar that this
    instance has (checked when the document loads, like a calendar named in an expression)."""
    units = [key for key in raw if key in SECONDS]
    if len(units) != 1:
        return [((), M("give exactly one of %(units)s", units=", ".join(UNITS)))]
    found: list[tuple[tuple[str, ...], Message]] = []
    if units[0] == "working_days" and Decimal(str(raw["working_days"])) % 1:
        found.append((("working_days",), M("needs a whole number of days, got %(value)s", value=str(raw["working_days"]))))
    if "calendar" not in raw:
        return found
    if not units[0].startswith("working_"):
        found.append(
            (("calendar",), M("a calendar counts only working time: use %(units)s", units="working_minutes, working_hours, working_days"))
        )
        return found
    known = book.current().calendars
    if raw["calendar"] not in known:
        found.append((("calendar",), M("unknown calendar “%(key)s”; calendars: %(keys)s", key=raw["calendar"], keys=sorted(known))))
    return found


def duration_of(raw: Mapping[str, Any]) -> Duration:
    """The Duration of a checked document value."""
    unit = next(key for key in raw if key in SECONDS)
    return Duration(unit, Decimal(str(raw[unit])), raw.get("calendar"))


def calendar_of(duration: Duration) -> Calendar:
    """The calendar a working duration counts on now (the instance's default when none is named)."""
    return book.current().get(duration.calendar)


def add_duration(moment: dt.datetime, duration: Duration) -> dt.datetime:
    """The moment `duration` after `moment`: wall-clock units by adding, working hours and
    minutes by walking the calendar's windows, working days to the same local time of day
    that many working days later (from a non-working day, counted from the next working day)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    if not duration.working:
        return moment + dt.timedelta(seconds=float(duration.amount * SECONDS[duration.unit]))
    cal = calendar_of(duration)
    if duration.unit == "working_days":
        local = moment.astimezone(cal.zone)
        day = arithmetic.add_working_days(cal, local.date(), int(duration.amount))
        wall = dt.datetime.combine(day, local.time().replace(tzinfo=None))
        return wall.replace(tzinfo=cal.zone).astimezone(dt.UTC)
    return arithmetic.add_working_time(cal, moment, dt.timedelta(seconds=float(duration.amount * SECONDS[duration.unit])))


def seconds_of(duration: Duration) -> int | None:
    """The length in seconds of a duration counted in minutes or hours (working or not);
    None for working days, whose length depends on the calendar's days."""
    per = SECONDS[duration.unit]
    return int(duration.amount * per) if per else None


SMALLER = {"days": ("hours", 24), "hours": ("minutes", 60), "working_hours": ("working_minutes", 60)}


def duration_words(duration: Duration) -> Message:
    """A duration as words, as the document says it ("16 working hours", "2 working days"), a
    fraction told in the next smaller unit: an SLA goal or a time limit read back to people
    in the unit its author chose, never converted to hours (a working day has no fixed length)."""
    unit, amount = duration.unit, duration.amount
    while amount != amount.to_integral_value() and unit in SMALLER:
        unit, factor = SMALLER[unit]
        amount *= Decimal(factor)
    num = int(amount)
    words = {
        "minutes": Mn("%(num)s minute", "%(num)s minutes", num),
        "hours": Mn("%(num)s hour", "%(num)s hours", num),
        "days": Mn("%(num)s day", "%(num)s days", num),
        "working_minutes": Mn("%(num)s working minute", "%(num)s working minutes", num),
        "working_hours": Mn("%(num)s working hour", "%(num)s working hours", num),
        "working_days": Mn("%(num)s working day", "%(num)s working days", num),
    }
    return words[unit]
