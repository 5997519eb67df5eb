"""When a schedule's occurrences fall: an iCal RRULE (python-dateutil) or a preset, read in
the instance time zone (`engine.clock`), moved off non-working days as the schedule asks.

Occurrences are computed, never stored ahead: the worker arms only the next one as a job
(`engine.schedules`), so a changed document changes every occurrence not yet run. Rules
are read as local wall-clock times, so "16:00" stays 16:00 across daylight-saving changes.

Which days are working days is asked of ONE function, `working_day`: the instance's
default business calendar (`engine/calendars`; tests may plug in another with
`set_working_days`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from dateutil import rrule as _rrule

from flowdeck.engine import clock
from flowdeck.engine.calendars import book as calendar_book
from flowdeck.engine.calendars.arithmetic import is_working_day

WorkingDay = Callable[[dt.date], bool]
PRESETS = ("every_day", "every_working_day", "first_working_day_of_month", "last_working_day_of_month")
SHIFTS = ("run", "skip", "forward", "back")
ALLOWED_FREQ = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
DEFAULT_START = dt.date(2024, 1, 1)
"""Where an RRULE counts from when it names no start (its INTERVAL's phase)."""
MAX_SEARCH_DAYS = 800
RULE_HORIZON_DAYS = 12 * 366
"""How far ahead an occurrence is looked for before a preset or a rule is taken to have none left."""


def monday_to_friday(day: dt.date) -> bool:
    return day.weekday() < 5


def on_default_calendar(day: dt.date) -> bool:
    """A working day of the instance's default business calendar (China's official days
    with their make-up days unless an admin chose another)."""
    return is_working_day(calendar_book.current().default, day)


_working: list[WorkingDay] = [on_default_calendar]


def working_day(day: dt.date) -> bool:
    """Whether `day` is a working day: the one place schedules and reminders ask."""
    return _working[0](day)


def set_working_days(function: WorkingDay) -> None:
    """Plug in the business calendar (China's official days with make-up days...)."""
    _working[0] = function


def parse_at(text: str) -> dt.time:
    hours, minutes = text.split(":")
    return dt.time(int(hours), int(minutes))


_RRULE_PART = re.compile(r"^[A-Z]+=[A-Z0-9,+\-]+$")


def rule_problem(text: str) -> str | None:
    """Why an RRULE text cannot be used (the parser's words), or None."""
    parts = [p for p in text.strip().removeprefix("RRULE:").split(";") if p]
    if not parts or not all(_RRULE_PART.match(p) for p in parts):
        return "expected NAME=VALUE parts separated by ';'"
    names = dict(p.split("=", 1) for p in parts)
    if names.get("FREQ") not in ALLOWED_FREQ:
        return "FREQ must be one of " + ", ".join(ALLOWED_FREQ)
    if "DTSTART" in names or "BYSECOND" in names:
        return "DTSTART and BYSECOND are not used (give “starts” and BYHOUR/BYMINUTE)"
    try:
        _compile(text, DEFAULT_START)
    except (ValueError, TypeError) as exc:
        return str(exc)
    return None


@lru_cache(maxsize=256)
def _compile(text: str, start: dt.date) -> _rrule.rrule:
    return _rrule.rrulestr(text.strip().removeprefix("RRULE:"), dtstart=dt.datetime.combine(start, dt.time()))


_MARGIN_DAYS = {"DAILY": 2, "WEEKLY": 15, "MONTHLY": 63, "YEARLY": 370}


def _rebased(text: str, start: dt.date, near: dt.date) -> dt.date:
    """A start a whole number of the rule's periods after `start`, shortly before `near`:
    the same occurrences from there on, without walking every one since `start` (an hourly
    rule counted from 2024 would take ten thousand steps). A COUNT, or a start day that
    not every month or year has, keeps `start`."""
    parts = dict(p.split("=", 1) for p in text.strip().removeprefix("RRULE:").split(";") if "=" in p)
    freq, interval = parts.get("FREQ", ""), int(parts.get("INTERVAL", "1") or 1)
    target = near - dt.timedelta(days=_MARGIN_DAYS.get(freq, 370))
    if "COUNT" in parts or target <= start or freq not in _MARGIN_DAYS:
        return start
    if freq in ("DAILY", "WEEKLY"):
        period = interval * (7 if freq == "WEEKLY" else 1)
        return start + dt.timedelta(days=(target - start).days // period * period)
    if start.day > 28 or (start.month, start.day) == (2, 29):
        return start
    if freq == "MONTHLY":
        months = ((target.year - start.year) * 12 + target.month - start.month) // interval * interval
        year, month = divmod(start.month - 1 + months, 12)
        return start.replace(year=start.year + year, month=month + 1)
    return start.replace(year=start.year + (target.year - start.year) // interval * interval)


@dataclass(frozen=True)
class Recurrence:
    """A schedule's `repeat` and `on_non_working_day`, read."""

    rrule: str | None = None
    preset: str | None = None
    at: dt.time = dt.time(9, 0)
    starts: dt.date = DEFAULT_START
    shift: str = "run"

    def _local_candidates(self, after: dt.datetime) -> Iterator[dt.datetime]:
        """Naive local times of the rule (before moving off non-working days), after `after`."""
        if self.rrule is not None:
            rule = _compile(self.rrule, _rebased(self.rrule, self.starts, after.date()))
            moment = rule.after(after, inc=False)
            while moment is not None:
                yield moment
                moment = rule.after(moment, inc=False)
            return
        day = after.date()
        for _ in range(MAX_SEARCH_DAYS):
            moment = dt.datetime.combine(day, self.at)
            if moment > after and self._preset_day(day):
                yield moment
            day += dt.timedelta(days=1)

    def _preset_day(self, day: dt.date) -> bool:
        if self.preset == "every_day":
            return True
        if not working_day(day):
            return False
        if self.preset == "every_working_day":
            return True
        if self.preset == "first_working_day_of_month":
            earlier = (day - dt.timedelta(days=n) for n in range(1, day.day))
            return not any(working_day(d) for d in earlier)
        later = day + dt.timedelta(days=1)
        while later.month == day.month:
            if working_day(later):
                return False
            later += dt.timedelta(days=1)
        return True

    def _shifted(self, moment: dt.datetime) -> dt.datetime | None:
        if self.shift == "run" or self.preset is not None or working_day(moment.date()):
            return moment
        if self.shift == "skip":
            return None
        step = dt.timedelta(days=1 if self.shift == "forward" else -1)
        day = moment.date()
        for _ in range(60):
            day += step
            if working_day(day):
                return dt.datetime.combine(day, moment.time())
        return None

    def after(self, moment: dt.datetime, count: int = 1) -> list[dt.datetime]:
        """The next `count` occurrences strictly after `moment` (aware), as aware UTC times."""
        zone = clock.zone()
        local = moment.astimezone(zone).replace(tzinfo=None)
        # A rolled-back occurrence can fall before its rule's time: look from a week earlier.
        probe = local - dt.timedelta(days=7) if self.shift == "back" else local
        found: list[dt.datetime] = []
        horizon = local + dt.timedelta(days=MAX_SEARCH_DAYS if self.rrule is None else RULE_HORIZON_DAYS)
        for candidate in self._local_candidates(probe):
            if candidate > horizon:
                break
            shifted = self._shifted(candidate)
            if shifted is None or shifted <= local:
                continue
            aware = shifted.replace(tzinfo=zone).astimezone(dt.UTC)
            if found and aware <= found[-1]:
                continue
            found.append(aware)
            if len(found) >= count:
                break
        return found

    def next_after(self, moment: dt.datetime) -> dt.datetime | None:
        found = self.after(moment, 1)
        return found[0] if found else None

    def between(self, start: dt.datetime, end: dt.datetime, limit: int = 10_000) -> list[dt.datetime]:
        """Occurrences in (start, end], at most `limit` (the oldest first)."""
        found: list[dt.datetime] = []
        moment = start
        while len(found) < limit:
            batch = self.after(moment, min(500, limit - len(found)))
            for occurrence in batch:
                if occurrence > end:
                    return found
                found.append(occurrence)
            if not batch:
                return found
            moment = batch[-1]
        return found

    def is_occurrence(self, moment: dt.datetime) -> bool:
        return self.next_after(moment - dt.timedelta(seconds=1)) == moment


def shift_working_days(day: dt.date, days: int) -> dt.date:
    """`days` working days after (positive) or before (negative) `day`."""
    step = 1 if days >= 0 else -1
    left = abs(days)
    while left:
        day += dt.timedelta(days=step)
        if working_day(day):
            left -= 1
    return day


_DURATION = re.compile(r"^P(?:(\d{1,3})D)?(?:T(?:(\d{1,4})H)?(?:(\d{1,5})M)?)?$")


def parse_duration(text: str) -> dt.timedelta:
    """An ISO 8601 duration of days, hours and minutes (`P7D`, `PT12H`, `P1DT6H`)."""
    found = _DURATION.match(text)
    if found is None or text in ("P", "PT"):
        raise ValueError(text)
    days, hours, minutes = (int(g or 0) for g in found.groups())
    return dt.timedelta(days=days, hours=hours, minutes=minutes)
