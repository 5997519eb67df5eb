"""Transition effects and `on_create` routes: values set in the transition's own write
(one history entry, nothing written when an effect fails), on the approvals path too, and
the document problems the loader reports at their JSON paths."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from flowdeck.catalogs import say
from flowdeck.engine import approvals, history, records, users, workflow
from flowdeck.engine.errors import TransitionRefused
from flowdeck.engine.messages import english
from flowdeck.engine.registry import Catalog
from flowdeck.engine.schema import authoring
from flowdeck.engine.schema.loader import check_document
from flowdeck.engine.versions import diff_documents
from tests.support.documents import effects_app


@pytest.fixture
def task(install):
    return install(effects_app()).entity("demo", "task")


def _create(db, et, actor, **values):
    return db.run(lambda c: records.create_record(c, et, {"title": "t", **values}, actor=actor))


def _move(db, et, record_id, key, actor, **kwargs):
    return db.run(lambda c: workflow.transition_record(c, et, record_id, key, actor=actor, **kwargs))


def _history(db, et, record_id):
    return db.read(lambda c: history.list_entries(c, "demo", "task", record_id))


def test_effects_are_written_with_the_transition_in_one_history_entry(db, task, make_user):
    member = make_user("mo", {"demo": ["member"]})
    rec = _create(db, task, member, blocked_reason="waiting for parts", estimate="2")
    started = _move(db, task, rec.id, "start", member)
    assert started.values["assignee"] == member.user_id and started.values["blocked_reason"] is None
    before = dt.datetime.now(dt.UTC)
    submitted = _move(db, task, rec.id, "submit", member, values={"estimate": "3"})
    stored = db.read(lambda c: records.fetch_record(c, task, rec.id))
    assert stored.state == "review" and stored.values["rank"] == 3000, "effects read the posted values"
    assert before - dt.timedelta(seconds=1) <= stored.values["resolved_at"] <= dt.datetime.now(dt.UTC)
    assert submitted.version == stored.version == 3
    [entry] = [e for e in _history(db, task, rec.id) if e.transition == "submit"]
    assert {c["field"] for c in entry.changes} == {"state", "estimate", "resolved_at", "rank"}
    reopened = _move(db, task, rec.id, "reopen", member)
    assert reopened.values["reopen_count"] == 1


def test_a_failing_effect_refuses_the_transition_and_writes_nothing(db, task, make_user):
    member = make_user("mo", {"demo": ["member"]})
    rec = _create(db, task, member, estimate="2")
    _move(db, task, rec.id, "start", member)
    entries = len(_history(db, task, rec.id))
    with pytest.raises(TransitionRefused) as refused:
        _move(db, task, rec.id, "submit", member, values={"estimate": "9900000000000"})
    assert "“Submit” could not set Rank: is too large" in say(refused.value.message, "en")
    stored = db.read(lambda c: records.fetch_record(c, task, rec.id))
    assert stored.state == "doing" and stored.values["estimate"] == 2
    assert stored.values["resolved_at"] is None and stored.version == 2
    assert len(_history(db, task, rec.id)) == entries


def test_effects_run_when_the_approved_transition_is_performed(db, task, make_user):
    member = make_user("mo", {"demo": ["member"]})
    lead = make_user("lea", {"demo": ["lead"]})
    rec = _create(db, task, member, estimate="200")
    assert rec.state == "review"
    outcome = db.run(lambda c: approvals.request_approval(c, task, rec.id, "approve", actor=member))
    pending = db.read(lambda c: records.fetch_record(c, task, rec.id))
    assert pending.state == "review" and pending.values["closed_by"] is None, "nothing runs while approval is pending"
    db.run(lambda c: approvals.decide(c, task, outcome.request_id, actor=lead, approve=True))
    done = db.read(lambda c: records.fetch_record(c, task, rec.id))
    assert done.state == "done"
    assert done.values["closed_by"] == member.user_id, "`me` is the requester, as for the guard"
    assert done.values["resolved_at"] is not None
    last = [e for e in _history(db, task, rec.id) if e.transition == "approve" and e.action == "transition"]
    assert len(last) == 1 and {"state", "closed_by", "resolved_at"} <= {c["field"] for c in last[0].changes}


def test_on_create_routes_to_the_first_matching_state(db, task, make_user):
    member = make_user("mo", {"demo": ["member"]})
    assert _create(db, task, member).state == "todo"
    assert _create(db, task, member, priority="high").state == "urgent"
    assert _create(db, task, member, priority="high", estimate="500").state == "review", "routes are checked in order"
    urgent = _create(db, task, member, priority="high")
    first = _history(db, task, urgent.id)[0]
    assert first.action == "create" and first.changes[0] == {"field": "state", "old": None, "new": "urgent"}
    assert _move(db, task, urgent.id, "start", member).state == "doing"


def _problems(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p.path, say(p.message, "en")) for p in check_document(doc)]


def test_loader_reports_effect_and_route_problems_at_their_paths():
    doc = effects_app()
    entity = doc["entities"]["task"]
    entity["fields"]["total"] = {"type": "computed", "formula": "estimate * 2"}
    entity["workflow"]["transitions"][0]["effects"] = [
        {"set": "asignee", "to": "me"},
        {"set": "total", "to": "1"},
        {"set": "rank", "to": "now()"},
        {"set": "blocked_reason", "to": "nope("},
        {"set": "rank", "to": "1"},
        {"set": "rank", "to": "2"},
    ]
    entity["workflow"]["on_create"] = [{"when": "priorty == 'high'", "state": "urgnt"}, {"when": "estimat > 1", "state": "doing"}]
    problems = dict(_problems(doc))
    base = "entities.task.workflow"
    assert "unknown field “asignee” (did you mean “assignee”?)" in problems[f"{base}.transitions[0].effects[0].set"]
    assert problems[f"{base}.transitions[0].effects[1].set"] == "“total” is computed: an effect cannot set it"
    assert problems[f"{base}.transitions[0].effects[2].to"].startswith("does not fit field “rank”: must be a whole number")
    assert f"{base}.transitions[0].effects[3].to" in problems
    assert problems[f"{base}.transitions[0].effects[5].set"] == "“rank” is already set by effects[2]"
    assert f"{base}.transitions[0].effects[4].to" not in problems, "a value that fits is no problem"
    assert problems[f"{base}.on_create[0].state"].startswith("unknown state “urgnt”")
    assert "estimat" in problems[f"{base}.on_create[1].when"]


def test_effects_shape_is_checked():
    doc = effects_app()
    doc["entities"]["task"]["workflow"]["transitions"][0]["effects"] = [{"set": "rank"}]
    assert any("effects[0]" in path for path, _ in _problems(doc))


def test_a_field_an_effect_fills_is_not_asked_for(db, install, make_user):
    """A field the target state requires is not missing when the step's effect fills it."""
    doc = effects_app()
    doc["entities"]["task"]["workflow"]["rules"] = [{"states": ["doing"], "required": ["assignee"]}]
    et = install(doc).entity("demo", "task")
    member = make_user("mo", {"demo": ["member"]})
    rec = _create(db, et, member)
    env = {**rec.system(member.user_id), **rec.values}
    start = et.entity.workflow.transition("start")
    assert workflow.missing_fields(et.entity, start, rec.values, env, member) == []
    assert _move(db, et, rec.id, "start", member).values["assignee"] == member.user_id


def test_migration_plan_names_a_change_of_the_routes():
    old = effects_app()
    new = effects_app()
    new["entities"]["task"]["workflow"]["on_create"].pop()
    new["entities"]["task"]["workflow"]["transitions"][0]["effects"].pop()
    summaries = english(c.summary for c in diff_documents(old, new))
    assert summaries == [
        'changes the effects of transition start from [{"set": "assignee", "to": "me"}, {"clear": "blocked_reason"}]'
        ' to [{"set": "assignee", "to": "me"}]',
        "changes the routes that choose the first state of new task records",
    ]


def test_bundled_ticket_stamps_its_resolve_time_and_a_reopen_clears_it(bundled_db, make_user_in):
    db = bundled_db
    et = Catalog(db).current().entity("operations", "ticket")
    desk, eng = make_user_in(db, "desk", "service_desk"), make_user_in(db, "eng", "engineer")
    values = {"title": "打印机卡纸", "category": "hardware", "priority": "p3", "requester": desk.user_id, "description": "卡纸"}
    rec = db.run(lambda c: records.create_record(c, et, values, actor=desk))
    assign = {"support_group": "desktop", "assignee": eng.user_id}
    db.run(lambda c: workflow.transition_record(c, et, rec.id, "assign", actor=desk, values=assign))
    db.run(lambda c: workflow.transition_record(c, et, rec.id, "start", actor=eng))
    before = dt.datetime.now(dt.UTC)
    solved = db.run(
        lambda c: workflow.transition_record(c, et, rec.id, "resolve", actor=eng, values={"resolution_code": "fixed", "resolution": "ok"})
    )
    assert solved.state == "resolved" and before - dt.timedelta(seconds=1) <= solved.values["resolved_at"] <= dt.datetime.now(dt.UTC)
    reopened = db.run(lambda c: workflow.transition_record(c, et, rec.id, "reopen", actor=desk, comment="still jams"))
    assert reopened.state == "in_progress" and reopened.values["resolved_at"] is None
    given = "2026-12-07T09:30:00+00:00"
    again = db.run(
        lambda c: workflow.transition_record(
            c, et, rec.id, "resolve", actor=eng, values={"resolution_code": "fixed", "resolution": "ok", "resolved_at": given}
        )
    )
    assert again.values["resolved_at"] == dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC), "a time the engineer gives is kept"


@pytest.fixture
def make_user_in():
    def make(db, name, role):
        def work(conn):
            uid = users.create_user(conn, name, password="password123", display_name=name.title())
            users.grant_role(conn, uid, "operations", role)
            return users.actor_for(conn, uid)

        return db.run(work)

    return make


def test_the_builder_carries_effects_and_routes_through_renames_and_removals():
    doc = effects_app()
    renamed = authoring.rename_field(doc, entity="task", field="estimate", new_key="effort", applied=doc)
    flow = renamed["entities"]["task"]["workflow"]
    assert flow["on_create"][0]["when"] == "effort > 100"
    assert flow["transitions"][1]["effects"][1] == {"set": "rank", "to": "effort * 1000"}
    moved = authoring.rename_field(doc, entity="task", field="assignee", new_key="owner", applied=doc)
    assert moved["entities"]["task"]["workflow"]["transitions"][0]["effects"][0] == {"set": "owner", "to": "me"}
    removed = authoring.remove_field(doc, entity="task", field="blocked_reason")
    assert removed["entities"]["task"]["workflow"]["transitions"][0]["effects"] == [{"set": "assignee", "to": "me"}]
    assert check_document(removed) == [] and check_document(renamed) == [] and check_document(moved) == []
    without = authoring.remove_state(doc, entity="task", state="urgent")
    assert without["entities"]["task"]["workflow"]["on_create"] == [{"when": "estimate > 100", "state": "review"}]
    assert check_document(without) == []


def test_now_in_an_effect_is_the_moment_of_the_transition(db, task, make_user):
    member = make_user("mo", {"demo": ["member"]})
    rec = _create(db, task, member, estimate="1")
    _move(db, task, rec.id, "start", member)
    moment = dt.datetime(2026, 3, 1, 8, 30, tzinfo=dt.UTC)
    done = _move(db, task, rec.id, "submit", member, now=moment)
    assert done.values["resolved_at"] == moment
    [entry] = [e for e in _history(db, task, rec.id) if e.transition == "submit"]
    assert entry.at == moment
