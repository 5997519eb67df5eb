"""The Operations app's SLAs through the real services: a new ticket gets its response and
resolution clocks, an engineer's comment answers it, and after the clock passes its goals the
assignee is warned and the operations managers told of the breach, once."""

from __future__ import annotations

import datetime as dt

import pytest

from flowdeck.engine import clock, comments, notifications
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
