"""What follows an admin's change to a business calendar: the `calendars.recompute` job.

Every change in `calendars/storage.py` that moves working time (days added or removed,
windows, zone, source, the default switched, a calendar deleted) enqueues one job in the
change's own transaction, keyed by the schema generation the change bumped: the admin's page
returns at once, the job exists exactly when the change committed (a kill -9 loses neither),
runs once (its writes commit with its `done` mark) and is retried on failure like any job.

The job, with the calendars as they are when it runs (so several changes in a row all count):
- SLA cycles: due and warning moments of running cycles on the changed calendars, worked out
  again set-based, new timer jobs armed, old ones left to do nothing (`sla/recompute.py`);
- timed transitions whose `after` counts working time on a changed calendar: every waiting
  record's wait armed again from the moment it began (`timed.arm_waiting`); a wait whose end
  moved gets a new job, the old job finds the wait not over yet and does nothing, or re-arms
  the same new moment;
- open approval steps whose time limit or an escalation stage counts working time on a
  changed calendar: the due time (on the step row, what approvers see) and every stage not
  yet run worked out again from the step's opening; queued stage jobs are moved in place
  (new moment, and the key and payload naming the new due time), a stage job being run
  meanwhile finds the due time changed and does nothing while a new job takes its place,
  a stage already run is not armed again (`approvals/moves.py`).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Collection
from typing import Any

from sqlalchemy.engine import Connection

from flowdeck.engine import timed
from flowdeck.engine.approvals.moves import move_stages
from flowdeck.engine.calendars import book as calendar_book
from flowdeck.engine.calendars.book import CalendarBook
from flowdeck.engine.calendars.storage import RECOMPUTE_JOB, load_book
from flowdeck.engine.jobs.kinds import JobContext, JobKind, PermanentError, register
from flowdeck.engine.messages import Mp
from flowdeck.engine.registry import Registry, registry_for
from flowdeck.engine.sla.recompute import Warnings, affected, recompute_cycles

log = logging.getLogger(__name__)


def _warnings(reg: Registry) -> Warnings:
    return {
        (app, key, sla.key): sla.warning
        for app, tables in reg.apps.items()
        for key, et in tables.entities.items()
        for sla in getattr(et.entity, "slas", ())
    }


def rearm_timed(conn: Connection, reg: Registry, cals: CalendarBook, keys: Collection[str], default_changed: bool) -> int:
    """Arm again the waits of the timed transitions counting working time on a changed
    calendar; how many jobs were new (each a wait whose end moved)."""
    added = 0
    for tables in reg.apps.values():
        for et in tables.entities.values():
            for transition in timed.timed_transitions(et.entity):
                after = transition.after
                if after is not None and after.working and affected(after.calendar, cals, keys, default_changed):
                    added += timed.arm_waiting(conn, et, transition)
    return added


def recompute(conn: Connection, payload: dict[str, Any], context: JobContext) -> dict[str, Any]:
    """The job: SLA moments, timed waits and approval stages on the changed calendars, as they are now."""
    try:
        keys = [str(k) for k in payload["calendars"]]
        default_changed = bool(payload.get("default", False))
    except (KeyError, TypeError) as exc:
        raise PermanentError("the payload names no calendars") from exc
    began = time.perf_counter()
    reg = registry_for(conn)
    cals = load_book(conn)
    calendar_book.install(cals)  # the book of this change, whatever this process loaded before
    # Approval requests are locked before SLA cycles, the order of a decision that performs
    # its transition (request, then the record's cycles): no deadlock between the two.
    stages = move_stages(conn, reg, cals, keys, default_changed)
    gc.disable()  # 100,000 rows of new objects: the collector's passes cost about a tenth, and find no cycles here
    try:
        sla = recompute_cycles(conn, cals, keys, default_changed, _warnings(reg))
    finally:
        gc.enable()
    waits = rearm_timed(conn, reg, cals, keys, default_changed)
    result = {"calendars": keys, "default": default_changed, "sla": sla, "timed_jobs": waits, "approvals": stages,
              "seconds": round(time.perf_counter() - began, 3)}  # fmt: skip
    log.info("calendar change recomputed: %s", result)
    return result


register(JobKind(RECOMPUTE_JOB, Mp("a kind of job", "Recompute due times after a calendar change"), recompute, max_attempts=5))
