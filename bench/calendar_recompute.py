"""Time the `calendars.recompute` job over 100,000 running SLA cycles after an admin adds a
company day off to `cn` (issue #14: at most 10 s, change to job done).

    .venv/bin/python bench/calendar_recompute.py [N]                 # a fresh SQLite file
    FLOWDECK_BENCH_URL=postgresql://postgres@127.0.0.1:5432/recalc_bench \\
        .venv/bin/python bench/calendar_recompute.py [N]

The URL's database is emptied first (use a scratch database). The help desk app of the SLA
tests is installed; N running cycles of its `resolution` SLA are written straight into
fd_sla_cycles with their moments and their 2N timer jobs armed, as if the tickets had been
opened one a second back from Monday 7 Dec 2026 10:00 Shanghai time (every cycle its own
running stretch start, so no two share their arithmetic), goals of 8, 16, 24 and 40 working
hours in turn, up to an hour already used. At that moment the admin makes Wednesday 9 Dec a
day off; the timed part is the change's transaction and a runner running the job it
enqueued to completion. Prints one JSON object (the job's own result included).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tempfile
import time
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from flowdeck.engine import clock, models
from flowdeck.engine.apps import apply_document
from flowdeck.engine.calendars import book, storage
from flowdeck.engine.calendars.storage import RECOMPUTE_JOB
from flowdeck.engine.db import Database
from flowdeck.engine.jobs.runner import Runner
from flowdeck.engine.permissions import Actor
from flowdeck.engine.sla.clocks import running_moments
from flowdeck.engine.sla.timers import JOB, job_key
from flowdeck.engine.system import upgrade_system_tables
from flowdeck.engine.timers import arm

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from tests.support.sla_apps import desk

SH = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 12, 7, 10, 0, tzinfo=SH).astimezone(dt.UTC)
DAY_OFF = dt.date(2026, 12, 9)
GOAL_HOURS = (8, 16, 24, 40)
BATCH = 5000


def _cycles(count: int) -> tuple[list[dict], list[tuple]]:
    rows, jobs = [], []
    for i in range(count):
        hours = GOAL_HOURS[i % len(GOAL_HOURS)]
        goal = {"working_hours": hours, "calendar": "cn"}
        since = NOW - dt.timedelta(seconds=i)
        used = (i * 7) % 3600
        due, warn = running_moments(goal, "cn", since, hours * 3600, used, 75)
        rows.append({"id": i + 1, "app": "desk", "entity": "ticket", "record_id": i + 1, "sla": "resolution", "cycle": 1,
                     "version": 1, "goal": goal, "goal_seconds": hours * 3600, "calendar": "cn", "status": "running",
                     "started_at": since, "running_since": since, "used_seconds": used, "due_at": due, "warn_at": warn})  # fmt: skip
        for what, moment in (("breach", due), ("warning", warn)):
            jobs.append((job_key(i + 1, what, since, moment), {"cycle": i + 1, "what": what, "at": moment.isoformat()}, moment))
    return rows, jobs


def main(count: int) -> dict[str, object]:
    url = os.environ.get("FLOWDECK_BENCH_URL") or f"sqlite:///{tempfile.mkdtemp()}/recalc.db"
    db = Database(url)
    if db.dialect == "postgresql":
        db.run(lambda conn: conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade_system_tables(db)
    apply_document(db, desk(), actor=Actor.system())
    book.install(db.read(storage.load_book))
    rows, jobs = _cycles(count)
    for start in range(0, len(rows), BATCH):
        db.run(lambda conn, s=start: conn.execute(models.sla_cycles.insert(), rows[s : s + BATCH]))
    db.run(lambda conn: arm(conn, JOB, jobs))
    if db.dialect == "postgresql":
        db.run(lambda conn: conn.exec_driver_sql("ANALYZE"))
    clock.set_now(NOW)
    began, cpu = time.perf_counter(), time.process_time()
    db.run(lambda conn: storage.set_days(conn, "cn", [storage.DayEdit(DAY_OFF, False, "Company day off")]))
    changed = time.perf_counter()
    outcome = Runner(db).run_due()
    done, cpu = time.perf_counter(), time.process_time() - cpu
    result = db.read(lambda conn: conn.execute(sa.select(models.jobs.c.result).where(models.jobs.c.kind == RECOMPUTE_JOB)).scalar_one())
    db.dispose()
    return {"database": db.dialect, "cycles": count, "change_s": round(changed - began, 3), "job_s": round(done - changed, 3),
            "total_s": round(done - began, 3), "cpu_s": round(cpu, 3), "load": os.getloadavg()[0], "runner": outcome,
            "job": result}  # fmt: skip


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)))
