"""The expression language's working-time functions (`add_working_days(due, 3, "cn")`).

Each takes the calendar key last and optional (the instance's default calendar), reads the
process's current book (`book.current()`), and gives null for a null argument like the
other functions. A date-time is placed on the calendar in the calendar's zone; a date where
an instant is needed means the start of that local day. Calendar errors (an unknown key)
become expression errors, worded like every other formula error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from flowdeck.engine.calendars import arithmetic, book
from flowdeck.engine.calendars.model import Calendar, CalendarError
from flowdeck.engine.expression_values import ExpressionError, Function, is_number, kind_of
from flowdeck.engine.messages import M

HUNDREDTH = Decimal("0.01")


def _calendar(name: str, key: Any) -> Calendar:
    if key is not None and not isinstance(key, str):
        raise ExpressionError(M("%(function)s() needs a calendar key as text, got %(kind)s", function=name, kind=kind_of(key)))
    try:
        return book.current().get(key)
    except CalendarError as exc:
        raise ExpressionError(exc.message) from None


def _instant(name: str, cal: Calendar, value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=cal.zone).astimezone(dt.UTC)
    raise ExpressionError(M("%(function)s() needs a date, got %(kind)s", function=name, kind=kind_of(value)))


def _day(name: str, cal: Calendar, value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return arithmetic.local_day(cal, _instant(name, cal, value))
    if isinstance(value, dt.date):
        return value
    raise ExpressionError(M("%(function)s() needs a date, got %(kind)s", function=name, kind=kind_of(value)))


def _count(name: str, value: Any, *, whole: bool) -> Decimal:
    if not is_number(value):
        raise ExpressionError(M("%(function)s() needs a number, got %(kind)s", function=name, kind=kind_of(value)))
    amount = Decimal(value)
    if whole and amount != amount.to_integral_value():
        raise ExpressionError(M("%(function)s() needs a whole number of days, got %(kind)s", function=name, kind=kind_of(value)))
    return amount


def _guarded(name: str, fn: Callable[..., Any], values: int) -> Callable[..., Any]:
    """`fn` giving null for a null value (the calendar key may be left out or null) and
    expression errors for calendar errors."""

    def call(*args: Any) -> Any:
        if any(arg is None for arg in args[:values]):
            return None
        try:
            return fn(*args)
        except CalendarError as exc:
            raise ExpressionError(exc.message) from None

    call.__name__ = name
    call.__doc__ = fn.__doc__
    return call


def _working_days_between(a: Any, b: Any, key: Any = None) -> int:
    cal = _calendar("working_days_between", key)
    return arithmetic.working_days_between(cal, _day("working_days_between", cal, a), _day("working_days_between", cal, b))


def _between(name: str, unit: int) -> Callable[..., Any]:
    def between(a: Any, b: Any, key: Any = None) -> Decimal | int:
        cal = _calendar(name, key)
        seconds = arithmetic.working_time_between(cal, _instant(name, cal, a), _instant(name, cal, b)).total_seconds()
        if unit == 60:
            return int(seconds // 60) if seconds >= 0 else -int(-seconds // 60)
        return (Decimal(int(seconds)) / unit).quantize(HUNDREDTH)

    return between


def _add_working_days(value: Any, count: Any, key: Any = None) -> dt.date:
    cal = _calendar("add_working_days", key)
    day = arithmetic.add_working_days(cal, _day("add_working_days", cal, value), int(_count("add_working_days", count, whole=True)))
    if isinstance(value, dt.datetime):
        local = _instant("add_working_days", cal, value).astimezone(cal.zone)
        return dt.datetime.combine(day, local.time(), tzinfo=cal.zone).astimezone(dt.UTC)
    return day


def _add(name: str, unit: str) -> Callable[..., Any]:
    def add(value: Any, amount: Any, key: Any = None) -> dt.datetime:
        cal = _calendar(name, key)
        delta = dt.timedelta(**{unit: float(_count(name, amount, whole=False))})
        return arithmetic.add_working_time(cal, _instant(name, cal, value), delta)

    return add


def _next_working_day(value: Any, key: Any = None) -> dt.date:
    cal = _calendar("next_working_day", key)
    return arithmetic.next_working_day(cal, _day("next_working_day", cal, value))


def _is_working_day(value: Any, key: Any = None) -> bool:
    cal = _calendar("is_working_day", key)
    return arithmetic.is_working_day(cal, _day("is_working_day", cal, value))


def _is_working_time(value: Any, key: Any = None) -> bool:
    cal = _calendar("is_working_time", key)
    return arithmetic.is_working_time(cal, _instant("is_working_time", cal, value))


def _working_day_key(value: Any, key: Any = None) -> str:
    cal = _calendar("working_day_key", key)
    return arithmetic.working_day_of(cal, _instant("working_day_key", cal, value)).isoformat()


def _entry(name: str, fn: Callable[..., Any], args: int) -> tuple[str, Function]:
    return name, Function(_guarded(name, fn, args), args, args + 1, reads_calendars=True)


CALENDAR_FUNCTIONS: dict[str, Function] = dict(
    [
        _entry("working_days_between", _working_days_between, 2),
        _entry("working_hours_between", _between("working_hours_between", 3600), 2),
        _entry("working_minutes_between", _between("working_minutes_between", 60), 2),
        _entry("add_working_days", _add_working_days, 2),
        _entry("add_working_hours", _add("add_working_hours", "hours"), 2),
        _entry("add_working_minutes", _add("add_working_minutes", "minutes"), 2),
        _entry("next_working_day", _next_working_day, 1),
        _entry("is_working_day", _is_working_day, 1),
        _entry("is_working_time", _is_working_time, 1),
        _entry("working_day_key", _working_day_key, 1),
    ]
)
