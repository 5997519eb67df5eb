"""Time computing due times for 100,000 open records after a business calendar change
(issue #14: at most 10 s), as SLA timers will when an admin edits a calendar.

    .venv/bin/python bench/calendar_due.py [N]

On a fresh SQLite instance: an admin adds a company day off to `cn` (the change), the book
is loaded again as every worker does on its next request, and for N instants spread over
2026 (one every 5 minutes, working time or not) the due time "N working hours later" is
computed with goals of 4, 8, 24 and 40 working hours in turn. Prints one JSON object.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

from flowdeck.engine.calendars import arithmetic, storage
from flowdeck.engine.db import Database
from flowdeck.engine.system import upgrade_system_tables

GOALS_HOURS = (4, 8, 24, 40)


def main(count: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite:///{Path(folder) / 'bench.db'}")
        upgrade_system_tables(db)
        began = time.perf_counter()
        db.run(lambda conn: storage.set_days(conn, "cn", [storage.DayEdit(dt.date(2026, 12, 24), False, "Company day off")]))
        cal = db.read(storage.load_book).get("cn")
        loaded = time.perf_counter()
        start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        instants = [start + dt.timedelta(minutes=5 * i) for i in range(count)]
        computed = time.perf_counter()
        for i, moment in enumerate(instants):
            arithmetic.add_working_time(cal, moment, dt.timedelta(hours=GOALS_HOURS[i % len(GOALS_HOURS)]))
        done = time.perf_counter()
        db.dispose()
    return {
        "records": count,
        "change_and_reload_s": round(loaded - began, 3),
        "due_times_s": round(done - computed, 3),
        "per_record_us": round((done - computed) / count * 1e6, 1),
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)))
