"""A business calendar changed under running clocks, with a held clock: the change enqueues one
`calendars.recompute` job in its own transaction; the job moves the due and warning moments
of running SLA cycles (a company day off added moves a due time later and the old breach job
does nothing; one removed moves it earlier and the breach happens then), follows the default
calendar when it is switched, and re-arms timed-transition waits whose end moved earlier.
A bundle import starts the SLA cycles of its records."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
import sqlalchemy as sa

from flowdeck.engine import clock, models, timed
from flowdeck.engine.calendars import book as calendar_book
from flowdeck.engine.calendars import storage
from flowdeck.engine.calendars.storage import RECOMPUTE_JOB
from flowdeck.engine.jobs.runner import Runner
from flowdeck.engine.permissions import Actor
from flowdeck.engine.records import create_record
from flowdeck.engine.registry import registry_for
from flowdeck.engine.sla.timers import JOB as SLA_JOB
from flowdeck.engine.workflow import transition_record
from tests.support import timed as timed_support
from tests.support.sla_apps import desk, sh

C, J = models.sla_cycles, models.jobs
SYSTEM = Actor.system()
MON, TUE, WED = dt.date(2026, 3, 2), dt.date(2026, 3, 3), dt.date(2026, 3, 4)


@pytest.fixture
def held():
    yield clock.set_now
    clock.set_now(None)
    calendar_book.install(calendar_book.CalendarBook({"cn": calendar_book.builtin_calendar()}))


def _ticket(db, et, moment, **values) -> int:
    clock.set_now(moment)
    return db.run(lambda c: create_record(c, et, {"title": "Printer", **values}, actor=SYSTEM, now=moment)).id


def _cycle(db, record_id, sla="resolution"):
    query = sa.select(C).where(C.c.record_id == record_id, C.c.sla == sla)
    return db.read(lambda c: c.execute(query).mappings().one())


def _run_at(db, moment):
    clock.set_now(moment)
    return Runner(db).run_due()


def _recompute_jobs(db):
    return db.read(lambda c: c.execute(sa.select(J.c.status, J.c.result, J.c.payload).where(J.c.kind == RECOMPUTE_JOB)).all())


def _day_off(day):
    return lambda conn: storage.set_days(conn, "cn", [storage.DayEdit(day, False, "Company day off")])


def test_a_day_off_added_mid_cycle_moves_the_due_time_later(db, install, held):
    """P2 ticket Monday 09:00 (8 working hours: due Tuesday 09:30, warning Monday 16:30). At
    10:00 Tuesday becomes a day off: is one job enqueued with the change, does it move the due
    time to Wednesday 09:30 (warning unchanged), does the old breach job do nothing at Tuesday
    09:30, and the breach happen Wednesday 09:30?"""
    et = install(desk()).entity("desk", "ticket")
    t = _ticket(db, et, sh(2026, 3, 2, 9, 0), priority="p2")
    assert _cycle(db, t)["due_at"] == sh(2026, 3, 3, 9, 30)
    clock.set_now(sh(2026, 3, 2, 10, 0))
    db.run(_day_off(TUE))
    [job] = _recompute_jobs(db)
    assert job.status == "queued" and job.payload == {"calendars": ["cn"], "default": False}
    _run_at(db, sh(2026, 3, 2, 10, 0))
    [job] = _recompute_jobs(db)
    assert job.status == "done" and job.result["sla"]["moved"] == 1  # the response cycle ends Monday 14:30 either way
    cycle = _cycle(db, t)
    assert cycle["due_at"] == sh(2026, 3, 4, 9, 30) and cycle["warn_at"] == sh(2026, 3, 2, 16, 30)
    keys = db.read(
        lambda c: list(c.execute(sa.select(J.c.dedupe_key).where(J.c.kind == SLA_JOB, J.c.run_at == sh(2026, 3, 4, 9, 30))).scalars())
    )
    assert len(keys) == 1 and f"sla:{cycle['id']}:breach:" in keys[0]
    _run_at(db, sh(2026, 3, 3, 9, 30))
    assert _cycle(db, t)["breached_at"] is None
    old = db.read(
        lambda c: c.execute(sa.select(J.c.status, J.c.result).where(J.c.kind == SLA_JOB, J.c.run_at == sh(2026, 3, 3, 9, 30))).all()
    )
    assert [(o.status, o.result) for o in old] == [("done", {"skipped": "not_due"})]
    _run_at(db, sh(2026, 3, 4, 9, 29))
    assert _cycle(db, t)["breached_at"] is None
    _run_at(db, sh(2026, 3, 4, 9, 30))
    assert _cycle(db, t)["breached_at"] == sh(2026, 3, 4, 9, 30)


def test_a_day_off_removed_moves_the_due_time_earlier(db, install, held):
    """Tuesday is a day off when a P2 ticket opens Monday 09:00 (due Wednesday 09:30); removing
    the day at 11:00: is the breach marked at Tuesday 09:30, and the later job a no-op?"""
    et = install(desk()).entity("desk", "ticket")
    clock.set_now(sh(2026, 3, 1, 12, 0))
    db.run(_day_off(TUE))
    _run_at(db, sh(2026, 3, 1, 12, 0))
    t = _ticket(db, et, sh(2026, 3, 2, 9, 0), priority="p2")
    assert _cycle(db, t)["due_at"] == sh(2026, 3, 4, 9, 30)
    clock.set_now(sh(2026, 3, 2, 11, 0))
    assert db.run(lambda c: storage.remove_day(c, "cn", TUE))
    _run_at(db, sh(2026, 3, 2, 11, 0))
    assert _cycle(db, t)["due_at"] == sh(2026, 3, 3, 9, 30)
    _run_at(db, sh(2026, 3, 3, 9, 29))
    assert _cycle(db, t)["breached_at"] is None
    _run_at(db, sh(2026, 3, 3, 9, 30))
    assert _cycle(db, t)["breached_at"] == sh(2026, 3, 3, 9, 30)
    _run_at(db, sh(2026, 3, 4, 9, 30))
    later = db.read(
        lambda c: c.execute(sa.select(J.c.result).where(J.c.kind == SLA_JOB, J.c.run_at == sh(2026, 3, 4, 9, 30))).scalars().all()
    )
    assert later == [{"skipped": "not_due"}]
    assert len(_recompute_jobs(db)) == 2 and all(j.status == "done" for j in _recompute_jobs(db))


def test_switching_the_default_calendar_moves_cycles_that_name_none(db, install, held):
    """Goals without a calendar count on the default: when an admin makes a calendar with
    09:00-21:00 windows the default, does a cycle naming none move (8 h from Monday 09:00:
    17:00), while one naming `cn` stays?"""
    doc = desk()
    for goal in doc["entities"]["ticket"]["slas"][1]["goals"]:
        goal["duration"].pop("calendar")
    et = install(doc).entity("desk", "ticket")
    t = _ticket(db, et, sh(2026, 3, 2, 9, 0), priority="p2")
    assert _cycle(db, t)["due_at"] == sh(2026, 3, 3, 9, 30)
    response_due = _cycle(db, t, "response")["due_at"]
    settings = storage.settings_from_form("long", {"en": "Long days"}, "Asia/Shanghai", ["09:00-21:00"] * 5 + ["", ""], None)
    clock.set_now(sh(2026, 3, 2, 9, 30))
    db.run(lambda c: storage.create_calendar(c, settings))
    db.run(lambda c: storage.make_default(c, "long"))
    _run_at(db, sh(2026, 3, 2, 9, 30))
    assert _recompute_jobs(db)[-1].payload == {"calendars": [], "default": True}
    assert _cycle(db, t)["due_at"] == sh(2026, 3, 2, 17, 0) and _cycle(db, t)["warn_at"] == sh(2026, 3, 2, 15, 0)
    assert _cycle(db, t, "response")["due_at"] == response_due
    _run_at(db, sh(2026, 3, 2, 17, 0))
    assert _cycle(db, t)["breached_at"] == sh(2026, 3, 2, 17, 0)


def test_a_timed_wait_whose_end_moves_earlier_is_armed_again(db, install, held):
    """A ticket resolved Monday 2 March 10:00 closes after 7 working days (Thursday 12 March
    10:00) with Tuesday 3 March a day off; removing the day off at noon: does the ticket close
    on Wednesday 11 March 10:00, and the old job then do nothing?"""
    et = install(copy.deepcopy(timed_support.DOC)).entity("hd", "ticket")
    clock.set_now(sh(2026, 3, 1, 12, 0))
    db.run(_day_off(TUE))
    _run_at(db, sh(2026, 3, 1, 12, 0))
    moment = sh(2026, 3, 2, 10, 0)
    clock.set_now(moment)
    record = db.run(lambda c: create_record(c, et, {"title": "Printer"}, actor=SYSTEM, now=moment))
    db.run(lambda c: transition_record(c, et, record.id, "resolve", actor=SYSTEM, now=moment))
    query = sa.select(J.c.run_at, J.c.status, J.c.result).where(J.c.kind == timed.JOB).order_by(J.c.id)
    assert [j.run_at for j in db.read(lambda c: c.execute(query).all())] == [sh(2026, 3, 12, 10)]
    clock.set_now(sh(2026, 3, 2, 12, 0))
    db.run(lambda c: storage.remove_day(c, "cn", TUE))
    _run_at(db, sh(2026, 3, 2, 12, 0))
    assert _recompute_jobs(db)[-1].result["timed_jobs"] == 1
    assert [j.run_at for j in db.read(lambda c: c.execute(query).all())] == [sh(2026, 3, 12, 10), sh(2026, 3, 11, 10)]
    _run_at(db, sh(2026, 3, 11, 9, 59))
    assert db.read(lambda c: c.execute(sa.select(et.table.c.state).where(et.table.c.id == record.id)).scalar()) == "resolved"
    _run_at(db, sh(2026, 3, 11, 10, 0, 1))
    state = lambda: db.read(lambda c: c.execute(sa.select(et.table.c.state).where(et.table.c.id == record.id)).scalar())  # noqa: E731
    assert state() == "closed"
    _run_at(db, sh(2026, 3, 12, 10, 0, 1))
    assert [j.result for j in db.read(lambda c: c.execute(query).all())] == [
        {"skipped": "left_state"},
        {"transitioned": "auto_close", "record": record.id, "state": "closed"},
    ]


def test_a_bundle_import_starts_the_sla_cycles_of_its_records(db, install, held):
    """Imported records come without events: does the import start a cycle for each record whose
    start holds (created, open) as of the import moment, none for a resolved one, and arm them?"""
    from flowdeck.engine import bundles
    from flowdeck.engine.registry import load_registry

    et = install(desk()).entity("desk", "ticket")
    open_id = _ticket(db, et, sh(2026, 3, 2, 9, 0), priority="p2")
    done_id = _ticket(db, et, sh(2026, 3, 2, 9, 0))
    db.run(lambda c: transition_record(c, et, done_id, "take", actor=SYSTEM, now=sh(2026, 3, 2, 9, 0)))
    db.run(lambda c: transition_record(c, et, done_id, "resolve", actor=SYSTEM, now=sh(2026, 3, 2, 9, 0)))
    clock.set_now(sh(2026, 3, 5, 9, 0))
    data = db.read(lambda c: bundles.export_bundle(c, load_registry(c), "desk", include_records=True))
    bundles.import_bundle(db, data, actor=SYSTEM, as_key="desk_copy", user_map={"*": "create"})
    copy_et = db.read(registry_for).entity("desk_copy", "ticket")
    ids = db.read(lambda c: dict(c.execute(sa.select(copy_et.table.c.state, copy_et.table.c.id)).all()))
    query = sa.select(C).where(C.c.app == "desk_copy").order_by(C.c.record_id, C.c.sla)
    cycles = db.read(lambda c: c.execute(query).mappings().all())
    assert [(c["record_id"], c["sla"], c["status"]) for c in cycles] == [
        (ids["new"], "resolution", "running"), (ids["new"], "response", "running"),
        (ids["resolved"], "response", "running"),
    ]  # fmt: skip
    resolution = cycles[0]
    assert resolution["started_at"] == sh(2026, 3, 5, 9, 0) and resolution["due_at"] == sh(2026, 3, 6, 9, 30)
    payloads = db.read(lambda c: list(c.execute(sa.select(J.c.payload).where(J.c.kind == SLA_JOB)).scalars()))
    assert sorted(p["what"] for p in payloads if p["cycle"] == resolution["id"]) == ["breach", "warning"]
    assert open_id != done_id


def test_the_job_exists_exactly_when_the_change_commits(db, install, held):
    """A change rolled back leaves no job; two changes make two jobs (one per schema generation),
    and the second finds nothing more to move."""
    et = install(desk()).entity("desk", "ticket")
    _ticket(db, et, sh(2026, 3, 2, 9, 0), priority="p2")
    clock.set_now(sh(2026, 3, 2, 10, 0))

    def change_then_fail(conn):
        _day_off(TUE)(conn)
        raise RuntimeError("the admin's request failed after the change")

    with pytest.raises(RuntimeError):
        db.run(change_then_fail)
    assert _recompute_jobs(db) == []
    db.run(_day_off(TUE))
    db.run(_day_off(TUE))
    _run_at(db, sh(2026, 3, 2, 10, 0))
    jobs = _recompute_jobs(db)
    assert [j.status for j in jobs] == ["done", "done"]
    assert [j.result["sla"]["moved"] for j in jobs] == [1, 0]
