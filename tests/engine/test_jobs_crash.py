"""Kill -9 a worker process at random moments while it drains 1,000 jobs, start it again,
and count: no job lost, none applied twice (each job's change is in the transaction that
marks it done, so a killed worker's half-done job rolls back and runs again after its lease)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from flowdeck.engine import models
from flowdeck.engine.jobs import queue

WORKER = """
import datetime as dt, random, sys, threading, time
import sqlalchemy as sa
from flowdeck.engine.db import Database
from flowdeck.engine.jobs.kinds import JobKind, register
from flowdeck.engine.jobs.runner import Runner
from flowdeck.engine.messages import M

EFFECTS = sa.table("job_effects", sa.column("job_id", sa.Integer))

def handler(conn, payload, context):
    conn.execute(EFFECTS.insert().values(job_id=context.job_id))
    time.sleep(random.uniform(0, 0.004))  # a kill lands inside a job's transaction too

register(JobKind("test.effect", M("Test effect"), handler))
Runner(Database(sys.argv[1]), lease=dt.timedelta(seconds=1)).serve(threading.Event())
"""
JOBS = 1000


def _counts(db) -> tuple[int, int, int]:
    def read(conn):
        done = conn.execute(sa.select(sa.func.count()).select_from(models.jobs).where(models.jobs.c.status == "done")).scalar()
        effects = conn.exec_driver_sql("SELECT COUNT(*), COUNT(DISTINCT job_id) FROM job_effects").one()
        return int(done), int(effects[0]), int(effects[1])

    return db.read(read)


@pytest.mark.slow
def test_kill_9_loses_no_job_and_applies_none_twice(db, tmp_path):
    db.run(lambda conn: conn.exec_driver_sql("CREATE TABLE job_effects (job_id INTEGER NOT NULL)"))
    db.run(lambda conn: [queue.enqueue(conn, "test.effect", {"i": i}) for i in range(JOBS)])
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    rng = random.Random(20261207)
    kills = 0

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, str(script), db.url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    process = start()
    try:
        while kills < 8 and _counts(db)[0] < JOBS:
            time.sleep(rng.uniform(0.3, 1.2))
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            kills += 1
            process = start()
        deadline = time.monotonic() + 180
        while _counts(db)[0] < JOBS and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        process.kill()
        process.wait()
    done, effects, distinct = _counts(db)
    assert kills >= 3, "the workers finished before enough kills: raise JOBS"
    assert (done, effects, distinct) == (JOBS, JOBS, JOBS)
