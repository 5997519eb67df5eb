"""The business calendars admin page: admins create calendars, set days and import ICS
files with CSRF; everyone else gets 403; the warning from 1 November; the page in Chinese."""

from __future__ import annotations

import datetime as dt
from io import BytesIO

import pytest

from flowdeck.engine import clock
from flowdeck.engine.calendars import storage
from tests.support.web import csrf_token, login, text


@pytest.fixture
def held_clock():
    yield clock.set_now
    clock.set_now(None)


def _admin(app, make_user):
    make_user("root", is_admin=True)
    client = app.test_client()
    login(client, "root")
    return client


def test_only_admins_see_the_calendars(app, make_user):
    """Does a signed-in user who is not an admin get 403 on every page and change?"""
    make_user("ann")
    client = app.test_client()
    login(client, "ann")
    assert client.get("/admin/calendars/").status_code == 403
    assert client.get("/admin/calendars/cn").status_code == 403
    token = csrf_token(client, "/")
    assert client.post("/admin/calendars/cn/days", data={"csrf_token": token, "day": "2026-12-24", "kind": "off"}).status_code == 403


def test_an_admin_creates_a_calendar_and_sets_days(app, db, make_user):
    """Can an admin create a calendar, add a company day off and remove it again, each
    change needing the CSRF token?"""
    client = _admin(app, make_user)
    page = text(client.get("/admin/calendars/"))
    assert "China mainland" in page and "Asia/Shanghai" in page
    week = {f"week{i}": "09:00-12:00, 13:00-17:00" if i < 5 else "" for i in range(7)}
    data = {"key": "berlin", "name_en": "Berlin office", "zone": "Europe/Berlin", "source": "", **week}
    assert client.post("/admin/calendars/", data=data).status_code == 400  # no CSRF token
    token = csrf_token(client, "/admin/calendars/")
    response = client.post("/admin/calendars/", data={**data, "csrf_token": token})
    assert response.status_code == 303 and response.headers["Location"].endswith("/admin/calendars/berlin")
    response = client.post(
        "/admin/calendars/berlin/days", data={"csrf_token": token, "day": "2026-12-24", "kind": "off", "label": "Heiligabend"}
    )
    assert response.status_code == 303
    page = text(client.get("/admin/calendars/berlin?year=2026"))
    assert "Heiligabend" in page and "13:00-17:00" in page
    berlin = db.read(storage.load_book).get("berlin")
    assert not berlin.windows_on(dt.date(2026, 12, 24))
    client.post("/admin/calendars/berlin/days/2026-12-24/remove", data={"csrf_token": token})
    assert db.read(storage.load_book).get("berlin").windows_on(dt.date(2026, 12, 24))
    bad = client.post("/admin/calendars/", data={**data, "key": "mars", "zone": "Mars/Olympus", "csrf_token": token}, follow_redirects=True)
    assert "Mars/Olympus" in text(bad) and "mars" not in db.read(storage.load_book).calendars


def test_ics_import_on_the_page(app, db, make_user):
    """Does an uploaded ICS file become days of the calendar, and is a bad file refused?"""
    client = _admin(app, make_user)
    token = csrf_token(client, "/admin/calendars/cn")
    ics = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:1\r\n"
        b"DTSTART;VALUE=DATE:20261231\r\nSUMMARY:Year-end closing\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    response = client.post(
        "/admin/calendars/cn/ics",
        data={"csrf_token": token, "kind": "off", "file": (BytesIO(ics), "days.ics")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    assert not db.read(storage.load_book).get("cn").windows_on(dt.date(2026, 12, 31))
    assert "Year-end closing" in text(client.get("/admin/calendars/cn?year=2026"))
    refused = client.post(
        "/admin/calendars/cn/ics",
        data={"csrf_token": token, "file": (BytesIO(b"hello"), "x.ics")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "not an iCalendar" in text(refused)


def test_the_page_warns_from_1_november(app, make_user, held_clock):
    """Is the missing 2027 schedule shown from 1 Nov 2026 (not on 31 Oct), and gone once an
    admin marks 2027 complete? On the calendars page and the admin's start page."""
    client = _admin(app, make_user)
    held_clock(dt.datetime(2026, 10, 31, 12, tzinfo=dt.UTC))
    assert "not loaded for the calendar" not in text(client.get("/admin/calendars/"))
    assert "not loaded for the calendar" not in text(client.get("/admin/users"))
    held_clock(dt.datetime(2026, 11, 1, 1, tzinfo=dt.UTC))
    page = text(client.get("/admin/calendars/"))
    assert "The official days of 2027 are not loaded for the calendar “China mainland”" in page
    assert "The official days of 2027 are not loaded" in text(client.get("/admin/users"))  # the admin's start page too
    token = csrf_token(client, "/admin/calendars/cn")
    client.post("/admin/calendars/cn/years", data={"csrf_token": token, "year": "2027"})
    assert "not loaded for the calendar" not in text(client.get("/admin/calendars/"))


def test_the_page_in_chinese(app, make_user, held_clock):
    """Does a Chinese admin read the page, the official days and the warning in Chinese?"""
    client = _admin(app, make_user)
    held_clock(dt.datetime(2026, 11, 2, tzinfo=dt.UTC))
    client.post("/prefs/lang", data={"lang": "zh", "csrf_token": csrf_token(client, "/admin/calendars/")})
    page = text(client.get("/admin/calendars/"))
    assert "工作日历" in page and "日历“中国大陆”尚未载入 2027 年" in page and "China mainland" not in page
    detail = text(client.get("/admin/calendars/cn?year=2026"))
    assert "春节" in detail and "调休上班" in detail and "Working windows" not in detail
