"""Record events: told once per real change, in the writer's transaction (rolled back with
it), carrying before/after values, the changed keys, the transition and the cause."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flowdeck.engine import approvals, comments, events, records, workflow
from flowdeck.engine.errors import RecordInvalid
from tests.support.documents import effects_app


@pytest.fixture
def task(install):
    return install(effects_app()).entity("demo", "task")


@pytest.fixture
def heard() -> Iterator[list[events.Event]]:
    seen: list[events.Event] = []

    def listener(conn, event):
        seen.append(event)

    events.subscribe(listener)
    yield seen
    events.unsubscribe(listener)


def test_each_write_tells_one_event_with_what_changed(db, task, make_user, heard):
    """Does every kind of record write tell one event with before, after and the changed keys?"""
    member = make_user("mo", {"demo": ["member"]})
    rec = db.run(lambda c: records.create_record(c, task, {"title": "t", "estimate": "2"}, actor=member))
    db.run(lambda c: records.update_record(c, task, rec.id, {"estimate": "3"}, actor=member, expected_version=None))
    db.run(lambda c: workflow.transition_record(c, task, rec.id, "start", actor=member))
    db.run(lambda c: comments.add_comment(c, task, rec.id, "looks good", actor=member))
    db.run(lambda c: records.delete_record(c, task, rec.id, actor=member))
    assert [e.kind for e in heard] == ["record.created", "record.updated", "record.transitioned", "comment.added", "record.deleted"]
    created, updated, moved, commented, deleted = heard
    assert created.state_after == "todo" and created.after["estimate"] == 2 and "title" in created.changed
    assert updated.changed == {"estimate"} and updated.before["estimate"] == 2 and updated.after["estimate"] == 3
    assert moved.transition == "start" and (moved.state_before, moved.state_after) == ("todo", "doing")
    assert {"state", "assignee"} <= moved.changed
    assert commented.data["body"] == "looks good" and deleted.before["estimate"] == 3 and deleted.after == {}
    assert all(e.actor_id == member.user_id and e.cause is None for e in heard)


def test_an_update_that_changes_nothing_tells_nothing(db, task, make_user, heard):
    """Is a save that changes no stored value silent?"""
    member = make_user("mo", {"demo": ["member"]})
    rec = db.run(lambda c: records.create_record(c, task, {"title": "t", "estimate": "2"}, actor=member))
    db.run(lambda c: records.update_record(c, task, rec.id, {"estimate": "2.0"}, actor=member, expected_version=None))
    assert [e.kind for e in heard] == ["record.created"]


def test_a_listener_that_raises_rolls_the_change_back(db, task, make_user):
    """Does a listener run inside the writer's transaction (its failure undoes the write)?"""
    member = make_user("mo", {"demo": ["member"]})

    def refuse(conn, event):
        raise RecordInvalid({"title": []})

    events.subscribe(refuse)
    try:
        with pytest.raises(RecordInvalid):
            db.run(lambda c: records.create_record(c, task, {"title": "t"}, actor=member))
    finally:
        events.unsubscribe(refuse)
    assert db.read(lambda c: c.execute(task.table.select()).all()) == []


def test_events_carry_the_cause_they_were_made_under(db, task, make_user, heard):
    """Do changes made inside `caused_by` carry that cause (how rules see their own changes)?"""
    member = make_user("mo", {"demo": ["member"]})
    cause = events.Cause("automation", "stamp", run_id=7, depth=2)
    with events.caused_by(cause):
        db.run(lambda c: records.create_record(c, task, {"title": "t"}, actor=member))
    db.run(lambda c: records.create_record(c, task, {"title": "u"}, actor=member))
    assert [e.cause for e in heard] == [cause, None]


def test_approvals_tell_requested_step_and_decision(db, task, make_user, heard):
    """Do approval requests, step outcomes and final decisions each tell their event?"""
    member = make_user("mo", {"demo": ["member"]})
    lead = make_user("lea", {"demo": ["lead"]})
    rec = db.run(lambda c: records.create_record(c, task, {"title": "t", "estimate": "200"}, actor=member))
    outcome = db.run(lambda c: approvals.request_approval(c, task, rec.id, "approve", actor=member))
    db.run(lambda c: approvals.decide(c, task, outcome.request_id, actor=lead, approve=True))
    kinds = [e.kind for e in heard]
    assert kinds[:2] == ["record.created", "approval.requested"]
    assert "approval.step_decided" in kinds and kinds[-1] == "approval.decided"
    decided = heard[-1]
    assert decided.data == {"request_id": outcome.request_id, "transition": "approve", "outcome": "approved"}
    assert kinds.index("record.transitioned") < kinds.index("approval.decided")
