"""The `sla` field type: an SLA's current due time read with the record (a correlated
subquery on the highest cycle), sorted and filtered in SQL ("breaches within the hour" with
`$now+1h`), read by formulas like a datetime, and its document check. Cycle rows are written
by hand here (the lifecycle is tested with the engine); the clock is held."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from flowdeck.engine import clock, models, records
from flowdeck.engine.errors import RecordInvalid
from flowdeck.engine.moments import resolve_datetime
from flowdeck.engine.query import Query, query_records
from flowdeck.engine.registry import registry_for
from flowdeck.engine.schema.loader import check_document
from tests.support.sla_apps import desk, sh

C = models.sla_cycles
NOW = sh(2026, 12, 7, 10)


def document():
    doc = desk()
    doc["entities"]["ticket"]["fields"]["resolution_due"] = {"type": "sla", "sla": "resolution", "label": "Resolve by"}
    return doc


def _cycle(record_id, cycle, status, due_at, sla="resolution"):
    return {"app": "desk", "entity": "ticket", "record_id": record_id, "sla": sla, "cycle": cycle, "version": 1,
            "goal": {"working_hours": 4, "calendar": "cn"}, "goal_seconds": 4 * 3600, "calendar": "cn", "status": status,
            "started_at": NOW - dt.timedelta(hours=1), "running_since": NOW if status == "running" else None,
            "used_seconds": 0, "due_at": due_at}  # fmt: skip


@pytest.fixture
def held():
    clock.set_now(NOW)
    yield NOW
    clock.set_now(None)


@pytest.fixture
def desk_records(db, install, system, held):
    """Five tickets: due in 30 min, in 3 h, paused, an older cycle due in 5 min under a current one due in 5 h, none."""
    install(document())
    et = db.read(registry_for).entity("desk", "ticket")
    ids = [db.run(lambda c, n=n: records.create_record(c, et, {"title": f"T{n}"}, actor=system).id) for n in range(5)]

    def write(conn):
        conn.execute(C.delete().where(C.c.app == "desk"))  # whatever the engine started on create: these cycles are the test's
        conn.execute(C.insert(), [
            _cycle(ids[0], 1, "running", NOW + dt.timedelta(minutes=30)),
            _cycle(ids[1], 1, "running", NOW + dt.timedelta(hours=3)),
            _cycle(ids[2], 1, "paused", None),
            _cycle(ids[3], 1, "stopped", NOW + dt.timedelta(minutes=5)),
            _cycle(ids[3], 2, "running", NOW + dt.timedelta(hours=5)),
            _cycle(ids[0], 1, "running", NOW + dt.timedelta(minutes=1), sla="response"),
        ])  # fmt: skip

    db.run(write)
    return et, ids


def _ids(db, et, system, **query):
    page = db.read(lambda c: query_records(c, et, Query(**query), actor=system))
    return [row["id"] for row in page.rows], page


def test_the_value_is_the_current_cycles_due_time(db, system, desk_records):
    """Does a list row and a record carry the highest cycle's due time of the named SLA (not another SLA's, not an older cycle's)?"""
    et, ids = desk_records
    _, page = _ids(db, et, system, sort=["id"])
    due = {row["id"]: row["resolution_due"] for row in page.rows}
    assert due == {ids[0]: NOW + dt.timedelta(minutes=30), ids[1]: NOW + dt.timedelta(hours=3), ids[2]: None,
                   ids[3]: NOW + dt.timedelta(hours=5), ids[4]: None}  # fmt: skip
    record = db.read(lambda c: records.get_record(c, et, ids[3], actor=system))
    assert record.values["resolution_due"] == NOW + dt.timedelta(hours=5)


def test_lists_sort_by_due_time(db, system, desk_records):
    """Does sorting by the field put the soonest due first and records without a due time last, both ways?"""
    et, ids = desk_records
    assert _ids(db, et, system, sort=["resolution_due"])[0] == [ids[0], ids[1], ids[3], ids[2], ids[4]]
    assert _ids(db, et, system, sort=["-resolution_due"])[0] == [ids[3], ids[1], ids[0], ids[4], ids[2]]


def test_breaches_within_the_hour_filter(db, system, desk_records):
    """Does `{"lte": "$now+1h"}` find the ticket due in 30 minutes only (the old cycle due in 5 minutes does not count),
    move with the held clock, and do `empty` and `$now-30m` work too?"""
    et, ids = desk_records
    soon = {"resolution_due": {"gte": "$now", "lte": "$now+1h"}}
    assert _ids(db, et, system, filter=soon)[0] == [ids[0]]
    clock.set_now(NOW + dt.timedelta(hours=2, minutes=30))
    assert _ids(db, et, system, filter=soon)[0] == [ids[1]]
    assert _ids(db, et, system, filter={"resolution_due": {"lt": "$now-30m"}})[0] == [ids[0]]
    assert _ids(db, et, system, filter={"resolution_due": {"empty": True}}, sort=["id"])[0] == [ids[2], ids[4]]


def test_now_offsets_read_the_engine_clock(held):
    """Are `$now`, `$now+1h`, `$now-30m` and `$now+2d` moments from the held clock, and is `$now+1x` refused?"""
    assert resolve_datetime("$now") == NOW
    assert resolve_datetime("$now+1h") == NOW + dt.timedelta(hours=1)
    assert resolve_datetime("$now-30m") == NOW - dt.timedelta(minutes=30)
    assert resolve_datetime("now+2d") == NOW + dt.timedelta(days=2)
    with pytest.raises(ValueError):
        resolve_datetime("$now+1x")


def test_a_bad_moment_in_a_filter_is_refused(db, system, desk_records):
    et, _ = desk_records
    with pytest.raises(RecordInvalid) as refused:
        _ids(db, et, system, filter={"resolution_due": {"lte": "$now+soon"}})
    assert "resolution_due" in refused.value.errors


def test_the_field_is_read_only(db, system, desk_records):
    """Is setting the field refused?"""
    et, _ = desk_records
    with pytest.raises(RecordInvalid) as refused:
        db.run(lambda c: records.create_record(c, et, {"title": "x", "resolution_due": "2026-12-08T10:00"}, actor=system))
    assert "resolution_due" in refused.value.errors


def test_formulas_read_the_due_time_as_a_moment(db, install, system, held):
    """Does a formula computed when the record is written read the current due time like a datetime?"""
    doc = document()
    doc["entities"]["ticket"]["fields"]["due_copy"] = {"type": "computed", "result": "datetime", "formula": "resolution_due"}
    doc["entities"]["ticket"]["fields"]["late"] = {
        "type": "computed",
        "result": "boolean",
        "formula": "resolution_due != null and resolution_due < now()",
    }
    install(doc)
    et = db.read(registry_for).entity("desk", "ticket")
    rid = db.run(lambda c: records.create_record(c, et, {"title": "T"}, actor=system).id)
    db.run(lambda c: c.execute(C.delete().where(C.c.record_id == rid)))
    db.run(lambda c: c.execute(C.insert(), [_cycle(rid, 1, "running", NOW - dt.timedelta(minutes=5))]))
    db.run(lambda c: records.update_record(c, et, rid, {"title": "T2"}, actor=system, expected_version=None))
    values = db.read(lambda c: records.get_record(c, et, rid, actor=system)).values
    assert values["due_copy"] == NOW - dt.timedelta(minutes=5) and values["late"] is True


def test_the_field_must_name_an_sla_of_its_entity():
    """Is an unknown SLA reported at the field's `sla` with the SLAs there are, and `sla` required?"""
    doc = document()
    doc["entities"]["ticket"]["fields"]["resolution_due"]["sla"] = "resolutoin"
    (problem,) = check_document(doc)
    assert problem.path == "entities.ticket.fields.resolution_due.sla"
    assert problem.message.params["keys"] == ["response", "resolution"]
    del doc["entities"]["ticket"]["fields"]["resolution_due"]["sla"]
    problems = check_document(doc)
    assert problems and all(p.path.startswith("entities.ticket.fields.resolution_due") for p in problems)
    no_slas = document()
    del no_slas["entities"]["ticket"]["slas"]
    (problem,) = check_document(no_slas)
    assert problem.path == "entities.ticket.fields.resolution_due.sla"


def test_one_statement_per_page(db, system, desk_records):
    """Is the due time read inside the page's statement (no statement per row)?"""
    et, _ = desk_records
    seen = []

    def statement(conn, cursor, text, *rest):
        seen.append(text)

    sa.event.listen(db.engine, "before_cursor_execute", statement)
    try:
        _ids(db, et, system, sort=["resolution_due"], columns=["title", "resolution_due"])
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", statement)
    assert sum("fd_sla_cycles" in q for q in seen) == 1
