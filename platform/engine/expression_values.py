"""What expressions compute with: the kinds of values, arithmetic and comparisons with
their limits, and the functions formulas may call. Every failure is an `ExpressionError`
whose message names the kinds of values involved ("cannot add text and number")."""

from __future__ import annotations

import ast
import datetime as dt
import decimal
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flowdeck.engine import clock
from flowdeck.engine.errors import ValueRefused
from flowdeck.engine.messages import M, Message, Mp

MAX_EXPONENT = 64
MAX_MAGNITUDE = Decimal(10) ** 30
MAX_STRING = 10_000


class ExpressionError(ValueRefused):
    """An expression that cannot be compiled or evaluated; `message` says why."""


def is_number(value: Any) -> bool:
    return isinstance(value, (int, Decimal)) and not isinstance(value, bool)


def kind_of(value: Any) -> Message | str:
    """The kind of a value, as an error names it ("cannot add text and number")."""
    if value is None:
        return Mp("a kind of value", "null")
    if isinstance(value, bool):
        return Mp("a kind of value", "boolean")
    if is_number(value):
        return Mp("a kind of value", "number")
    if isinstance(value, str):
        return Mp("a kind of value", "text")
    if isinstance(value, dt.datetime):
        return Mp("a kind of value", "datetime")
    if isinstance(value, dt.date):
        return Mp("a kind of value", "date")
    if isinstance(value, (list, tuple)):
        return Mp("a kind of value", "list")
    return type(value).__name__


def check_magnitude(value: Any) -> Any:
    if is_number(value) and abs(value) >= MAX_MAGNITUDE:
        raise ExpressionError(M("number too large (limit 10^30)"))
    if isinstance(value, str) and len(value) > MAX_STRING:
        raise ExpressionError(M("text too long (limit %(max)s characters)", max=MAX_STRING))
    return value


def _as_decimal(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(value)


def _add(a: Any, b: Any) -> Any:
    if is_number(a) and is_number(b):
        return a + b
    if isinstance(a, str) and isinstance(b, str):
        return a + b
    if isinstance(a, dt.date) and isinstance(b, int) and not isinstance(b, bool):
        return a + dt.timedelta(days=b)
    raise ExpressionError(M("cannot add %(left)s and %(right)s", left=kind_of(a), right=kind_of(b)))


def _sub(a: Any, b: Any) -> Any:
    if is_number(a) and is_number(b):
        return a - b
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
        return Decimal((a - b).total_seconds()) / Decimal(86400)
    if isinstance(a, dt.date) and isinstance(b, dt.date) and not isinstance(a, dt.datetime) and not isinstance(b, dt.datetime):
        return (a - b).days
    if isinstance(a, dt.date) and isinstance(b, int) and not isinstance(b, bool):
        return a - dt.timedelta(days=b)
    raise ExpressionError(M("cannot subtract %(right)s from %(left)s", right=kind_of(b), left=kind_of(a)))


def _numeric(op: str, fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def apply(a: Any, b: Any) -> Any:
        if not (is_number(a) and is_number(b)):
            raise ExpressionError(
                M("'%(operator)s' needs numbers, got %(left)s and %(right)s", operator=op, left=kind_of(a), right=kind_of(b))
            )
        return fn(a, b)

    return apply


def _div(a: Any, b: Any) -> Any:
    if b == 0:
        raise ExpressionError(M("division by zero"))
    return _as_decimal(a) / _as_decimal(b)


def _floordiv(a: Any, b: Any) -> Any:
    if b == 0:
        raise ExpressionError(M("division by zero"))
    quotient, remainder = a // b, a % b
    # Decimal's // truncates toward zero; round toward minus infinity like int does (-7.5 // 2 == -4).
    if isinstance(quotient, Decimal) and remainder and (remainder < 0) != (b < 0):
        quotient -= 1
    return quotient


def _mod(a: Any, b: Any) -> Any:
    if b == 0:
        raise ExpressionError(M("division by zero"))
    remainder = a % b
    # Decimal's % takes the sign of a; take the sign of b like int does (-7.5 % 2 == 0.5).
    if isinstance(remainder, Decimal) and remainder and (remainder < 0) != (b < 0):
        remainder += b
    return remainder


def _pow(a: Any, b: Any) -> Any:
    if not (isinstance(b, int) or (isinstance(b, Decimal) and b == b.to_integral_value())):
        raise ExpressionError(M("exponent must be a whole number"))
    if abs(b) > MAX_EXPONENT:
        raise ExpressionError(M("exponent too large (limit %(max)s)", max=MAX_EXPONENT))
    if abs(a) > 10**6 and abs(b) > 4:
        raise ExpressionError(M("power too large"))
    if isinstance(a, int) and int(b) >= 0:
        return a ** int(b)
    if a == 0 and b < 0:
        raise ExpressionError(M("division by zero"))
    return _as_decimal(a) ** int(b)


BINARY_OPERATORS: dict[type, tuple[str, Callable[[Any, Any], Any]]] = {
    ast.Add: ("+", _add),
    ast.Sub: ("-", _sub),
    ast.Mult: ("*", _numeric("*", lambda a, b: a * b)),
    ast.Div: ("/", _numeric("/", _div)),
    ast.FloorDiv: ("//", _numeric("//", _floordiv)),
    ast.Mod: ("%", _numeric("%", _mod)),
    ast.Pow: ("**", _numeric("**", _pow)),
}


def _comparable(a: Any, b: Any) -> bool:
    if is_number(a) and is_number(b):
        return True
    if isinstance(a, dt.datetime) or isinstance(b, dt.datetime):
        return isinstance(a, dt.datetime) and isinstance(b, dt.datetime)
    return type(a) is type(b) and isinstance(a, (str, dt.date))


def _ordered(fn: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        if a is None or b is None:
            return False
        if not _comparable(a, b):
            raise ExpressionError(M("cannot compare %(left)s with %(right)s", left=kind_of(a), right=kind_of(b)))
        return fn(a, b)

    return compare


def _contains(container: Any, item: Any) -> bool:
    if container is None:
        return False
    if isinstance(container, str):
        if not isinstance(item, str):
            raise ExpressionError(M("cannot look for %(kind)s in text", kind=kind_of(item)))
        return item in container
    if isinstance(container, (list, tuple, frozenset, set)):
        return item in container
    raise ExpressionError(M("'in' needs a list or text, got %(kind)s", kind=kind_of(container)))


COMPARISONS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Lt: _ordered(lambda a, b: a < b),
    ast.LtE: _ordered(lambda a, b: a <= b),
    ast.Gt: _ordered(lambda a, b: a > b),
    ast.GtE: _ordered(lambda a, b: a >= b),
    ast.In: lambda a, b: _contains(b, a),
    ast.NotIn: lambda a, b: not _contains(b, a),
}


def _values(arg: Any, fn: str) -> list[Any]:
    if arg is None:
        return []
    if not isinstance(arg, (list, tuple)):
        raise ExpressionError(M("%(function)s() needs a list, got %(kind)s", function=fn, kind=kind_of(arg)))
    return [v for v in arg if v is not None]


def _fn_sum(arg: Any) -> Any:
    values = _values(arg, "sum")
    for v in values:
        if not is_number(v):
            raise ExpressionError(M("%(function)s() needs numbers, got %(kind)s", function="sum", kind=kind_of(v)))
    return sum(values, 0)


def _fn_count(arg: Any) -> int:
    return len(_values(arg, "count"))


def _fn_avg(arg: Any) -> Any:
    values = _values(arg, "avg")
    if not values:
        return None
    return _as_decimal(_fn_sum(values)) / len(values)


def _extreme(name: str, pick: Callable[..., Any]) -> Callable[..., Any]:
    def apply(*args: Any) -> Any:
        values = _values(args[0], name) if len(args) == 1 else [a for a in args if a is not None]
        if not values:
            return None
        for v in values[1:]:
            if not _comparable(values[0], v):
                raise ExpressionError(
                    M(
                        "%(function)s() cannot compare %(left)s with %(right)s",
                        function=name,
                        left=kind_of(values[0]),
                        right=kind_of(v),
                    )
                )
        return pick(values)

    return apply


def _fn_round(value: Any, places: Any = 0) -> Any:
    if value is None:
        return None
    if not is_number(value) or not isinstance(places, int) or not 0 <= places <= 10:
        raise ExpressionError(M("round() needs a number and 0 to 10 decimal places"))
    quantum = Decimal(1).scaleb(-places)
    return _as_decimal(value).quantize(quantum, rounding=decimal.ROUND_HALF_UP)


def _fn_abs(value: Any) -> Any:
    if value is None:
        return None
    if not is_number(value):
        raise ExpressionError(M("%(function)s() needs a number, got %(kind)s", function="abs", kind=kind_of(value)))
    return abs(value)


def _fn_len(value: Any) -> Any:
    if value is None:
        return 0
    if not isinstance(value, (str, list, tuple)):
        raise ExpressionError(M("%(function)s() needs text or a list, got %(kind)s", function="len", kind=kind_of(value)))
    return len(value)


def _fn_coalesce(*args: Any) -> Any:
    return next((a for a in args if a is not None and a != "" and a != []), None)


def _date_part(name: str, part: str) -> Callable[[Any], Any]:
    def apply(value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, dt.date):
            raise ExpressionError(M("%(function)s() needs a date, got %(kind)s", function=name, kind=kind_of(value)))
        return getattr(value, part)

    return apply


def _fn_days_between(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if not (isinstance(a, dt.date) and isinstance(b, dt.date)):
        raise ExpressionError(M("days_between() needs two dates"))
    a_day = a.date() if isinstance(a, dt.datetime) else a
    b_day = b.date() if isinstance(b, dt.datetime) else b
    return (b_day - a_day).days


def _day_of(name: str, value: Any) -> dt.date:
    if not isinstance(value, dt.date):
        raise ExpressionError(M("%(function)s() needs a date, got %(kind)s", function=name, kind=kind_of(value)))
    return value


def _whole(name: str, value: Any) -> int:
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ExpressionError(M("%(function)s() needs a whole number of days, got %(kind)s", function=name, kind=kind_of(value)))
    return value


MAX_DAYS = 366 * 1000


def _fn_add_days(value: Any, days: Any) -> Any:
    """A date (or date-time) moved by whole days; negative days go back."""
    if value is None or days is None:
        return None
    day, count = _day_of("add_days", value), _whole("add_days", days)
    if abs(count) > MAX_DAYS:
        raise ExpressionError(M("%(function)s() moves at most %(max)s days", function="add_days", max=MAX_DAYS))
    try:
        return day + dt.timedelta(days=count)
    except OverflowError:
        raise ExpressionError(M("date out of range")) from None


def _fn_week_key(value: Any) -> Any:
    """The ISO week a date falls in, as "2026-W49": the year is the ISO year, so
    2027-01-01 is in "2026-W53"; keys sort in calendar order as text."""
    if value is None:
        return None
    year, week, _ = _day_of("week_key", value).isocalendar()
    return f"{year:04d}-W{week:02d}"


def _fn_month_key(value: Any) -> Any:
    """The month a date falls in, as "2026-12", sortable as text."""
    if value is None:
        return None
    day = _day_of("month_key", value)
    return f"{day.year:04d}-{day.month:02d}"


def _fn_clamp(value: Any, low: Any, high: Any) -> Any:
    """`value` kept between `low` and `high`; a null bound does not limit."""
    if value is None:
        return None
    for bound in (low, high):
        if bound is not None and not _comparable(value, bound):
            raise ExpressionError(
                M("%(function)s() cannot compare %(left)s with %(right)s", function="clamp", left=kind_of(value), right=kind_of(bound))
            )
    if low is not None and high is not None and low > high:
        raise ExpressionError(M("clamp() needs the lower bound not above the upper bound"))
    if low is not None and value < low:
        return low
    if high is not None and value > high:
        return high
    return value


def _fn_is_empty(value: Any) -> bool:
    """True for no value: null, blank text (spaces only) and an empty list."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple)):
        return len(value) == 0
    return False


@dataclass(frozen=True)
class Function:
    fn: Callable[..., Any]
    min_args: int
    max_args: int
    reads_clock: bool = False
    reads_calendars: bool = False
    """Computed with the instance's calendars (`engine/calendars/functions.py`), which an
    admin can change: never folded into a constant when compiled."""


FUNCTIONS: dict[str, Function] = {
    "sum": Function(_fn_sum, 1, 1),
    "count": Function(_fn_count, 1, 1),
    "avg": Function(_fn_avg, 1, 1),
    "min": Function(_extreme("min", min), 1, 10),
    "max": Function(_extreme("max", max), 1, 10),
    "round": Function(_fn_round, 1, 2),
    "abs": Function(_fn_abs, 1, 1),
    "len": Function(_fn_len, 1, 1),
    "coalesce": Function(_fn_coalesce, 1, 10),
    "year": Function(_date_part("year", "year"), 1, 1),
    "month": Function(_date_part("month", "month"), 1, 1),
    "days_between": Function(_fn_days_between, 2, 2),
    "add_days": Function(_fn_add_days, 2, 2),
    "week_key": Function(_fn_week_key, 1, 1),
    "month_key": Function(_fn_month_key, 1, 1),
    "clamp": Function(_fn_clamp, 3, 3),
    "is_empty": Function(_fn_is_empty, 1, 1),
    "today": Function(clock.today, 0, 0, reads_clock=True),
    "now": Function(lambda moment=None: moment or clock.now(), 0, 0, reads_clock=True),
}
