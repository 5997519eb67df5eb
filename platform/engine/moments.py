"""Dates and moments as documents and filters write them: ISO text, or words that are read
when the query runs (`$today+7`, `$now`, `$now+1h`, `$now-30m`).

Kept apart from the field type registry so filters, checks and the registry share one reading,
and so "now" is always the engine clock's (tests hold it with `clock.set_now`).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flowdeck.engine import clock

_TODAY = re.compile(r"\$?today(?:([+-])(\d{1,4})d?)?")
_NOW = re.compile(r"\$?now(?:([+-])(\d{1,6})([mhd]))?")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


class MomentOutOfRange(ValueError):
    """A date and time whose UTC moment falls outside the years 1 to 9999."""


def resolve_date(value: Any, today: dt.date | None = None) -> dt.date:
    """Dates in documents and filters: ISO dates, or `today`, `today+7`, `today-30`."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    match = _TODAY.fullmatch(text)
    if match:
        base = today or clock.today()
        if match.group(1):
            days = int(match.group(2)) * (1 if match.group(1) == "+" else -1)
            return base + dt.timedelta(days=days)
        return base
    return dt.date.fromisoformat(text)


def relative_now(text: str) -> dt.datetime | None:
    """`$now`, `$now+1h`, `$now-30m`, `$now+2d` (minutes, hours, days of wall-clock time from the
    engine clock), or None for any other text."""
    match = _NOW.fullmatch(text)
    if match is None:
        return None
    moment = clock.now().astimezone(dt.UTC)
    if match.group(1):
        amount = int(match.group(2)) * (1 if match.group(1) == "+" else -1)
        moment += dt.timedelta(**{_UNITS[match.group(3)]: amount})
    return moment


def relative_parts(text: str) -> tuple[str, int, str] | None:
    """A relative moment's parts, for saying it in words: `$now+1h` is ("now", 1, "h"),
    `$today-3` is ("today", -3, "d"), `$now` is ("now", 0, ""); None for any other text."""
    now, today = _NOW.fullmatch(text), _TODAY.fullmatch(text)
    match, base = (now, "now") if now is not None else (today, "today")
    if match is None:
        return None
    if not match.group(1):
        return base, 0, ""
    amount = int(match.group(2)) * (1 if match.group(1) == "+" else -1)
    return base, amount, match.group(3) if base == "now" else "d"


def resolve_datetime(value: Any) -> dt.datetime:
    """Moments in documents and filters: ISO text (UTC when no offset), `$now` and its offsets,
    `$today` (its start in the instance zone)."""
    if isinstance(value, dt.datetime):
        result = value
    elif isinstance(value, dt.date):
        result = dt.datetime.combine(value, dt.time())
    else:
        text = str(value).strip()
        relative = relative_now(text)
        if relative is not None:
            return relative
        if _TODAY.fullmatch(text):
            return clock.start_of(resolve_date(text))
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        result = dt.datetime.fromisoformat(text)
    if result.tzinfo is None:
        result = result.replace(tzinfo=dt.UTC)
    try:
        return result.astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01T00:00+08:00 is in year 0 in UTC
        raise MomentOutOfRange(value) from None
