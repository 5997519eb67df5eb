"""Hand-overs of an approval step's time limit on the record page: the history and the
approval panel say who handed to whom and why, in English and in Chinese."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest

from flowdeck.engine import clock, users
from flowdeck.engine.calendars import book as calendar_book
from flowdeck.engine.calendars import storage
from flowdeck.engine.jobs.runner import Runner
from tests.support.approval_flow import Flow, app_doc
from tests.support.web import login

SH = ZoneInfo("Asia/Shanghai")
OPENED = dt.datetime(2026, 9, 30, 10, 0, tzinfo=SH)
AFTER_THE_CHAIN = dt.datetime(2026, 10, 12, 12, 0, tzinfo=SH)  # 32 working hours on cn
CHAIN = {
    "steps": [
        {
            "key": "finance",
            "approvers": {"users": ["alice", "dave"]},
            "time_limit": {"working_hours": 24, "calendar": "cn"},
            "escalation": [
                {"after": {"working_hours": 16}, "do": "remind"},
                {"after": {"working_hours": 24}, "do": "hand_to_superior"},
                {"after": {"working_hours": 32}, "do": "notify_admins"},
            ],
        }
    ]
}


@pytest.fixture(autouse=True)
def held_clock() -> Iterator[None]:
    clock.set_now(OPENED)
    yield
    clock.set_now(None)
    calendar_book.install(calendar_book.CalendarBook({"cn": calendar_book.builtin_calendar()}))  # a test may change `cn`


# -- the record page ---------------------------------------------------------------------------


def test_hand_overs_show_on_the_record_page_in_both_languages(install, db, client):
    """After the chain ran: do the record page's history and approval panel say who handed to whom and why, in English and Chinese?"""
    f = Flow(db, install(app_doc(CHAIN)))
    db.run(lambda c: users.create_user(c, "root", password="password123", display_name="Root", is_admin=True))
    out = f.submit("grace", amount="1.00")
    clock.set_now(AFTER_THE_CHAIN)
    assert Runner(db, clock=clock.now).run_due() == {"done": 3}
    login(client, "grace")
    url = f"/a/ap/claim/{out.record.id}"
    english = client.get(url, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "handed over a task of" in english and "reminded the approvers of" in english
    assert "step “Finance”: from Alice to Mia, no decision within 24 working hours" in english
    assert "handed over to Mia: no decision within 24 working hours" in english and "Handed over" in english
    chinese = client.get(url, headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "步骤“Finance”：由 Alice 转交给 Mia，24 个工作小时内未处理" in chinese
    assert "已转交给 Mia：24 个工作小时内未处理" in chinese and "转交了审批任务" in chinese


def test_the_inbox_shows_when_a_decision_is_due_and_when_it_is_late(install, db, client):
    """Does the approver's inbox show the step's due time, marked late once the time limit has passed?"""
    f = Flow(db, install(app_doc(CHAIN)))
    f.submit("grace", amount="1.00")
    login(client, "alice")
    on_time = client.get("/approvals", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<span class="due">due ' in on_time and "overdue" not in on_time
    clock.set_now(AFTER_THE_CHAIN)  # past the 24 working hours (the October holidays do not count)
    login(client, "alice")  # twelve days on the engine clock ended the first session
    late = client.get("/approvals", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert '<span class="due overdue">截止 ' in late


def test_the_inbox_shows_the_due_time_a_calendar_change_moved(install, db, client):
    """Thursday 8 October made a company day off: does the approver's inbox show Monday 12
    October 11:30 instead of Saturday 10 October 11:30 once the recompute job ran?"""
    f = Flow(db, install(app_doc(CHAIN)))
    f.submit("grace", amount="1.00")
    login(client, "alice")
    before = client.get("/approvals", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<span class="due">due 10/10/26, 11:30' in before
    clock.set_now(dt.datetime(2026, 10, 2, 10, 0, tzinfo=SH))
    db.run(lambda c: storage.set_days(c, "cn", [storage.DayEdit(dt.date(2026, 10, 8), False, "Company day off")]))
    Runner(db, clock=clock.now).run_due()
    login(client, "alice")  # a week on the engine clock ended the first session
    after = client.get("/approvals", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<span class="due">due 10/12/26, 11:30' in after and "10/10/26, 11:30" not in after
