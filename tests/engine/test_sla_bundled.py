"""The Operations app's SLAs through the real services: a new ticket gets its response and
resolution clocks, an engineer's comment answers it, and after the clock passes its goals the
assignee is warned and the operations managers told of the breach, once."""

from __future__ import annotations

import datetime as dt

import pytest

from flowdeck.engine import clock, comments, notifications, records, workflow
from flowdeck.engine.db import Database
from flowdeck.engine.jobs.runner import Runner
from flowdeck.engine.permissions import Actor
from flowdeck.engine.query import Query, query_records
from flowdeck.engine.sla.status import statuses
from tests.support.bundled_world import World


@pytest.fixture
def world(bundled_db: Database):
    yield World(bundled_db)
    clock.set_now(None)


def _notices(world, name):
    found = world.db.read(lambda c: notifications.list_notifications(c, world.ids[name]))
    return [str(n.message) for n in found if n.kind == "automation"]


def test_bundled_ticket_slas_run_warn_and_escalate(world):
    """Does a ticket get both clocks, the engineer's comment stop the response as met, and a
    month later the resolution be warned (assignee told) and breached (managers told) once?"""
    tid = world.create("operations", "ticket", "staff", {"title": "VPN", "category": "software", "description": "It fails."})
    Runner(world.db).run_due()  # round robin: an engineer is assigned
    et = world.et("operations", "ticket")
    now = dt.datetime.now(dt.UTC)
    found = {s.sla: s for s in world.db.read(lambda c: statuses(c, et.entity, [tid], now))[tid]}
    assert set(found) == {"response", "resolution"} and {s.status for s in found.values()} == {"running"}
    world.db.run(lambda c: comments.add_comment(c, et, tid, "Looking at it", actor=world.actors["engineer"]))
    later = now + dt.timedelta(days=30)
    clock.set_now(later)
    Runner(world.db).run_due()
    Runner(world.db).run_due()
    found = {s.sla: s for s in world.db.read(lambda c: statuses(c, et.entity, [tid], later))[tid]}
    assert found["response"].status in ("met", "breached")
    assert (found["resolution"].status, found["resolution"].breached, found["resolution"].tone) == ("running", True, "red")
    assignee = next(name for name in ("engineer", "cab1") if any("SLA warning" in s for s in _notices(world, name)))
    assert sum("SLA warning" in s for s in _notices(world, assignee)) == 1
    assert sum("SLA breached" in s for s in _notices(world, "opsmgr")) == 1


def test_bundled_sla_breached_view_reads_the_status(world):
    """Does the Operations "SLA breached" view (filtered by `resolution_state`) list a ticket once its resolution
    clock has passed its goal (before any job marked it), with its time left negative, and not before?"""
    tid = world.create("operations", "ticket", "staff", {"title": "Disk", "category": "software", "description": "Full."})
    et = world.et("operations", "ticket")
    view = et.entity.view("sla_breached")
    assert view is not None

    def listed():
        query = Query(filter=dict(view.filter), sort=list(view.sort), columns=list(view.columns))
        page = world.db.read(lambda c: query_records(c, et, query, actor=Actor.system()))
        return {row["id"]: (row["resolution_state"], row["resolution_left"]) for row in page.rows}

    assert tid not in listed()
    clock.set_now(dt.datetime.now(dt.UTC) + dt.timedelta(days=30))
    state, left = listed()[tid]
    assert state == "breached" and left < 0


def test_bundled_ticket_response_stays_met_while_waiting_for_the_requester(world):
    """Once an engineer has started work (the first response met), does waiting for the
    requester keep the response met, instead of running its clock again until work resumes?"""
    tid = world.create("operations", "ticket", "staff", {"title": "Printer", "category": "hardware", "description": "It jams."})
    Runner(world.db).run_due()  # round robin: an engineer is assigned
    et = world.et("operations", "ticket")
    world.move(
        "operations",
        "ticket",
        tid,
        "assign",
        "opsmgr",
        support_group="desktop",
        assignee=world.ids["engineer"],
    )
    world.move("operations", "ticket", tid, "start", "engineer")
    world.move("operations", "ticket", tid, "wait_for_requester", "engineer", comment="Which model is it?")
    now = dt.datetime.now(dt.UTC)
    found = {s.sla: s for s in world.db.read(lambda c: statuses(c, et.entity, [tid], now))[tid]}
    assert (found["response"].status, found["resolution"].status) == ("met", "paused")


SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def _at(hour: int, minute: int = 0) -> dt.datetime:
    """Monday 7 December 2026 (a working day on the cn calendar), Shanghai time."""
    moment = dt.datetime(2026, 12, 7, hour, minute, tzinfo=SHANGHAI)
    clock.set_now(moment)
    return moment


def _move(world, tid: int, transition: str, by: str, now: dt.datetime, comment: str | None = None, **values) -> None:
    """A transition at `now` (the engine's default moment is the wall clock's)."""
    et, actor = world.et("operations", "ticket"), world.actors[by]
    world.db.run(lambda c: workflow.transition_record(c, et, tid, transition, actor=actor, values=values, comment=comment, now=now))


def _waiting_ticket(world) -> int:
    """A P3 ticket of staff's, worked by the engineer from 09:30, waiting for staff from 10:30."""
    now = _at(9, 30)
    et = world.et("operations", "ticket")
    values = {"title": "Scanner", "category": "hardware", "description": "No scans."}
    tid = world.db.run(lambda c: records.create_record(c, et, values, actor=world.actors["staff"], now=now)).id
    Runner(world.db).run_due()
    _move(world, tid, "assign", "opsmgr", now, support_group="desktop", assignee=world.ids["engineer"])
    _move(world, tid, "start", "engineer", now)
    _move(world, tid, "wait_for_requester", "engineer", _at(10, 30), comment="Which scanner is it?")
    return tid


def _resolution(world, tid: int, now: dt.datetime):
    et = world.et("operations", "ticket")
    return {s.sla: s for s in world.db.read(lambda c: statuses(c, et.entity, [tid], now))[tid]}["resolution"]


def test_the_requesters_reply_resumes_a_waiting_ticket_and_its_resolution_clock(world):
    """When the requester comments on a ticket waiting for them, does the ticket go back to
    In progress by itself and the resolution clock run again, keeping the hour used before
    the wait and not counting the wait?"""
    tid = _waiting_ticket(world)
    et = world.et("operations", "ticket")
    now = _at(14)
    assert _resolution(world, tid, now).status == "paused"
    world.db.run(lambda c: comments.add_comment(c, et, tid, "The one on floor 3.", actor=world.actors["staff"], now=now))
    Runner(world.db).run_due()
    assert world.state("operations", "ticket", tid) == "in_progress"
    later = _at(15)
    found = _resolution(world, tid, later)
    assert (found.status, found.elapsed_seconds) == ("running", 2 * 3600)
    assert found.due_at is not None


def test_an_agents_comment_leaves_a_waiting_ticket_waiting(world):
    """Does a comment by someone other than the requester (the engineer, an operations
    manager) leave the ticket waiting and its resolution clock paused with the hour used?"""
    tid = _waiting_ticket(world)
    et = world.et("operations", "ticket")
    now = _at(14)
    for name, body in (("engineer", "Any news?"), ("opsmgr", "Chasing this one.")):
        world.db.run(lambda c, n=name, b=body: comments.add_comment(c, et, tid, b, actor=world.actors[n], now=now))
    Runner(world.db).run_due()
    assert world.state("operations", "ticket", tid) == "pending"
    found = _resolution(world, tid, _at(15))
    assert (found.status, found.elapsed_seconds) == ("paused", 3600)
