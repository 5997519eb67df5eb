"""SLA warning and breach moments: automations on `sla_warning` / `sla_breached` run once per
cycle (notify the assignee at 75 %, escalate at 100 %), and two runners racing over the same
moments (a duplicate job for each) mark each cycle once (`flowdeck tick` catching up after a
downtime: tests/cli/test_sla_tick_cli.py)."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from flowdeck.engine import clock, models
from flowdeck.engine.jobs.runner import Runner
from flowdeck.engine.permissions import Actor
from flowdeck.engine.records import create_record, fetch_record, update_record
from flowdeck.engine.registry import registry_for
from flowdeck.engine.schema.loader import check_document
from flowdeck.engine.sla.timers import JOB
from flowdeck.engine.timers import arm
from flowdeck.engine.workflow import transition_record
from tests.support.sla_apps import desk, sh

C, J, N, R = models.sla_cycles, models.jobs, models.notifications, models.automation_runs

RULES = [
    {"key": "sla_warn", "entity": "ticket", "trigger": {"on": "sla_warning", "slas": ["resolution"]},
     "actions": [{"do": "notify", "to": {"fields": ["assignee"]}, "message": {"en": "SLA warning: {title}", "zh": "SLA 预警：{title}"}}]},
    {"key": "sla_escalate", "entity": "ticket", "trigger": {"on": "sla_breached", "slas": ["resolution"]},
     "actions": [{"do": "notify", "to": {"roles": ["manager"]}, "message": {"en": "SLA breached: {title}", "zh": "SLA 超时：{title}"}},
                 {"do": "set", "fields": {"priority": "'p1'"}}]},
]  # fmt: skip


@pytest.fixture
def held():
    yield clock.set_now
    clock.set_now(None)


def _app(install, db):
    doc = desk()
    doc["automations"] = RULES
    install(doc)
    return db.read(registry_for).entity("desk", "ticket")


def _create(db, et, moment, **values):
    clock.set_now(moment)
    return db.run(lambda c: create_record(c, et, {"title": "Printer", **values}, actor=Actor.system(), now=moment)).id


def _count(db, query):
    return db.read(lambda c: c.execute(query).scalar())


def test_sla_triggers_are_checked():
    """Is an SLA key a trigger narrows to checked against the entity's SLAs?"""
    doc = desk()
    doc["automations"] = [{**RULES[0], "trigger": {"on": "sla_warning", "slas": ["resolutoin"]}}]
    assert [p.path for p in check_document(doc)] == ["automations[0].trigger.slas[0]"]


def test_warning_notifies_the_assignee_and_breach_escalates_once(db, install, make_user, held):
    """Does the 75 % moment notify the assignee once, and the 100 % moment notify the managers
    and raise the priority (which gives the cycle the P1 goal), each rule running once?"""
    et = _app(install, db)
    ann = make_user("ann", roles={"desk": ["agent"]})
    max_ = make_user("max", roles={"desk": ["manager"]})
    t = _create(db, et, sh(2026, 3, 2, 9, 0), assignee=ann.user_id, priority="p2")  # 8 working hours: warn at 6
    clock.set_now(sh(2026, 3, 2, 16, 29))
    Runner(db).run_due()
    assert _count(db, sa.select(sa.func.count()).select_from(N)) == 0
    clock.set_now(sh(2026, 3, 2, 16, 30))
    Runner(db).run_due()
    notes = db.read(lambda c: c.execute(sa.select(N.c.user_id, N.c.kind)).all())
    assert [n.user_id for n in notes] == [ann.user_id]
    clock.set_now(sh(2026, 3, 3, 9, 30))  # 8 h: Monday 09:00-12:00, 13:30-18:00, Tuesday 09:00-09:30
    Runner(db).run_due()
    users = db.read(lambda c: sorted(c.execute(sa.select(N.c.user_id)).scalars()))
    assert users == sorted([ann.user_id, max_.user_id])
    assert db.read(lambda c: fetch_record(c, et, t).values["priority"]) == "p1"
    runs = db.read(lambda c: c.execute(sa.select(R.c.rule, R.c.status).order_by(R.c.id)).all())
    assert [(r.rule, r.status) for r in runs] == [("sla_warn", "done"), ("sla_escalate", "done")]
    (cycle,) = db.read(lambda c: c.execute(sa.select(C).where(C.c.sla == "resolution")).mappings().all())
    assert cycle["goal_seconds"] == 4 * 3600 and cycle["breached_at"] == sh(2026, 3, 3, 9, 30)
    clock.set_now(sh(2026, 3, 10, 9, 0))
    Runner(db).run_due()
    assert _count(db, sa.select(sa.func.count()).select_from(R)) == 2


def test_two_runners_racing_mark_each_cycle_once(db, install, held):
    """With a second job for every moment and two runners in threads, is every cycle warned and
    breached once, and each SLA rule run exactly once per cycle?"""
    et = _app(install, db)
    start = sh(2026, 3, 2, 9, 0)
    ids = [_create(db, et, start, priority="p1") for _ in range(12)]
    jobs = db.read(lambda c: c.execute(sa.select(J.c.dedupe_key, J.c.payload, J.c.run_at).where(J.c.kind == JOB)).all())
    db.run(lambda c: arm(c, JOB, [(f"{key}:again", payload, run_at) for key, payload, run_at in jobs]))
    clock.set_now(sh(2026, 3, 4, 9, 0))
    barrier = threading.Barrier(2)
    outcomes = []

    def work(name):
        barrier.wait()
        outcomes.append(Runner(db, name=name).run_due())

    threads = [threading.Thread(target=work, args=(f"r{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == 2
    cycles = db.read(lambda c: c.execute(sa.select(C).where(C.c.sla == "resolution")).mappings().all())
    assert len(cycles) == len(ids) and all(c["warned_at"] and c["breached_at"] for c in cycles)
    results = db.read(lambda c: list(c.execute(sa.select(J.c.result).where(J.c.kind == JOB)).scalars()))
    marked = [(r["cycle"], r["marked"]) for r in results if r and "marked" in r]
    assert len(marked) == len(set(marked)) == 4 * len(ids)  # response and resolution, warning and breach
    runs = db.read(lambda c: c.execute(sa.select(R.c.rule, R.c.record_id)).all())
    assert sorted(runs) == sorted([("sla_warn", i) for i in ids] + [("sla_escalate", i) for i in ids])


def _move(db, et, record_id, moment, transition):
    clock.set_now(moment)
    db.run(lambda c: transition_record(c, et, record_id, transition, actor=Actor.system(), now=moment))


def _rules(db):
    return db.read(lambda c: sorted(c.execute(sa.select(R.c.rule)).scalars()))


def _resolution(db):
    return db.read(lambda c: c.execute(sa.select(C).where(C.c.sla == "resolution")).mappings().one())


@pytest.mark.parametrize("transition", ["resolve", "wait"])
def test_a_cycle_held_past_its_moments_before_the_jobs_ran_tells_the_rules(db, install, transition, held):
    """With no worker running, a P1 ticket resolved (or put to wait) after its warning and due
    moments: are the cycle's marks set at those moments and both SLA rules run once, the jobs
    that come late doing nothing more?"""
    et = _app(install, db)
    t = _create(db, et, sh(2026, 3, 2, 9, 0), priority="p1")  # 4 working hours: warn at 12:00, due 14:30
    _move(db, et, t, sh(2026, 3, 2, 9, 0), "take")
    _move(db, et, t, sh(2026, 3, 2, 15, 0), transition)
    cycle = _resolution(db)
    assert cycle["breached_at"] == sh(2026, 3, 2, 14, 30) and cycle["warned_at"] == sh(2026, 3, 2, 12, 0)
    assert _rules(db) == ["sla_escalate", "sla_warn"]
    clock.set_now(sh(2026, 3, 9, 9, 0))
    Runner(db).run_due()
    assert _rules(db) == ["sla_escalate", "sla_warn"]
    assert _resolution(db)["breached_at"] == sh(2026, 3, 2, 14, 30)


def test_a_goal_passed_while_paused_is_breached_then_and_kept_when_stopped(db, install, held):
    """A P3 ticket paused after 5 working hours whose priority is raised to P1 (4 hours) while
    it waits: is it breached at that moment, the breach rule run once, and the mark kept when
    the ticket is resolved later?"""
    et = _app(install, db)
    t = _create(db, et, sh(2026, 3, 2, 9, 0), priority="p3")
    _move(db, et, t, sh(2026, 3, 2, 9, 0), "take")
    _move(db, et, t, sh(2026, 3, 2, 15, 30), "wait")  # 09:00-12:00 and 13:30-15:30: 5 h used
    clock.set_now(sh(2026, 3, 2, 16, 0))
    db.run(lambda c: update_record(c, et, t, {"priority": "p1"}, actor=Actor.system(), expected_version=None, now=sh(2026, 3, 2, 16, 0)))
    assert _resolution(db)["breached_at"] == sh(2026, 3, 2, 16, 0)
    assert _rules(db) == ["sla_escalate"]
    _move(db, et, t, sh(2026, 3, 3, 10, 0), "resolve")
    cycle = _resolution(db)
    assert cycle["status"] == "stopped" and cycle["breached_at"] == sh(2026, 3, 2, 16, 0)
    assert _rules(db) == ["sla_escalate"]
