"""A list with two lookup columns and one roll-up column against the same list without them
(issue #12: at most 1.3x), in one process, on SQLite (a temporary file) or PostgreSQL (--url).

    .venv/bin/python bench/lookups.py --tasks 10000
    .venv/bin/python bench/lookups.py --url postgresql://postgres@127.0.0.1:5432/lk_bench --tasks 1000000

The data: `--tasks` tasks, one project per 10 tasks, one client per 10 projects. The list
page is what a list view does in the engine: the page's rows (`query_records`, 50 per page,
newest first, with the total count) and the names its values refer to (`names_for`). The
lookups are `sponsor` (`project.sponsor`, one hop, a user) and `tier` (`project.client.tier`,
two hops, a select); the roll-up is `logged` (the sum of the task's work logs' hours, over
`worklog.task`: a stored column kept by the writers, so a list reads it like any column).
Each case is timed on --runs pages after --warmup, pages spread over
the first 20 pages, sorted by `id` (the primary key's order) and by `-updated_at` (no index);
the ratio is of the medians. --reuse measures the data a previous run left in --url. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flowdeck.engine import users
from flowdeck.engine.apps import apply_document
from flowdeck.engine.db import Database
from flowdeck.engine.lookups import names_for
from flowdeck.engine.permissions import Actor
from flowdeck.engine.query import Query, query_records
from flowdeck.engine.registry import Catalog
from flowdeck.engine.system import upgrade_system_tables

DOCUMENT: dict[str, Any] = {
    "key": "lkb",
    "label": "Lookup bench",
    "roles": {"member": {}},
    "entities": {
        "client": {"fields": {"name": {"type": "text"}, "tier": {"type": "select", "options": ["gold", "silver", "bronze"]}}},
        "project": {"fields": {"name": {"type": "text"}, "sponsor": {"type": "user"}, "client": {"type": "reference", "to": "client"}}},
        "task": {
            "fields": {
                "title": {"type": "text"},
                "project": {"type": "reference", "to": "project"},
                "owner": {"type": "user"},
                "estimate": {"type": "decimal"},
                "sponsor": {"type": "lookup", "from": "project.sponsor"},
                "tier": {"type": "lookup", "from": "project.client.tier"},
                "logged": {"type": "rollup", "over": "worklog.task", "aggregate": "sum", "field": "hours"},
            },
            "workflow": {"states": {"open": {"category": "todo"}, "done": {"category": "done"}}, "transitions": []},
        },
        "worklog": {"fields": {"note": {"type": "text"}, "task": {"type": "reference", "to": "task"}, "hours": {"type": "decimal"}}},
    },
}
PLAIN = ["title", "project", "owner", "estimate", "state"]
LOOKED_UP = [*PLAIN, "sponsor", "tier", "logged"]


def load(db: Database, tasks: int) -> None:
    """The app and its records, inserted in batches (not through the record service: this
    measures reading)."""
    system = Actor.system()
    apply_document(db, DOCUMENT, actor=system)
    et = {key: Catalog(db).current().entity("lkb", key) for key in ("client", "project", "task")}
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    rng = random.Random(12)  # noqa: S311 -- the same data every run, not a secret

    def work(conn: sa.Connection) -> None:
        secret = "bench-password"  # noqa: S105 -- the bench's throwaway users
        people = [users.create_user(conn, f"user{i}", password=secret, display_name=f"User {i}") for i in range(50)]
        stamp = {"version": 1, "created_at": now, "updated_at": now, "created_by": people[0], "updated_by": people[0]}
        clients = max(1, tasks // 100)
        projects = max(1, tasks // 10)
        conn.execute(
            et["client"].table.insert(),
            [{**stamp, "name": f"Client {i}", "tier": rng.choice(["gold", "silver", "bronze"])} for i in range(clients)],
        )
        conn.execute(
            et["project"].table.insert(),
            [{**stamp, "name": f"Project {i}", "sponsor": rng.choice(people), "client": 1 + i % clients} for i in range(projects)],
        )
        batch = 20_000
        for start in range(0, tasks, batch):
            rows = [
                {
                    **stamp,
                    "updated_at": now + dt.timedelta(seconds=i),
                    "state": "open",
                    "title": f"Task {i}",
                    "project": 1 + rng.randrange(projects),
                    "owner": rng.choice(people),
                    "estimate": rng.randrange(1, 400),
                }
                for i in range(start, min(tasks, start + batch))
            ]
            conn.execute(et["task"].table.insert(), rows)

    db.run(work)


def time_pages(db: Database, columns: list[str], sort: str, runs: int, warmup: int, clock: Any = time.perf_counter) -> list[float]:
    """Milliseconds per page by `clock`: wall time, or with `time.process_time` the CPU time of
    this process (on SQLite that includes the database's own work; steadier on a busy machine)."""
    registry = Catalog(db).current()
    et = registry.entity("lkb", "task")
    actor = Actor.system()
    rng = random.Random(7)  # noqa: S311 -- the same pages every run, not a secret
    times = []
    for number in range(warmup + runs):
        query = Query(sort=[sort], per_page=50, page=1 + rng.randrange(20), columns=columns, count_limit=10_000)

        def page(conn: sa.Connection, query: Query = query) -> int:
            rows = query_records(conn, et, query, actor=actor).rows
            names_for(conn, et, rows, registry, columns)
            return len(rows)

        started = clock()
        assert db.read(page) == 50
        if number >= warmup:
            times.append((clock() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--reuse", action="store_true", help="use the data a previous run left in --url")
    parser.add_argument("--cpu", action="store_true", help="time this process's CPU instead of the wall clock")
    args = parser.parse_args()
    folder = tempfile.TemporaryDirectory()
    url = args.url or f"sqlite:///{folder.name}/bench.db"
    users.set_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))  # 50 bench users, not a sign-in test
    db = Database(url)
    upgrade_system_tables(db)
    started = time.perf_counter()
    if not args.reuse:
        load(db, args.tasks)
    loaded = time.perf_counter() - started
    result: dict[str, Any] = {
        "database": db.engine.dialect.name,
        "tasks": args.tasks,
        "load_s": round(loaded, 1),
        "clock": "cpu" if args.cpu else "wall",
    }
    # `id`: read along the primary key (on PostgreSQL `-id` is sorted: its DESC NULLS LAST
    # is not the index order); `-updated_at`: an order
    # with no index, so every match is sorted before the page is cut.
    clock = time.process_time if args.cpu else time.perf_counter
    for sort in ("id", "-updated_at"):
        times: dict[str, list[float]] = {}
        for _ in range(4):  # alternate, so a busy machine weighs on both cases alike
            for name, columns in (("without", PLAIN), ("with_two_lookups_and_rollup", LOOKED_UP)):
                times.setdefault(name, []).extend(time_pages(db, columns, sort, args.runs // 4, args.warmup, clock))
        summary: dict[str, Any] = {
            name: {"median_ms": round(statistics.median(v), 2), "p95_ms": round(sorted(v)[int(len(v) * 0.95) - 1], 2)}
            for name, v in times.items()
        }
        summary["ratio"] = round(summary["with_two_lookups_and_rollup"]["median_ms"] / summary["without"]["median_ms"], 2)
        result[f"sort {sort}"] = summary
    print(json.dumps(result, indent=1))
    db.dispose()
    folder.cleanup()


if __name__ == "__main__":
    main()
