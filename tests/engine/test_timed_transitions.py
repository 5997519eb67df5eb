"""Time-driven transitions with a held clock: the wait counted in working days on the China
calendar (Spring Festival 2026 and its make-up Saturdays), restarted by leaving and coming
back and by a comment, performed once by racing runners, a refusing guard told once, the
plan arming records already waiting, and the document
checks at their JSON paths."""

from __future__ import annotations

import copy
import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from flowdeck.catalogs import say
from flowdeck.engine import models, timed
from flowdeck.engine.apps import apply_document
from flowdeck.engine.comments import add_comment
from flowdeck.engine.errors import Forbidden, RecordInvalid
from flowdeck.engine.jobs.runner import LEASE, Runner
from flowdeck.engine.messages import M, render
from flowdeck.engine.permissions import Actor
from flowdeck.engine.records import create_record, fetch_record
from flowdeck.engine.registry import registry_for
from flowdeck.engine.schema.loader import check_document
from flowdeck.engine.workflow import available_transitions, transition_record
from tests.support.timed import DOC, Clock, sh

J = models.jobs
H = models.history
N = models.notifications

SYSTEM = Actor.system()


def _ticket(db, et, *, now: dt.datetime, resolve: bool = True) -> int:
    record = db.run(lambda c: create_record(c, et, {"title": "Printer"}, actor=SYSTEM, now=now))
    if resolve:
        db.run(lambda c: transition_record(c, et, record.id, "resolve", actor=SYSTEM, now=now))
    return record.id


def _state(db, et, record_id: int) -> str:
    return db.read(lambda c: fetch_record(c, et, record_id).state)


def _timed_jobs(db) -> list:
    query = sa.select(J.c.dedupe_key, J.c.run_at, J.c.status, J.c.result, J.c.attempts).where(J.c.kind == timed.JOB).order_by(J.c.id)
    return db.read(lambda c: c.execute(query).all())


def _auto_entries(db, record_id: int) -> list:
    query = sa.select(H.c.actor_id, H.c.message, H.c.at).where((H.c.record_id == record_id) & (H.c.transition == "auto_close"))
    return db.read(lambda c: c.execute(query).all())


@pytest.fixture
def et(db, install):
    return install(copy.deepcopy(DOC)).entity("hd", "ticket")


def test_the_wait_counts_working_days_across_spring_festival_and_closes_once(db, et):
    """Resolved Thursday 12 Feb 2026 10:00: do 7 working days end Saturday 28 Feb 10:00 (festival
    skipped, 14 and 28 Feb make-up days), not a minute earlier, with the system's history entry?"""
    record_id = _ticket(db, et, now=sh(2026, 2, 12, 10))
    jobs = _timed_jobs(db)
    assert len(jobs) == 1 and jobs[0].run_at == sh(2026, 2, 28, 10)
    assert f":{record_id}:auto_close:20260212T020000Z:20260228T020000Z" in jobs[0].dedupe_key
    assert Runner(db, clock=Clock(sh(2026, 2, 28, 9, 59))).run_due() == {}
    assert _state(db, et, record_id) == "resolved"
    assert Runner(db, clock=Clock(sh(2026, 2, 28, 10, 0, 1))).run_due() == {"done": 1}
    assert _state(db, et, record_id) == "closed"
    [entry] = _auto_entries(db, record_id)
    assert entry.actor_id is None and entry.at == sh(2026, 2, 28, 10, 0, 1)
    said = render(models_message(entry.message))
    assert said == "by the system after 7 working days on the “cn” calendar in Resolved"
    assert _timed_jobs(db)[0].result == {"transitioned": "auto_close", "record": record_id, "state": "closed"}
    assert Runner(db, clock=Clock(sh(2026, 3, 30))).run_due() == {}  # closed: nothing armed


def models_message(raw):
    from flowdeck.engine.messages import Message

    return Message.from_json(raw)


def test_leaving_and_coming_back_restarts_the_wait(db, et):
    """Reopened and resolved again two days later: does the first job do nothing and the second close at its own end?"""
    record_id = _ticket(db, et, now=sh(2026, 3, 2, 10))  # Monday
    db.run(lambda c: transition_record(c, et, record_id, "reopen", actor=SYSTEM, now=sh(2026, 3, 3, 10)))
    db.run(lambda c: transition_record(c, et, record_id, "resolve", actor=SYSTEM, now=sh(2026, 3, 4, 10)))
    assert [j.run_at for j in _timed_jobs(db)] == [sh(2026, 3, 11, 10), sh(2026, 3, 13, 10)]
    assert Runner(db, clock=Clock(sh(2026, 3, 11, 10, 1))).run_due() == {"done": 1}
    assert _state(db, et, record_id) == "resolved"
    assert _timed_jobs(db)[0].result == {"skipped": "wait_restarted"}
    assert Runner(db, clock=Clock(sh(2026, 3, 13, 10, 1))).run_due() == {"done": 1}
    assert _state(db, et, record_id) == "closed"
    assert len(_auto_entries(db, record_id)) == 1


def test_a_comment_restarts_the_wait(db, et, make_user):
    """A reply on day 5: does the wait run 7 working days from the reply instead?"""
    agent = make_user("ann", {"hd": ["agent"]})
    record_id = _ticket(db, et, now=sh(2026, 3, 2, 10))
    db.run(lambda c: add_comment(c, et, record_id, "Still broken?", actor=agent, now=sh(2026, 3, 6, 15)))
    assert [j.run_at for j in _timed_jobs(db)] == [sh(2026, 3, 11, 10), sh(2026, 3, 17, 15)]
    assert Runner(db, clock=Clock(sh(2026, 3, 16, 9))).run_due() == {"done": 1}
    assert _state(db, et, record_id) == "resolved"
    assert Runner(db, clock=Clock(sh(2026, 3, 17, 15, 1))).run_due() == {"done": 1}
    assert _state(db, et, record_id) == "closed"


def test_a_comment_on_a_record_in_another_state_arms_nothing(db, et, make_user):
    agent = make_user("ann", {"hd": ["agent"]})
    record_id = _ticket(db, et, now=sh(2026, 3, 2, 10), resolve=False)
    db.run(lambda c: add_comment(c, et, record_id, "Looking", actor=agent, now=sh(2026, 3, 2, 11)))
    assert _timed_jobs(db) == []


def test_racing_runners_perform_each_transition_exactly_once(db, et):
    """Do three runners draining 30 due waits at once close each ticket once, one history entry each?"""
    ids = [_ticket(db, et, now=sh(2026, 3, 2, 10, minute)) for minute in range(30)]
    clock_ = Clock(sh(2026, 3, 20))
    errors: list[BaseException] = []

    def drain() -> None:
        try:
            Runner(db, clock=clock_).run_due()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=drain) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert all(_state(db, et, rid) == "closed" for rid in ids)
    assert [len(_auto_entries(db, rid)) for rid in ids] == [1] * 30
    assert all(j.status == "done" and j.attempts == 1 for j in _timed_jobs(db))


def test_the_same_due_job_run_again_does_nothing(db, et):
    """Is the handler itself idempotent (a job run a second time after a crash before its commit)?"""
    record_id = _ticket(db, et, now=sh(2026, 3, 2, 10))
    payload = db.read(lambda c: c.execute(sa.select(J.c.payload).where(J.c.kind == timed.JOB)).scalar_one())
    from flowdeck.engine.jobs.kinds import JobContext

    context = JobContext(now=sh(2026, 3, 20), job_id=0, attempt=1)
    assert db.run(lambda c: timed.perform(c, dict(payload), context))["transitioned"] == "auto_close"
    assert db.run(lambda c: timed.perform(c, dict(payload), context)) == {"skipped": "left_state"}
    assert len(_auto_entries(db, record_id)) == 1


def test_two_runners_on_the_same_due_job_transition_once(db, et):
    """A slow runner's lease runs out and a second runner claims the same job: does the slow
    one's transition roll back with its lost lease, and the second close the ticket once?"""
    from flowdeck.engine.jobs import queue
    from flowdeck.engine.jobs.kinds import JobContext

    record_id = _ticket(db, et, now=sh(2026, 3, 2, 10))
    due = sh(2026, 3, 11, 10, 1)
    slow = db.run(lambda c: queue.claim(c, "slow", now=due, lease=LEASE))
    fast = db.run(lambda c: queue.claim(c, "fast", now=due + LEASE + dt.timedelta(seconds=1), lease=LEASE))
    assert slow is not None and fast is not None and slow.id == fast.id

    def run(job):
        def work(c):
            result = timed.perform(c, dict(job.payload), JobContext(now=due, job_id=job.id, attempt=job.attempt))
            queue.finish(c, job, result, now=due)
            return result

        return work

    with pytest.raises(queue.LeaseLost):
        db.run(run(slow))
    assert _state(db, et, record_id) == "resolved"  # rolled back with the lost lease
    assert db.run(run(fast))["transitioned"] == "auto_close"
    assert _state(db, et, record_id) == "closed" and len(_auto_entries(db, record_id)) == 1
    assert Runner(db, clock=Clock(due + dt.timedelta(days=1))).run_due() == {}


def test_a_refusing_guard_is_logged_and_told_once_not_retried(db, install, make_user):
    """A guard that does not hold: is the job done with the refusal, the admins told once, the record left alone?"""
    document = copy.deepcopy(DOC)
    step = document["entities"]["ticket"]["workflow"]["transitions"][3]
    step.update(guard="note != null", guard_message={"en": "Needs a note.", "zh": "需要备注。"})
    et = install(document).entity("hd", "ticket")
    admin = make_user("root", is_admin=True)
    record_id = _ticket(db, et, now=sh(2026, 3, 2, 10))
    runner = Runner(db, clock=Clock(sh(2026, 3, 20)))
    assert runner.run_due() == {"done": 1}
    [job] = _timed_jobs(db)
    assert job.attempts == 1 and render(models_message(job.result["refused"])) == "Needs a note."
    assert _state(db, et, record_id) == "resolved"
    notices = db.read(lambda c: c.execute(sa.select(N.c.user_id, N.c.kind, N.c.record_id)).all())
    assert [tuple(n) for n in notices] == [(admin.user_id, "timed_transition_refused", record_id)]
    assert runner.run_due() == {}


def test_people_are_not_offered_the_systems_transition(db, et, make_user):
    agent = make_user("ann", {"hd": ["agent"]})
    record_id = _ticket(db, et, now=sh(2026, 3, 2, 10))
    record = db.read(lambda c: fetch_record(c, et, record_id))
    assert [a.transition.key for a in available_transitions(et.entity, record, agent)] == ["reopen", "close"]
    with pytest.raises(Forbidden):
        db.run(lambda c: transition_record(c, et, record_id, "auto_close", actor=agent, now=sh(2026, 3, 2, 11)))


def test_the_plan_arms_records_already_waiting_and_removal_leaves_jobs_doing_nothing(db, install):
    """Adding `after` to a live app: does the plan say how many resolved tickets wait, arm them from
    when they were resolved, and removing it again leave those jobs doing nothing?"""
    plain = copy.deepcopy(DOC)
    del plain["entities"]["ticket"]["workflow"]["transitions"][3]
    et = install(plain).entity("hd", "ticket")
    waiting = [_ticket(db, et, now=sh(2026, 3, 2, 10 + n)) for n in range(3)]
    _ticket(db, et, now=sh(2026, 3, 2, 10), resolve=False)
    assert _timed_jobs(db) == []
    result = apply_document(db, copy.deepcopy(DOC), actor=SYSTEM)
    said = [render(line) for line in result.plan.describe()]
    assert "Arm timed transition “auto_close” of ticket for 3 records already in “resolved”" in said
    assert sorted(j.run_at for j in _timed_jobs(db)) == [sh(2026, 3, 11, 10 + n) for n in range(3)]
    shorter = copy.deepcopy(DOC)
    shorter["entities"]["ticket"]["workflow"]["transitions"][3]["after"] = {"working_days": 2, "calendar": "cn"}
    said = [render(line) for line in apply_document(db, shorter, actor=SYSTEM).plan.describe()]
    assert "Arm timed transition “auto_close” of ticket for 3 records already in “resolved”" in said
    assert sorted(j.run_at for j in _timed_jobs(db))[:3] == [sh(2026, 3, 4, 10 + n) for n in range(3)]
    assert Runner(db, clock=Clock(sh(2026, 3, 4, 10, 30))).run_due() == {"done": 1}  # the new, shorter wait
    assert _state(db, et, waiting[0]) == "closed"
    waiting = waiting[1:]
    apply_document(db, plain, actor=SYSTEM)
    assert Runner(db, clock=Clock(sh(2026, 3, 20))).run_due() == {"done": 5}
    results = [j.result for j in _timed_jobs(db)]
    assert results.count({"skipped": "transition_removed"}) == 5 and len(results) == 6
    assert all(_state(db, et, rid) == "resolved" for rid in waiting)


BAD = [
    ({"from": ["open", "resolved"]}, "from", "waits in one state"),
    ({"from": "*"}, "from", "waits in one state"),
    ({"to": "resolved"}, "to", "cannot lead back"),
    ({"roles": ["agent"]}, "roles", "only the system"),
    ({"comment": "required"}, "comment", "writes no comment"),
    ({"require": ["note"]}, "require[0]", "cannot fill “note”"),
    ({"approval": {"steps": [{"key": "s", "approvers": {"role": "agent"}}]}}, "approval", "does not ask for approval"),
    ({"after": {"days": 7, "calendar": "cn"}}, "after.calendar", "counts only working time"),
    ({"after": {"working_days": 7, "calendar": "mars"}}, "after.calendar", "unknown calendar"),
]


@pytest.mark.parametrize(("change", "where", "words"), BAD, ids=[b[1] + "-" + str(i) for i, b in enumerate(BAD)])
def test_what_cannot_work_is_refused_at_its_path(change, where, words):
    document = copy.deepcopy(DOC)
    document["entities"]["ticket"]["workflow"]["transitions"][3].update(change)
    found = {p.path: render(p.message) for p in check_document(document)}
    path = f"entities.ticket.workflow.transitions[3].{where}"
    assert path in found and words in found[path], found


def test_restart_on_comment_needs_after_and_a_good_document_has_no_problems():
    assert check_document(copy.deepcopy(DOC)) == []
    document = copy.deepcopy(DOC)
    document["entities"]["ticket"]["workflow"]["transitions"][0]["restart_on_comment"] = True
    paths = [p.path for p in check_document(document)]
    assert paths == ["entities.ticket.workflow.transitions[0].restart_on_comment"]


def test_the_registry_sees_the_duration(db, et):
    transition = db.read(registry_for).entity("hd", "ticket").entity.workflow.transition("auto_close")
    assert transition.after is not None and transition.after.to_json() == {"working_days": 7, "calendar": "cn"}


def test_imported_records_waiting_in_the_state_are_armed(db, et):
    """A bundle's records go in without events: does the import arm the resolved ones' waits?"""
    from flowdeck.engine import bundles
    from flowdeck.engine.registry import load_registry

    _ticket(db, et, now=sh(2026, 3, 2, 10))
    _ticket(db, et, now=sh(2026, 3, 2, 10), resolve=False)
    data = db.read(lambda c: bundles.export_bundle(c, load_registry(c), "hd", include_records=True))
    bundles.import_bundle(db, data, actor=SYSTEM, as_key="hd_copy", user_map={"*": "create"})
    copied = [j for j in _timed_jobs(db) if j.dedupe_key.startswith("timed:hd_copy:")]
    assert len(copied) == 1 and copied[0].status == "queued"
    copy_et = db.read(registry_for).entity("hd_copy", "ticket")
    assert Runner(db, clock=Clock(sh(2026, 6, 1))).run_due() == {"done": 2}
    states = db.read(lambda c: sorted(c.execute(sa.select(copy_et.table.c.state)).scalars()))
    assert states == ["closed", "open"]


def test_a_refusal_over_field_problems_is_told_in_the_readers_language(db, install, make_user):
    """Refused over a field (`RecordInvalid`): does the admins' notice say each field by its
    label and each problem as a message, so a Chinese reader gets no English?"""
    document = copy.deepcopy(DOC)
    document["entities"]["ticket"]["fields"]["note"]["label"] = {"en": "Note", "zh": "备注"}
    et = install(document).entity("hd", "ticket")
    make_user("root", is_admin=True)
    record_id = _ticket(db, et, now=sh(2026, 3, 2, 10))
    transition = et.entity.workflow.transition("auto_close")
    refusal = RecordInvalid({"note": [M("is required")]})
    result = db.run(lambda c: timed._refused(c, et.entity, record_id, transition, sh(2026, 3, 2, 10), refusal))
    assert render(models_message(result["refused"])) == "Note: is required"
    raw = db.read(lambda c: c.execute(sa.select(N.c.message_json).where(N.c.kind == "timed_transition_refused")).scalar_one())
    said = say(models_message(raw), "zh")
    assert "备注" in said and "为必填项" in said
    assert "Note" not in said and "is required" not in said
