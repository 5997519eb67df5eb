"""Date and number helpers of the expression language, and computed fields with a
date-time result: what they give, and the messages their wrong arguments get."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from flowdeck.engine import records
from flowdeck.engine.expressions import ExpressionError, Scope, compile_expression
from tests.support.documents import minimal_app

SCOPE = Scope(names=frozenset({"a", "b", "day", "at", "note", "tags"}))


def ev(source: str, **env: Any) -> Any:
    return compile_expression(source, SCOPE).evaluate(env)


def eval_error(source: str, **env: Any) -> str:
    with pytest.raises(ExpressionError) as info:
        compile_expression(source, SCOPE).evaluate(env)
    return str(info.value)


def compile_error(source: str) -> str:
    with pytest.raises(ExpressionError) as info:
        compile_expression(source, SCOPE)
    return str(info.value)


@pytest.mark.parametrize(
    ("source", "env", "expected"),
    [
        ("days_between(a, b)", {"a": dt.date(2026, 12, 1), "b": dt.date(2027, 1, 1)}, 31),
        ("days_between(b, a)", {"a": dt.date(2026, 12, 1), "b": dt.date(2027, 1, 1)}, -31),
        ("add_days(day, 3)", {"day": dt.date(2026, 12, 30)}, dt.date(2027, 1, 2)),
        ("add_days(day, -30)", {"day": dt.date(2026, 3, 1)}, dt.date(2026, 1, 30)),
        ("add_days(day, 2.0)", {"day": dt.date(2026, 3, 1)}, dt.date(2026, 3, 3)),
        ("add_days(at, 1)", {"at": dt.datetime(2026, 1, 1, 5, tzinfo=dt.UTC)}, dt.datetime(2026, 1, 2, 5, tzinfo=dt.UTC)),
        ("add_days(day, a)", {"day": dt.date(2026, 3, 1), "a": None}, None),
        ("week_key(day)", {"day": dt.date(2026, 12, 3)}, "2026-W49"),
        ("week_key(day)", {"day": dt.date(2027, 1, 1)}, "2026-W53"),
        ("week_key(day)", {"day": dt.date(2024, 12, 30)}, "2025-W01"),
        ("week_key(at)", {"at": dt.datetime(2026, 1, 5, 23, tzinfo=dt.UTC)}, "2026-W02"),
        ("week_key(day)", {"day": None}, None),
        ("month_key(day)", {"day": dt.date(2026, 12, 31)}, "2026-12"),
        ("month_key(day)", {"day": dt.date(2026, 2, 1)}, "2026-02"),
        ("month_key(day)", {"day": None}, None),
        ("min(a, b, 3)", {"a": 5, "b": Decimal("2.5")}, Decimal("2.5")),
        ("max(a, b, 3)", {"a": 5, "b": None}, 5),
        ("max(day, add_days(day, 1))", {"day": dt.date(2026, 1, 1)}, dt.date(2026, 1, 2)),
        ("round(a, 1)", {"a": Decimal("2.45")}, Decimal("2.5")),
        ("round(a)", {"a": Decimal("2.5")}, Decimal("3")),
        ("clamp(a, 0, 100)", {"a": 150}, 100),
        ("clamp(a, 0, 100)", {"a": -3}, 0),
        ("clamp(a, 0, 100)", {"a": Decimal("42.5")}, Decimal("42.5")),
        ("clamp(a, null, 10)", {"a": 50}, 10),
        ("clamp(a, 0, 100)", {"a": None}, None),
        ("clamp(day, a, b)", {"day": dt.date(2026, 5, 1), "a": dt.date(2026, 6, 1), "b": None}, dt.date(2026, 6, 1)),
        ("coalesce(a, b, 0)", {"a": None, "b": ""}, 0),
        ("coalesce(a, b)", {"a": None, "b": 7}, 7),
        ("is_empty(a)", {"a": None}, True),
        ("is_empty(note)", {"note": "   "}, True),
        ("is_empty(tags)", {"tags": []}, True),
        ("is_empty(a)", {"a": 0}, False),
        ("is_empty(note)", {"note": "x"}, False),
        ("a in [1, 2, 3]", {"a": 2}, True),
        ("a not in [1, 2, 3]", {"a": 2}, False),
        ('"ui" in tags', {"tags": ["ui", "api"]}, True),
    ],
)
def test_helpers_compute(source: str, env: dict[str, Any], expected: Any) -> None:
    """Does each helper give the documented value, including null in, null out?"""
    result = ev(source, **env)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("source", "env", "message"),
    [
        ("add_days(a, 1)", {"a": 3}, "add_days() needs a date, got number"),
        ("add_days(day, a)", {"day": dt.date(2026, 1, 1), "a": "x"}, "add_days() needs a whole number of days, got text"),
        ("add_days(day, a)", {"day": dt.date(2026, 1, 1), "a": Decimal("1.5")}, "add_days() needs a whole number of days, got number"),
        ("add_days(day, a)", {"day": dt.date(2026, 1, 1), "a": 10**7}, "add_days() moves at most 366000 days"),
        ("add_days(day, a)", {"day": dt.date(9999, 1, 1), "a": 1000}, "date out of range"),
        ("week_key(note)", {"note": "2026-01-01"}, "week_key() needs a date, got text"),
        ("month_key(a)", {"a": 202612}, "month_key() needs a date, got number"),
        ("clamp(a, 0, b)", {"a": 5, "b": "x"}, "clamp() cannot compare number with text"),
        ("clamp(a, 10, 0)", {"a": 5}, "clamp() needs the lower bound not above the upper bound"),
        ("days_between(a, day)", {"a": 1, "day": dt.date(2026, 1, 1)}, "days_between() needs two dates"),
        ("min(a, note)", {"a": 1, "note": "x"}, "min() cannot compare number with text"),
        ("round(note)", {"note": "x"}, "round() needs a number and 0 to 10 decimal places"),
        ("a in b", {"a": 1, "b": 3}, "'in' needs a list or text, got number"),
    ],
)
def test_helpers_refuse_wrong_arguments(source: str, env: dict[str, Any], message: str) -> None:
    """Does a wrong argument give a message that names the function and the kind of value?"""
    assert eval_error(source, **env) == message


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("add_days(day)", "add_days() takes 2 argument(s), got 1"),
        ("clamp(a, 1)", "clamp() takes 3 argument(s), got 2"),
        ("week_key(day, 1)", "week_key() takes 1 argument(s), got 2"),
        ("is_empty()", "is_empty() takes 1 argument(s), got 0"),
        ("round(a, 1, 2)", "round() takes 1 to 2 arguments, got 3"),
    ],
)
def test_helpers_check_their_argument_count_when_compiled(source: str, message: str) -> None:
    """Is a wrong number of arguments refused when the document is checked, not on save?"""
    assert compile_error(source) == message


def test_helper_messages_are_data() -> None:
    """Is a helper's refusal a message with parameters, not an English sentence?"""
    with pytest.raises(ExpressionError) as info:
        ev("week_key(a)", a=1)
    assert info.value.message.msgid == "%(function)s() needs a date, got %(kind)s"
    assert info.value.message.params["function"] == "week_key"


@pytest.fixture
def lead(make_user):
    return make_user("lea", {"demo": ["lead"]})


def helper_app() -> dict[str, Any]:
    return minimal_app(
        fields={
            "title": {"type": "text", "required": True},
            "starts_at": {"type": "datetime"},
            "due": {"type": "date"},
            "score": {"type": "integer"},
            "reminder_at": {"type": "computed", "formula": "add_days(starts_at, -1)", "result": "datetime"},
            "week": {"type": "computed", "formula": "week_key(due)", "result": "text"},
            "month": {"type": "computed", "formula": "month_key(due)", "result": "text"},
            "capped": {"type": "computed", "formula": "clamp(coalesce(score, 0), 0, 10)", "result": "integer"},
            "blank_title": {"type": "computed", "formula": "is_empty(due)", "result": "boolean"},
            "not_a_time": {"type": "computed", "formula": "due", "result": "datetime"},
        }
    )


def test_computed_fields_store_helper_results_and_datetimes(db, install, lead) -> None:
    """Does a computed field with `result: datetime` store an aware date-time, and do the
    helpers' results survive a save and a fresh read?"""
    task = install(helper_app()).entity("demo", "task")
    values = {"title": "a", "starts_at": "2026-12-07T09:30:00Z", "due": "2026-12-03", "score": 42}
    created = db.run(lambda c: records.create_record(c, task, values, actor=lead))
    stored = db.read(lambda c: records.fetch_record(c, task, created.id)).values
    assert stored["reminder_at"] == dt.datetime(2026, 12, 6, 9, 30, tzinfo=dt.UTC)
    assert (stored["week"], stored["month"], stored["capped"], stored["blank_title"]) == ("2026-W49", "2026-12", 10, False)
    assert stored["not_a_time"] is None
