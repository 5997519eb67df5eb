"""The SLA report's counts on hand-written cycles: periods cut at the instance zone's
midnights (Shanghai), met and breached by their moment, a stop past the goal counted as a
breach, running cycles not counted, grouping by a field, and readers only."""

from __future__ import annotations

import datetime as dt

import pytest

from flowdeck.engine import models, records
from flowdeck.engine.errors import Forbidden, NotFound
from flowdeck.engine.sla_report import period_starts, sla_report
from tests.support.sla_apps import sh
from tests.support.sla_views import desk_with_views

C = models.sla_cycles


def _cycle(record_id, cycle, status, **moments):
    row = {"app": "desk", "entity": "ticket", "record_id": record_id, "sla": "resolution", "cycle": cycle, "version": 1,
           "goal": {"working_hours": 4}, "goal_seconds": 4 * 3600, "calendar": "cn", "status": status,
           "started_at": sh(2026, 11, 30, 9), "running_since": None, "used_seconds": 3600, "due_at": None,
           "breached_at": None, "stopped_at": None}  # fmt: skip
    row.update(moments)
    return row


@pytest.fixture
def desk(db, install, system, make_user):
    et = install(desk_with_views()).entity("desk", "ticket")
    ids = [
        db.run(lambda c, p=p: records.create_record(c, et, {"title": "T", "priority": p}, actor=system).id)
        for p in ("p1", "p2", "p3", "p3")
    ]
    db.run(lambda c: c.execute(C.delete().where(C.c.app == "desk")))
    db.run(lambda c: c.execute(C.insert(), [
        _cycle(ids[0], 1, "stopped", stopped_at=sh(2026, 11, 30, 23, 30)),  # met, late on 30 November in Shanghai
        _cycle(ids[1], 1, "running", breached_at=sh(2026, 12, 1, 0, 30)),  # breached just after midnight: December
        _cycle(ids[2], 1, "running", running_since=sh(2026, 12, 1, 9)),  # running within its goal: not counted
        _cycle(ids[3], 1, "stopped", used_seconds=5 * 3600, stopped_at=sh(2026, 12, 2, 10)),  # stopped past its goal
        _cycle(ids[2], 2, "stopped", stopped_at=sh(2027, 1, 5, 10)),  # after the range's last month
    ]))  # fmt: skip
    return et, ids, make_user("ann", {"desk": ["agent"]}), make_user("rex", {"desk": ["requester"]})


def _counts(report):
    return [(r.period.isoformat(), r.value, r.met, r.breached) for r in report.rows]


def test_months_are_cut_at_shanghai_midnight_and_grouped(db, desk):
    """Does a stop at 23:30 on 30 November count in November and a breach at 00:30 on 1 December in December, per priority,
    with a stop past the goal as a breach and a running cycle left out?"""
    et, _, ann, _ = desk
    report = db.read(
        lambda c: sla_report(
            c, et, actor=ann, sla="resolution", period="month", first=dt.date(2026, 11, 1), last=dt.date(2026, 12, 15), by="priority"
        )
    )
    assert _counts(report) == [("2026-11-01", "p1", 1, 0), ("2026-12-01", "p2", 0, 1), ("2026-12-01", "p3", 0, 1)]
    weekly = db.read(
        lambda c: sla_report(c, et, actor=ann, sla="resolution", period="week", first=dt.date(2026, 11, 30), last=dt.date(2026, 12, 6))
    )
    assert _counts(weekly) == [("2026-11-30", None, 1, 2)]
    assert weekly.rows[0].met_percent == pytest.approx(100 / 3)


def test_only_readers_get_the_report(db, desk):
    """Is a user who may not read tickets refused, and an unknown SLA or grouping field not found?"""
    et, _, ann, rex = desk
    args = {"sla": "resolution", "period": "week", "first": dt.date(2026, 11, 30), "last": dt.date(2026, 12, 6)}
    with pytest.raises(Forbidden):
        db.read(lambda c: sla_report(c, et, actor=rex, **args))
    with pytest.raises(NotFound):
        db.read(lambda c: sla_report(c, et, actor=ann, **{**args, "sla": "nope"}))
    with pytest.raises(NotFound):
        db.read(lambda c: sla_report(c, et, actor=ann, **{**args, "by": "title"}))


def test_period_starts():
    """Are weeks Monday to Monday and months first to first, the range's end included?"""
    assert period_starts(dt.date(2026, 12, 2), dt.date(2026, 12, 14), "week") == [
        dt.date(2026, 11, 30), dt.date(2026, 12, 7), dt.date(2026, 12, 14), dt.date(2026, 12, 21)]  # fmt: skip
    assert period_starts(dt.date(2026, 11, 15), dt.date(2027, 1, 1), "month") == [
        dt.date(2026, 11, 1), dt.date(2026, 12, 1), dt.date(2027, 1, 1), dt.date(2027, 2, 1)]  # fmt: skip
