"""SLA lifecycles on the `cn` calendar with a held clock, asserted minute by minute: start on
create, the lunch break not counted, a pause while waiting for the requester (across the
Spring Festival make-up Saturday), resume, a priority raised (due worked out again from the
cycle's start), warning and breach marked once by their jobs (the old moments do nothing),
stop, reopen with the time already used, and the response SLA stopped by an agent's comment."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from flowdeck.engine import clock, models
from flowdeck.engine.comments import add_comment
from flowdeck.engine.jobs.runner import Runner
from flowdeck.engine.permissions import Actor
from flowdeck.engine.records import create_record, update_record
from flowdeck.engine.registry import registry_for
from flowdeck.engine.sla.status import statuses
from flowdeck.engine.workflow import transition_record
from tests.support.sla_apps import desk, sh

C = models.sla_cycles
J = models.jobs


@pytest.fixture
def held():
    yield clock.set_now
    clock.set_now(None)


class Desk:
    """The ticket entity with the clock held at each step."""

    def __init__(self, db, et):
        self.db, self.et, self.system = db, et, Actor.system()

    def at(self, *moment):
        now = sh(*moment)
        clock.set_now(now)
        return now

    def create(self, moment, **values):
        now = self.at(*moment)
        return self.db.run(lambda c: create_record(c, self.et, {"title": "Printer", **values}, actor=self.system, now=now)).id

    def move(self, moment, record_id, transition):
        now = self.at(*moment)
        self.db.run(lambda c: transition_record(c, self.et, record_id, transition, actor=self.system, now=now))

    def update(self, moment, record_id, **values):
        now = self.at(*moment)
        self.db.run(lambda c: update_record(c, self.et, record_id, values, actor=self.system, expected_version=None, now=now))

    def comment(self, moment, record_id, actor):
        now = self.at(*moment)
        self.db.run(lambda c: add_comment(c, self.et, record_id, "On it", actor=actor, now=now))

    def sla(self, record_id, key, *moment):
        now = self.at(*moment)
        found = self.db.read(lambda c: statuses(c, self.et.entity, [record_id], now)).get(record_id, ())
        return next(s for s in found if s.sla == key)

    def minutes(self, record_id, key, *moment):
        return self.sla(record_id, key, *moment).elapsed_seconds // 60

    def run_due(self, *moment):
        self.at(*moment)
        return Runner(self.db).run_due()

    def cycles(self, record_id, key):
        query = sa.select(C).where(C.c.record_id == record_id, C.c.sla == key).order_by(C.c.cycle)
        return self.db.read(lambda c: [dict(r) for r in c.execute(query).mappings()])


@pytest.fixture
def desk_app(db, install, held):
    install(desk())
    return Desk(db, db.read(registry_for).entity("desk", "ticket"))


def test_resolution_lifecycle_minute_by_minute(desk_app):
    """Does the resolution clock run in working time only, pause while waiting, resume on the
    make-up Saturday, take the P1 goal from the cycle's start, warn at 75 % and breach at 100 %
    exactly once, stop, and resume the same cycle with its time when the ticket is reopened?"""
    d = desk_app
    t = d.create((2026, 2, 13, 11, 0))  # Friday before Spring Festival, P3: 16 working hours
    assert [d.minutes(t, "resolution", 2026, 2, 13, 11, m) for m in (0, 1, 30, 59)] == [0, 1, 30, 59]
    assert [d.minutes(t, "resolution", 2026, 2, 13, h, m) for h, m in ((12, 0), (12, 45), (13, 30), (13, 31))] == [60, 60, 60, 61]
    first = d.sla(t, "resolution", 2026, 2, 13, 13, 31)
    assert (first.status, first.goal_seconds, first.tone) == ("running", 16 * 3600, "green")
    d.move((2026, 2, 13, 14, 0), t, "take")
    d.move((2026, 2, 13, 14, 0), t, "wait")  # waiting for the requester: 90 minutes used
    for moment in ((2026, 2, 13, 17, 0), (2026, 2, 14, 9, 30)):
        paused = d.sla(t, "resolution", *moment)
        assert (paused.status, paused.elapsed_seconds, paused.due_at) == ("paused", 90 * 60, None)
    d.move((2026, 2, 14, 10, 0), t, "answered")  # Saturday 14 February is a make-up working day
    assert [d.minutes(t, "resolution", 2026, 2, 14, 10, m) for m in (0, 1, 30)] == [90, 91, 120]
    d.update((2026, 2, 14, 11, 0), t, priority="p1")  # 150 used of a new goal of 4 h: 90 left
    raised = d.sla(t, "resolution", 2026, 2, 14, 11, 0)
    assert (raised.goal_seconds, raised.elapsed_seconds, raised.remaining_seconds) == (4 * 3600, 150 * 60, 90 * 60)
    assert raised.due_at == sh(2026, 2, 14, 14, 0)  # 60 before lunch, 30 after 13:30
    marks = lambda: {k: d.cycles(t, "resolution")[0][k] for k in ("warned_at", "breached_at")}  # noqa: E731
    d.run_due(2026, 2, 14, 11, 29)
    assert marks() == {"warned_at": None, "breached_at": None}
    assert d.sla(t, "resolution", 2026, 2, 14, 11, 29).tone == "green"
    d.run_due(2026, 2, 14, 11, 30)  # 180 of 240 minutes: the warning
    assert marks() == {"warned_at": sh(2026, 2, 14, 11, 30), "breached_at": None}
    assert d.sla(t, "resolution", 2026, 2, 14, 11, 31).tone == "amber"
    d.run_due(2026, 2, 14, 13, 59)
    assert marks()["breached_at"] is None
    d.run_due(2026, 2, 14, 14, 0)
    assert marks() == {"warned_at": sh(2026, 2, 14, 11, 30), "breached_at": sh(2026, 2, 14, 14, 0)}
    breached = d.sla(t, "resolution", 2026, 2, 14, 14, 1)
    assert (breached.tone, breached.breached, breached.remaining_seconds) == ("red", True, -60)
    d.move((2026, 2, 14, 15, 0), t, "resolve")
    done = d.sla(t, "resolution", 2026, 2, 14, 16, 0)
    assert (done.status, done.elapsed_seconds, done.due_at, done.tone) == ("breached", 300 * 60, None, "red")
    d.move((2026, 2, 14, 16, 0), t, "reopen")  # the same cycle, with its 300 minutes
    assert [d.minutes(t, "resolution", 2026, 2, 14, 16, m) for m in (0, 10)] == [300, 310]
    d.move((2026, 2, 14, 16, 30), t, "resolve")
    (cycle,) = d.cycles(t, "resolution")
    assert (cycle["cycle"], cycle["status"], cycle["used_seconds"]) == (1, "stopped", 330 * 60)
    assert cycle["breached_at"] == sh(2026, 2, 14, 14, 0) and cycle["warned_at"] == sh(2026, 2, 14, 11, 30)
    outcomes = d.run_due(2026, 2, 27, 18, 0)  # the P3 moments and those of the first stretches: all stale
    assert set(outcomes) == {"done"}
    results = d.db.read(lambda c: list(c.execute(sa.select(J.c.result).where(J.c.kind == "sla.timer")).scalars()))
    marked = sorted((r["cycle"], r["marked"]) for r in results if "marked" in r)
    resolution, response = cycle["id"], d.cycles(t, "response")[0]["id"]
    assert marked == sorted([(resolution, "warning"), (resolution, "breach"), (response, "warning"), (response, "breach")])
    assert len(results) > len(marked) and all(r == {"skipped": "not_due"} for r in results if "marked" not in r)


def test_response_stops_at_the_first_agent_comment(desk_app, make_user):
    """Does a requester's comment leave the response clock running, and the first agent's
    comment stop it as met, with the time counted over the lunch break?"""
    d = desk_app
    agent = make_user("ann", roles={"desk": ["agent"]})
    requester = make_user("rui", roles={"desk": ["requester"]})
    t = d.create((2026, 2, 13, 11, 0), priority="p2")
    d.comment((2026, 2, 13, 11, 30), t, requester)
    assert d.sla(t, "response", 2026, 2, 13, 11, 31).status == "running"
    d.comment((2026, 2, 13, 13, 45), t, agent)
    met = d.sla(t, "response", 2026, 2, 13, 15, 0)
    assert (met.status, met.elapsed_seconds, met.tone) == ("met", 75 * 60, "grey")
    assert d.sla(t, "resolution", 2026, 2, 13, 15, 0).status == "running"


def test_a_new_cycle_after_a_stop_and_an_edited_definition_keeps_old_cycles(desk_app, install):
    """Does a ticket closed and opened again by a start state get cycle 2, and does editing a
    goal leave the open cycle's goal and version alone while a new ticket gets the new one?"""
    d = desk_app
    t = d.create((2026, 3, 2, 9, 0))
    doc = desk()
    doc["entities"]["ticket"]["slas"][1]["goals"][-1]["duration"] = {"working_hours": 20, "calendar": "cn"}
    install(doc)
    d.et = d.db.read(registry_for).entity("desk", "ticket")
    u = d.create((2026, 3, 2, 10, 0))
    assert d.sla(t, "resolution", 2026, 3, 2, 10, 0).goal_seconds == 16 * 3600
    assert d.sla(u, "resolution", 2026, 3, 2, 10, 0).goal_seconds == 20 * 3600
    (old,) = d.cycles(t, "resolution")
    (new,) = d.cycles(u, "resolution")
    assert old["version"] != new["version"] == d.et.entity.slas[1].version
    d.update((2026, 3, 2, 11, 0), t, priority="p1")  # an old version's cycle keeps its goal
    assert d.sla(t, "resolution", 2026, 3, 2, 11, 0).goal_seconds == 16 * 3600


def test_the_plan_names_slas_changed_added_removed_with_open_records(desk_app, db):
    """Does the change review name the changed, added and removed SLAs with how many records
    have a running or paused cycle (a stopped cycle not counted)?"""
    from flowdeck.engine.apps import plan_change

    d = desk_app
    tickets = [d.create((2026, 3, 2, 9, 0)) for _ in range(3)]
    d.move((2026, 3, 2, 10, 0), tickets[0], "take")
    d.move((2026, 3, 2, 10, 0), tickets[0], "resolve")  # stopped: not open
    d.move((2026, 3, 2, 10, 0), tickets[1], "take")
    d.move((2026, 3, 2, 10, 0), tickets[1], "wait")  # paused: open
    doc = desk()
    slas = doc["entities"]["ticket"]["slas"]
    slas[1]["warning"] = 80
    slas[0] = {**slas[0], "key": "handling"}
    slas[0]["label"] = {"en": "Handling", "zh": "处理时限"}
    _app, plan, *_ = db.read(lambda c: plan_change(c, doc))
    said = {str(step.description) for step in plan.steps if step.kind == "note"}
    assert {
        "Change SLA “resolution” of ticket: 2 open records keep the definition their cycle started with;"
        " cycles started from now on use the new one",
        "Add SLA “handling” to ticket (cycles start for records that meet its start from now on)",
        "Remove SLA “response” from ticket: 3 open records stop being timed",
    } <= said
    unchanged = {str(step.description) for step in db.read(lambda c: plan_change(c, desk()))[1].steps}
    assert not any("SLA" in text for text in unchanged)
