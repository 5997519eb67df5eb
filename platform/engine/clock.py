"""What "today" means: the calendar day in the instance's time zone.

Date defaults (`today`), filters (`$today+7`) and formulas (`today()`) all ask here, so a
team in Shanghai does not get yesterday's date before 08:00. The zone comes from
`FLOWDECK_TIMEZONE` (default Asia/Shanghai); stored datetimes stay in UTC.
"""

from __future__ import annotations

import datetime as dt
import os
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ZONE = "Asia/Shanghai"


@cache
def zone() -> ZoneInfo:
    name = os.environ.get("FLOWDECK_TIMEZONE", DEFAULT_ZONE)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def today(now: dt.datetime | None = None) -> dt.date:
    """The local calendar day of `now` (default: this moment)."""
    return (now or dt.datetime.now(dt.UTC)).astimezone(zone()).date()


def start_of(day: dt.date) -> dt.datetime:
    """Local midnight at the start of `day`, as an aware UTC datetime."""
    return dt.datetime.combine(day, dt.time(), tzinfo=zone()).astimezone(dt.UTC)
