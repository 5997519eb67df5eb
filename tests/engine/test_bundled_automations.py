"""The automations of the bundled apps, end to end through the real services and the job
runner: new tickets assigned round robin (and the assignee told), a resolved incident
resolving the tickets waiting for it (and the requesters told), an approved initiation
creating the kickoff tasks, an occurred risk creating its response task, an implemented
change moving the project's baseline."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from flowdeck.engine import models, notifications, records, watchers
from flowdeck.engine.db import Database
from flowdeck.engine.jobs.runner import Runner
from tests.support.bundled_world import World, change_request, day, new_project


@pytest.fixture
def world(bundled_db: Database) -> World:
    return World(bundled_db)


TICKET = {"category": "software", "description": "It fails."}


def _drain(world) -> None:
    Runner(world.db).run_due()


def _automation_notices(world, name: str) -> list[str]:
    found = world.db.read(lambda c: notifications.list_notifications(c, world.ids[name]))
    return [str(n.message) for n in found if n.kind == "automation"]


def test_new_tickets_go_round_robin_to_engineers_who_are_told(world):
    """Are new tickets assigned in turn to each engineer, each told, and is a ticket with an assignee left alone?"""
    ids = [
        world.create("operations", "ticket", "staff", {"title": f"VPN {i}", "category": "software", "description": "It fails."})
        for i in range(3)
    ]
    _drain(world)
    et = world.et("operations", "ticket")
    got = world.db.read(lambda c: [records.fetch_record(c, et, i).values["assignee"] for i in ids])
    engineers = sorted([world.ids["engineer"], world.ids["cab1"]])
    assert got == [engineers[0], engineers[1], engineers[0]]
    assert sum("is assigned to you" in s for s in _automation_notices(world, "engineer") + _automation_notices(world, "cab1")) == 3


def test_a_resolved_incident_resolves_its_waiting_tickets(world):
    """Does resolving an incident resolve the tickets waiting (pending) on it, tell their requesters, and leave others?"""
    iid = world.create(
        "operations",
        "incident",
        "engineer",
        {
            "title": "Core switch",
            "severity": "sev3",
            "impact": "company",
            "services": ["network"],
            "started_at": "2026-11-20T09:00:00+08:00",
        },
    )
    world.move(
        "operations", "incident", iid, "acknowledge", "engineer", commander=world.ids["engineer"], detected_at="2026-11-20T09:05:00+08:00"
    )
    ticket = {**TICKET, "requester": world.ids["staff"]}
    waiting = world.create("operations", "ticket", "engineer", {**ticket, "title": "No network", "related_incident": iid})
    working = world.create("operations", "ticket", "engineer", {**ticket, "title": "Slow network", "related_incident": iid})
    _drain(world)
    et = world.et("operations", "ticket")
    for tid in (waiting, working):
        world.move("operations", "ticket", tid, "assign", "opsmgr", support_group="network")
        world.move("operations", "ticket", tid, "start", name_of(world, tid))
    world.move("operations", "ticket", waiting, "wait_for_requester", name_of(world, waiting), comment="Waiting for the network.")
    world.move("operations", "incident", iid, "resolve", "engineer", resolved_at="2026-11-20T10:00:00+08:00")
    _drain(world)
    assert world.state("operations", "ticket", waiting) == "resolved"
    assert world.state("operations", "ticket", working) == "in_progress"
    resolved = world.db.read(lambda c: records.fetch_record(c, et, waiting))
    assert resolved.values["resolution_code"] == "fixed" and "Resolved with incident" in resolved.values["resolution"]
    assert any("is resolved: please confirm" in s for s in _automation_notices(world, "staff"))


def test_a_sev1_incident_goes_to_the_duty_chat_and_its_watchers_hear_of_the_fix(world):
    """Is a new Sev 1 incident told to the ops managers (the `ops-duty` chat skipped and logged while it is not set up),
    and its resolution to its watchers but not to the person who resolved it?"""
    values = {"title": "Data centre power", "severity": "sev1", "impact": "company", "services": ["network"]}
    iid = world.create("operations", "incident", "engineer", {**values, "started_at": "2026-11-20T09:00:00+08:00"})
    et = world.et("operations", "incident")
    world.db.run(lambda c: watchers.set_following(c, et, iid, actor=world.actors["cab1"], following=True))
    _drain(world)
    assert any(s.startswith("Sev 1 incident") for s in _automation_notices(world, "opsmgr"))
    runs = models.automation_runs
    [changes] = world.db.read(
        lambda c: c.execute(sa.select(runs.c.changes).where(runs.c.rule == "incident_sev1_to_duty_chat")).scalars().all()
    )
    assert changes["sent"][0]["chat"] == [{"channel": "chat:ops-duty", "skipped": "no_channel"}]
    world.move(
        "operations", "incident", iid, "acknowledge", "engineer", commander=world.ids["engineer"], detected_at="2026-11-20T09:05:00+08:00"
    )
    world.move("operations", "incident", iid, "resolve", "engineer", resolved_at="2026-11-20T10:00:00+08:00")
    _drain(world)
    assert any("is resolved." in s for s in _automation_notices(world, "cab1"))
    assert not any("is resolved." in s for s in _automation_notices(world, "engineer")), "the creator resolved it himself"


def name_of(world, ticket_id: int) -> str:
    """The user name of the ticket's assignee."""
    assignee = world.db.read(lambda c: records.fetch_record(c, world.et("operations", "ticket"), ticket_id).values["assignee"])
    return next(n for n, i in world.ids.items() if i == assignee)


def _approved_project(world) -> int:
    pid = new_project(world, sponsor="sponsor2")
    asked = world.ask("project", "project", pid, "approve", "pm")
    world.decide("project", "project", asked.request_id, "pmo1")
    world.decide("project", "project", asked.request_id, "sponsor2")
    _drain(world)
    return pid


def _tasks(world, project_id: int) -> list[records.Record]:
    et = world.et("project", "task")
    ids = world.db.read(
        lambda c: c.execute(sa.select(et.table.c.id).where(et.table.c.project == project_id).order_by(et.table.c.id)).scalars().all()
    )
    return world.db.read(lambda c: [records.fetch_record(c, et, i) for i in ids])


def test_an_approved_initiation_creates_the_kickoff_tasks(world):
    """Does the approval of 立项 create the three kickoff tasks for the manager and tell the manager and sponsor?"""
    pid = _approved_project(world)
    tasks = _tasks(world, pid)
    assert [t.values["name"] for t in tasks] == ["Kickoff meeting", "Project plan and WBS", "Stakeholder and risk register"]
    assert {t.values["owner"] for t in tasks} == {world.ids["pm"]}
    assert any("kickoff tasks are ready" in s for s in _automation_notices(world, "sponsor2"))
    world.edit("project", "task", tasks[0].id, "pm", owner=world.ids["board1"])
    _drain(world)
    assert any("Kickoff meeting is now yours" in s for s in _automation_notices(world, "board1"))


def test_an_occurred_risk_creates_its_response_task(world):
    """Does a risk that occurs create a high-priority response task for its owner?"""
    pid = new_project(world)
    values = {
        "title": "Vendor delay",
        "project": pid,
        "category": "schedule",
        "probability": 4,
        "impact": 4,
        "owner": world.ids["pm"],
        "response_plan": "Second vendor.",
    }
    rid = world.create("project", "risk", "pm", values)
    world.move("project", "risk", rid, "occur", "pm", occurred_on=day(1), actual_impact="Two weeks late.")
    _drain(world)
    [task] = [t for t in _tasks(world, pid) if t.values["name"].startswith("Respond to risk")]
    assert task.values["priority"] == "high" and task.values["owner"] == world.ids["pm"]
    assert task.values["due_date"] == dt.date.fromisoformat(day(4))


def test_an_implemented_change_moves_the_baseline(world):
    """Does implementing a change add its schedule days to the project's planned end and its cost to the budget?"""
    pid = new_project(world)
    crid = change_request(world, pid, cost_delta="20000")
    et = world.et("project", "change_request")
    world.db.run(lambda c: c.execute(et.table.update().where(et.table.c.id == crid).values(state="approved", schedule_delta_days=10)))
    world.move("project", "change_request", crid, "implement", "pm", implemented_on=day(2))
    _drain(world)
    project = world.db.read(lambda c: records.fetch_record(c, world.et("project", "project"), pid))
    assert project.values["planned_end"] == dt.date.fromisoformat(day(100))
    assert project.values["budget"] == 520000
    runs = world.db.read(
        lambda c: (
            c.execute(sa.select(models.automation_runs.c.status).where(models.automation_runs.c.rule == "change_updates_baseline"))
            .scalars()
            .all()
        )
    )
    assert runs == ["done"]
