"""The mail settings on the notifications page: immediately / daily digest at a time / off,
quiet hours and time zone, saved with CSRF, refused choices shown beside their fields, and
the digest armed for the chosen moment."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from flowdeck.engine import clock, mailprefs, models
from tests.support.web import csrf_token, login, text


@pytest.fixture(autouse=True)
def held_clock():
    clock.set_now(dt.datetime(2026, 12, 8, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
    yield
    clock.set_now(None)


def digest_jobs(db):
    query = sa.select(models.jobs.c.dedupe_key, models.jobs.c.run_at).where(models.jobs.c.kind == "mail.digest")
    return db.read(lambda c: c.execute(query).all())


def test_choosing_a_daily_digest_and_quiet_hours(app, db, make_user):
    """Can a user choose a digest at 07:30 in their zone with quiet hours 22:00-08:00 and
    weekends, see it kept on the page, and is the digest armed for the next 07:30 in Berlin (03:00 there now)?"""
    lea = make_user("lea")
    client = app.test_client()
    login(client, "lea")
    page = client.get("/notifications").get_data(as_text=True)
    assert 'name="delivery" value="immediate" checked' in page and 'name="quiet" value="1" checked' not in page
    form = {"delivery": "digest", "digest_at": "07:30", "quiet": "1", "quiet_from": "22:00", "quiet_to": "08:00",
            "quiet_weekends": "1", "time_zone": "Europe/Berlin"}  # fmt: skip
    assert client.post("/account/notifications", data=form).status_code == 400, "CSRF is required"
    assert db.read(lambda c: mailprefs.load(c, lea.user_id)).delivery == "immediate"
    token = csrf_token(client, "/notifications")
    response = client.post("/account/notifications", data={**form, "csrf_token": token})
    assert response.status_code == 303
    saved = db.read(lambda c: mailprefs.load(c, lea.user_id))
    assert saved == mailprefs.MailPrefs("digest", 7 * 60 + 30, 22 * 60, 8 * 60, True, "Europe/Berlin")
    page = text(client.get(response.headers["Location"]))
    assert "You get one mail a day with your unread notifications." in page
    assert "Next digest: 2026-12-08 07:30 (Europe/Berlin)" in page
    berlin = dt.datetime(2026, 12, 8, 7, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    assert [(key, run_at) for key, run_at in digest_jobs(db)] == [(f"digest:{lea.user_id}:20261208T0630Z", berlin)]
    html = client.get("/notifications").get_data(as_text=True)
    assert 'value="digest" checked' in html and 'name="digest_at" value="07:30"' in html
    assert 'name="quiet" value="1" checked' in html and 'value="Europe/Berlin" selected' in html


def test_a_refused_choice_comes_back_with_its_errors(app, db, make_user):
    """Are quiet hours without an end and an unknown zone refused (400), nothing saved, the typed values kept?"""
    lea = make_user("lea")
    client = app.test_client()
    login(client, "lea")
    token = csrf_token(client, "/notifications")
    form = {"csrf_token": token, "delivery": "digest", "digest_at": "06:15", "quiet": "1", "quiet_from": "22:00", "quiet_to": "",
            "time_zone": "Mars/Olympus"}  # fmt: skip
    response = client.post("/account/notifications", data=form)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "must be a time of day (HH:MM)" in page and "is not a known time zone" in page
    assert 'name="quiet_to" value="" aria-label="Quiet hours end" aria-invalid="true"' in page
    assert 'name="digest_at" value="06:15"' in page and 'value="digest" checked' in page
    assert db.read(lambda c: mailprefs.load(c, lea.user_id)) == mailprefs.MailPrefs()
    assert digest_jobs(db) == []


def test_turning_mail_off_and_back_on(app, db, make_user):
    """Does "off" stop mail (the old switch too) and "immediately" bring it back, in Chinese on a Chinese page?"""
    lea = make_user("lea")
    client = app.test_client()
    login(client, "lea")
    token = csrf_token(client, "/notifications")
    client.post("/account/notifications", data={"csrf_token": token, "delivery": "off"})
    assert db.read(lambda c: mailprefs.load(c, lea.user_id)).delivery == "off"
    client.post("/account/notifications", data={"csrf_token": token, "delivery": "immediate"})
    assert db.read(lambda c: mailprefs.load(c, lea.user_id)).delivery == "immediate"
    page = client.get("/notifications", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "免打扰时段" in page and "每日摘要" in page
