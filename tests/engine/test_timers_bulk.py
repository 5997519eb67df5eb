"""`timers.arm_bulk`, the arming of a calendar change's new timer jobs by the ten thousand:
the same rows and counts as `arm`, batch after batch; exactly once when two transactions
arm overlapping sets at once; and the re-armed SLA timers of a calendar change marking each
cycle once with three runners racing."""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from flowdeck.engine import clock, models, timers
from flowdeck.engine.calendars import book as calendar_book
from flowdeck.engine.calendars import storage
from flowdeck.engine.jobs.runner import Runner
from flowdeck.engine.permissions import Actor
from flowdeck.engine.records import create_record
from flowdeck.engine.sla.timers import JOB as SLA_JOB
from tests.support.sla_apps import desk, sh

J, C = models.jobs, models.sla_cycles
AT = dt.datetime(2026, 12, 9, 1, 0, tzinfo=dt.UTC)


@pytest.fixture
def held():
    yield
    clock.set_now(None)
    calendar_book.install(calendar_book.CalendarBook({"cn": calendar_book.builtin_calendar()}))


def _jobs(numbers: range | list[int], prefix: str = "bulk") -> list[tuple[str, dict, dt.datetime]]:
    moments = [(n, AT + dt.timedelta(minutes=n)) for n in numbers]
    return [(f"{prefix}:{n:05d}", {"n": n, "at": at.isoformat()}, at) for n, at in moments]


def _rows(db, prefix: str) -> list[tuple]:
    columns = (J.c.dedupe_key, J.c.kind, J.c.payload, J.c.status, J.c.run_at, J.c.attempts, J.c.max_attempts)
    query = sa.select(*columns).where(J.c.dedupe_key.like(f"{prefix}:%")).order_by(J.c.dedupe_key)
    return [(key.split(":", 1)[1], *rest) for key, *rest in db.read(lambda c: c.execute(query).all())]


def test_arm_bulk_writes_what_arm_writes_and_counts_the_new_jobs(db, monkeypatch):
    """Over several batches: are the rows those `arm` writes, the count the new jobs only, and
    a second arming of the same keys a no-op that changes no row?"""
    monkeypatch.setattr(timers, "BULK_BATCH", 7)
    assert db.run(lambda c: timers.arm_bulk(c, SLA_JOB, _jobs(range(20)))) == 20
    assert db.run(lambda c: timers.arm(c, SLA_JOB, _jobs(range(20), "one"))) == 20
    assert _rows(db, "bulk") == _rows(db, "one") and len(_rows(db, "bulk")) == 20
    moved = [(key, {"moved": True}, run + dt.timedelta(days=1)) for key, _, run in _jobs(range(10, 30))]
    assert db.run(lambda c: timers.arm_bulk(c, SLA_JOB, moved)) == 10
    rows = _rows(db, "bulk")
    assert len(rows) == 30 and rows[10][2] == {"n": 10, "at": (AT + dt.timedelta(minutes=10)).isoformat()}
    assert rows[29][2] == {"moved": True} and rows[29][4] == AT + dt.timedelta(days=1, minutes=29)
    assert db.run(lambda c: timers.arm_bulk(c, SLA_JOB, [])) == 0


def test_two_transactions_arming_overlapping_sets_arm_each_job_once(db):
    """Two armers at once, 300 keys each, 200 shared, given in different orders: one row per
    key, the two counts adding up to the 400 keys, no error (no deadlock)?"""
    sets = [_jobs(range(0, 300)), _jobs(range(100, 400))]
    random.Random(14).shuffle(sets[1])
    counts: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def work(jobs: list) -> None:
        barrier.wait()
        try:
            counts.append(db.run(lambda c: timers.arm_bulk(c, SLA_JOB, jobs)))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(jobs,)) for jobs in sets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert sum(counts) == 400 and len(_rows(db, "bulk")) == 400


def _race(db, runners: int = 3) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(runners)

    def work() -> None:
        barrier.wait()
        try:
            Runner(db, clock=clock.now).run_due()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(runners)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors


def test_timers_armed_again_by_a_calendar_change_mark_each_cycle_once_with_runners_racing(db, install, held):
    """Twelve P2 tickets opened Monday 2 March 09:00 (due Tuesday 09:30); Tuesday made a day off
    at 10:00: with three runners racing at Tuesday 09:30 and again at Wednesday 09:30, is
    every cycle breached once, at the new moment, by one job each, the old jobs doing nothing?"""
    et = install(desk()).entity("desk", "ticket")
    moment = sh(2026, 3, 2, 9, 0)
    clock.set_now(moment)
    ids = [db.run(lambda c: create_record(c, et, {"title": "Printer", "priority": "p2"}, actor=Actor.system(), now=moment)).id
           for _ in range(12)]  # fmt: skip
    clock.set_now(sh(2026, 3, 2, 10, 0))
    db.run(lambda c: storage.set_days(c, "cn", [storage.DayEdit(dt.date(2026, 3, 3), False, "Company day off")]))
    Runner(db, clock=clock.now).run_due()
    breach = (C.c.sla == "resolution") & C.c.record_id.in_(ids)
    breached: Callable[[], list] = lambda: db.read(lambda c: list(c.execute(sa.select(C.c.breached_at).where(breach)).scalars()))  # noqa: E731
    clock.set_now(sh(2026, 3, 3, 9, 30))
    _race(db)
    assert breached() == [None] * 12
    clock.set_now(sh(2026, 3, 4, 9, 30))
    _race(db)
    assert breached() == [sh(2026, 3, 4, 9, 30)] * 12
    cycles = set(db.read(lambda c: list(c.execute(sa.select(C.c.id).where(breach)).scalars())))
    query = sa.select(J.c.payload, J.c.status, J.c.result).where(J.c.kind == SLA_JOB)
    jobs = [j for j in db.read(lambda c: c.execute(query).all()) if j.payload["cycle"] in cycles and j.payload["what"] == "breach"]
    assert all(j.status == "done" for j in jobs) and len(jobs) == 24  # the old breach job and the new one of each cycle
    assert sorted(j.payload["cycle"] for j in jobs if j.result.get("marked") == "breach") == sorted(cycles)
    assert sum(j.result == {"skipped": "not_due"} for j in jobs) == 12
