"""Time list pages that filter and sort by the measures of `sla` fields (issue #14):
N tickets of the SLA tests' help desk, each with a running `resolution` cycle and a
`response` cycle (2N cycle rows; every fourth resolution clock paused, every tenth breached
by its due time), at Monday 7 Dec 2026 11:00 Shanghai time.

    .venv/bin/python bench/sla_measures.py [N]                 # a fresh SQLite file
    FLOWDECK_BENCH_URL=postgresql://postgres@127.0.0.1:5432/sla_fields_bench \\
        .venv/bin/python bench/sla_measures.py [N]

The URL's database is emptied first (use a scratch database). Prints one JSON object: for
each query, the milliseconds of the best of three runs of one list page of 50 (count included).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tempfile
import time
from zoneinfo import ZoneInfo

from flowdeck.engine import clock, models
from flowdeck.engine.apps import apply_document
from flowdeck.engine.calendars import book, storage
from flowdeck.engine.db import Database
from flowdeck.engine.permissions import Actor
from flowdeck.engine.query import Query, query_records
from flowdeck.engine.registry import registry_for
from flowdeck.engine.sla.clocks import running_moments
from flowdeck.engine.system import upgrade_system_tables

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from tests.support.sla_apps import desk

SH = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 12, 7, 11, 0, tzinfo=SH).astimezone(dt.UTC)
BATCH = 5000
QUERIES = {
    "sort by due (the due-time field, for comparison)": Query(sort=["res_due"]),
    "sort by remaining": Query(sort=["res_left"]),
    "remaining <= 1 working hour": Query(filter={"res_left": {"lte": 3600}}, sort=["res_due"]),
    "status = breached": Query(filter={"res_state": "breached"}),
    "breached = true, sorted by remaining": Query(filter={"res_late": True}, sort=["res_left"]),
}


def _document() -> dict:
    doc = desk()
    fields = doc["entities"]["ticket"]["fields"]
    fields["res_due"] = {"type": "sla", "sla": "resolution"}
    for key, measure in (("res_state", "status"), ("res_left", "remaining"), ("res_late", "breached"), ("res_used", "elapsed")):
        fields[key] = {"type": "sla", "sla": "resolution", "measure": measure}
    return doc


def _cycle(rid: int, sla: str, hours: int, since: dt.datetime, used: int, paused: bool) -> dict:
    goal = {"working_hours": hours, "calendar": "cn"}
    due, warn = (None, None) if paused else running_moments(goal, "cn", since, hours * 3600, used, 75)
    return {"app": "desk", "entity": "ticket", "record_id": rid, "sla": sla, "cycle": 1, "version": 1, "goal": goal,
            "goal_seconds": hours * 3600, "calendar": "cn", "status": "paused" if paused else "running", "started_at": since,
            "running_since": None if paused else since, "used_seconds": used, "due_at": due, "warn_at": warn}  # fmt: skip


def main(count: int) -> dict[str, object]:
    url = os.environ.get("FLOWDECK_BENCH_URL") or f"sqlite:///{tempfile.mkdtemp()}/sla_measures.db"
    db = Database(url)
    if db.dialect == "postgresql":
        db.run(lambda conn: conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade_system_tables(db)
    apply_document(db, _document(), actor=Actor.system())
    book.install(db.read(storage.load_book))
    et = db.read(registry_for).entity("desk", "ticket")
    tickets = [{"id": i + 1, "version": 1, "state": "open", "title": f"T{i}", "priority": "p3", "created_at": NOW,
                "updated_at": NOW} for i in range(count)]  # fmt: skip
    cycles = []
    for i in range(count):
        since = NOW - dt.timedelta(seconds=30 * i)
        used = 15 * 3600 if i % 10 == 0 else (i * 7) % 3600
        cycles.append(_cycle(i + 1, "resolution", 16, since, used, paused=i % 4 == 1))
        cycles.append(_cycle(i + 1, "response", 4, since, 0, paused=False))
    for start in range(0, count, BATCH):
        db.run(lambda conn, s=start: conn.execute(et.table.insert(), tickets[s : s + BATCH]))
    for start in range(0, len(cycles), BATCH):
        db.run(lambda conn, s=start: conn.execute(models.sla_cycles.insert(), cycles[s : s + BATCH]))
    if db.dialect == "postgresql":
        db.run(lambda conn: conn.exec_driver_sql("ANALYZE"))
    clock.set_now(NOW)
    out: dict[str, object] = {"dialect": db.dialect, "tickets": count, "cycles": len(cycles)}
    columns = ["title", "res_due", "res_state", "res_left", "res_used"]
    for name, query in QUERIES.items():
        best, total = float("inf"), 0
        for _ in range(3):
            started = time.perf_counter()
            page = db.read(lambda c, q=query: query_records(c, et, Query(**{**q.__dict__, "columns": columns}), actor=Actor.system()))
            best = min(best, time.perf_counter() - started)
            total = page.total
        out[name] = {"ms": round(best * 1000, 1), "matching": total}
    return out


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000), indent=1))
