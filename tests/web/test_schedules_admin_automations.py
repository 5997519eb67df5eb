"""Scheduled automations on the admin's Schedules page, with the engine clock held: the next
7 occurrences on the China calendar (a holiday week skipped, make-up Saturdays worked,
an occurrence rolled forward), the last runs with their counts, a run that needs
attention, and Run now (CSRF, admins only) that leaves the armed occurrence in place."""

from __future__ import annotations

import copy
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from flowdeck.engine import clock, models, records
from flowdeck.engine.automations import scheduled
from flowdeck.engine.jobs.runner import Runner
from flowdeck.engine.permissions import Actor
from tests.support.automations import rule
from tests.support.documents import automation_app
from tests.support.schedules_page import occurrences, section
from tests.support.web import csrf_token, login, text

SH = ZoneInfo("Asia/Shanghai")
J, R = models.jobs, models.schedule_runs
BUMP = {"do": "set", "fields": {"bumps": {"increment": 1}}}
MORNING = rule("morning", {"on": "scheduled", "every": {"preset": "every_working_day", "at": "09:00"}}, BUMP)
MONDAY = rule(
    "monday",
    {"on": "scheduled", "every": {"rrule": "FREQ=WEEKLY;BYDAY=MO;BYHOUR=10;BYMINUTE=0"}, "on_non_working_day": "forward"},
    BUMP,
)
BROKEN = rule(
    "broken", {"on": "scheduled", "every": {"preset": "every_working_day", "at": "11:00"}, "where": "10 / (bumps - bumps) > 1"}, BUMP
)


def local(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=SH).astimezone(dt.UTC)


@pytest.fixture
def held():
    """Hold the engine clock (the page, the arming and the runner read it) at a moment."""
    yield clock.set_now
    clock.set_now(None)


def _setup(install, make_user, db, held, *rules, tickets: int = 2):
    held(local(2026, 2, 12, 12, 0))  # Thursday noon, before the Spring Festival week
    registry = install(automation_app(*copy.deepcopy(rules)))
    et = registry.entity("ops", "ticket")
    for index in range(tickets):
        db.run(lambda conn, i=index: records.create_record(conn, et, {"title": f"t{i}"}, actor=Actor.system()))
    make_user("root", is_admin=True)


def test_the_page_shows_next_occurrences_on_the_business_calendar(app, db, install, make_user, held):
    """Does the page list a scheduled automation's next 7 working days (the holiday week left out,
    make-up Saturdays in) and a Monday rule rolled forward off the holidays, in words, in both languages?"""
    _setup(install, make_user, db, held, MORNING, MONDAY)
    client = app.test_client()
    login(client, "root")
    page = text(client.get("/admin/apps/ops/schedules/"))
    morning = section(page, "automation-morning")
    assert occurrences(page, "automation-morning") == [
        local(2026, 2, 13, 9), local(2026, 2, 14, 9), local(2026, 2, 24, 9), local(2026, 2, 25, 9),
        local(2026, 2, 26, 9), local(2026, 2, 27, 9), local(2026, 2, 28, 9),
    ]  # fmt: skip
    assert "every working day at 09:00" in morning and "China mainland" in morning and "Scheduled automation" in morning
    assert morning.count('class="badge armed"') == 1 and "armed</span>" in morning.split("</li>")[0]
    monday = section(page, "automation-monday")
    assert occurrences(page, "automation-monday") == [
        local(2026, 2, 24, 10), local(2026, 3, 2, 10), local(2026, 3, 9, 10), local(2026, 3, 16, 10),
        local(2026, 3, 23, 10), local(2026, 3, 30, 10), local(2026, 4, 7, 10),  # Monday 6 April: Qingming
    ]  # fmt: skip
    assert "every week on Monday at 10:00" in monday and "moved to the next working day" in monday
    assert 'href="/admin/automations/?rule=ops:monday"' in monday.replace("%3A", ":")
    token = csrf_token(client, "/admin/apps/ops/schedules/")
    client.post("/prefs/lang", data={"lang": "zh", "csrf_token": token})
    page = text(client.get("/admin/apps/ops/schedules/"))
    assert "每个工作日 09:00" in section(page, "automation-morning") and "中国大陆" in page
    assert "顺延到下一个工作日" in section(page, "automation-monday")
    assert "定时自动化" in page


def test_the_automations_page_links_to_the_schedules_page(app, db, install, make_user, held):
    """Does the Automation runs page link to the Schedules page of an app with a scheduled rule?"""
    _setup(install, make_user, db, held, MORNING)
    client = app.test_client()
    login(client, "root")
    assert 'href="/admin/apps/ops/schedules/"' in text(client.get("/admin/automations/"))


def test_last_runs_and_a_run_that_needs_attention(app, db, install, make_user, held):
    """Are a done run (with its record count) and a failing rule's retries then "needs attention" (with its
    error, told to the admins) shown, the failing rule keeping its next occurrence armed?"""
    _setup(install, make_user, db, held, MORNING, BROKEN)
    client = app.test_client()
    login(client, "root")
    runner = Runner(db)
    held(local(2026, 2, 13, 9, 0, 30))
    assert runner.run_due() == {"done": 1}  # the morning rule, for both tickets
    held(local(2026, 2, 13, 11, 0, 30))
    assert runner.run_one() == "queued"  # the broken rule's first attempt fails: division by zero
    login(client, "root")  # the held clock moved past the session's idle timeout
    page = text(client.get("/admin/apps/ops/schedules/"))
    broken = section(page, "automation-broken")
    assert "Failing, tried again later" in broken and "1 / 5" in broken and "ExpressionError" in broken
    assert 'timed-attention" id="automation-broken"' in page  # highlighted while it fails
    for _ in range(4):
        held(clock.now() + dt.timedelta(hours=1))
        runner.run_one()
    login(client, "root")
    page = text(client.get("/admin/apps/ops/schedules/"))
    broken = section(page, "automation-broken")
    assert "Failing, tried again later" not in broken and 'class="alert error attention"' in broken
    assert "ExpressionError" in broken and "Needs attention: 1" in broken
    assert occurrences(page, "automation-broken")[0] == local(2026, 2, 14, 11)
    assert "armed</span>" in broken  # its next occurrence is still armed
    morning = section(page, "automation-morning")
    assert "Done: 1" in morning and 'class="run-done"' in morning and "<td>2</td>" in morning
    assert 'timed-attention" id="automation-broken"' in page and 'timed-attention" id="automation-morning"' not in page
    kinds = db.read(lambda c: c.execute(sa.select(models.notifications.c.kind)).scalars().all())
    assert "schedule_failed" in kinds


def test_run_now_leaves_the_armed_occurrence(app, db, install, make_user, held):
    """Does Run now (with CSRF) of a scheduled automation run it at once, shown as a manual run, while the
    next occurrence stays armed and later runs as planned?"""
    _setup(install, make_user, db, held, MORNING)
    client = app.test_client()
    login(client, "root")
    armed_key = scheduled.occurrence_key("ops", "morning", local(2026, 2, 13, 9))
    assert client.post("/admin/apps/ops/schedules/automations/morning/run").status_code == 400  # no CSRF token
    token = csrf_token(client, "/admin/apps/ops/schedules/")
    response = client.post("/admin/apps/ops/schedules/automations/morning/run", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["Location"].endswith("#automation-morning")
    assert Runner(db).run_due() == {"done": 1}
    bumps = db.read(lambda c: c.execute(sa.text("SELECT bumps FROM ops__ticket ORDER BY id")).scalars().all())
    assert bumps == [1, 1]
    rows = db.read(lambda c: c.execute(sa.select(R.c.occurrence, R.c.status, R.c.occurrence_at)).all())
    assert len(rows) == 1 and rows[0][0].startswith("manual:") and rows[0][1] == "done" and rows[0][2] is None
    queued = db.read(lambda c: c.execute(sa.select(J.c.dedupe_key).where(J.c.status == "queued")).scalars().all())
    assert queued == [armed_key]
    page = text(client.get("/admin/apps/ops/schedules/"))
    morning = section(page, "automation-morning")
    assert occurrences(page, "automation-morning")[0] == local(2026, 2, 13, 9) and "armed</span>" in morning
    assert "Done: 1" in morning
    held(local(2026, 2, 13, 9, 0, 30))
    assert Runner(db).run_due() == {"done": 1}  # the planned occurrence still runs
    bumps = db.read(lambda c: c.execute(sa.text("SELECT bumps FROM ops__ticket ORDER BY id")).scalars().all())
    assert bumps == [2, 2]


def test_run_now_of_an_automation_is_for_admins_only(app, db, install, make_user, held):
    """Is a signed-in non-admin refused (403) the page and an automation's Run now, with nothing queued,
    and is Run now of a rule that is not scheduled a 404?"""
    created = rule("on_create", {"on": "created"}, BUMP)
    _setup(install, make_user, db, held, MORNING, created, tickets=0)
    make_user("lea", roles={"ops": ["agent"]})
    client = app.test_client()
    login(client, "lea")
    token = csrf_token(client, "/account/password")
    assert client.get("/admin/apps/ops/schedules/").status_code == 403
    assert client.post("/admin/apps/ops/schedules/automations/morning/run", data={"csrf_token": token}).status_code == 403
    payloads = db.read(lambda c: c.execute(sa.select(J.c.payload)).scalars().all())
    assert not any(p.get("manual") for p in payloads)
    admin = app.test_client()
    login(admin, "root")
    token = csrf_token(admin, "/admin/apps/ops/schedules/")
    assert admin.post("/admin/apps/ops/schedules/automations/on_create/run", data={"csrf_token": token}).status_code == 404
    assert admin.post("/admin/apps/ops/schedules/automations/nothing/run", data={"csrf_token": token}).status_code == 404


def test_the_page_lists_the_next_armed_reminders(app, db, install, make_user, held):
    """Does "Next reminders" list a record's armed reminder with its moment (on the calendar) and a link to the record?"""
    held(local(2026, 2, 12, 12, 0))
    doc = automation_app(copy.deepcopy(MORNING))
    doc["entities"]["ticket"]["fields"]["due"] = {"type": "date"}
    doc["entities"]["ticket"]["reminders"] = [
        {"key": "due_soon", "before": {"field": "due", "days": 1, "working": True}, "to": ["assignee"]}
    ]
    et = install(doc).entity("ops", "ticket")
    record = db.run(lambda c: records.create_record(c, et, {"title": "t", "due": dt.date(2026, 2, 24)}, actor=Actor.system()))
    make_user("root", is_admin=True)
    client = app.test_client()
    login(client, "root")
    page = text(client.get("/admin/apps/ops/schedules/"))
    reminders = page[page.index('id="reminders"') :]
    # one working day before Tuesday 24 February: Saturday the 14th (a make-up working day), across the holiday week
    assert f'datetime="{local(2026, 2, 14, 9).isoformat()}"' in reminders
    assert f'href="/a/ops/ticket/{record.id}"' in reminders and "due_soon" in reminders


def test_next_reminders_say_what_each_reminder_is_in_the_readers_language(app, db, install, make_user, held):
    """Does "Next reminders" name each reminder by its message (or, without one, its date
    field) in the reader's language, rather than only by its schema key?"""
    held(local(2026, 3, 2, 12, 0))
    doc = automation_app(copy.deepcopy(MORNING))
    doc["entities"]["ticket"]["fields"]["due"] = {"type": "date", "label": {"en": "Due date", "zh": "截止日期"}}
    doc["entities"]["ticket"]["reminders"] = [
        {"key": "due_soon", "before": {"field": "due", "days": 1}, "to": ["assignee"], "message": {"en": "Due tomorrow", "zh": "明天到期"}},
        {"key": "overdue", "after": {"field": "due", "days": 1}, "to": ["assignee"]},
    ]
    et = install(doc).entity("ops", "ticket")
    db.run(lambda c: records.create_record(c, et, {"title": "t", "due": dt.date(2026, 3, 10)}, actor=Actor.system()))
    make_user("root", is_admin=True)
    client = app.test_client()
    login(client, "root")
    page = text(client.get("/admin/apps/ops/schedules/"))
    reminders = page[page.index('id="reminders"') :]
    assert "Due tomorrow" in reminders and "Due date" in reminders
    token = csrf_token(client, "/admin/apps/ops/schedules/")
    client.post("/prefs/lang", data={"lang": "zh", "csrf_token": token})
    page = text(client.get("/admin/apps/ops/schedules/"))
    reminders = page[page.index('id="reminders"') :]
    assert "明天到期" in reminders and "截止日期" in reminders
