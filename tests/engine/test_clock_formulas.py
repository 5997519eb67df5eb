"""Formulas that read the clock, with a held clock: marked at load, refreshed by one job at
local midnight (Asia/Shanghai), exactly once with racing runners, once after days of
downtime, without new versions or history, and never touching formulas that do not read
the clock nor entities without such formulas."""

from __future__ import annotations

import copy
import datetime as dt
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from flowdeck.engine import clock, clock_refresh, models
from flowdeck.engine.jobs.runner import Runner
from flowdeck.engine.permissions import Actor
from flowdeck.engine.records import create_record, fetch_record
from flowdeck.engine.registry import registry_for
from flowdeck.engine.workflow import transition_record
from tests.support.timed import sh

J = models.jobs
H = models.history
SYSTEM = Actor.system()

DOC = {
    "key": "pm",
    "label": "Tasks",
    "roles": {"member": {}},
    "entities": {
        "task": {
            "fields": {
                "title": {"type": "text", "required": True},
                "due_date": {"type": "date"},
                "points": {"type": "integer"},
                "double": {"type": "computed", "result": "integer", "formula": "points * 2"},
                "overdue": {
                    "type": "computed",
                    "result": "boolean",
                    "formula": "due_date != null and due_date < today() and state != 'done'",
                },
                "late_note": {"type": "computed", "result": "text", "formula": "'late' if overdue else null"},
                "days_left": {"type": "computed", "result": "integer", "formula": "days_between(today(), due_date)"},
            },
            "workflow": {
                "initial": "open",
                "states": {"open": {"category": "todo"}, "done": {"category": "done"}},
                "transitions": [{"key": "finish", "from": "open", "to": "done"}, {"key": "reopen", "from": "done", "to": "open"}],
            },
        },
        "note": {
            "fields": {
                "title": {"type": "text", "required": True},
                "size": {"type": "integer"},
                "twice": {"type": "computed", "result": "integer", "formula": "size * 2"},
            }
        },
    },
}


@pytest.fixture(autouse=True)
def held_clock() -> Iterator[None]:
    clock.set_now(sh(2026, 3, 10, 15))
    yield
    clock.set_now(None)


@pytest.fixture
def apps(install):
    return install(copy.deepcopy(DOC))


def _task(db, et, due: dt.date | None, points: int = 1) -> int:
    return db.run(lambda c: create_record(c, et, {"title": "T", "due_date": due, "points": points}, actor=SYSTEM, now=clock.now())).id


def _values(db, et, record_id: int) -> dict:
    record = db.read(lambda c: fetch_record(c, et, record_id))
    return {**record.values, "version": record.version, "updated_at": record.updated_at}


def _jobs(db) -> list:
    query = sa.select(J.c.dedupe_key, J.c.run_at, J.c.status, J.c.attempts, J.c.result).where(J.c.kind == clock_refresh.JOB)
    return db.read(lambda c: c.execute(query.order_by(J.c.run_at)).all())


def _arm(db) -> int:
    return db.run(lambda c: clock_refresh.arm_next(c, registry_for(c), now=clock.now()))


def test_formulas_reading_the_clock_are_marked_at_load(apps):
    """Are `today()` callers and the formulas reading them (in any depth) marked, and no other?"""
    assert apps.entity("pm", "task").entity.clocked == ("overdue", "late_note", "days_left")
    assert apps.entity("pm", "note").entity.clocked == ()


def test_due_today_is_not_overdue_until_midnight_and_done_clears_it(db, apps):
    """A task due today: not overdue; at 00:00:01 the job makes it overdue (no new version,
    no history, `updated_at` kept); marking it done clears it."""
    et = apps.entity("pm", "task")
    record_id = _task(db, et, dt.date(2026, 3, 10))
    before = _values(db, et, record_id)
    assert before["overdue"] is False and before["days_left"] == 0 and before["late_note"] is None
    history = db.read(lambda c: c.execute(sa.select(sa.func.count()).select_from(H)).scalar_one())
    assert _arm(db) == 1 and _arm(db) == 0
    assert [(j.run_at, j.status) for j in _jobs(db)] == [(sh(2026, 3, 11), "queued")]
    clock.set_now(sh(2026, 3, 10, 23, 59, 59))
    assert Runner(db).run_due() == {}
    assert _values(db, et, record_id)["overdue"] is False
    clock.set_now(sh(2026, 3, 11, 0, 0, 1))
    assert Runner(db).run_due() == {"done": 1}
    after = _values(db, et, record_id)
    assert after["overdue"] is True and after["late_note"] == "late" and after["days_left"] == -1
    assert (after["version"], after["updated_at"]) == (before["version"], before["updated_at"])
    assert db.read(lambda c: c.execute(sa.select(sa.func.count()).select_from(H)).scalar_one()) == history
    jobs = _jobs(db)
    assert [(j.run_at, j.status) for j in jobs] == [(sh(2026, 3, 11), "done"), (sh(2026, 3, 12), "queued")]
    assert jobs[0].result["changed"] == {"pm.task": 1}
    db.run(lambda c: transition_record(c, et, record_id, "finish", actor=SYSTEM, now=clock.now()))
    assert _values(db, et, record_id)["overdue"] is False


def test_racing_runners_refresh_exactly_once(db, apps):
    """Three runners at 00:00:01 with 20 tasks that became overdue: one run, 20 changed."""
    et = apps.entity("pm", "task")
    ids = [_task(db, et, dt.date(2026, 3, 10)) for _ in range(20)]
    _arm(db)
    clock.set_now(sh(2026, 3, 11, 0, 0, 1))
    errors: list[BaseException] = []

    def drain() -> None:
        try:
            Runner(db).run_due()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=drain) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    jobs = _jobs(db)
    assert [(j.status, j.attempts) for j in jobs] == [("done", 1), ("queued", 0)]
    assert jobs[0].result["changed"] == {"pm.task": 20}
    assert all(_values(db, et, rid)["overdue"] is True for rid in ids)


def test_three_days_of_downtime_catch_up_once(db, apps):
    """Armed for 11 March, the instance is down until 14 March 10:00: one `tick` runs one
    refresh at the current day and arms 15 March, not 12 and 13."""
    et = apps.entity("pm", "task")
    due_12 = _task(db, et, dt.date(2026, 3, 12))
    _arm(db)
    clock.set_now(sh(2026, 3, 14, 10))
    assert _arm(db) == 1  # what each periodic pass and `flowdeck tick` do first
    assert Runner(db).run_due() == {"done": 1}
    assert [(j.run_at, j.status) for j in _jobs(db)] == [(sh(2026, 3, 11), "done"), (sh(2026, 3, 15), "queued")]
    assert _values(db, et, due_12)["overdue"] is True and _values(db, et, due_12)["days_left"] == -2
    assert Runner(db).run_due() == {}


def test_formulas_not_reading_the_clock_are_never_touched(db, apps):
    """The job reads no table of an entity without clock formulas, writes only the clock
    formulas' columns, and only of records whose value changed."""
    et = apps.entity("pm", "task")
    notes = apps.entity("pm", "note")
    db.run(lambda c: create_record(c, notes, {"title": "N", "size": 2}, actor=SYSTEM, now=clock.now()))
    changing = _task(db, et, dt.date(2026, 3, 10), points=3)
    steady = _task(db, et, None, points=4)
    # A stale stored value of a formula that does not read the clock stays as it is.
    db.run(lambda c: c.execute(et.table.update().values(double=99)))
    db.run(lambda c: c.execute(notes.table.update().values(twice=77)))
    _arm(db)
    clock.set_now(sh(2026, 3, 11, 0, 0, 1))
    statements: list[tuple[str, int]] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:
        rows = len(parameters) if executemany else 1
        statements.append((statement, rows))

    sa.event.listen(db.engine, "before_cursor_execute", seen)
    try:
        assert Runner(db).run_due() == {"done": 1}
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", seen)
    assert not [s for s, _ in statements if notes.table.name in s]
    updates = [(s, rows) for s, rows in statements if s.lstrip().upper().startswith("UPDATE") and et.table.name in s]
    assert len(updates) == 1 and updates[0][1] == 1  # one executemany with the one changed record
    written = updates[0][0].split(" WHERE ")[0]
    assert "overdue" in written and "double" not in written and "version" not in written and "updated_at" not in written
    assert _values(db, et, changing)["double"] == 99 and _values(db, et, changing)["overdue"] is True
    assert _values(db, et, steady)["overdue"] is False and _values(db, et, steady)["double"] == 99
    assert db.read(lambda c: c.execute(sa.select(notes.table.c.twice)).scalar_one()) == 77


def test_apps_without_clock_formulas_arm_nothing(db, install):
    install({"key": "plain", "label": "Plain", "roles": {"member": {}}, "entities": {"thing": {"fields": {"title": {"type": "text"}}}}})
    assert _arm(db) == 0 and _jobs(db) == []


def test_a_formula_reading_now_is_refreshed_every_hour(db, install):
    """`now()` refreshes at each full local hour; a Kathmandu-like half-hour zone is not
    needed here: Shanghai hours fall on UTC hours."""
    doc = copy.deepcopy(DOC)
    doc["entities"]["task"]["fields"]["ends_at"] = {"type": "datetime"}
    doc["entities"]["task"]["fields"]["ended"] = {"type": "computed", "result": "boolean", "formula": "ends_at != null and ends_at < now()"}
    apps = install(doc)
    clock.set_now(sh(2026, 3, 10, 15, 20))
    assert clock_refresh.next_refresh(apps, clock.now()) == sh(2026, 3, 10, 16)
    et = apps.entity("pm", "task")
    record_id = db.run(lambda c: create_record(c, et, {"title": "T", "ends_at": sh(2026, 3, 10, 15, 45)}, actor=SYSTEM, now=clock.now())).id
    _arm(db)
    clock.set_now(sh(2026, 3, 10, 16, 0, 1))
    assert Runner(db).run_due() == {"done": 1}
    assert _values(db, et, record_id)["ended"] is True
    assert [j.run_at for j in _jobs(db)] == [sh(2026, 3, 10, 16), sh(2026, 3, 10, 17)]


def test_a_record_saved_during_the_refresh_keeps_what_its_save_computed(db, apps, monkeypatch):
    """A save between the refresh's read and its write (a new version): the refresh's
    value, worked out from the old values, is not written over the save's."""
    from flowdeck.engine.migrate import formulas

    et = apps.entity("pm", "task")
    record_id = _task(db, et, dt.date(2026, 3, 10))
    read_children = formulas.load_children

    def save_meanwhile(conn, et_, ids):
        conn.execute(et.table.update().where(et.table.c.id == record_id).values(version=et.table.c.version + 1, state="done"))
        return read_children(conn, et_, ids)

    monkeypatch.setattr(formulas, "load_children", save_meanwhile)
    assert db.run(lambda c: clock_refresh.refresh(c, registry_for(c), now=sh(2026, 3, 11, 0, 0, 1))) == {"pm.task": 1}
    assert _values(db, et, record_id)["overdue"] is False
