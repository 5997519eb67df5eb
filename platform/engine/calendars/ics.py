"""Days from an iCalendar (ICS) file: a company's holiday feed, or a published official
calendar, read with the `icalendar` library into `DayEdit`s for `storage.set_days`.

Each VEVENT gives the local days it covers (all-day events: DTSTART up to the day before
DTEND; timed events: their day in the calendar's zone). An event whose summary says it is a
working day (补班, 上班, "working day", "work day") becomes an extra working day, the others
days off, unless the admin imports the whole file as working days. Recurring events
(RRULE) are not expanded: they are counted and reported, so nothing is dropped silently.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import icalendar

from flowdeck.engine.calendars.model import CalendarError
from flowdeck.engine.calendars.storage import MAX_LABEL, DayEdit
from flowdeck.engine.messages import M

MAX_BYTES = 1_000_000
MAX_DAYS = 5000
MAX_EVENT_DAYS = 366
WORKING_WORDS = ("补班", "上班", "调休上班", "working day", "work day", "workday")


@dataclass(frozen=True)
class IcsDays:
    days: tuple[DayEdit, ...]
    recurring_skipped: int


def _is_working(summary: str) -> bool:
    lowered = summary.lower()
    return any(word in lowered for word in WORKING_WORDS)


def _day(value: dt.date | dt.datetime, zone: ZoneInfo) -> dt.date:
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=zone)).astimezone(zone).date()
    return value


def read_ics(data: bytes, zone: ZoneInfo, *, all_working: bool = False) -> IcsDays:
    """The days an ICS file sets apart; a CalendarError when it is not one or holds none."""
    if len(data) > MAX_BYTES:
        raise CalendarError(M("the file is larger than %(max)s bytes", max=MAX_BYTES))
    try:
        parsed = icalendar.Calendar.from_ical(data)
    except (ValueError, IndexError, KeyError, UnicodeDecodeError) as exc:
        raise CalendarError(M("the file is not an iCalendar (ICS) file: %(error)s", error=str(exc)[:200])) from None
    days: dict[dt.date, DayEdit] = {}
    skipped = 0
    for event in parsed.walk("VEVENT"):
        if event.get("RRULE") is not None:
            skipped += 1
            continue
        start_prop = event.get("DTSTART")
        if start_prop is None:
            continue
        start = _day(start_prop.dt, zone)
        end_prop = event.get("DTEND")
        if end_prop is None:
            last = start
        elif isinstance(end_prop.dt, dt.datetime):
            last = _day(end_prop.dt - dt.timedelta(microseconds=1), zone)
        else:
            last = end_prop.dt - dt.timedelta(days=1)
        last = max(last, start)
        if (last - start).days >= MAX_EVENT_DAYS:
            raise CalendarError(M("an event covers more than %(max)s days", max=MAX_EVENT_DAYS))
        summary = str(event.get("SUMMARY", "")).strip()[:MAX_LABEL]
        working = all_working or _is_working(summary)
        day = start
        while day <= last:
            days[day] = DayEdit(day, working, summary, "ics")
            day += dt.timedelta(days=1)
        if len(days) > MAX_DAYS:
            raise CalendarError(M("the file sets apart more than %(max)s days", max=MAX_DAYS))
    if not days:
        raise CalendarError(M("the file has no events with a date"))
    return IcsDays(tuple(days[d] for d in sorted(days)), skipped)
