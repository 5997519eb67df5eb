"""The instance's calendars by key, and the one the process computes with.

Expressions (`add_working_days(d, 3, "cn")`) name a calendar by key and have no database
connection, so the process keeps the current `CalendarBook`: `registry.load_registry` loads
it with the apps (a calendar change bumps the schema generation, so every worker reloads it
on its next request, like an applied document) and installs it here. Until then the book
holds the built-in `cn` calendar alone.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from flowdeck.engine.calendars import official
from flowdeck.engine.calendars.model import Calendar, CalendarError
from flowdeck.engine.messages import M, Message
from flowdeck.engine.schema.label import Label

BUILTIN_KEY = "cn"
BUILTIN_ZONE = "Asia/Shanghai"
WARN_FROM_MONTH = 11
"""From 1 November the admins are told when next year's official days are missing."""


def builtin_calendar() -> Calendar:
    """`cn` before any admin edits it: Monday to Friday 09:00-12:00 and 13:30-18:00 in
    Asia/Shanghai with the official days of the data package."""
    return Calendar(
        key=BUILTIN_KEY,
        name=Label({"en": "China mainland", "zh": "中国大陆"}),
        zone_name=BUILTIN_ZONE,
        days=official.official_days("cn"),
        source="cn",
        official_years=official.official_years("cn"),
    )


@dataclass(frozen=True)
class CalendarBook:
    calendars: Mapping[str, Calendar]
    default_key: str = BUILTIN_KEY

    def get(self, key: str | None = None) -> Calendar:
        """The calendar `key` (None: the instance's default)."""
        found = self.calendars.get(key or self.default_key)
        if found is None:
            raise CalendarError(M("unknown calendar “%(key)s”; calendars: %(keys)s", key=key, keys=sorted(self.calendars)))
        return found

    @property
    def default(self) -> Calendar:
        return self.get(None)


def missing_years(cal: Calendar, today: dt.date) -> list[int]:
    """The years of `cal` whose official days should be known by `today` but are not: this
    year always, next year from 1 November. Only calendars that follow official days
    (a data package, or an admin who marked years complete) can miss any."""
    if cal.source is None and not cal.official_years:
        return []
    wanted = [today.year] + ([today.year + 1] if today.month >= WARN_FROM_MONTH else [])
    return [year for year in wanted if year not in cal.official_years]


def warnings(book: CalendarBook, today: dt.date) -> list[Message]:
    """What the admins must be told about the book on `today`, as Messages."""
    found: list[Message] = []
    for key in sorted(book.calendars):
        cal = book.calendars[key]
        for year in missing_years(cal, today):
            found.append(
                M(
                    "The official days of %(year)s are not loaded for the calendar “%(calendar)s”: until they are,"
                    " every weekday of %(year)s counts as a working day. Upgrade the holidays package, or enter"
                    " the days and mark %(year)s complete.",
                    year=str(year),
                    calendar=cal.name,
                )
            )
    return found


_lock = threading.Lock()
_current: CalendarBook | None = None


def current() -> CalendarBook:
    """The book expressions compute with in this process."""
    global _current
    if _current is None:
        with _lock:
            if _current is None:
                _current = CalendarBook({BUILTIN_KEY: builtin_calendar()})
    return _current


def install(book: CalendarBook) -> None:
    global _current
    _current = book
