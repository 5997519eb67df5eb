"""Scheduled automations on a real database with a held clock: an occurrence runs the actions
for exactly the matching records, once however many workers race, catches up after downtime
as a schedule does, and a digest tells each recipient once about all the records."""

from __future__ import annotations

import copy
import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from flowdeck.engine import clock, models, notifications, records, schedules, workflow
from flowdeck.engine.automations import scheduled
from flowdeck.engine.jobs.runner import Runner
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import registry_for
from flowdeck.engine.schema.loader import check_document
from tests.support.automations import all_runs, rule
from tests.support.documents import automation_app

R = models.schedule_runs
J = models.jobs
EVERY = {"rrule": "FREQ=DAILY;BYHOUR=9;BYMINUTE=0"}
STALE = "state == 'waiting' and days_between(updated_at, today()) >= 3"
BUMP = rule("bump", {"on": "scheduled", "every": EVERY, "where": STALE}, {"do": "set", "fields": {"bumps": {"increment": 1}}})
DIGEST = rule(
    "morning",
    {"on": "scheduled", "every": EVERY, "where": STALE},
    {"do": "notify", "to": {"roles": ["lead"]}, "message": {"en": "{count} tickets wait", "zh": "{count} 个工单在等待"}, "digest": True},
)


@pytest.fixture
def held():
    def hold(moment: dt.datetime) -> None:
        clock.set_now(moment)

    yield hold
    clock.set_now(None)


def _at(day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=clock.zone()).astimezone(dt.UTC)


def _setup(db, install, held, *rules):
    """The app applied on the 7th at 08:00; five tickets made on 1 December: three waiting since then, one since the 6th, one new."""
    held(_at(7, 8))
    registry = install(automation_app(*copy.deepcopy(rules)))  # applying arms 09:00 on the 7th
    et = registry.entity("ops", "ticket")
    held(_at(1, 8))

    def make(conn, title, wait):
        record = records.create_record(conn, et, {"title": title}, actor=Actor.system())
        if wait:
            workflow.transition_record(conn, et, record.id, "wait", actor=Actor.system(), now=clock.now())
        return record.id

    ids = [db.run(lambda c, i=i: make(c, f"old {i}", True)) for i in range(3)]
    ids.append(db.run(lambda c: make(c, "fresh new", False)))
    held(_at(6, 8))
    ids.append(db.run(lambda c: make(c, "recent wait", True)))
    held(_at(7, 8))
    return ids


def _bumps(db):
    return db.read(lambda c: dict(c.execute(sa.text("SELECT id, bumps FROM ops__ticket ORDER BY id")).all()))


def _locks(db, name):
    return db.read(lambda c: [dict(r) for r in c.execute(sa.select(R).where(R.c.schedule == name).order_by(R.c.occurrence)).mappings()])


def test_an_occurrence_runs_the_actions_for_exactly_the_matching_records(db, install, held):
    """Does 09:00 on the 7th bump the three tickets waiting since the 1st (not the new one, not the recent one) and arm the 8th?"""
    ids = _setup(db, install, held, BUMP)
    held(_at(7, 9, 0) + dt.timedelta(seconds=5))
    assert Runner(db).run_due() == {"done": 1}
    assert _bumps(db) == {ids[0]: 1, ids[1]: 1, ids[2]: 1, ids[3]: 0, ids[4]: 0}
    assert [(r.record_id, r.status, r.event) for r in all_runs(db)] == [(i, "done", "scheduled") for i in ids[:3]]
    [lock] = _locks(db, "automation:bump")
    assert lock["status"] == "done" and lock["records_created"] == 3
    keys = db.read(lambda c: set(c.execute(sa.select(J.c.dedupe_key).where(J.c.status == "queued")).scalars()))
    assert scheduled.occurrence_key("ops", "bump", _at(8)) in keys


def test_at_most_caps_the_records_of_an_occurrence(db, install, held):
    """Does `at_most: 2` run the actions for the two oldest matching tickets only?"""
    capped = copy.deepcopy(BUMP)
    capped["trigger"]["at_most"] = 2
    ids = _setup(db, install, held, capped)
    held(_at(7, 9, 1))
    Runner(db).run_due()
    assert [k for k, v in _bumps(db).items() if v] == ids[:2]


def test_racing_runners_run_an_occurrence_once(db, install, held):
    """Do four workers racing over the same due occurrence bump each ticket once?"""
    ids = _setup(db, install, held, BUMP)
    held(_at(7, 9, 1))
    errors: list[BaseException] = []

    def work():
        try:
            Runner(db).run_due()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert _bumps(db) == {ids[0]: 1, ids[1]: 1, ids[2]: 1, ids[3]: 0, ids[4]: 0}
    assert len(_locks(db, "automation:bump")) == 1


def test_a_second_job_for_the_same_occurrence_does_nothing(db, install, held):
    """Does a job for an occurrence that already ran find its row and leave the records alone?"""
    ids = _setup(db, install, held, BUMP)
    held(_at(7, 9, 1))
    Runner(db).run_due()
    payload = {"app": "ops", "rule": "bump", "at": _at(7).isoformat()}
    from flowdeck.engine.jobs.queue import enqueue

    db.run(lambda c: enqueue(c, scheduled.JOB, payload, run_at=_at(7, 9, 1)))
    assert Runner(db).run_due() == {"done": 1}
    assert _bumps(db)[ids[0]] == 1


def test_tick_after_downtime_runs_one_occurrence(db, install, held):
    """After five missed mornings, does catching up run only the newest one (as a schedule's `once`)?"""
    ids = _setup(db, install, held, BUMP)
    held(_at(12, 10))
    Runner(db).run_due()
    assert _bumps(db)[ids[0]] == 1
    locks = _locks(db, "automation:bump")
    done = [r for r in locks if r["status"] == "done"]
    assert len(done) == 1 and done[0]["occurrence_at"].replace(tzinfo=dt.UTC) == _at(12)
    assert all(r["status"] == "skipped" for r in locks if r is not done[0])


def test_a_failing_occurrence_needs_attention_and_keeps_the_next_one(db, install, held, make_user):
    """Is an occurrence that fails every attempt retried, then recorded as needs attention with its error and
    told to the admins once, while the next morning stays armed?"""
    admin = make_user("root", is_admin=True)
    broken = copy.deepcopy(BUMP)
    broken["trigger"]["where"] = "10 / (bumps - bumps) > 1"  # division by zero for every record
    _setup(db, install, held, broken)
    runner = Runner(db)
    for minute in range(1, 6):
        held(_at(7, 9 + minute))  # an hour between attempts: past every backoff
        runner.run_one()
    [lock] = _locks(db, "automation:bump")
    assert lock["status"] == "needs_attention" and "division by zero" in lock["error"]
    assert all(v == 0 for v in _bumps(db).values())
    notices = db.read(lambda c: c.execute(sa.select(models.notifications.c.user_id, models.notifications.c.kind)).all())
    assert notices.count((admin.user_id, "schedule_failed")) == 1
    keys = db.read(lambda c: set(c.execute(sa.select(J.c.dedupe_key).where(J.c.status == "queued")).scalars()))
    assert keys == {scheduled.occurrence_key("ops", "bump", _at(8))}


def test_run_now_is_a_manual_run_that_leaves_the_armed_occurrence(db, install, held, make_user):
    """Does Run now run the rule for the matching records, locked as a manual run, without taking the armed 09:00?"""
    admin = make_user("root", is_admin=True)
    ids = _setup(db, install, held, BUMP)
    tables = db.read(registry_for).apps["ops"]
    db.run(lambda c: scheduled.run_now(c, tables.app, tables.app.automation("bump"), actor=admin, now=clock.now()))
    db.run(lambda c: scheduled.run_now(c, tables.app, tables.app.automation("bump"), actor=admin, now=clock.now()))
    assert Runner(db).run_due() == {"done": 2}  # two presses, two runs
    assert _bumps(db) == {ids[0]: 1, ids[1]: 1, ids[2]: 1, ids[3]: 0, ids[4]: 0}  # the second press finds them fresh
    locks = _locks(db, "automation:bump")
    assert [(r["status"], r["occurrence_at"], r["actor_id"]) for r in locks] == [("done", None, admin.user_id)] * 2
    assert sorted(r["records_created"] for r in locks) == [0, 3] and all(r["occurrence"].startswith("manual:") for r in locks)
    keys = db.read(lambda c: set(c.execute(sa.select(J.c.dedupe_key).where(J.c.status == "queued")).scalars()))
    assert keys == {scheduled.occurrence_key("ops", "bump", _at(7))}
    held(_at(7, 9, 1))
    assert Runner(db).run_due() == {"done": 1}
    planned = [r for r in _locks(db, "automation:bump") if r["occurrence_at"] is not None]
    assert [(r["status"], r["occurrence_at"].replace(tzinfo=dt.UTC)) for r in planned] == [("done", _at(7))]


def test_a_disabled_rule_arms_nothing(db, install, held):
    """Is no job armed for a scheduled rule with `enabled: false`?"""
    off = copy.deepcopy(BUMP)
    off["enabled"] = False
    _setup(db, install, held, off)
    jobs = db.read(lambda c: c.execute(sa.select(J.c.kind).where(J.c.kind == scheduled.JOB)).all())
    assert jobs == []


def test_the_digest_sends_one_message_per_recipient_listing_the_records(db, install, held, make_user):
    """Do two leads each get one notification listing the three stale tickets, with their count and links?"""
    leads = [make_user(f"lead{i}", {"ops": ["lead"]}) for i in range(2)]
    ids = _setup(db, install, held, DIGEST)
    held(_at(7, 9, 1))
    assert Runner(db).run_due() == {"done": 1}
    for lead in leads:
        mine = db.read(lambda c, u=lead: [n for n in notifications.list_notifications(c, u.user_id) if n.kind == "automation"])
        assert len(mine) == 1
        text = str(mine[0].message)
        assert text.startswith("3 tickets wait")
        assert all(f"#{i} old" in text and f"/a/ops/ticket/{i}" in text for i in ids[:3])
        assert "fresh new" not in text and "recent wait" not in text
    assert all_runs(db) == []  # a digest only: no run per record


def test_scheduled_checks_name_their_json_paths():
    """Are a missing recurrence, a bad rule, a `where` on an unknown field and a digest outside a scheduled rule refused at their paths?"""
    doc = automation_app(
        rule("a", {"on": "scheduled"}, {"do": "set", "fields": {"note": "'x'"}}),
        rule("b", {"on": "scheduled", "every": {"rrule": "FREQ=SOMETIMES"}}, {"do": "set", "fields": {"note": "'x'"}}),
        rule("c", {"on": "scheduled", "every": EVERY, "where": "priorty == 'high'"}, {"do": "set", "fields": {"note": "'x'"}}),
        rule("d", {"on": "created"}, {"do": "notify", "to": {"roles": ["lead"]}, "message": "x", "digest": True}),
        rule("e", {"on": "scheduled", "every": EVERY}, {"do": "notify", "to": {"roles": ["lead"]}, "message": "{title}", "digest": True}),
        rule("f", {"on": "created", "every": EVERY}, {"do": "set", "fields": {"note": "'x'"}}),
    )
    paths = {p.path for p in check_document(doc)}
    assert {
        "automations[0].trigger.every",
        "automations[1].trigger.every.rrule",
        "automations[2].trigger.where",
        "automations[3].actions[0].digest",
        "automations[4].actions[0].message.en",
        "automations[5].trigger.every",
    } <= paths
    assert not {p.path for p in check_document(automation_app(BUMP, DIGEST))}


def test_the_bundled_operations_digest_lists_tickets_pending_for_three_days(bundled_db, held):
    """Does the bundled morning digest tell the service desk once about the ticket pending since Monday, not the one since yesterday?"""
    from flowdeck.engine import users

    db = bundled_db
    tables = db.read(registry_for)
    tickets = tables.entity("operations", "ticket")

    def add(conn):  # rows as a migration would leave them: only what the digest reads
        desk = users.create_user(conn, "desk", password="password123", display_name="Desk")
        users.grant_role(conn, desk, "operations", "service_desk")
        for title, day in (("Printer jam", 1), ("VPN drops", 6)):
            at = _at(day, 10)
            conn.execute(tickets.table.insert().values(title=title, state="pending", version=1, created_at=at, updated_at=at))
        return desk

    desk = db.run(add)
    db.run(lambda c: schedules.arm_app(c, tables.apps["operations"].app, now=_at(7, 8)))
    held(_at(7, 9, 1))
    Runner(db).run_due()
    [notice] = db.read(lambda c: [n for n in notifications.list_notifications(c, desk) if n.kind == "automation"])
    text = str(notice.message)
    assert text.startswith("1 tickets have waited") and "Printer jam" in text and "VPN drops" not in text
    [lock] = _locks(db, "automation:pending_tickets_digest")
    assert lock["status"] == "done" and lock["records_created"] == 1
