"""Durations as documents give them, on hand-checked moments of the China calendar (the
lunch break, Spring Festival 2026 with its make-up Saturday, the make-up Sunday of
4 January 2026) and on another calendar named by key."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import jsonschema
import pytest

from flowdeck.engine.calendars import book
from flowdeck.engine.calendars.model import Calendar, parse_windows
from flowdeck.engine.durations import Duration, add_duration, duration_of, duration_problems, seconds_of
from flowdeck.engine.messages import render
from flowdeck.engine.schema.label import Label
from flowdeck.engine.schema.shape import meta_schema

SH = ZoneInfo("Asia/Shanghai")
CN = book.builtin_calendar()
NIGHTS = Calendar("nights", Label({"en": "Nights"}), "Asia/Shanghai", week=(*[parse_windows("20:00-23:00")] * 7,))


def sh(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=SH)


@pytest.fixture(autouse=True)
def _calendars():
    book.install(book.CalendarBook({"cn": CN, "nights": NIGHTS}))
    yield
    book.install(book.CalendarBook({"cn": CN}))


CASES = [
    ({"hours": 24}, sh(2026, 2, 13, 17, 0), sh(2026, 2, 14, 17, 0)),
    ({"days": 7}, sh(2026, 2, 13, 17, 0), sh(2026, 2, 20, 17, 0)),
    ({"minutes": 90}, sh(2026, 3, 3, 11, 0), sh(2026, 3, 3, 12, 30)),
    ({"working_hours": 1}, sh(2026, 3, 3, 11, 30), sh(2026, 3, 3, 14, 0)),  # across lunch
    ({"working_minutes": 30}, sh(2026, 3, 3, 11, 45), sh(2026, 3, 3, 13, 45)),
    ({"working_hours": 4}, sh(2026, 2, 13, 17, 0), sh(2026, 2, 14, 12, 0)),  # Saturday 14 Feb is a make-up day
    ({"working_hours": 2}, sh(2026, 2, 14, 17, 0), sh(2026, 2, 24, 10, 0)),  # the festival is skipped
    ({"working_days": 1}, sh(2025, 12, 31, 15, 0), sh(2026, 1, 4, 15, 0)),  # make-up Sunday
    ({"working_days": 7}, sh(2026, 2, 12, 10, 0), sh(2026, 2, 28, 10, 0)),  # 14 and 28 Feb are make-up Saturdays
    ({"working_days": 2}, sh(2026, 2, 15, 10, 0), sh(2026, 2, 25, 10, 0)),  # from a holiday
    ({"working_hours": 4, "calendar": "nights"}, sh(2026, 3, 3, 22, 0), sh(2026, 3, 4, 23, 0)),
]


@pytest.mark.parametrize(("raw", "start", "expected"), CASES)
def test_adding_a_duration(raw, start, expected):
    assert add_duration(start.astimezone(dt.UTC), duration_of(raw)) == expected


def test_the_meta_schema_and_the_checks_refuse_what_is_not_a_duration():
    schema = {"$defs": meta_schema()["$defs"], "$ref": "#/$defs/duration"}
    jsonschema.validate({"working_hours": 4, "calendar": "cn"}, schema)
    for bad in ({}, {"hours": 0}, {"hours": -1}, {"weeks": 1}, {"hours": "4"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    assert duration_problems({"working_hours": 4, "calendar": "cn"}) == []
    [(path, message)] = duration_problems({"hours": 1, "minutes": 5})
    assert path == () and "exactly one of" in render(message)
    [(path, message)] = duration_problems({"hours": 4, "calendar": "cn"})
    assert path == ("calendar",) and "only working time" in render(message)
    [(path, message)] = duration_problems({"working_hours": 4, "calendar": "mars"})
    assert path == ("calendar",) and "“mars”" in render(message) and "cn" in render(message)
    [(path, message)] = duration_problems({"working_days": 1.5})
    assert path == ("working_days",)


def test_a_duration_round_trips_and_knows_its_seconds():
    duration = duration_of({"working_hours": 1.5, "calendar": "cn"})
    assert duration == Duration("working_hours", Decimal("1.5"), "cn")
    assert duration.working and duration.to_json() == {"working_hours": 1.5, "calendar": "cn"}
    assert seconds_of(duration) == 5400
    assert seconds_of(duration_of({"working_days": 3})) is None
    assert duration_of({"days": 2}).to_json() == {"days": 2}
