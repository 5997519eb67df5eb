"""The Schedules page of an app: next occurrences and last runs, Run now with CSRF that
queues a manual run, and no access for anyone but admins. Scheduled automations are on it
too (tests/web/test_schedules_admin_automations.py)."""

from __future__ import annotations

import copy
import datetime as dt

import sqlalchemy as sa

from flowdeck.engine import models, schedules
from flowdeck.engine.jobs.runner import Runner
from flowdeck.engine.registry import registry_for
from flowdeck.engine.timers import arm
from tests.support.schedules_page import occurrences
from tests.support.web import csrf_token, login, text

DOC = {
    "key": "pm",
    "label": {"en": "PM", "zh": "项目"},
    "roles": {"lead": {}},
    "entities": {"report": {"fields": {"title": {"type": "text", "required": True}}}},
    "schedules": [
        {
            "key": "weekly",
            "label": {"en": "Weekly report", "zh": "周报"},
            "create": {"entity": "report", "values": {"title": "'Week ' + week_key(today())"}},
            "repeat": {"rrule": "FREQ=WEEKLY;BYDAY=FR;BYHOUR=16;BYMINUTE=0"},
        }
    ],
}


def test_an_admin_sees_next_occurrences_and_runs_a_schedule_now(app, db, install, make_user):
    """Does an admin see seven Friday 16:00 occurrences, and does Run now (with CSRF) create a record
    shown as a run, leaving the next occurrence armed?"""
    install(copy.deepcopy(DOC))
    make_user("root", is_admin=True)
    client = app.test_client()
    login(client, "root")
    page = text(client.get("/admin/apps/pm/schedules/"))
    assert "Weekly report" in page and "every week on Friday at 16:00" in page
    assert [m.weekday() for m in occurrences(page, "schedule-weekly")] == [4] * 7 and "4:00" in page
    assert client.post("/admin/apps/pm/schedules/weekly/run").status_code == 400  # no CSRF token
    token = csrf_token(client, "/admin/apps/pm/schedules/")
    response = client.post("/admin/apps/pm/schedules/weekly/run", data={"csrf_token": token})
    assert response.status_code == 303
    assert Runner(db).run_due() == {"done": 1}
    page = text(client.get("/admin/apps/pm/schedules/"))
    assert "Done" in page and "Run now" in page
    titles = db.read(lambda conn: conn.execute(sa.text("SELECT title FROM pm__report")).scalars().all())
    assert len(titles) == 1 and titles[0].startswith("Week ")
    queued = db.read(
        lambda conn: conn.execute(sa.select(sa.func.count()).select_from(models.jobs).where(models.jobs.c.status == "queued")).scalar()
    )
    assert queued == 1  # the coming Friday is still armed
    client.post("/prefs/lang", data={"lang": "zh", "csrf_token": token})
    assert "周报" in text(client.get("/admin/apps/pm/schedules/"))


def test_the_schedules_page_is_for_admins_only(app, db, install, make_user):
    """Is a signed-in non-admin refused (403) the page and Run now, with nothing queued?"""
    install(copy.deepcopy(DOC))
    make_user("lea", roles={"pm": ["lead"]})
    client = app.test_client()
    login(client, "lea")
    token = csrf_token(client, "/account/password")
    assert client.get("/admin/apps/pm/schedules/").status_code == 403
    assert client.post("/admin/apps/pm/schedules/weekly/run", data={"csrf_token": token}).status_code == 403
    kinds = db.read(lambda conn: conn.execute(sa.select(models.jobs.c.payload)).scalars().all())
    assert not any(p.get("manual") for p in kinds)


SKIPPING = {
    "key": "pm",
    "label": {"en": "PM", "zh": "项目"},
    "roles": {"lead": {}},
    "entities": {
        "project": {"fields": {"name": {"type": "text", "required": True}}},
        "report": {
            "fields": {
                "title": {"type": "text", "required": True},
                "project": {"type": "reference", "to": "project"},
                "week": {"type": "text"},
            },
            "constraints": [{"key": "once", "message": {"en": "One report a week", "zh": "每周只能一份"}, "unique": ["project", "week"]}],
        },
    },
    "schedules": [
        {
            "key": "weekly",
            "label": {"en": "Weekly report", "zh": "周报"},
            "create": {
                "entity": "report",
                "for_each": {"entity": "project"},
                "values": {"title": "name", "project": "id", "week": "week_key(today())"},
            },
            "repeat": {"rrule": "FREQ=WEEKLY;BYDAY=FR;BYHOUR=16;BYMINUTE=0"},
        }
    ],
}


def test_the_page_shows_a_failing_occurrence_then_needs_attention(app, db, install, make_user):
    """Does the page show an occurrence that failed and waits for a retry with its error, and after
    the last attempt a run marked "Needs attention"?"""
    from flowdeck.engine.permissions import Actor
    from flowdeck.engine.records import create_record

    failing = copy.deepcopy(SKIPPING)
    failing["schedules"][0]["create"]["values"]["title"] = "name + 1"  # text plus a number: each run fails
    failing["schedules"][0]["catch_up_window"] = "P30D"
    tables = install(failing)
    db.run(lambda conn: create_record(conn, tables.entity("pm", "project"), {"name": "Alpha"}, actor=Actor.system()))
    make_user("root", is_admin=True)
    schedule = db.read(registry_for).apps["pm"].app.schedule("weekly")
    now = [dt.datetime.now(dt.UTC)]
    last_friday = schedule.recurrence.between(now[0] - dt.timedelta(days=8), now[0])[-1]
    db.run(lambda conn: arm(conn, schedules.JOB, [schedules._job("pm", "weekly", last_friday)]))
    client = app.test_client()
    login(client, "root")
    runner = Runner(db, clock=lambda: now[0])
    assert runner.run_one() == "queued"
    page = text(client.get("/admin/apps/pm/schedules/"))
    assert "Failing, tried again later" in page and "1 / 5" in page and "ExpressionError" in page
    for _ in range(4):
        now[0] += dt.timedelta(hours=2)
        runner.run_one()
    page = text(client.get("/admin/apps/pm/schedules/"))
    assert "Failing, tried again later" not in page and "Needs attention" in page
    attention = page.split("Needs attention:", 1)[1].split("Next occurrences", 1)[0]
    assert "number" in attention and "Error" not in attention  # what went wrong, no class name


def test_a_record_refused_by_a_rule_is_skipped_and_its_reason_shown_in_both_languages(app, db, install, make_user):
    """When Run now finds one project already reported this week, is the run done with the other
    record created, and does the page say one was skipped and why, in English and in Chinese?"""
    from flowdeck.engine.permissions import Actor
    from flowdeck.engine.records import create_record

    tables = install(copy.deepcopy(SKIPPING))
    make_user("root", is_admin=True)

    def add(conn):
        for name in ("Alpha", "Beta"):
            create_record(conn, tables.entity("pm", "project"), {"name": name}, actor=Actor.system())

    db.run(add)
    client = app.test_client()
    login(client, "root")
    token = csrf_token(client, "/admin/apps/pm/schedules/")
    assert client.post("/admin/apps/pm/schedules/weekly/run", data={"csrf_token": token}).status_code == 303
    assert Runner(db).run_due() == {"done": 1}  # both reports of this week
    db.run(lambda conn: conn.execute(sa.text("DELETE FROM pm__report WHERE project = 2")))
    db.run(lambda conn: conn.execute(models.schedule_runs.delete()))
    assert client.post("/admin/apps/pm/schedules/weekly/run", data={"csrf_token": token}).status_code == 303
    assert Runner(db).run_due() == {"done": 1}  # Alpha has its report this week: only Beta's is created
    titles = db.read(lambda conn: conn.execute(sa.text("SELECT title FROM pm__report ORDER BY id")).scalars().all())
    assert titles == ["Alpha", "Beta"]
    page = text(client.get("/admin/apps/pm/schedules/"))
    assert "Needs attention" not in page and "1 skipped" in page
    assert "Project #1: One report a week" in page and "_record" not in page and "ConstraintBroken" not in page
    client.post("/prefs/lang", data={"lang": "zh", "csrf_token": token})
    page = text(client.get("/admin/apps/pm/schedules/"))
    assert "跳过 1 条" in page and "每周只能一份" in page and "One report a week" not in page
