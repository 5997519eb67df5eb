"""Roll-ups, issue #12: the cost of keeping them, and of building them.

    .venv/bin/python bench/rollups.py [--tasks 10000] [--saves 400] [--url postgresql://...]

Two apps on one fresh database (SQLite file by default), the same projects, milestones and
tasks in each: `plain` has no roll-ups, `rolled` has three levels of them (a task's
`below_cost` over its tree, a milestone's `cost` over its tasks, a project's `cost` over its
milestones). Each task tree is three deep (1 top, 3 under it, 2 under each of those), ten
tasks a milestone, ten milestones a project.

1. Rebuild: the data is written with plain INSERTs into the `rolled` app before its
   roll-ups exist; applying the document that adds them runs the plan's rebuild (one
   set-based UPDATE per roll-up and level). Its time is printed with the statements.
2. Saving a leaf task's cost through `records.update_record` (one transaction, as the web
   app does), alternating between the two apps, `--saves` times each: in `rolled` the save
   moves both parent tasks, the milestone and the project. Prints medians and the ratio.

Prints one JSON object. The database file is left in a temporary folder and removed.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from flowdeck.engine import records
from flowdeck.engine.apps import apply_document
from flowdeck.engine.db import Database
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import Catalog
from flowdeck.engine.system import upgrade_system_tables

ROLLUPS = {
    "project": {"cost": {"type": "rollup", "over": "milestone.project", "aggregate": "sum", "field": "cost"}},
    "milestone": {"cost": {"type": "rollup", "over": "task.milestone", "aggregate": "sum", "field": "cost"}},
    "task": {"below_cost": {"type": "rollup", "over": "tree", "aggregate": "sum", "field": "cost"}},
}


def document(key: str) -> dict[str, Any]:
    return {
        "key": key,
        "label": key,
        "roles": {"lead": {"label": "Lead"}},
        "entities": {
            "project": {"fields": {"name": {"type": "text"}}},
            "milestone": {"fields": {"name": {"type": "text"}, "project": {"type": "reference", "to": "project"}}},
            "task": {
                "tree": "parent",
                "fields": {
                    "name": {"type": "text"},
                    "milestone": {"type": "reference", "to": "milestone"},
                    "parent": {"type": "reference", "to": "task"},
                    "cost": {"type": "money"},
                },
            },
        },
    }


def with_rollups(doc: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    for entity, fields in ROLLUPS.items():
        out["entities"][entity]["fields"].update(fields)
    return out


def insert(table: str, columns: list[str]) -> sa.TextClause:
    names = [*columns, "version", "created_at", "updated_at"]
    return sa.text(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(':' + n for n in names)})")


def load(db: Database, app: str, tasks: int) -> list[int]:
    """Projects, milestones and task trees written with plain INSERTs; the leaf task ids."""
    milestones = tasks // 10
    projects = max(1, milestones // 10)
    now = time.strftime("%Y-%m-%d %H:%M:%S")
    leaves: list[int] = []

    def work(conn: sa.Connection) -> None:
        base = {"version": 1, "created_at": now, "updated_at": now}
        conn.execute(insert(f"{app}__project", ["id", "name"]), [{"id": p, "name": f"P{p}", **base} for p in range(1, projects + 1)])
        conn.execute(
            insert(f"{app}__milestone", ["id", "name", "project"]),
            [{"id": m, "name": f"M{m}", "project": (m - 1) % projects + 1, **base} for m in range(1, milestones + 1)],
        )
        rows = []
        tid = 0
        for m in range(1, milestones + 1):
            tid += 1
            top = tid
            rows.append({"id": top, "parent": None, "milestone": m})
            for _ in range(3):
                tid += 1
                mid = tid
                rows.append({"id": mid, "parent": top, "milestone": m})
                for _ in range(2):
                    tid += 1
                    rows.append({"id": tid, "parent": mid, "milestone": m})
                    leaves.append(tid)
        scale = 1 if db.engine.dialect.name == "postgresql" else 100  # SQLite keeps money as cents
        task_columns = ["id", "name", "milestone", "parent", "cost"]
        conn.execute(insert(f"{app}__task", task_columns), [{**r, "name": f"T{r['id']}", "cost": 10 * scale, **base} for r in rows])

    db.run(work)
    return leaves


def timed_saves(db: Database, et: Any, leaves: list[int], saves: int, offset: int) -> list[tuple[float, float]]:
    """(wall, CPU) seconds of each save. SQLite runs in this process, so its CPU time is the
    save's whole cost; the wall time also holds waiting for a shared, loaded machine."""
    actor = Actor.system()
    times = []
    for n in range(offset, offset + saves):
        leaf = leaves[(n * 7919) % len(leaves)]
        cost = str(Decimal(100 + n))  # a new value every save: no save is skipped as unchanged
        started, cpu = time.perf_counter(), time.process_time()
        db.run(lambda c, leaf=leaf, cost=cost: records.update_record(c, et, leaf, {"cost": cost}, actor=actor, expected_version=None))
        times.append((time.perf_counter() - started, time.process_time() - cpu))
    return times


def quarter(times: list[tuple[float, float]]) -> float:
    """The first quartile of the CPU times: the saves least disturbed by other processes."""
    return statistics.quantiles([c for _, c in times], n=4)[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--saves", type=int, default=400)
    parser.add_argument("--url", default=None)
    args = parser.parse_args()
    folder = tempfile.TemporaryDirectory()
    url = args.url or f"sqlite:///{Path(folder.name) / 'rollups.db'}"
    db = Database(url)
    upgrade_system_tables(db)
    actor = Actor.system()
    apply_document(db, document("plain"), actor=actor)
    apply_document(db, document("rolled"), actor=actor)
    leaves = {app: load(db, app, args.tasks) for app in ("plain", "rolled")}
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", seen)
    started = time.perf_counter()
    result = apply_document(db, with_rollups(document("rolled")), actor=actor, message="bench: add roll-ups")
    rebuild_s = time.perf_counter() - started
    rebuilds = [s for s in statements if "rollup_src" in s]
    statements.clear()
    registry = Catalog(db).current()
    plain, rolled = registry.entity("plain", "task"), registry.entity("rolled", "task")
    project = registry.entity("rolled", "project").table
    total = db.read(lambda c: c.execute(sa.select(sa.func.sum(project.c.cost))).scalar())
    timed_saves(db, plain, leaves["plain"], 1, 0)
    statements.clear()
    timed_saves(db, plain, leaves["plain"], 1, 1)
    per_save_plain = len(statements)
    statements.clear()
    timed_saves(db, rolled, leaves["rolled"], 1, 1)
    per_save_rolled = len(statements)
    sa.event.remove(db.engine, "before_cursor_execute", seen)
    timed_saves(db, plain, leaves["plain"], 20, 2)  # warm both
    timed_saves(db, rolled, leaves["rolled"], 20, 2)
    without, with_ = [], []
    for start in range(100, 100 + args.saves):  # one of each in turn: both see the same load
        without += timed_saves(db, plain, leaves["plain"], 1, start)
        with_ += timed_saves(db, rolled, leaves["rolled"], 1, start)
    median_without, median_with = statistics.median(w for w, _ in without), statistics.median(w for w, _ in with_)
    cpu_without, cpu_with = statistics.median(c for _, c in without), statistics.median(c for _, c in with_)
    task = registry.entity("rolled", "task").table
    check = db.read(
        lambda c: (c.execute(sa.select(sa.func.sum(project.c.cost))).scalar(), c.execute(sa.select(sa.func.sum(task.c.cost))).scalar())
    )
    assert check[0] == check[1], check
    print(
        json.dumps(
            {
                "database": db.engine.dialect.name,
                "tasks": args.tasks,
                "rebuild_apply_s": round(rebuild_s, 3),
                "rebuild_statements": len(rebuilds),
                "statements_per_save": {"without": per_save_plain, "with": per_save_rolled},
                "rebuild_plan": [str(s.description.msgid) for s in result.plan.steps if s.kind == "data"],
                "projects_cost_after_rebuild": str(total),
                "save_ms_without_rollups": round(median_without * 1000, 3),
                "save_ms_with_three_levels": round(median_with * 1000, 3),
                "ratio": round(median_with / median_without, 2),
                "save_cpu_ms_without_rollups": round(cpu_without * 1000, 3),
                "save_cpu_ms_with_three_levels": round(cpu_with * 1000, 3),
                "cpu_ratio": round(cpu_with / cpu_without, 2),
                "cpu_ratio_of_fastest_quarter": round(quarter(with_) / quarter(without), 2),
            },
            indent=2,
        )
    )
    db.dispose()
    folder.cleanup()


if __name__ == "__main__":
    main()
