"""The measures of an `sla` field (status, remaining, elapsed, warned, breached): their
values at a held clock, filtered and sorted in the list's own statement, consistent with
the badges (`sla.status.statuses`), and their document checks. Cycle rows are written by
hand with the moments the lifecycle would give them (`running_moments` on the `cn`
calendar: 09:00-12:00 and 13:30-18:00 in Shanghai)."""

from __future__ import annotations

import datetime as dt

import pytest

from flowdeck.engine import clock, models, records
from flowdeck.engine.errors import RecordInvalid
from flowdeck.engine.query import Query, query_records
from flowdeck.engine.registry import registry_for
from flowdeck.engine.schema.loader import check_document
from flowdeck.engine.sla.clocks import running_moments
from flowdeck.engine.sla.measures import status_word
from flowdeck.engine.sla.status import statuses
from tests.support.automations import drain, rule
from tests.support.sla_apps import desk, sh

C = models.sla_cycles
NOW = sh(2026, 12, 7, 10)  # a Monday, 10:00 in Shanghai
H = 3600
GOAL = {"working_hours": 4, "calendar": "cn"}
MEASURES = ("status", "remaining", "elapsed", "warned", "breached")


def document():
    doc = desk()
    for measure in MEASURES:
        doc["entities"]["ticket"]["fields"][f"res_{measure}"] = {"type": "sla", "sla": "resolution", "measure": measure}
    return doc


def _cycle(record_id, status, used, since=None, breached_at=None):
    row = {"app": "desk", "entity": "ticket", "record_id": record_id, "sla": "resolution", "cycle": 1, "version": 1,
           "goal": GOAL, "goal_seconds": 4 * H, "calendar": "cn", "status": status, "started_at": NOW - dt.timedelta(days=1),
           "running_since": since, "used_seconds": used, "due_at": None, "warn_at": None, "breached_at": breached_at}  # fmt: skip
    if status == "running":
        row["due_at"], row["warn_at"] = running_moments(GOAL, "cn", since, 4 * H, used, 75)
    return row


@pytest.fixture
def held():
    clock.set_now(NOW)
    yield NOW
    clock.set_now(None)


@pytest.fixture
def tickets(db, install, system, held):
    """A: running from now, 4h left. B: running since 09:00 with 2h used (1h left, warned now). C: running since
    09:00 with 3.5h used (due 09:30, no job has marked it). D: paused, 1h used. E: stopped in time. F: stopped,
    breached. G: no cycle."""
    install(document())
    et = db.read(registry_for).entity("desk", "ticket")
    ids = [db.run(lambda c, n=n: records.create_record(c, et, {"title": f"T{n}"}, actor=system).id) for n in range(7)]
    nine = sh(2026, 12, 7, 9)

    def write(conn):
        conn.execute(C.delete().where(C.c.app == "desk"))
        conn.execute(C.insert(), [
            _cycle(ids[0], "running", 0, NOW),
            _cycle(ids[1], "running", 2 * H, nine),
            _cycle(ids[2], "running", 3 * H + 1800, nine),
            _cycle(ids[3], "paused", H),
            _cycle(ids[4], "stopped", 2 * H),
            _cycle(ids[5], "stopped", 5 * H, breached_at=NOW - dt.timedelta(days=1)),
        ])  # fmt: skip

    db.run(write)
    return et, dict(zip("ABCDEFG", ids, strict=True))


def _names(db, et, system, names, **query):
    page = db.read(lambda c: query_records(c, et, Query(**query), actor=system))
    back = {v: k for k, v in names.items()}
    return "".join(back[row["id"]] for row in page.rows), page


def test_each_measure_at_the_held_clock(db, system, tickets):
    """Does every measure read the current cycle as `status_of` does, a running cycle past its due time breached
    before any job marked it, in lists and on the record?"""
    et, ids = tickets
    _, page = _names(db, et, system, ids, sort=["id"])
    got = {row["id"]: tuple(row[f"res_{m}"] for m in MEASURES) for row in page.rows}
    assert got == {
        ids["A"]: ("running", 4 * H, 0, False, False),
        ids["B"]: ("running", H, 3 * H, True, False),
        ids["C"]: ("breached", -1800, 4 * H + 1800, True, True),
        ids["D"]: ("paused", 3 * H, H, False, False),
        ids["E"]: ("met", 2 * H, 2 * H, False, False),
        ids["F"]: ("breached", -H, 5 * H, True, True),
        ids["G"]: (None, None, None, None, None),
    }
    record = db.read(lambda c: records.get_record(c, et, ids["B"], actor=system))
    assert tuple(record.values[f"res_{m}"] for m in MEASURES) == ("running", H, 3 * H, True, False)


def test_values_agree_with_the_badges_as_the_clock_moves(db, system, tickets):
    """At several moments (lunch break included), is every list value what the badges' statuses say?"""
    et, ids = tickets
    for moment in (NOW, sh(2026, 12, 7, 11, 0), sh(2026, 12, 7, 12, 45), sh(2026, 12, 7, 15, 31), sh(2026, 12, 8, 9, 5)):
        clock.set_now(moment)
        _, page = _names(db, et, system, ids, sort=["id"])
        found = db.read(lambda c, m=moment: statuses(c, et.entity, list(ids.values()), m))
        for row in page.rows:
            (st,) = found.get(row["id"], (None,))
            if st is None:
                assert row["res_status"] is None
                continue
            assert row["res_status"] == status_word(st.status, st.breached)
            assert (row["res_remaining"], row["res_elapsed"]) == (st.remaining_seconds, st.elapsed_seconds)
            assert (bool(row["res_warned"]), bool(row["res_breached"])) == (st.warned, st.breached)


def test_filters_on_status_warned_and_breached(db, system, tickets):
    """Do the choice and yes/no measures filter in SQL, and does a cycle become breached when its due time passes?"""
    et, ids = tickets
    assert _names(db, et, system, ids, filter={"res_status": "breached"}, sort=["id"])[0] == "CF"
    assert _names(db, et, system, ids, filter={"res_status": ["running", "paused"]}, sort=["id"])[0] == "ABD"
    # like any field's, "not" includes the empty
    assert _names(db, et, system, ids, filter={"res_status": {"ne": "met"}}, sort=["id"])[0] == "ABCDFG"
    assert _names(db, et, system, ids, filter={"res_warned": True}, sort=["id"])[0] == "BCF"
    assert _names(db, et, system, ids, filter={"res_breached": True}, sort=["id"])[0] == "CF"
    assert _names(db, et, system, ids, filter={"res_breached": {"empty": True}}, sort=["id"])[0] == "G"
    clock.set_now(sh(2026, 12, 7, 11))  # B's due time: breached now, no job has run
    assert _names(db, et, system, ids, filter={"res_breached": True}, sort=["id"])[0] == "BCF"
    assert _names(db, et, system, ids, filter={"res_status": "running"}, sort=["id"])[0] == "A"


def test_remaining_filter_counts_working_time(db, system, tickets):
    """Is "at most X left" exact on the calendar: at 11:30 A has 2.5h left (due 15:30 after the lunch break), so
    `lte 9000` finds it and `lt 9000` does not (wall-clock time would say 14:00); held cycles compare their time left."""
    et, ids = tickets
    assert _names(db, et, system, ids, filter={"res_remaining": {"lte": H}}, sort=["id"])[0] == "BCF"
    assert _names(db, et, system, ids, filter={"res_remaining": {"lt": 0}}, sort=["id"])[0] == "CF"
    assert _names(db, et, system, ids, filter={"res_remaining": {"gt": 2 * H}}, sort=["id"])[0] == "AD"
    assert _names(db, et, system, ids, filter={"res_remaining": {"gte": 2 * H}}, sort=["id"])[0] == "ADE"
    assert _names(db, et, system, ids, filter={"res_remaining": {"empty": True}})[0] == "G"
    clock.set_now(sh(2026, 12, 7, 11, 30))
    assert _names(db, et, system, ids, filter={"res_remaining": {"lte": 9000}}, sort=["id"])[0] == "ABCEF"
    assert _names(db, et, system, ids, filter={"res_remaining": {"lt": 9000}}, sort=["id"])[0] == "BCEF"
    assert _names(db, et, system, ids, filter={"res_remaining": {"gte": 9000}}, sort=["id"])[0] == "AD"
    assert _names(db, et, system, ids, filter={"res_remaining": {"lte": -1800}}, sort=["id"])[0] == "BCF"


def test_sorts(db, system, tickets):
    """Does `remaining` sort running cycles by due time, then held ones by time left, none last; and `status` in
    its options' order (running, paused, met, breached)?"""
    et, ids = tickets
    assert _names(db, et, system, ids, sort=["res_remaining"])[0] == "CBAFEDG"
    assert _names(db, et, system, ids, sort=["-res_remaining"])[0] == "ABCDEFG"  # each part reversed, none still last
    assert _names(db, et, system, ids, sort=["res_status"])[0] == "ABDECFG"
    assert _names(db, et, system, ids, sort=["-res_breached", "id"])[0] == "CFABDEG"


def test_elapsed_offers_only_exact_operators(db, system, tickets):
    """Is a comparison or a sort on `elapsed` refused (a running cycle's grows on a calendar SQL cannot count),
    while `empty` works?"""
    et, ids = tickets
    with pytest.raises(RecordInvalid) as refused:
        _names(db, et, system, ids, filter={"res_elapsed": {"gte": H}})
    assert "res_elapsed" in refused.value.errors
    with pytest.raises(RecordInvalid):
        _names(db, et, system, ids, sort=["res_elapsed"])
    assert _names(db, et, system, ids, filter={"res_elapsed": {"empty": False}})[0] == "ABCDEF"
    with pytest.raises(RecordInvalid) as refused:
        _names(db, et, system, ids, filter={"res_status": "late"})
    assert "res_status" in refused.value.errors


def test_a_wrong_measure_is_reported_at_its_path():
    """Is an unknown measure reported at the field's `measure`, a `measure` on another type too, and sorting a
    view by `elapsed` at its sort item?"""
    doc = document()
    doc["entities"]["ticket"]["fields"]["res_status"]["measure"] = "remainig"
    problems = check_document(doc)
    assert [p.path for p in problems] == ["entities.ticket.fields.res_status.measure"]
    doc = document()
    doc["entities"]["ticket"]["fields"]["title"]["measure"] = "due"
    assert [p.path for p in check_document(doc)] == ["entities.ticket.fields.title.measure"]
    doc = document()
    doc["entities"]["ticket"]["views"] = {"all": {"type": "list", "columns": ["title"], "sort": ["res_elapsed"]}}
    assert [p.path for p in check_document(doc)] == ["entities.ticket.views.all.sort[0]"]
    doc["entities"]["ticket"]["views"] = {"all": {"type": "list", "columns": ["title"], "filter": {"res_elapsed": {"gte": 60}}}}
    assert [p.path for p in check_document(doc)] == ["entities.ticket.views.all.filter.res_elapsed"]
    doc["entities"]["ticket"]["views"] = {"all": {"type": "list", "columns": ["title"], "filter": {"res_status": "late"}}}
    assert [p.path for p in check_document(doc)] == ["entities.ticket.views.all.filter.res_status"]
    doc["entities"]["ticket"]["views"] = {
        "all": {"type": "list", "columns": ["title"], "filter": {"res_status": "breached", "res_remaining": {"lte": 3600}}}
    }
    assert check_document(doc) == []


def test_formulas_and_automations_read_the_measures(db, install, system, held):
    """Does a formula written against the status (`res_status == 'breached'`) and the time left read them when the
    record is written?"""
    doc = document()
    fields = doc["entities"]["ticket"]["fields"]
    fields["late"] = {"type": "computed", "result": "boolean", "formula": "res_status == 'breached'"}
    fields["left_min"] = {"type": "computed", "result": "integer", "formula": "res_remaining / 60"}
    install(doc)
    et = db.read(registry_for).entity("desk", "ticket")
    rid = db.run(lambda c: records.create_record(c, et, {"title": "T"}, actor=system).id)
    db.run(lambda c: c.execute(C.delete().where(C.c.record_id == rid)))
    db.run(lambda c: c.execute(C.insert(), [_cycle(rid, "running", 3 * H + 1800, sh(2026, 12, 7, 9))]))
    db.run(lambda c: records.update_record(c, et, rid, {"title": "T2"}, actor=system, expected_version=None))
    values = db.read(lambda c: records.get_record(c, et, rid, actor=system)).values
    assert values["late"] is True and values["left_min"] == -30


def test_automation_conditions_read_the_measures(db, install, system, held):
    """Does a rule whose condition reads the status and the time left (`res_status == 'breached' and res_remaining
    < 0`) run for the breached ticket only?"""
    doc = document()
    doc["automations"] = [
        rule("escalate", {"on": "field_changed", "fields": ["title"]}, {"do": "set", "fields": {"priority": "'p1'"}},
             condition="res_status == 'breached' and res_remaining < 0"),
    ]  # fmt: skip
    install(doc)
    et = db.read(registry_for).entity("desk", "ticket")
    late, fine = (db.run(lambda c, n=n: records.create_record(c, et, {"title": n, "priority": "p3"}, actor=system).id) for n in "LF")
    db.run(lambda c: c.execute(C.delete().where(C.c.app == "desk")))
    nine = sh(2026, 12, 7, 9)
    db.run(lambda c: c.execute(C.insert(), [_cycle(late, "running", 3 * H + 1800, nine), _cycle(fine, "running", 0, NOW)]))
    for rid in (late, fine):
        db.run(lambda c, rid=rid: records.update_record(c, et, rid, {"title": "again"}, actor=system, expected_version=None))
    drain(db)
    priority = {rid: db.read(lambda c, rid=rid: records.get_record(c, et, rid, actor=system)).values["priority"] for rid in (late, fine)}
    assert priority == {late: "p1", fine: "p3"}


def test_a_record_read_again_later_is_read_at_that_moment(db, system, tickets):
    """Does the record read (a statement built once and kept) work its measures out at each read's moment?"""
    et, ids = tickets

    def read():
        return db.read(lambda c: records.get_record(c, et, ids["B"], actor=system)).values

    assert (read()["res_breached"], read()["res_remaining"]) == (False, H)
    clock.set_now(sh(2026, 12, 7, 11, 10))
    assert (read()["res_breached"], read()["res_status"], read()["res_remaining"]) == (True, "breached", -600)


def test_remaining_filter_on_a_wall_clock_goal(db, system, tickets):
    """Does a cycle with a goal in plain hours compare with wall-clock time (at 11:30, 2.5h left of a 4h goal started
    at 10:00: in `lte 9000`, not in `lt 9000`), not with the calendar's working time?"""
    et, _ = tickets
    rid = db.run(lambda c: records.create_record(c, et, {"title": "W"}, actor=system).id)
    wall = {**_cycle(rid, "paused", 0), "goal": {"hours": 4}, "calendar": None, "status": "running", "running_since": NOW,
            "due_at": NOW + dt.timedelta(hours=4), "warn_at": NOW + dt.timedelta(hours=3)}  # fmt: skip
    db.run(lambda c: c.execute(C.delete().where(C.c.record_id == rid)))
    db.run(lambda c: c.execute(C.insert(), [wall]))
    clock.set_now(sh(2026, 12, 7, 11, 30))

    def found(op):
        query = Query(filter={"res_remaining": {op: 9000}})
        return {r["id"] for r in db.read(lambda c: query_records(c, et, query, actor=system)).rows}

    assert rid in found("lte") and rid not in found("lt") and rid in found("gte")
    value = db.read(lambda c: records.get_record(c, et, rid, actor=system)).values["res_remaining"]
    assert value == 9000
