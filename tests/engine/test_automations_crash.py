"""Kill -9 a worker at random moments while it runs the automations of 1,000 events, start
it again, and count what the runs applied: each run's field change and created record
exactly once (they commit with the run's row and its job, or not at all)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from flowdeck.engine import models, records
from tests.support.automations import rule
from tests.support.documents import automation_app

WORKER = """
import datetime as dt, sys, threading
from flowdeck.engine.db import Database
from flowdeck.engine.jobs.runner import Runner
Runner(Database(sys.argv[1]), lease=dt.timedelta(seconds=1)).serve(threading.Event())
"""
EVENTS = 1000


@pytest.mark.slow
def test_kill_9_loses_no_run_and_applies_none_twice(db, install, make_user, tmp_path):
    """After random kill -9s of the worker, are all 1,000 runs done, each field change and created record there once?"""
    registry = install(
        automation_app(
            rule(
                "follow",
                {"on": "created"},
                {"do": "set", "fields": {"bumps": {"increment": 1}}},
                {"do": "create", "entity": "task", "values": {"title": "'follow ' + title"}},
                rate_limit=10000,
            )
        )
    )
    agent = make_user("agent1", {"ops": ["agent"]})
    ticket, task = registry.entity("ops", "ticket"), registry.entity("ops", "task")
    for start in range(0, EVENTS, 250):
        db.run(lambda c, s=start: [records.create_record(c, ticket, {"title": f"t{i}"}, actor=agent) for i in range(s, s + 250)])
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    rng = random.Random(20261207)
    R = models.automation_runs

    def done() -> int:
        return db.read(lambda c: int(c.execute(sa.select(sa.func.count()).select_from(R).where(R.c.status == "done")).scalar()))

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, str(script), db.url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    kills = 0
    process = start()
    try:
        while kills < 8 and done() < EVENTS:
            time.sleep(rng.uniform(0.5, 1.5))
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            kills += 1
            process = start()
        deadline = time.monotonic() + 300
        while done() < EVENTS and time.monotonic() < deadline:
            time.sleep(0.3)
    finally:
        process.kill()
        process.wait()
    assert kills >= 3, "the worker finished before enough kills"
    bumps = db.read(lambda c: c.execute(sa.select(ticket.table.c.bumps)).scalars().all())
    titles = db.read(lambda c: c.execute(sa.select(task.table.c.title)).scalars().all())
    assert done() == EVENTS
    assert sorted(bumps) == [1] * EVENTS  # no field change lost or applied twice
    assert len(titles) == EVENTS and len(set(titles)) == EVENTS  # no record created twice
