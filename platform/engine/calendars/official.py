"""Official days from the `holidays` data package: the China mainland calendar (`cn`).

Why `holidays` and not `chinesecalendar` (docs/architecture.md): both carry the State
Council's yearly schedule with its make-up working days (调休), but `chinesecalendar` 1.11.0
ends with 2026 and is released about once a year, while `holidays` is released monthly,
names every day in English and Chinese, and covers every country should a second built-in
calendar be wanted. Neither has 2027 yet (the schedule is published in November).

Only years whose schedule the package has from the official notice count as loaded: for
China those are the years in its table of substituted days (`special_public_holidays`).
For later years the package would estimate statutory days without make-up days; we take
none of them, and `book.missing_years` warns the admins instead.

`holidays` imports every country's module (about a second), so it is imported when the
official days are first needed (a process's first book), not when this module is.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

from flowdeck.engine.calendars.model import DayRule
from flowdeck.engine.schema.label import Label

SOURCES = ("cn",)
"""The data package calendars a calendar can take its official days from."""
FIRST_YEAR = 2004


@cache
def official_years(source: str) -> frozenset[int]:
    """The years whose official days (holidays and make-up days) the package has."""
    if source != "cn":
        return frozenset()
    from holidays.countries.china import ChinaStaticHolidays

    return frozenset(year for year in ChinaStaticHolidays.special_public_holidays if year >= FIRST_YEAR)


@cache
def official_days(source: str) -> dict[dt.date, DayRule]:
    """Every official day off and make-up working day of the loaded years."""
    years = sorted(official_years(source))
    if not years:
        return {}
    import holidays

    english = holidays.China(years=years, language="en_US")
    chinese = holidays.China(years=years, language="zh_CN")
    days: dict[dt.date, DayRule] = {}
    for day, name in english.items():
        days[day] = DayRule(day, False, Label({"en": name, "zh": chinese.get(day, name)}), "official")
    for day in english.weekend_workdays:
        if day.year in official_years(source):
            days[day] = DayRule(day, True, Label({"en": "Make-up working day", "zh": "调休上班"}), "official")
    return days
