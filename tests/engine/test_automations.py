"""Automations in the app document: each trigger and action, run as a job in the
transaction that finishes it, with its run logged (inputs, changes, error)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from flowdeck.engine import approval_core, approvals, comments, history, notifications, records, workflow
from flowdeck.engine.schema.loader import check_document
from tests.support.automations import all_runs, drain, rule
from tests.support.documents import automation_app


@pytest.fixture
def setup(db, install, make_user):
    def make(*automations: dict[str, Any]):
        registry = install(automation_app(*automations))
        return registry, make_user("agent1", {"ops": ["agent", "member"]})

    return make


def test_document_errors_name_their_json_path():
    """Are bad triggers, conditions and actions problems at their JSON paths?"""
    doc = automation_app(
        rule("a", {"on": "creatd"}, {"do": "set", "fields": {"title": "'x'"}}),
        rule("b", {"on": "field_changed", "fields": ["prio"]}, {"do": "sett"}),
        rule("c", {"on": "created"}, {"do": "set", "fields": {"nope": "1"}}, condition="old.priorty == 'high'"),
        rule("c", {"on": "transition", "transitions": ["clos"]}, {"do": "transition", "transition": "shut"}),
    )
    paths = {p.path for p in check_document(doc)}
    assert {
        "automations[0].trigger.on",
        "automations[1].trigger.fields[0]",
        "automations[1].actions[0].do",
        "automations[2].actions[0].fields.nope",
        "automations[2].condition",
        "automations[3].key",
        "automations[3].trigger.transitions[0]",
        "automations[3].actions[0].transition",
    } <= paths


def test_created_rule_sets_fields_and_history_names_the_run(db, setup):
    """Does a `created` rule set fields in a job, log the run and say "by automation" in history?"""
    registry, agent = setup(
        rule(
            "stamp",
            {"on": "created"},
            {"do": "set", "fields": {"note": "'from ' + title", "handled_at": "now()", "assignee": "me", "bumps": {"increment": 2}}},
        )
    )
    et = registry.entity("ops", "ticket")
    rec = db.run(lambda c: records.create_record(c, et, {"title": "printer"}, actor=agent))
    [queued] = all_runs(db)
    assert queued.status == "queued" and queued.inputs["kind"] == "record.created"
    assert drain(db) == {"done": 1}
    got = db.read(lambda c: records.fetch_record(c, et, rec.id))
    assert got.values["note"] == "from printer" and got.values["assignee"] == agent.user_id and got.values["bumps"] == 2
    assert got.values["handled_at"] is not None
    [done] = all_runs(db)
    assert done.status == "done" and done.changes["changes"][0]["fields"]["note"]["new"] == "from printer"
    entries = db.read(lambda c: history.list_entries(c, "ops", "ticket", rec.id))
    assert str(entries[-1].message) == f"by automation “stamp” (run #{done.id})"


def test_condition_reads_old_new_and_changed(db, setup):
    """Does a condition see `old.`, `new.` and `changed()`, and a non-matching one queue nothing?"""
    registry, agent = setup(
        rule(
            "escalate",
            {"on": "updated"},
            {"do": "set", "fields": {"note": "'was ' + old.priority"}},
            condition="new.priority == 'high' and changed('priority')",
        )
    )
    et = registry.entity("ops", "ticket")
    rec = db.run(lambda c: records.create_record(c, et, {"title": "t"}, actor=agent))
    db.run(lambda c: records.update_record(c, et, rec.id, {"amount": 3}, actor=agent, expected_version=None))
    assert all_runs(db) == []
    db.run(lambda c: records.update_record(c, et, rec.id, {"priority": "high"}, actor=agent, expected_version=None))
    drain(db)
    assert db.read(lambda c: records.fetch_record(c, et, rec.id)).values["note"] == "was normal"


def test_update_that_changes_nothing_runs_no_rule(db, setup):
    """Does a save that changes no stored value run 0 rules?"""
    registry, agent = setup(rule("any", {"on": "updated"}, {"do": "set", "fields": {"bumps": {"increment": 1}}}))
    et = registry.entity("ops", "ticket")
    rec = db.run(lambda c: records.create_record(c, et, {"title": "t", "amount": 2}, actor=agent))
    db.run(lambda c: records.update_record(c, et, rec.id, {"amount": "2"}, actor=agent, expected_version=None))
    assert all_runs(db) == []


def test_field_changed_transition_comment_and_deleted_triggers(db, setup):
    """Do field_changed, transition, comment_added and deleted each start their rule (and only theirs)?"""
    registry, agent = setup(
        rule("f", {"on": "field_changed", "fields": ["amount"]}, {"do": "set", "fields": {"bumps": {"increment": 1}}}),
        rule("t", {"on": "transition", "transitions": ["wait"]}, {"do": "set", "fields": {"note": "'waiting'"}}),
        rule("c", {"on": "comment_added"}, {"do": "set", "fields": {"priority": "'high'"}}),
        rule("d", {"on": "deleted"}, {"do": "create", "entity": "task", "values": {"title": "'gone: ' + title"}}),
    )
    et = registry.entity("ops", "ticket")
    rec = db.run(lambda c: records.create_record(c, et, {"title": "t"}, actor=agent))
    db.run(lambda c: records.update_record(c, et, rec.id, {"amount": 5}, actor=agent, expected_version=None))
    db.run(lambda c: workflow.transition_record(c, et, rec.id, "wait", actor=agent))
    db.run(lambda c: comments.add_comment(c, et, rec.id, "hello", actor=agent))
    drain(db)
    got = db.read(lambda c: records.fetch_record(c, et, rec.id))
    assert (got.values["bumps"], got.values["note"], got.values["priority"]) == (1, "waiting", "high")
    db.run(lambda c: records.delete_record(c, et, rec.id, actor=agent))
    drain(db)
    tasks = db.read(lambda c: c.execute(sa.select(registry.entity("ops", "task").table.c.title)).scalars().all())
    assert tasks == ["gone: t"]
    assert [r.rule for r in all_runs(db)] == ["f", "t", "c", "d"] and {r.status for r in all_runs(db)} == {"done"}


def test_approval_triggers(db, setup, make_user):
    """Do approval_requested, approval_step_decided and approval_decided (with outcome) start their rules?"""
    registry, agent = setup(
        rule("asked", {"on": "approval_requested"}, {"do": "set", "fields": {"note": "'asked'"}}),
        rule("step", {"on": "approval_step_decided"}, {"do": "set", "fields": {"bumps": {"increment": 1}}}),
        rule("yes", {"on": "approval_decided", "outcome": "approved"}, {"do": "set", "fields": {"priority": "'low'"}}),
        rule("no", {"on": "approval_decided", "outcome": "rejected"}, {"do": "set", "fields": {"priority": "'high'"}}),
    )
    lead = make_user("lea", {"ops": ["lead"]})
    et = registry.entity("ops", "ticket")
    rec = db.run(lambda c: records.create_record(c, et, {"title": "t"}, actor=agent))
    outcome = db.run(lambda c: approvals.request_approval(c, et, rec.id, "approve", actor=agent))
    drain(db)
    db.run(lambda c: approvals.decide(c, et, outcome.request_id, actor=lead, approve=True))
    drain(db)
    got = db.read(lambda c: records.fetch_record(c, et, rec.id))
    assert (got.values["note"], got.values["bumps"], got.values["priority"]) == ("asked", 1, "low")
    assert sorted(r.rule for r in all_runs(db)) == ["asked", "step", "yes"]


def test_create_per_child_row_and_copy_rows(db, setup):
    """Does `create` make a record per action item (`for_each`) and copy child rows (`copy_rows`)?"""
    registry, agent = setup(
        rule(
            "followups",
            {"on": "created"},
            {
                "do": "create",
                "entity": "task",
                "for_each": "items",
                "values": {"title": "title + ': ' + row.what", "hours": "row.hours", "problem": "id"},
            },
            entity="problem",
        ),
        rule(
            "copy",
            {"on": "created"},
            {"do": "create", "entity": "task", "values": {"title": "'copy of ' + title"}, "copy_rows": {"items": "items"}},
            entity="problem",
        ),
    )
    problem = registry.entity("ops", "problem")
    rec = db.run(
        lambda c: records.create_record(
            c, problem, {"title": "p", "items": [{"what": "a", "hours": 1}, {"what": "b", "hours": 2}]}, actor=agent
        )
    )
    drain(db)
    task = registry.entity("ops", "task")
    rows = db.read(
        lambda c: [records.fetch_record(c, task, i) for i in c.execute(sa.select(task.table.c.id).order_by(task.table.c.id)).scalars()]
    )
    assert [(r.values["title"], r.values["hours"], r.values["problem"]) for r in rows[:2]] == [("p: a", 1, rec.id), ("p: b", 2, rec.id)]
    assert rows[2].values["title"] == "copy of p" and [(i["what"], i["hours"]) for i in rows[2].values["items"]] == [("a", 1), ("b", 2)]


def test_update_related_closes_waiting_children_and_sets_parent(db, setup):
    """Does `update_related` transition the referencing records its `where` picks, and set the parent?"""
    registry, agent = setup(
        rule(
            "close_waiting",
            {"on": "transition", "transitions": ["resolve"]},
            {
                "do": "update_related",
                "entity": "ticket",
                "via": "problem",
                "where": "state == 'waiting'",
                "set": {"note": "'fixed by problem'"},
                "transition": "close",
            },
            entity="problem",
        ),
        rule(
            "touch_parent",
            {"on": "field_changed", "fields": ["priority"]},
            {"do": "update_related", "via": "problem", "set": {"title": "title + ' (!)'"}},
            condition="new.priority == 'high'",
        ),
    )
    problem, ticket = registry.entity("ops", "problem"), registry.entity("ops", "ticket")
    p = db.run(lambda c: records.create_record(c, problem, {"title": "outage"}, actor=agent))
    waiting = db.run(lambda c: records.create_record(c, ticket, {"title": "w", "problem": p.id}, actor=agent))
    fresh = db.run(lambda c: records.create_record(c, ticket, {"title": "n", "problem": p.id}, actor=agent))
    db.run(lambda c: workflow.transition_record(c, ticket, waiting.id, "wait", actor=agent))
    db.run(lambda c: workflow.transition_record(c, problem, p.id, "resolve", actor=agent))
    drain(db)
    states = db.read(
        lambda c: {r.id: (r.state, r.values["note"]) for r in (records.fetch_record(c, ticket, i) for i in (waiting.id, fresh.id))}
    )
    assert states == {waiting.id: ("closed", "fixed by problem"), fresh.id: ("new", None)}
    db.run(lambda c: records.update_record(c, ticket, fresh.id, {"priority": "high"}, actor=agent, expected_version=None))
    drain(db)
    assert db.read(lambda c: records.fetch_record(c, problem, p.id)).values["title"] == "outage (!)"


def test_refused_guard_is_a_logged_failure_and_nothing_is_kept(db, setup):
    """Is a transition refused by its guard a failed run with its reason, with the run's earlier actions undone?"""
    registry, agent = setup(
        rule("shut", {"on": "created"}, {"do": "set", "fields": {"bumps": {"increment": 1}}}, {"do": "transition", "transition": "close"})
    )
    et = registry.entity("ops", "ticket")
    rec = db.run(lambda c: records.create_record(c, et, {"title": "t"}, actor=agent))
    assert drain(db) == {"done": 1}  # the job is done: the failure is the run's
    [run] = all_runs(db)
    assert run.status == "failed" and "condition" in str(models_message(run.error))
    got = db.read(lambda c: records.fetch_record(c, et, rec.id))
    assert (got.state, got.values["bumps"]) == ("new", 0)


def models_message(data):
    from flowdeck.engine.messages import Message

    return Message.from_json(data)


def test_assign_round_robin_least_loaded_and_from_field(db, setup, make_user):
    """Does `assign` go round robin among a role's members (state kept), least loaded, and from a field?"""
    registry, agent = setup(
        rule("rr", {"on": "created"}, {"do": "assign", "field": "assignee", "role": "agent"}, condition="priority == 'normal'"),
        rule(
            "ll",
            {"on": "created"},
            {"do": "assign", "field": "assignee", "role": "agent", "strategy": "least_loaded"},
            condition="priority == 'high'",
        ),
        rule("ff", {"on": "created"}, {"do": "assign", "field": "assignee", "from": "requester"}, condition="priority == 'low'"),
    )
    second = make_user("agent2", {"ops": ["agent"]})
    et = registry.entity("ops", "ticket")
    ids = [db.run(lambda c, i=i: records.create_record(c, et, {"title": f"t{i}"}, actor=agent)).id for i in range(3)]
    drain(db)
    got = db.read(lambda c: [records.fetch_record(c, et, i).values["assignee"] for i in ids])
    assert got == [agent.user_id, second.user_id, agent.user_id]
    high = db.run(lambda c: records.create_record(c, et, {"title": "h", "priority": "high"}, actor=agent)).id
    low = db.run(lambda c: records.create_record(c, et, {"title": "l", "priority": "low", "requester": second.user_id}, actor=agent)).id
    drain(db)
    got = db.read(lambda c: [records.fetch_record(c, et, i).values["assignee"] for i in (high, low)])
    assert got == [second.user_id, second.user_id]


def test_notify_comment_and_request_approval(db, setup, make_user):
    """Do `notify` (fields, roles, actor; template filled), `comment` and `request_approval` act?"""
    registry, agent = setup(
        rule(
            "tell",
            {"on": "created"},
            {
                "do": "notify",
                "to": {"fields": ["requester"], "roles": ["lead"], "actor": True},
                "message": {"en": "New: {title}", "zh": "新：{title}"},
            },
            {"do": "comment", "body": {"en": "Received {title}", "zh": "已收到"}},
            {"do": "request_approval", "transition": "approve"},
        )
    )
    lead = make_user("lea", {"ops": ["lead"]})
    asker = make_user("ann", {"ops": ["member"]})
    et = registry.entity("ops", "ticket")
    rec = db.run(lambda c: records.create_record(c, et, {"title": "<b>vpn</b>", "requester": asker.user_id}, actor=agent))
    drain(db)
    for user in (lead, asker, agent):
        [notice] = db.read(lambda c, u=user: [n for n in notifications.list_notifications(c, u.user_id) if n.kind == "automation"])
        assert str(notice.message) == "New: <b>vpn</b>"
    said = db.read(lambda c: comments.list_comments(c, "ops", "ticket", rec.id))
    assert [x.body for x in said] == ["Received <b>vpn</b>"]
    assert db.read(lambda c: approval_core.pending_request(c, "ops", "ticket", rec.id)) is not None


def test_bundle_upgrades_merge_rules_by_key():
    """Does a three-way merge keep a local edit of one rule and take a rule the new version adds?"""
    from flowdeck.engine.merge import merge_documents

    a = rule("a", {"on": "created"}, {"do": "set", "fields": {"note": "'a'"}})
    b = rule("b", {"on": "created"}, {"do": "set", "fields": {"note": "'b'"}})
    base = automation_app(a)
    local = automation_app({**a, "enabled": False})
    incoming = automation_app(a, b)
    merged = merge_documents(base, local, incoming)
    assert merged.clean and [(r["key"], r.get("enabled", True)) for r in merged.document["automations"]] == [("a", False), ("b", True)]
    assert check_document(merged.document) == []


def test_registries_are_documented_and_listen_to_known_events():
    """Is every trigger and action shown in docs/schema-reference.md, and every trigger's event a known event kind?"""
    from pathlib import Path

    from flowdeck.engine import events
    from flowdeck.engine.automations.actions import ACTIONS
    from flowdeck.engine.automations.triggers import TRIGGERS

    text = (Path(__file__).resolve().parents[2] / "docs" / "schema-reference.md").read_text(encoding="utf-8")
    assert [n for n in TRIGGERS if f'"on": "{n}"' not in text and f"| `{n}` |" not in text] == []
    assert [n for n in ACTIONS if f'"do": "{n}"' not in text] == []
    assert {kind for entry in TRIGGERS.values() for kind in entry.events} <= set(events.KINDS)


def test_run_as_actor_acts_with_the_persons_rights(db, setup):
    """Does a rule with run_as "actor" write as the person who caused the event, and the default as the system?"""
    registry, agent = setup(
        rule("mine", {"on": "created"}, {"do": "set", "fields": {"note": "'by actor'"}}, run_as="actor", condition="priority == 'low'"),
        rule("system", {"on": "created"}, {"do": "set", "fields": {"note": "'by system'"}}, condition="priority == 'high'"),
    )
    et = registry.entity("ops", "ticket")
    low = db.run(lambda c: records.create_record(c, et, {"title": "l", "priority": "low"}, actor=agent))
    high = db.run(lambda c: records.create_record(c, et, {"title": "h", "priority": "high"}, actor=agent))
    drain(db)
    last = {rid: db.read(lambda c, r=rid: history.list_entries(c, "ops", "ticket", r))[-1] for rid in (low.id, high.id)}
    assert last[low.id].actor_id == agent.user_id and last[high.id].actor_id is None
    assert "by automation “mine”" in str(last[low.id].message)
