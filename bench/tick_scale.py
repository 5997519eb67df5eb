"""Issue #14: a tick over 1,000,000 armed jobs of which 10,000 are due does work proportional
to the 10,000. Measured on PostgreSQL (the database a million armed timers live in).

    .venv/bin/python bench/tick_scale.py --url postgresql+psycopg://postgres@127.0.0.1:5432/flowdeck_bench_tick \\
        [--armed 1000000] [--due 10000] [--rounds 3]

Two databases are made from --url, its name with `_sparse` and with `_dense` added (dropped
and created again: the name must contain "bench"), each with fresh system tables:

- `sparse`: `--armed` queued reminder and schedule jobs (`reminder.notify`,
  `schedule.occurrence`, half each) due over the next year, plus `--due` jobs already due;
- `dense`: the `--due` due jobs alone.

The two are ticked in alternating rounds (the order swapped each round), so the machine's
drift hits both alike; the ratio is taken per round.

The due jobs are of a kind this script registers, `bench.noop`, whose handler writes
nothing: what is measured is the tick's own work (claim, lease, finish) per due job, which is
what must not grow with the armed jobs. A tick is `Runner.run_due()` as `flowdeck tick`
calls it; before each one the due jobs are put back to queued. Prints the seconds per tick,
the ratio sparse / dense, and EXPLAIN (ANALYZE, BUFFERS) of the claim's two reads and of the
idle worker's two next-due reads with a million armed (they must use `ix_fd_jobs_due`, no
sequential scan of fd_jobs).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from flowdeck.engine import clock, models
from flowdeck.engine.db import Database
from flowdeck.engine.jobs import queue
from flowdeck.engine.jobs.kinds import JobKind, register
from flowdeck.engine.jobs.runner import Runner
from flowdeck.engine.messages import Mp
from flowdeck.engine.system import upgrade_system_tables

J = models.jobs
NOOP = "bench.noop"
register(JobKind(NOOP, Mp("a kind of job", "Benchmark"), lambda conn, payload, context: {"ok": True}))


def recreate(url: str, suffix: str) -> str:
    """A fresh database named after `url`'s with `suffix`; its URL."""
    base = sa.engine.make_url(url)
    name = (base.database or "") + suffix
    if "bench" not in name:
        raise SystemExit("the database's name must contain 'bench': it is dropped")
    admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def arm_future(db: Database, count: int, now: dt.datetime) -> None:
    """`count` queued reminder and schedule jobs due within the next year, set-based."""
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO fd_jobs (kind, payload, status, run_at, attempts, max_attempts, dedupe_key, created_at) "
            "SELECT CASE WHEN i %% 2 = 0 THEN 'reminder.notify' ELSE 'schedule.occurrence' END, "
            "json_build_object('n', i), 'queued', %(now)s::timestamptz + (i * interval '31 seconds') + interval '1 hour', "
            "0, 5, 'bench-future:' || i, %(now)s FROM generate_series(1, %(count)s) AS i",
            {"now": now, "count": count},
        )


def arm_due(db: Database, count: int, now: dt.datetime) -> None:
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO fd_jobs (kind, payload, status, run_at, attempts, max_attempts, dedupe_key, created_at) "
            "SELECT 'bench.noop', json_build_object('n', i), 'queued', %(now)s::timestamptz - (i * interval '1 second'), "
            "0, 5, 'bench-due:' || i, %(now)s FROM generate_series(1, %(count)s) AS i",
            {"now": now, "count": count},
        )


def requeue_due(db: Database) -> None:
    with db.engine.begin() as conn:
        conn.execute(
            J.update()
            .where(J.c.kind == NOOP)
            .values(status="queued", attempts=0, lease_token=None, lease_until=None, worker=None, started_at=None, finished_at=None)
        )


def analyze(db: Database) -> None:
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE fd_jobs")


def explain(db: Database, now: dt.datetime) -> dict[str, str]:
    """The plans of the statements a tick and an idle worker send, as PostgreSQL runs them."""
    expired, queued = (statement.with_for_update(skip_locked=True) for statement in queue.claim_statements(now, None))
    plans = {}
    with db.engine.connect() as conn:
        for name, statement in (("claim_expired", expired), ("claim_queued", queued), *queue.next_due_statements(None)):
            sql = str(statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
            rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + sql).scalars().all()
            plans[name] = "\n".join(rows)
        conn.rollback()
    return plans


def tick(db: Database, now: dt.datetime) -> tuple[float, dict[str, int]]:
    requeue_due(db)
    started = time.perf_counter()
    counts = Runner(db, clock=lambda: now).run_due()
    return time.perf_counter() - started, counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--armed", type=int, default=1_000_000)
    ap.add_argument("--due", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    now = clock.now().astimezone(dt.UTC).replace(microsecond=0)
    dbs = {}
    out: dict[str, Any] = {"armed": args.armed, "due": args.due}
    for case, armed in (("sparse", args.armed), ("dense", 0)):
        db = dbs[case] = Database(recreate(args.url, "_" + case))
        upgrade_system_tables(db)
        started = time.perf_counter()
        if armed:
            arm_future(db, armed, now)
        arm_due(db, args.due, now)
        analyze(db)
        out[case + "_arm_s"] = round(time.perf_counter() - started, 1)
        out[case + "_plans"] = explain(db, now)
    seconds: dict[str, list[float]] = {"sparse": [], "dense": []}
    for round_ in range(args.rounds):
        for case in ("sparse", "dense") if round_ % 2 == 0 else ("dense", "sparse"):
            spent, counts = tick(dbs[case], now)
            seconds[case].append(spent)
            out[case + "_counts"] = counts
            print(json.dumps({"round": round_ + 1, "case": case, "seconds": round(spent, 2), "counts": counts}), flush=True)
    pairs = list(zip(seconds["sparse"], seconds["dense"], strict=True))
    out["sparse_s"] = [round(s, 2) for s in seconds["sparse"]]
    out["dense_s"] = [round(s, 2) for s in seconds["dense"]]
    out["ratio_per_round"] = [round(s / d, 2) for s, d in pairs]
    out["ratio_median"] = round(statistics.median(s / d for s, d in pairs), 2)
    for db in dbs.values():
        db.dispose()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
