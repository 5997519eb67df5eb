"""Reminders on date fields with a clock moved by hand: armed when a record is created,
re-armed when its date changes (the old moment does nothing), working days counted, the
recipients (user fields, roles) notified once."""

from __future__ import annotations

import copy
import datetime as dt
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from flowdeck.engine import models
from flowdeck.engine.jobs.runner import Runner
from flowdeck.engine.permissions import Actor
from flowdeck.engine.records import create_record, fetch_record, update_record
from flowdeck.engine.registry import registry_for
from flowdeck.engine.reminders import fire_time
from flowdeck.engine.schema.loader import check_document
from flowdeck.engine.schema.model import Reminder

SH = ZoneInfo("Asia/Shanghai")
J = models.jobs
N = models.notifications

DOC = {
    "key": "tm",
    "label": "Tasks",
    "roles": {"manager": {}, "member": {}},
    "entities": {
        "task": {
            "workflow": {
                "initial": "open",
                "states": {"open": {"category": "todo"}, "closed": {"category": "done"}},
                "transitions": [{"key": "close", "from": ["open"], "to": "closed"}],
            },
            "fields": {
                "name": {"type": "text", "required": True},
                "assignee": {"type": "user"},
                "due_date": {"type": "date"},
            },
            "reminders": [
                {
                    "key": "due_soon",
                    "before": {"field": "due_date", "days": 3, "working": True, "at": "09:00"},
                    "to": ["assignee", "role:manager"],
                    "message": {"en": "Due soon", "zh": "即将到期"},
                },
                {"key": "overdue", "after": {"field": "due_date", "days": 1}, "to": ["assignee"]},
            ],
        }
    },
}


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def local(*parts):
    return dt.datetime(*parts, tzinfo=SH).astimezone(dt.UTC)


def test_fire_times_count_days_and_working_days():
    """Is "3 working days before a Monday at 09:00" the Wednesday before, and "1 day after" the next day at 09:00?"""
    before = Reminder("r", "due_date", -3, True, dt.time(9, 0))
    assert fire_time(before, dt.date(2026, 12, 14)) == local(2026, 12, 9, 9)
    after = Reminder("r", "due_date", 1)
    assert fire_time(after, dt.date(2026, 12, 14)) == local(2026, 12, 15, 9)


def test_bad_reminders_are_refused_at_their_json_paths():
    """Does a reminder on a text field, to an unknown role or a non-user field list each problem at its path?"""
    bad = copy.deepcopy(DOC)
    bad["entities"]["task"]["reminders"][0]["before"]["field"] = "name"
    bad["entities"]["task"]["reminders"][1]["to"] = ["role:boss", "name"]
    paths = {p.path for p in check_document(bad)}
    assert {
        "entities.task.reminders[0].before.field",
        "entities.task.reminders[1].to[0]",
        "entities.task.reminders[1].to[1]",
    } <= paths


def test_reminders_are_armed_rearmed_on_date_change_and_sent_once(db, install, make_user):
    """Does a moved due date re-arm the reminder, the old moment send nothing, and the new one notify the assignee and managers once?"""
    install(copy.deepcopy(DOC))
    assignee = make_user("ann", roles={"tm": ["member"]})
    manager = make_user("max", roles={"tm": ["manager"]})
    et = db.read(registry_for).entity("tm", "task")
    now = local(2026, 12, 1, 10)
    record = db.run(
        lambda c: create_record(
            c, et, {"name": "Ship", "assignee": assignee.user_id, "due_date": "2026-12-14"}, actor=Actor.system(), now=now
        )
    )
    keys = db.read(lambda c: sorted(c.execute(sa.select(J.c.dedupe_key)).scalars()))
    assert len(keys) == 2 and any("due_soon" in k and "20261209T0100Z" in k for k in keys)
    db.run(lambda c: update_record(c, et, record.id, {"name": "Ship it"}, actor=Actor.system(), expected_version=None, now=now))
    assert db.read(lambda c: c.execute(sa.select(sa.func.count()).select_from(J)).scalar()) == 2  # no date change: nothing new
    db.run(lambda c: update_record(c, et, record.id, {"due_date": "2026-12-21"}, actor=Actor.system(), expected_version=None, now=now))
    assert db.read(lambda c: c.execute(sa.select(sa.func.count()).select_from(J)).scalar()) == 4
    clock = Clock(local(2026, 12, 9, 9, 1))
    assert Runner(db, clock=clock).run_due() == {"done": 1}  # the old moment: superseded
    assert db.read(lambda c: c.execute(sa.select(sa.func.count()).select_from(N)).scalar()) == 0
    clock.now = local(2026, 12, 16, 9, 1)
    assert Runner(db, clock=clock).run_due() == {"done": 2}  # the old "overdue" moment too, then the new reminder
    notices = db.read(lambda c: sorted(c.execute(sa.select(N.c.user_id).where(N.c.kind == "reminder")).scalars()))
    assert notices == sorted([assignee.user_id, manager.user_id])
    clock.now = local(2026, 12, 22, 9, 1)
    Runner(db, clock=clock).run_due()
    overdue = db.read(lambda c: c.execute(sa.select(N.c.user_id).where(N.c.kind == "reminder")).scalars().all())
    assert sorted(overdue) == sorted([assignee.user_id, manager.user_id, assignee.user_id])
    assert fetch_record is not None


def test_a_record_in_a_done_state_is_not_reminded(db, install, make_user):
    """Is a reminder that comes due for a task already closed skipped, with nobody notified?"""
    install(copy.deepcopy(DOC))
    assignee = make_user("ann", roles={"tm": ["member"]})
    et = db.read(registry_for).entity("tm", "task")
    now = local(2026, 12, 1, 10)
    values = {"name": "Ship", "assignee": assignee.user_id, "due_date": "2026-12-14"}
    record = db.run(lambda c: create_record(c, et, values, actor=Actor.system(), now=now))
    db.run(lambda c: c.execute(et.table.update().where(et.table.c.id == record.id).values(state="closed")))
    assert Runner(db, clock=Clock(local(2026, 12, 9, 9, 1))).run_due() == {"done": 1}
    assert db.read(lambda c: c.execute(sa.select(sa.func.count()).select_from(N)).scalar()) == 0
    results = db.read(lambda c: [r for r in c.execute(sa.select(J.c.result).where(J.c.status == "done")).scalars()])
    assert results == [{"skipped": "record_done"}]
