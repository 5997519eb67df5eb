"""The embedded worker: each web process runs background jobs (notification mail now) in a
daemon thread, so an instance with one `flowdeck run` needs no other service. Where
`flowdeck worker` daemons run the jobs instead, `FLOWDECK_EMBEDDED_WORKER=off` leaves it out.

Settings come from the app's config (`config.py`), never read here from the process. Claims
are leased (`engine/jobs/queue.py`), so any number of web processes and workers share one
database without running a job twice.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from flask import Flask

from flowdeck.catalogs import translator
from flowdeck.engine import clock
from flowdeck.engine.approvals import escalate_overdue
from flowdeck.engine.clock_refresh import arm_next
from flowdeck.engine.db import Database
from flowdeck.engine.jobs.runner import Runner
from flowdeck.engine.registry import registry_for
from flowdeck.engine.schedules import arm_all

JOB_SETTINGS = ("FLOWDECK_SMTP", "FLOWDECK_BASE_URL", "FLOWDECK_WEBHOOK_ALLOW_PRIVATE", "FLOWDECK_WEBHOOK_ALLOW_CIDRS")
"""The settings a job handler may read (`JobContext.settings`)."""


def runner_for(db: Database, config: Any) -> Runner:
    """A job runner with this configuration's settings and the catalogs (mail in each
    recipient's language)."""
    return Runner(db, settings={key: config.get(key) for key in JOB_SETTINGS}, translator=translator)


def periodic_work(db: Database, *, now: dt.datetime | None = None) -> None:
    """What runs every minute beside the jobs: overdue approval steps are escalated, and each
    schedule's next occurrence and the next refresh of formulas that read the clock are armed
    again if missing (a no-op when they are there)."""
    registry = db.read(registry_for)  # kept per database engine: a new Catalog here parsed every app every minute
    db.run(lambda conn: escalate_overdue(conn, registry))
    db.run(lambda conn: arm_all(conn, registry, now=now or clock.now()))
    db.run(lambda conn: arm_next(conn, registry, now=now or clock.now()))


def init_app(app: Flask) -> None:
    if not app.config.get("FLOWDECK_EMBEDDED_WORKER", True):
        return
    state: dict[str, bool] = {"started": False}
    lock = threading.Lock()

    @app.before_request
    def start_worker() -> None:
        # Started on the first request of each process (after gunicorn forks), not at import;
        # never under the test client (TESTING may be set after the app is made).
        if state["started"] or app.config.get("TESTING"):
            return
        with lock:
            if not state["started"]:
                db = app.extensions["flowdeck"].db
                runner = runner_for(db, app.config)
                stop = app.extensions["flowdeck_jobs_stop"] = threading.Event()
                threading.Thread(
                    target=runner.serve, args=(stop,), kwargs={"periodic": lambda: periodic_work(db)}, daemon=True, name="flowdeck-jobs"
                ).start()
                state["started"] = True
