"""The SLA read API on hand-written cycle rows: elapsed working time up to now on the `cn`
calendar (lunch break skipped), remaining time, tones, the current cycle only, one statement."""

from __future__ import annotations

import sqlalchemy as sa

from flowdeck.engine import models
from flowdeck.engine.registry import registry_for
from flowdeck.engine.sla.status import statuses
from tests.support.sla_apps import desk, sh

C = models.sla_cycles


def _row(**values):
    row = {"app": "desk", "entity": "ticket", "record_id": 1, "sla": "resolution", "cycle": 1, "version": 1,
           "goal": {"working_hours": 4, "calendar": "cn"}, "goal_seconds": 4 * 3600, "calendar": "cn", "status": "running",
           "started_at": sh(2026, 12, 7, 11), "running_since": sh(2026, 12, 7, 11), "used_seconds": 0,
           "due_at": sh(2026, 12, 7, 16, 30), "warn_at": sh(2026, 12, 7, 15, 30)}  # fmt: skip
    row.update(values)
    return row


def test_statuses_count_working_time_and_pick_the_current_cycle(db, install):
    """Does a cycle running since 11:00 show 1 h elapsed at 13:45 (lunch 12:00-13:30 skipped), amber after warn_at,
    red past due, grey once met; is an older cycle ignored and a record without cycles absent?"""
    install(desk())
    entity = db.read(registry_for).entity("desk", "ticket").entity
    db.run(lambda c: c.execute(C.insert(), [_row(), _row(record_id=2, cycle=1, status="stopped", running_since=None, due_at=None),
                                             _row(record_id=2, cycle=2, status="stopped", running_since=None, due_at=None,
                                                  used_seconds=3600, stopped_at=sh(2026, 12, 7, 12)),
                                             _row(record_id=3, sla="response", goal={"working_hours": 1, "calendar": "cn"},
                                                  goal_seconds=3600, status="paused", running_since=None, used_seconds=1800,
                                                  due_at=None, warn_at=None)]))  # fmt: skip
    queries = []

    def seen(conn, cursor, statement, *rest):
        queries.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", seen)
    try:
        found = db.read(lambda c: statuses(c, entity, [1, 2, 3, 4], sh(2026, 12, 7, 13, 45)))
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", seen)
    assert sum("fd_sla_cycles" in q for q in queries) == 1
    assert set(found) == {1, 2, 3}
    (one,) = found[1]
    assert (one.status, one.elapsed_seconds, one.remaining_seconds, one.tone, one.warned, one.breached) == (
        "running", 3600 + 900, 4 * 3600 - 4500, "green", False, False)  # fmt: skip
    assert one.due_at == sh(2026, 12, 7, 16, 30) and one.label.get("en") == "Time to resolution"
    (later,) = db.read(lambda c: statuses(c, entity, [1], sh(2026, 12, 7, 15, 45)))[1]
    assert (later.tone, later.warned, later.breached) == ("amber", True, False)
    (late,) = db.read(lambda c: statuses(c, entity, [1], sh(2026, 12, 7, 16, 31)))[1]
    assert (late.tone, late.breached, late.remaining_seconds) == ("red", True, -60)
    (met,) = found[2]
    assert (met.status, met.elapsed_seconds, met.tone, met.due_at) == ("met", 3600, "grey", None)
    (paused,) = found[3]
    assert (paused.sla, paused.status, paused.elapsed_seconds, paused.remaining_seconds, paused.tone) == (
        "response", "paused", 1800, 1800, "green")  # fmt: skip
