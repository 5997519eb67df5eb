"""Business calendar arithmetic against hand-checked cases: window edges, the lunch break,
Spring Festival 2026 with its make-up Saturdays, a make-up Sunday across the year boundary,
Europe/Berlin's daylight-saving changes; the warning from 1 November; ICS import and the
admin's days stored on SQLite and PostgreSQL; the expression functions."""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowdeck.engine import records
from flowdeck.engine.calendars import arithmetic as a
from flowdeck.engine.calendars import book, ics, storage
from flowdeck.engine.calendars.model import Calendar, CalendarError, parse_windows
from flowdeck.engine.errors import SchemaInvalid
from flowdeck.engine.expressions import ExpressionError, Scope, compile_expression
from flowdeck.engine.schema.label import Label
from tests.support.documents import minimal_app

SH = ZoneInfo("Asia/Shanghai")
BER = ZoneInfo("Europe/Berlin")
CN = book.builtin_calendar()
BERLIN = Calendar(
    "berlin",
    Label({"en": "Berlin"}),
    "Europe/Berlin",
    week=(*[parse_windows("09:00-17:00")] * 5, (), parse_windows("01:00-04:00")),
)


def sh(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=SH)


def ber(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=BER)


ADD_CASES = [
    # (start, working hours, expected), Shanghai, Mon-Fri 09:00-12:00 and 13:30-18:00
    (sh(2026, 3, 3, 9, 0), 1, sh(2026, 3, 3, 10, 0)),
    (sh(2026, 3, 3, 11, 30), 1, sh(2026, 3, 3, 14, 0)),  # across lunch
    (sh(2026, 3, 3, 12, 30), 1, sh(2026, 3, 3, 14, 30)),  # starting in lunch
    (sh(2026, 3, 3, 17, 0), 1, sh(2026, 3, 3, 18, 0)),  # ends exactly at the window's end
    (sh(2026, 3, 3, 18, 0), 1 / 60, sh(2026, 3, 4, 9, 1)),
    (sh(2026, 3, 3, 8, 0), 3, sh(2026, 3, 3, 12, 0)),
    (sh(2026, 3, 2, 9, 0), 40, sh(2026, 3, 9, 11, 30)),  # 5 x 7.5 h + 2.5 h
    (sh(2026, 2, 13, 17, 0), 2, sh(2026, 2, 14, 10, 0)),  # Saturday 14 Feb is a make-up working day
    (sh(2026, 2, 14, 17, 0), 2, sh(2026, 2, 24, 10, 0)),  # Spring Festival: 15-23 Feb off
    (sh(2025, 12, 31, 17, 0), 2, sh(2026, 1, 4, 10, 0)),  # 1-3 Jan off, Sunday 4 Jan is a make-up day
    (sh(2026, 2, 24, 10, 0), -2, sh(2026, 2, 14, 17, 0)),  # backwards over the festival
    (sh(2026, 9, 30, 17, 30), 1, sh(2026, 10, 8, 9, 30)),  # National Day 1-7 Oct; 8 Oct is a Thursday
]


@pytest.mark.parametrize(("start", "hours", "expected"), ADD_CASES)
def test_adding_working_hours_on_the_china_calendar(start, hours, expected):
    """Where does adding working hours land: window edges, lunch, make-up days, festivals?"""
    assert a.add_working_time(CN, start, dt.timedelta(hours=hours)) == expected


def test_adding_no_time_keeps_the_moment():
    """Is adding zero working hours outside working time the moment itself (not moved)?"""
    assert a.add_working_time(CN, sh(2026, 2, 15, 3, 0), dt.timedelta()) == sh(2026, 2, 15, 3, 0)


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        (sh(2026, 2, 13, 9, 0), sh(2026, 2, 24, 11, 0), 17),  # 7.5 + 7.5 (make-up Sat) + 2
        (sh(2026, 3, 3, 11, 0), sh(2026, 3, 3, 14, 0), 1.5),
        (sh(2026, 3, 3, 14, 0), sh(2026, 3, 3, 11, 0), -1.5),
        (sh(2026, 3, 3, 18, 0), sh(2026, 3, 4, 9, 0), 0),
        (sh(2025, 12, 31, 9, 0), sh(2026, 1, 5, 9, 0), 15),  # 31 Dec and make-up Sunday 4 Jan
    ],
)
def test_working_time_between_two_instants(start, end, hours):
    """How much working time lies between two instants, including backwards?"""
    assert a.working_time_between(CN, start, end) == dt.timedelta(hours=hours)


def test_working_days_around_spring_festival_and_new_year():
    """Do day counts follow the 2026 official schedule (make-up Saturdays 14 and 28 Feb)?"""
    assert a.next_working_day(CN, dt.date(2026, 2, 13)) == dt.date(2026, 2, 14)
    assert a.next_working_day(CN, dt.date(2026, 2, 14)) == dt.date(2026, 2, 24)
    assert a.add_working_days(CN, dt.date(2026, 2, 12), 2) == dt.date(2026, 2, 14)
    assert a.add_working_days(CN, dt.date(2026, 2, 24), -1) == dt.date(2026, 2, 14)
    assert a.add_working_days(CN, dt.date(2025, 12, 31), 1) == dt.date(2026, 1, 4)
    assert a.working_days_between(CN, dt.date(2026, 2, 13), dt.date(2026, 2, 28)) == 6
    assert a.working_days_between(CN, dt.date(2026, 2, 28), dt.date(2026, 2, 13)) == -6
    assert a.is_working_day(CN, dt.date(2026, 10, 10)) and not a.is_working_day(CN, dt.date(2026, 10, 5))
    assert a.working_day_of(CN, sh(2026, 2, 13, 20, 0)) == dt.date(2026, 2, 14)
    assert a.working_day_of(CN, sh(2026, 2, 13, 17, 59)) == dt.date(2026, 2, 13)


@pytest.mark.parametrize(
    ("moment", "working"),
    [
        (sh(2026, 3, 3, 9, 0), True),
        (sh(2026, 3, 3, 11, 59), True),
        (sh(2026, 3, 3, 12, 0), False),
        (sh(2026, 3, 3, 13, 30), True),
        (sh(2026, 3, 3, 18, 0), False),
        (sh(2026, 2, 14, 10, 0), True),
        (sh(2026, 2, 17, 10, 0), False),
    ],
)
def test_is_working_time_at_the_edges(moment, working):
    """Is a window's start working time and its end not?"""
    assert a.is_working_time(CN, moment) is working


def test_daylight_saving_changes_in_berlin():
    """Are windows measured in real hours when Berlin's clocks move (a Sunday 01:00-04:00
    window is 2 h on 29 Mar 2026 and 4 h on 25 Oct 2026)?"""
    assert a.working_time_between(BERLIN, ber(2026, 3, 28, 12), ber(2026, 3, 30, 0)) == dt.timedelta(hours=2)
    assert a.working_time_between(BERLIN, ber(2026, 10, 24, 12), ber(2026, 10, 26, 0)) == dt.timedelta(hours=4)
    assert a.add_working_time(BERLIN, ber(2026, 3, 27, 16), dt.timedelta(hours=2)) == ber(2026, 3, 29, 3)
    assert a.working_time_between(BERLIN, ber(2026, 3, 27, 9), ber(2026, 3, 30, 17)) == dt.timedelta(hours=18)
    assert a.add_working_time(BERLIN, ber(2026, 3, 30, 8), dt.timedelta(hours=1)) == dt.datetime(2026, 3, 30, 8, tzinfo=dt.UTC)


def test_adding_working_time_iterates_days_not_minutes():
    """Is adding 40 working hours cheap enough for 10,000 instants in well under a second?"""
    starts = [sh(2026, 3, 2, 9, 0) + dt.timedelta(minutes=17 * i) for i in range(10_000)]
    began = time.perf_counter()
    for start in starts:
        a.add_working_time(CN, start, dt.timedelta(hours=40))
    assert time.perf_counter() - began < 2.0


def test_a_calendar_without_working_time_refuses_instead_of_looping():
    """Does a calendar with no window at all say so rather than search forever?"""
    empty = Calendar("empty", Label({"en": "Empty"}), "UTC", week=((),) * 7)
    with pytest.raises(CalendarError):
        a.add_working_time(empty, dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.timedelta(hours=1))


def test_overlapping_or_broken_windows_are_refused():
    """Are overlapping windows and impossible times refused with a message?"""
    for text in ("09:00-12:00, 11:00-13:00", "9-12", "18:00-09:00", "25:00-26:00"):
        with pytest.raises(CalendarError):
            parse_windows(text)


def test_the_warning_starts_on_1_november_when_next_year_is_missing():
    """Is the missing 2027 schedule reported from 1 Nov 2026, and not on 31 Oct?"""
    only_cn = book.CalendarBook({"cn": CN})
    assert book.warnings(only_cn, dt.date(2026, 10, 31)) == []
    found = book.warnings(only_cn, dt.date(2026, 11, 1))
    assert len(found) == 1 and found[0].params["year"] == "2027"
    assert book.missing_years(BERLIN, dt.date(2026, 12, 1)) == []  # kept by hand, no source


ICS = b"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:1
DTSTART;VALUE=DATE:20261224
DTEND;VALUE=DATE:20261226
SUMMARY:Company holiday
END:VEVENT
BEGIN:VEVENT
UID:2
DTSTART;VALUE=DATE:20261226
SUMMARY:\xe8\xa1\xa5\xe7\x8f\xad
END:VEVENT
BEGIN:VEVENT
UID:3
DTSTART;VALUE=DATE:20260101
RRULE:FREQ=YEARLY
SUMMARY:Every year
END:VEVENT
END:VCALENDAR
"""


def test_ics_days_are_stored_and_change_the_arithmetic(db):
    """Does an ICS import add days off and a 补班 working day that the book then uses?"""
    found = ics.read_ics(ICS, SH)
    assert [(d.day, d.working) for d in found.days] == [
        (dt.date(2026, 12, 24), False),
        (dt.date(2026, 12, 25), False),
        (dt.date(2026, 12, 26), True),
    ]
    assert found.recurring_skipped == 1
    db.run(lambda conn: storage.set_days(conn, "cn", found.days))
    cn = db.read(storage.load_book).get("cn")
    assert a.next_working_day(cn, dt.date(2026, 12, 23)) == dt.date(2026, 12, 26)
    assert cn.days[dt.date(2026, 2, 14)].working  # the official days stay
    with pytest.raises(CalendarError):
        ics.read_ics(b"not a calendar", SH)


def test_admin_calendars_are_stored_completed_and_made_default(db):
    """Do a new calendar, a marked-complete year and the default survive a reload?"""
    settings = storage.settings_from_form("berlin", {"en": "Berlin office"}, "Europe/Berlin", ["09:00-17:00"] * 5 + ["", ""], None)
    db.run(lambda conn: storage.create_calendar(conn, settings))
    db.run(lambda conn: storage.set_days(conn, "berlin", [storage.DayEdit(dt.date(2026, 12, 24), False, "Heiligabend")]))
    db.run(lambda conn: storage.mark_year_complete(conn, "berlin", 2027))
    db.run(lambda conn: storage.make_default(conn, "berlin"))
    loaded = db.read(storage.load_book)
    assert loaded.default.key == "berlin" and 2027 in loaded.default.official_years
    assert not a.is_working_day(loaded.default, dt.date(2026, 12, 24))
    with pytest.raises(CalendarError):
        db.run(lambda conn: storage.create_calendar(conn, settings))
    with pytest.raises(CalendarError):
        storage.settings_from_form("x", {"en": "X"}, "Mars/Olympus", [""] * 7, None)
    db.run(lambda conn: storage.delete_calendar(conn, "berlin"))
    assert db.read(storage.load_book).default.key == "cn"


def test_expression_functions_use_the_calendars():
    """Do the working-time functions compute on the named or default calendar, give null
    for null, and name an unknown calendar?"""
    book.install(book.CalendarBook({"cn": CN, "berlin": BERLIN}))
    scope = Scope(frozenset({"d", "t"}))

    def run(source, **env):
        return compile_expression(source, scope).evaluate(env)

    try:
        assert run('add_working_days(d, 2, "cn")', d=dt.date(2026, 2, 12)) == dt.date(2026, 2, 14)
        assert run("next_working_day(d)", d=dt.date(2026, 2, 14)) == dt.date(2026, 2, 24)
        assert run("working_days_between(d, add_working_days(d, 5))", d=dt.date(2026, 2, 13)) == 5
        assert run("add_working_hours(t, 2)", t=sh(2026, 2, 14, 17, 0)) == sh(2026, 2, 24, 10, 0)
        assert run("add_working_minutes(t, 30)", t=sh(2026, 3, 3, 11, 45)) == sh(2026, 3, 3, 13, 45)
        assert str(run("working_hours_between(t, add_working_hours(t, 1.5))", t=sh(2026, 3, 3, 11, 0))) == "1.50"
        assert run("working_minutes_between(t, add_working_hours(t, 1.5))", t=sh(2026, 3, 3, 11, 0)) == 90
        assert run("is_working_time(t)", t=sh(2026, 2, 14, 10, 0)) is True
        assert run('is_working_day(d, "berlin")', d=dt.date(2026, 2, 14)) is False
        assert run("working_day_key(t)", t=sh(2026, 2, 13, 20, 0)) == "2026-02-14"
        assert run("add_working_days(d, 1)", d=None) is None
        with pytest.raises(ExpressionError):
            run('next_working_day(d, "nowhere")', d=dt.date(2026, 1, 1))
    finally:
        book.install(book.CalendarBook({"cn": CN}))


def _app_on(calendar: str) -> dict:
    document = minimal_app()
    fields = document["entities"]["task"]["fields"]
    fields["asked_on"] = {"type": "date"}
    fields["answer_by"] = {"type": "computed", "formula": f'add_working_days(asked_on, 2, "{calendar}")', "result": "date"}
    return document


def test_apps_name_calendars_by_key_and_keep_them(db, install, make_user):
    """Is an unknown calendar key refused at its JSON path, does a formula compute on an
    admin's calendar once it exists, and is that calendar kept while the app names it?"""
    with pytest.raises(SchemaInvalid) as info:
        install(_app_on("berlin"))
    assert "entities.task.fields.answer_by" in str(info.value) and "unknown calendar “berlin”" in str(info.value)
    week = ["09:00-17:00"] * 5 + ["", ""]
    db.run(
        lambda conn: storage.create_calendar(
            conn, storage.settings_from_form("berlin", {"en": "Berlin", "zh": "柏林"}, "Europe/Berlin", week, None)
        )
    )
    db.run(lambda conn: storage.set_days(conn, "berlin", [storage.DayEdit(dt.date(2026, 12, 24), False, "Heiligabend")]))
    lead = make_user("lea", {"demo": ["lead"]})
    task = install(_app_on("berlin")).entity("demo", "task")
    created = db.run(lambda c: records.create_record(c, task, {"title": "a", "asked_on": "2026-12-22"}, actor=lead))
    assert created.values["answer_by"] == dt.date(2026, 12, 25)  # 23 Dec, (24 Dec off), 25 Dec
    with pytest.raises(CalendarError) as refused:
        db.run(lambda conn: storage.delete_calendar(conn, "berlin"))
    assert refused.value.message.params["apps"] == ["demo"]


@settings(max_examples=300, deadline=None)
@given(
    minutes=st.integers(min_value=0, max_value=3 * 366 * 24 * 60),
    amount=st.integers(min_value=-200 * 60, max_value=200 * 60),
    berlin=st.booleans(),
)
def test_adding_and_measuring_agree(minutes, amount, berlin):
    """For any instant 2025-2027 and any amount up to 200 working hours either way, is the
    working time between the instant and the sum exactly the amount (China and Berlin)?"""
    cal = BERLIN if berlin else CN
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=minutes)
    end = a.add_working_time(cal, start, dt.timedelta(minutes=amount))
    assert a.working_time_between(cal, start, end) == dt.timedelta(minutes=amount)


@settings(max_examples=200, deadline=None)
@given(day=st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2027, 12, 31)), count=st.integers(min_value=-300, max_value=300))
def test_adding_and_counting_working_days_agree(day, count):
    """Does counting the working days to `add_working_days(d, n)` give `n` back?"""
    assert a.working_days_between(CN, day, a.add_working_days(CN, day, count)) == count
