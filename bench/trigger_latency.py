"""Issue #13: trigger to action with `flowdeck worker` on PostgreSQL (the issue asks p95 <= 2 s).

    .venv/bin/python bench/trigger_latency.py --url postgresql+psycopg://postgres@127.0.0.1:5432/flowdeck_bench_trigger \\
        [--rate 4] [--seconds 30] [--rounds 3]

The database named by --url is dropped and created again (its name must contain "bench").
One app, a ticket entity and a rule that matches every create (set a field). Rounds
alternate one and two `flowdeck worker` processes (started before the round, stopped after
it; the order swapped each round): each round creates `--rate` records a second for
`--seconds` seconds, one transaction each, from this process. A record's latency is from the
moment its create committed (this process's clock right after the commit) to the moment the
worker's transaction holding the action finished (the run's `finished_at`, written just
before that commit). Runs not finished 30 s after the round's last create count as missing. A round's creates
start once every worker has its LISTEN connection open (seen in `pg_stat_activity`): a
worker still starting is not what the issue measures.
Prints per round p50 / p95 / max and the medians of the rounds per worker count.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from flowdeck.engine import models, records
from flowdeck.engine.apps import apply_document
from flowdeck.engine.db import Database
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import Catalog
from flowdeck.engine.system import upgrade_system_tables

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tick_scale import recreate

R = models.automation_runs
DOCUMENT: dict[str, Any] = {
    "key": "trig",
    "label": "trig",
    "roles": {"member": {}},
    "entities": {"ticket": {"fields": {"title": {"type": "text", "required": True}, "note": {"type": "text"}}}},
    "automations": [
        {
            "key": "seen",
            "entity": "ticket",
            "trigger": {"on": "created"},
            "rate_limit": 10000,
            "actions": [{"do": "set", "fields": {"note": "'seen'"}}],
        }
    ],
}


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))]


LISTENING = sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'")


def start_workers(db: Database, url: str, count: int) -> list[subprocess.Popen]:
    """`count` workers, returned once each has its LISTEN connection open (loaded and idle)."""
    env = {**os.environ, "FLOWDECK_DATABASE_URL": url}
    flowdeck = str(Path(sys.executable).with_name("flowdeck"))
    workers = [
        subprocess.Popen([flowdeck, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
        for _ in range(count)
    ]
    deadline = time.monotonic() + 120
    while db.read(lambda c: c.execute(LISTENING).scalar()) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)
    return workers


def stop(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        worker.wait(timeout=30)


def one_round(db: Database, url: str, workers: int, rate: float, seconds: float, first: int) -> dict[str, Any]:
    et = Catalog(db).current().entity("trig", "ticket")
    system = Actor.system()
    running = start_workers(db, url, workers)
    committed: dict[int, float] = {}
    try:
        started = time.monotonic()
        for i in range(int(rate * seconds)):
            time.sleep(max(0.0, started + i / rate - time.monotonic()))
            record_id = db.run(lambda c, i=i: records.create_record(c, et, {"title": f"t{first + i}"}, actor=system).id)
            committed[record_id] = time.time()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            done = db.read(
                lambda c: c.execute(sa.select(sa.func.count()).where(R.c.record_id.in_(list(committed)) & (R.c.status == "done"))).scalar()
            )
            if done == len(committed):
                break
            time.sleep(0.5)
    finally:
        stop(running)
    rows = db.read(
        lambda c: c.execute(
            sa.select(R.c.record_id, R.c.finished_at).where(R.c.record_id.in_(list(committed)) & (R.c.status == "done"))
        ).all()
    )
    latency = [(finished.astimezone(dt.UTC).timestamp() - committed[record_id]) * 1000 for record_id, finished in rows]
    return {
        "workers": workers,
        "records": len(committed),
        "done": len(latency),
        "p50_ms": round(statistics.median(latency), 1),
        "p95_ms": round(percentile(latency, 95), 1),
        "max_ms": round(max(latency), 1),
        "load": round(os.getloadavg()[0], 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--rate", type=float, default=4.0)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    url = recreate(args.url, "")
    db = Database(url)
    upgrade_system_tables(db)
    apply_document(db, DOCUMENT, actor=Actor.system())
    results: list[dict[str, Any]] = []
    first = 0
    for round_ in range(args.rounds):
        for workers in (1, 2) if round_ % 2 == 0 else (2, 1):
            row = {"round": round_ + 1, **one_round(db, url, workers, args.rate, args.seconds, first)}
            first += row["records"]
            results.append(row)
            print(json.dumps(row), flush=True)
    summary = {
        f"{n}_workers": {key: statistics.median(r[key] for r in results if r["workers"] == n) for key in ("p50_ms", "p95_ms", "max_ms")}
        for n in (1, 2)
    }
    print(json.dumps({"median_of_rounds": summary}))
    db.dispose()


if __name__ == "__main__":
    main()
