"""What "today" means: the calendar day in the instance's time zone.

Date defaults (`today`), filters (`$today+7`) and formulas (`today()`) all ask here, so a
team in Shanghai does not get yesterday's date before 08:00. The zone comes from
`FLOWDECK_TIMEZONE` (default Asia/Shanghai); stored datetimes stay in UTC.

The engine reads the current moment here (`now()`), so tests can hold the clock at a
moment of their choosing (`set_now`) and walk it forward, minute by minute if they must.
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


_held: dt.datetime | None = None


def now() -> dt.datetime:
    """This moment in UTC, or the moment the clock is held at."""
    return _moment()


def _moment() -> dt.datetime:
    return _held if _held is not None else dt.datetime.now(dt.UTC)


def set_now(moment: dt.datetime | None) -> None:
    """Hold the clock at `moment` (a naive one is UTC; None: follow real time again)."""
    global _held
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    _held = moment.astimezone(dt.UTC) if moment is not None else None


def today(now: dt.datetime | None = None) -> dt.date:
    """The local calendar day of `now` (default: this moment)."""
    return (now or _moment()).astimezone(zone()).date()


def start_of(day: dt.date) -> dt.datetime:
    """Local midnight at the start of `day`, as an aware UTC datetime."""
    return dt.datetime.combine(day, dt.time(), tzinfo=zone()).astimezone(dt.UTC)
