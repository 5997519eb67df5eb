"""Three worker processes and a tick racing over 10,000 due schedule occurrences (issue
14): each occurrence must create its record once, with no duplicate run and no lost one.

    .venv/bin/python bench/schedules_race.py                      # a fresh SQLite file
    FLOWDECK_BENCH_URL=postgresql://... .venv/bin/python bench/schedules_race.py

The URL's database is emptied of Flowdeck's tables first (use a scratch database). The
occurrences (24 a day for 417 days) are all armed before the workers start, with one
fixed clock after the last, so everything is due at once. Prints one JSON object (with the
machine's one-minute load before and after: the seconds mean little without it).
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import tempfile
import time

import sqlalchemy as sa

from flowdeck.engine import models, schedules
from flowdeck.engine.apps import apply_document
from flowdeck.engine.db import Database
from flowdeck.engine.jobs.runner import Runner
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import registry_for
from flowdeck.engine.system import upgrade_system_tables
from flowdeck.engine.timers import arm

OCCURRENCES = int(os.environ.get("FLOWDECK_BENCH_OCCURRENCES", "10000"))
START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
DOC = {
    "key": "race",
    "label": "Race",
    "roles": {"staff": {}},
    "entities": {"tick": {"fields": {"title": {"type": "text", "required": True}, "at": {"type": "datetime"}}}},
    "schedules": [
        {"key": "hourly", "create": {"entity": "tick", "values": {"title": "'tick'", "at": "now()"}},
         "repeat": {"rrule": "FREQ=DAILY;BYHOUR=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23;BYMINUTE=0"},
         "catch_up": "all", "catch_up_window": "P999D"}
    ],
}  # fmt: skip


def _clock(now: dt.datetime):  # noqa: ANN202 -- a picklable-enough closure per process
    return lambda: now


def _work(url: str, now: str, name: str) -> dict[str, int]:
    db = Database(url)
    try:
        return Runner(db, clock=_clock(dt.datetime.fromisoformat(now)), name=name).run_due(limit=OCCURRENCES * 2)
    finally:
        db.dispose()


def main() -> None:
    url = os.environ.get("FLOWDECK_BENCH_URL") or f"sqlite:///{tempfile.mkdtemp()}/race.db"
    db = Database(url)
    if db.dialect == "postgresql":
        db.run(lambda conn: conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade_system_tables(db)
    apply_document(db, DOC, actor=Actor.system())
    schedule = db.read(registry_for).apps["race"].app.schedule("hourly")
    moments = schedule.recurrence.between(START, START + dt.timedelta(days=3650), OCCURRENCES)
    db.run(lambda conn: conn.execute(models.jobs.delete()))
    db.run(lambda conn: arm(conn, schedules.JOB, [schedules._job("race", "hourly", m) for m in moments]))
    now = (moments[-1] + dt.timedelta(minutes=5)).isoformat()
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        outcomes = pool.starmap(_work, [(url, now, f"worker-{n}") for n in range(3)] + [(url, now, "tick")])
    elapsed = time.perf_counter() - started

    def count(conn: sa.Connection) -> dict[str, int]:
        runs = models.schedule_runs
        return {
            "runs": conn.execute(sa.select(sa.func.count()).select_from(runs)).scalar_one(),
            "distinct_occurrences": conn.execute(sa.select(sa.func.count(sa.distinct(runs.c.occurrence)))).scalar_one(),
            "records": conn.execute(sa.text("SELECT count(*) FROM race__tick")).scalar_one(),
            "distinct_record_moments": conn.execute(sa.text("SELECT count(DISTINCT at) FROM race__tick")).scalar_one(),
        }

    counted = db.read(count)
    db.dispose()
    print(json.dumps({
        "database": db.dialect, "occurrences": len(moments), **counted,
        "duplicates": counted["records"] - counted["distinct_record_moments"],
        "per_process": outcomes, "seconds": round(elapsed, 2),
        "load_1min": [round(load_before, 1), round(os.getloadavg()[0], 1)],
    }))  # fmt: skip


if __name__ == "__main__":
    main()
