"""Three `flowdeck worker` processes and a `flowdeck tick` racing over 10,000 due schedule
occurrences (issue #14): each occurrence creates its one record exactly once, none is missed.

The occurrence is a schedule's (24 a day, `catch_up: all`), the issue's case: its job takes
the run row's lock, creates one record whose `at` is the occurrence's moment, and finishes
the job, all in one transaction. The 10,000 are armed before the processes start and the
clock is held after the last (each process holds `engine.clock` at that moment, then runs
the real CLI command), so all are due at once and every process claims from the same heap.

On PostgreSQL the processes' connections run with `synchronous_commit=off` (given in the
URL, for this test's connections only): the test is about exactly-once, not durability, and
a lost commit after a server crash cannot happen here. The product never sets it.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from flowdeck.engine import models, schedules
from flowdeck.engine.registry import registry_for
from flowdeck.engine.timers import arm

OCCURRENCES = 10_000
WORKERS = 3
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
COMMAND = """
import datetime as dt, sys
from flowdeck.cli import main
from flowdeck.engine import clock
clock.set_now(dt.datetime.fromisoformat(sys.argv[1]))
main([sys.argv[2]])
"""
DEADLINE = 600.0


def _url(db) -> str:
    if db.dialect != "postgresql":
        return db.url
    return sa.make_url(db.url).update_query_dict({"options": "-csynchronous_commit=off"}).render_as_string(hide_password=False)


def _open_jobs(conn: sa.Connection, now: dt.datetime) -> int:
    """Jobs due by `now` not done yet (the next occurrence, armed for later, stays queued)."""
    J = models.jobs
    return int(conn.execute(sa.select(sa.func.count()).where(J.c.status.in_(("queued", "running")) & (J.c.run_at <= now))).scalar_one())


@pytest.mark.slow
def test_three_workers_and_a_tick_run_ten_thousand_occurrences_exactly_once(db, install, tmp_path):
    """Do three worker processes and a tick, racing over 10,000 due occurrences, create each one's record once and miss none?"""
    ticks = install(DOC).entity("race", "tick").table
    schedule = db.read(registry_for).apps["race"].app.schedule("hourly")
    moments = schedule.recurrence.between(START, START + dt.timedelta(days=3650), OCCURRENCES)
    assert len(moments) == OCCURRENCES
    db.run(lambda conn: conn.execute(models.jobs.delete()))
    db.run(lambda conn: arm(conn, schedules.JOB, [schedules._job("race", "hourly", m) for m in moments]))
    now = moments[-1] + dt.timedelta(minutes=5)
    script = tmp_path / "command.py"
    script.write_text(COMMAND, encoding="utf-8")
    env = {**os.environ, "FLOWDECK_DATABASE_URL": _url(db), "FLOWDECK_INSTANCE": str(tmp_path)}

    def start(command: str, n: int) -> subprocess.Popen[bytes]:
        with open(tmp_path / f"{command}-{n}.log", "wb") as log:
            return subprocess.Popen([sys.executable, str(script), now.isoformat(), command], env=env, stdout=log, stderr=log)

    started = time.monotonic()
    workers = [start("worker", n) for n in range(WORKERS)]
    ticker = start("tick", 0)
    try:
        assert ticker.wait(timeout=DEADLINE) == 0, (tmp_path / "tick-0.log").read_text()
        while db.read(lambda conn: _open_jobs(conn, now)) and time.monotonic() - started < DEADLINE:
            assert all(w.poll() is None for w in workers), "a worker died"
            time.sleep(0.5)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    assert [w.returncode for w in workers] == [0] * WORKERS  # stopped cleanly on SIGTERM

    def read(conn: sa.Connection) -> dict[str, object]:
        J, R = models.jobs, models.schedule_runs
        due = sa.select(J).where(J.c.run_at <= now).subquery()
        return {
            "jobs": dict(conn.execute(sa.select(due.c.status, sa.func.count()).group_by(due.c.status)).all()),
            "attempts": dict(conn.execute(sa.select(due.c.attempts, sa.func.count()).group_by(due.c.attempts)).all()),
            "per_process": dict(conn.execute(sa.select(due.c.worker, sa.func.count()).group_by(due.c.worker)).all()),
            "runs": conn.execute(sa.select(R.c.occurrence_at, R.c.status, R.c.records_created)).all(),
            "records": conn.execute(sa.select(ticks.c.at)).scalars().all(),
        }

    found = db.read(read)
    assert found["jobs"] == {"done": OCCURRENCES}
    assert found["attempts"] == {1: OCCURRENCES}  # no job claimed twice
    assert len(found["per_process"]) == WORKERS + 1, found["per_process"]  # all four took part in the race
    runs = found["runs"]
    assert len(runs) == OCCURRENCES and {r.occurrence_at for r in runs} == set(moments)
    assert {(r.status, r.records_created) for r in runs} == {("done", 1)}
    records = found["records"]
    assert len(records) == OCCURRENCES  # no duplicate ...
    assert set(records) == set(moments)  # ... and none missed
