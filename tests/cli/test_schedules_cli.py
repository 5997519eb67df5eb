"""`flowdeck tick` runs a schedule occurrence that came due while nothing ran, records it,
and arms the next one; a second tick finds nothing to do."""

from __future__ import annotations

import copy
import datetime as dt

import sqlalchemy as sa
from click.testing import CliRunner

from flowdeck.cli import main
from flowdeck.engine import models, schedules
from flowdeck.engine.registry import registry_for
from flowdeck.engine.timers import arm

DOC = {
    "key": "ops",
    "label": "Ops",
    "roles": {"staff": {}},
    "entities": {"check": {"fields": {"title": {"type": "text", "required": True}}}},
    "schedules": [
        {"key": "daily", "create": {"entity": "check", "values": {"title": "'Check ' + month_key(today())"}},
         "repeat": {"preset": "every_day", "at": "00:00"}, "catch_up": "once"}
    ],
}  # fmt: skip


def test_tick_runs_a_missed_occurrence_once_and_arms_the_next(db, install, monkeypatch, tmp_path):
    """Does a tick after downtime run the missed occurrence (a record, a done run), arm the next one, and a second tick do nothing?"""
    monkeypatch.setenv("FLOWDECK_DATABASE_URL", db.url)
    monkeypatch.setenv("FLOWDECK_INSTANCE", str(tmp_path))
    install(copy.deepcopy(DOC))
    schedule = db.read(registry_for).apps["ops"].app.schedule("daily")
    now = dt.datetime.now(dt.UTC)
    missed = schedule.recurrence.between(now - dt.timedelta(days=2), now)[-1]
    db.run(lambda conn: arm(conn, schedules.JOB, [schedules._job("ops", "daily", missed)]))
    first = CliRunner().invoke(main, ["tick"])
    assert first.exit_code == 0, first.output
    assert first.output.strip() == "jobs: done 1"
    runs = db.read(lambda conn: conn.execute(sa.select(models.schedule_runs.c.status, models.schedule_runs.c.records_created)).all())
    assert [tuple(r) for r in runs] == [("done", 1)]
    queued = db.read(lambda conn: conn.execute(sa.select(models.jobs.c.run_at).where(models.jobs.c.status == "queued")).scalars().all())
    assert queued == [schedule.recurrence.next_after(now)]
    assert CliRunner().invoke(main, ["tick"]).output.strip() == "jobs: none due"
