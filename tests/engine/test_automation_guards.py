"""The guard rails of automations: a rule's own changes, chains of rules, the rate limit,
pausing after failures; and runs surviving racing workers (each run once)."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from flowdeck.engine import models, notifications, records
from flowdeck.engine.automations import runs
from flowdeck.engine.automations.listener import MAX_DEPTH
from flowdeck.engine.db import Database
from flowdeck.engine.jobs.runner import Runner
from tests.support.automations import all_runs, drain, rule
from tests.support.documents import automation_app


def test_own_changes_do_not_start_the_rule_again(db, install, make_user):
    """Does a rule that changes its own trigger's field run once per person's change?"""
    registry = install(automation_app(rule("bump", {"on": "updated"}, {"do": "set", "fields": {"bumps": {"increment": 1}}})))
    agent = make_user("agent1", {"ops": ["agent"]})
    et = registry.entity("ops", "ticket")
    rec = db.run(lambda c: records.create_record(c, et, {"title": "t"}, actor=agent))
    db.run(lambda c: records.update_record(c, et, rec.id, {"amount": 1}, actor=agent, expected_version=None))
    for _ in range(3):
        drain(db)
    assert [r.status for r in all_runs(db)] == ["done"]
    assert db.read(lambda c: records.fetch_record(c, et, rec.id)).values["bumps"] == 1


def test_a_chain_of_rules_stops_at_the_depth_limit(db, install, make_user):
    """Do two rules that start each other stop at depth 5 with a logged loop_stopped run?"""
    registry = install(
        automation_app(
            rule("ping", {"on": "field_changed", "fields": ["bumps"]}, {"do": "set", "fields": {"amount": {"increment": 1}}}),
            rule("pong", {"on": "field_changed", "fields": ["amount"]}, {"do": "set", "fields": {"bumps": {"increment": 1}}}),
        )
    )
    agent = make_user("agent1", {"ops": ["agent"]})
    et = registry.entity("ops", "ticket")
    rec = db.run(lambda c: records.create_record(c, et, {"title": "t", "amount": 0}, actor=agent))
    db.run(lambda c: records.update_record(c, et, rec.id, {"bumps": 10}, actor=agent, expected_version=None))
    for _ in range(10):
        drain(db)
    made = [(r.rule, r.depth, r.status) for r in all_runs(db) if r.event != "record.created"]
    assert [m[2] for m in made] == ["done"] * MAX_DEPTH + ["loop_stopped"]
    assert made[-1][1] == MAX_DEPTH + 1 and [m[0] for m in made[:2]] == ["ping", "pong"]


def test_rate_limit_logs_skipped_runs(db, install, make_user):
    """Are runs over the rule's runs per minute logged as skipped, without a job?"""
    registry = install(automation_app(rule("few", {"on": "created"}, {"do": "set", "fields": {"note": "'x'"}}, rate_limit=2)))
    agent = make_user("agent1", {"ops": ["agent"]})
    et = registry.entity("ops", "ticket")
    for i in range(3):
        db.run(lambda c, i=i: records.create_record(c, et, {"title": f"t{i}"}, actor=agent))
    assert [r.status for r in all_runs(db)] == ["queued", "queued", "skipped"]
    assert all_runs(db)[2].job_id is None


def test_five_failures_in_a_row_pause_the_rule_and_tell_the_admins(db, install, make_user):
    """Does the fifth failure in a row pause the rule (stored), notify site admins, and skip later runs?"""
    registry = install(automation_app(rule("shut", {"on": "created"}, {"do": "transition", "transition": "close"})))
    agent = make_user("agent1", {"ops": ["agent"]})
    admin = make_user("root", is_admin=True)
    et = registry.entity("ops", "ticket")
    for i in range(6):
        db.run(lambda c, i=i: records.create_record(c, et, {"title": f"t{i}"}, actor=agent))
        drain(db)
    assert [r.status for r in all_runs(db)] == ["failed"] * 5 + ["skipped"]
    state = db.read(lambda c: runs.rule_state(c, "ops", "shut"))
    assert state.paused and state.failures == 5
    told = db.read(lambda c: notifications.list_notifications(c, admin.user_id))
    assert len(told) == 1 and "paused" in str(told[0].message)
    db.run(lambda c: runs.resume(c, "ops", "shut"))
    db.run(lambda c: records.create_record(c, et, {"title": "after", "note": "set"}, actor=agent))
    drain(db)
    assert all_runs(db)[-1].status == "done"


def test_retry_runs_a_failed_run_again(db, install, make_user):
    """Does Retry queue a failed run again, which then succeeds on the record as it is now?"""
    registry = install(automation_app(rule("shut", {"on": "created"}, {"do": "transition", "transition": "close"})))
    agent = make_user("agent1", {"ops": ["agent"]})
    et = registry.entity("ops", "ticket")
    rec = db.run(lambda c: records.create_record(c, et, {"title": "t"}, actor=agent))
    drain(db)
    [failed] = all_runs(db)
    assert failed.status == "failed"
    db.run(lambda c: records.update_record(c, et, rec.id, {"note": "now"}, actor=agent, expected_version=None))
    assert db.run(lambda c: runs.requeue(c, failed.id))
    drain(db)
    assert all_runs(db)[0].status == "done" and db.read(lambda c: records.fetch_record(c, et, rec.id)).state == "closed"


def test_two_workers_and_a_tick_run_each_run_once(db, install, make_user):
    """Do two worker threads and a tick racing over 200 runs apply each exactly once?"""
    registry = install(
        automation_app(rule("bump", {"on": "created"}, {"do": "set", "fields": {"bumps": {"increment": 1}}}, rate_limit=10000))
    )
    agent = make_user("agent1", {"ops": ["agent"]})
    et = registry.entity("ops", "ticket")
    count = 200
    db.run(lambda c: [records.create_record(c, et, {"title": f"t{i}"}, actor=agent) for i in range(count)])
    stop = threading.Event()
    dbs = [Database(db.url) for _ in range(2)]
    threads = [threading.Thread(target=Runner(d).serve, args=(stop,)) for d in dbs]
    for thread in threads:
        thread.start()
    try:
        Runner(db).run_due()  # the tick
        for _ in range(600):
            if all(r.status == "done" for r in all_runs(db)):
                break
            stop.wait(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        for d in dbs:
            d.dispose()
    bumps = db.read(lambda c: c.execute(sa.select(et.table.c.bumps)).scalars().all())
    assert bumps == [1] * count
    assert [r.status for r in all_runs(db)] == ["done"] * count
    jobs = db.read(lambda c: c.execute(sa.select(sa.func.count()).select_from(models.jobs).where(models.jobs.c.status == "done")).scalar())
    assert jobs == count
