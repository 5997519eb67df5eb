"""A business calendar as data: working windows per weekday, a time zone, and the days that
differ from the week (holidays, make-up working days). Immutable, so one loaded calendar is
shared by every thread; the arithmetic lives in `arithmetic.py`.

Times of day are minutes after local midnight (09:00 is 540, the end of the day 1440), so a
window never depends on a date and daylight-saving changes are left to the arithmetic,
which turns local windows into UTC instants day by day.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flowdeck.engine.errors import FlowdeckError
from flowdeck.engine.messages import M
from flowdeck.engine.schema.label import Label

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
DAY_MINUTES = 24 * 60
WEEKDAYS = 7


class CalendarError(FlowdeckError):
    """A calendar that cannot be used as asked (unknown key, bad window, no working time)."""


@dataclass(frozen=True, order=True)
class Window:
    """Working time from `start` to `end`, minutes after local midnight (end exclusive)."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not (0 <= self.start < self.end <= DAY_MINUTES):
            raise CalendarError(M("a working window must start before it ends, within one day"))

    @property
    def minutes(self) -> int:
        return self.end - self.start

    def text(self) -> str:
        return f"{clock_text(self.start)}–{clock_text(self.end)}"


def clock_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


def parse_clock(text: str) -> int:
    """ "09:30" -> 570; "24:00" is the end of the day."""
    match = _TIME.match(text)
    if not match:
        raise CalendarError(M("“%(value)s” is not a time of day like 09:00", value=text))
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise CalendarError(M("“%(value)s” is not a time of day like 09:00", value=text))
    return hours * 60 + minutes


def parse_windows(text: str) -> tuple[Window, ...]:
    """ "09:00-12:00, 13:30-18:00" -> two windows, sorted; overlaps are refused so that no
    minute is counted twice. An empty text is a day without working time."""
    windows: list[Window] = []
    for part in (p for p in re.split(r"[,;，]", text) if p.strip()):
        bounds = re.split(r"[-–~]", part)
        if len(bounds) != 2:
            raise CalendarError(M("“%(value)s” is not a window like 09:00-12:00", value=part.strip()))
        windows.append(Window(parse_clock(bounds[0]), parse_clock(bounds[1])))
    windows.sort()
    for before, after in itertools.pairwise(windows):
        if after.start < before.end:
            raise CalendarError(M("working windows %(first)s and %(second)s overlap", first=before.text(), second=after.text()))
    return tuple(windows)


def windows_text(windows: tuple[Window, ...]) -> str:
    return ", ".join(w.text().replace("–", "-") for w in windows)


def zone_of(name: str) -> ZoneInfo:
    """The IANA zone `name`; an unknown one is refused (never silently UTC)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError(M("“%(zone)s” is not an IANA time zone such as Asia/Shanghai", zone=name)) from None


STANDARD_WEEK: tuple[tuple[Window, ...], ...] = (
    *([(Window(9 * 60, 12 * 60), Window(13 * 60 + 30, 18 * 60))] * 5),
    (),
    (),
)
"""Monday to Friday 09:00-12:00 and 13:30-18:00: the default of a new calendar and of `cn`."""


@dataclass(frozen=True)
class DayRule:
    """A day that differs from the week: `working` (a make-up working day, 调休) or not (a
    holiday or company day off); `origin` is "official" (the data package), "admin" or "ics"."""

    day: dt.date
    working: bool
    label: Label
    origin: str


@dataclass(frozen=True, eq=False)
class Calendar:
    """A loaded calendar: the admin's days already laid over the official ones.

    `official_years` are the years whose official days are known (from the data package or
    marked complete by an admin); `source` names the data package's calendar ("cn") or is
    None for a calendar the admins keep by hand. Compared by identity, so the per-day cache
    below is this calendar's own."""

    key: str
    name: Label
    zone_name: str
    week: tuple[tuple[Window, ...], ...] = STANDARD_WEEK
    days: Mapping[dt.date, DayRule] = field(default_factory=dict)
    source: str | None = None
    official_years: frozenset[int] = frozenset()
    zone: ZoneInfo = field(init=False, repr=False)
    _utc_days: dict[dt.date, tuple[tuple[dt.datetime, dt.datetime], ...]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if len(self.week) != WEEKDAYS:
            raise CalendarError(M("a calendar needs windows for each of the 7 weekdays"))
        object.__setattr__(self, "zone", zone_of(self.zone_name))

    @property
    def workday_windows(self) -> tuple[Window, ...]:
        """The windows of a make-up working day that falls on a weekend: those of the first
        weekday with working time (Monday's, in a usual week)."""
        return next((w for w in self.week if w), ())

    def windows_on(self, day: dt.date) -> tuple[Window, ...]:
        rule = self.days.get(day)
        if rule is None:
            return self.week[day.weekday()]
        if not rule.working:
            return ()
        return self.week[day.weekday()] or self.workday_windows

    @property
    def has_working_time(self) -> bool:
        return any(self.week) or any(rule.working for rule in self.days.values())
