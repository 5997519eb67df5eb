"""Flowdeck's five workloads in one process, without HTTP, and the raw SQL time of the
statements each one sends; optionally a pyinstrument profile of each.

    bash -c 'source bench/peer/flowdeck/env.sh && .venv/bin/python bench/inprocess.py --out DIR'

Run it on freshly loaded data (bench/peer/flowdeck/setup.sh): W4 and W5 write. It uses the
same URLs, forms and record ids as the harness (its bench.py and Flowdeck's adapter.py) and
the app exactly as served (`create_app()` with the benchmark instance's environment, so
requests act as the guest user). Per workload it reports:

- `app_ms`: the Flask test client's time for one page (W1-W3) or one operation (W4, W5:
  GET the form, parse it as the harness does, POST it): median/p95 of --runs after --warmup;
  `app_cpu_ms` the process CPU time of the same (steadier on a busy machine);
- `statements`: the SQL statements one page/operation sends (captured from the engine), each
  with its kind: `data` (the entity's tables and its history) or `overhead` (everything
  else: users, roles, sessions, schema generation, saved views, notifications, approvals...);
- `raw_sql_ms`: those statements replayed through the DBAPI connection alone (sqlite3 or
  psycopg), every row fetched, in one transaction rolled back (BEGIN IMMEDIATE when the
  operation writes): all statements, and the `data` ones alone (the floor's rawsql.py
  measures the floor's own statements the same way);
- `body_bytes`: the page's size (W2: the 500-card board's page weight).

Standard output: one JSON object. With --profile, a pyinstrument text profile per workload
(--profile-html: also the HTML, 10-20 MB each).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
PEER = HERE / "peer" / "flowdeck"
DATA_TABLES = re.compile(r"\b(bench__ticket\w*|fd_history)\b")
CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|PRAGMA)\b", re.IGNORECASE)


def load_harness() -> tuple[Any, Any, Any]:
    """(harness bench.py module, dataset module, Flowdeck's adapter class)."""
    home = Path(os.environ.get("PEERS_HOME", HERE.parent.parent / "shared" / "peers"))
    sys.path.insert(0, str(home))
    import dataset

    spec = importlib.util.spec_from_file_location("peers_bench", home / "bench.py")
    assert spec is not None and spec.loader is not None
    driver = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(driver)
    driver.load_adapter_file(str(PEER / "adapter.py"))
    return driver, dataset, driver.ADAPTERS["flowdeck"]


def stats(times_ms: list[float]) -> dict[str, Any]:
    s = sorted(times_ms)
    return {
        "runs": len(s),
        "median_ms": round(statistics.median(s), 3),
        "p95_ms": round(s[int(0.95 * (len(s) - 1))], 3),
        "min_ms": round(s[0], 3),
    }


class Capture:
    """Records the statements the app's engine sends while `on`."""

    def __init__(self, engine: sa.Engine) -> None:
        self.on = False
        self.items: list[tuple[str, Any, bool]] = []
        self.transactions = 0
        sa.event.listen(engine, "before_cursor_execute", self._hook)
        sa.event.listen(engine, "begin", self._begin)

    def _hook(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if self.on:
            self.items.append((statement, parameters, executemany))

    def _begin(self, conn: Any) -> None:
        if self.on:
            self.transactions += 1

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[tuple[str, Any, bool]]]:
        self.items = []
        self.transactions = 0
        self.on = True
        try:
            yield self.items
        finally:
            self.on = False


def kind(statement: str) -> str:
    return "data" if DATA_TABLES.search(statement) else "overhead"


def is_write(statement: str) -> bool:
    return statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE")


def replay(engine: sa.Engine, statements: list[tuple[str, Any, bool]], runs: int, warmup: int, max_seconds: float) -> dict[str, Any]:
    """Median time of the statements through the DBAPI connection alone, rows fetched,
    in one transaction that is rolled back."""
    if not statements:
        return {"runs": 0, "statements": 0}
    raw = engine.raw_connection()
    try:
        dbapi = raw.driver_connection
        sqlite = engine.dialect.name == "sqlite"
        writes = any(is_write(s) for s, _p, _m in statements)
        times: list[float] = []
        end = time.monotonic() + max_seconds
        for k in range(warmup + runs):
            t0 = time.perf_counter()
            cur = dbapi.cursor()
            if sqlite:
                cur.execute("BEGIN IMMEDIATE" if writes else "BEGIN")
            for statement, params, many in statements:
                if many:
                    cur.executemany(statement, params)
                else:
                    cur.execute(statement, params)
                if cur.description is not None:
                    cur.fetchall()
            if sqlite:
                cur.execute("ROLLBACK")
            else:
                dbapi.rollback()
            cur.close()
            if k >= warmup:
                times.append((time.perf_counter() - t0) * 1000)
            if time.monotonic() > end:
                break
        return {**stats(times), "statements": len(statements), "writes": writes}
    finally:
        raw.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=int(os.environ.get("N", "10000")))
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--op-runs", type=int, default=100, help="W4/W5 operations (each writes)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--max-seconds", type=float, default=60, help="per workload and measurement")
    ap.add_argument("--profile", metavar="DIR", help="write pyinstrument profiles (text) here")
    ap.add_argument("--profile-html", metavar="DIR", help="and their HTML (10-20 MB each) here")
    ap.add_argument("--profile-runs", type=int, default=100)
    args = ap.parse_args()

    driver, dataset, adapter_cls = load_harness()
    adapter = adapter_cls(args.records)
    rng = random.Random(dataset.SEED)  # noqa: S311 -- the harness's W3 ids and W5 order
    record_ids = [rng.randint(1, args.records) for _ in range(100000)]
    move_ids = list(range(1, args.records + 1))
    rng.shuffle(move_ids)

    from flowdeck.app import create_app

    app = create_app()
    db = app.extensions["flowdeck"].db
    capture = Capture(db.engine)
    client = app.test_client()
    counter = {"W4": 0, "W5": 0}

    def get(path: str) -> int:
        response = client.get(path)
        if response.status_code != 200:
            raise SystemExit(f"GET {path}: HTTP {response.status_code}")
        return len(response.get_data())

    def submit(form_url: str, form_id: str, fields_fn: Callable[[Any], dict[str, str] | None]) -> int:
        page = client.get(form_url)
        html = page.get_data(as_text=True)
        form = driver.find_form(html, form_id)
        if page.status_code != 200 or form is None:
            raise SystemExit(f"GET {form_url}: HTTP {page.status_code}, form {form_id!r} {'missing' if form is None else 'found'}")
        fields = fields_fn(form)
        if fields is None:
            raise SystemExit(f"GET {form_url}: no transition offered")
        action = form.attrs.get("action") or form_url
        body = form.encode(fields)
        response = client.post(action, data=body, content_type="application/x-www-form-urlencoded")
        if not adapter.post_ok(response.status_code, {k.lower(): v for k, v in response.headers.items()}, ""):
            raise SystemExit(f"POST {action}: HTTP {response.status_code} {response.get_data(as_text=True)[:300]}")
        return len(html)

    def w4(k: int) -> int:
        n = counter["W4"]
        counter["W4"] += 1
        rec = dataset.new_record(n, dataset.SEED)
        return submit(adapter.create_form_url, adapter.create_form, lambda form: adapter.create_fields(rec, form))

    def w5(k: int) -> int:
        rid = move_ids[counter["W5"] % len(move_ids)]
        counter["W5"] += 1
        return submit(adapter.transition_form_url(rid), adapter.transition_form, adapter.transition_fields)

    workloads: dict[str, tuple[Callable[[int], int], int]] = {
        "W1_list": (lambda k: get(adapter.list_url(k % 5 + 1)), args.runs),
        "W2_grouped": (lambda k: get(adapter.grouped_url()), args.runs),
        "W3_record": (lambda k: get(adapter.record_url(record_ids[k % len(record_ids)])), args.runs),
        "W4_create": (w4, args.op_runs),
        "W5_transition": (w5, args.op_runs),
    }
    out: dict[str, Any] = {
        "what": "Flowdeck in one process (Flask test client, no HTTP) and the raw SQL time of the statements it sends",
        "database": db.dialect,
        "records": args.records,
        "python": sys.version.split()[0],
        "settings": {"runs": args.runs, "op_runs": args.op_runs, "warmup": args.warmup},
        "workloads": {},
    }
    for name, (op, runs) in workloads.items():
        for k in range(args.warmup):
            op(k)
        times: list[float] = []
        cpu: list[float] = []
        size = 0
        end = time.monotonic() + args.max_seconds
        for k in range(runs):
            t0, c0 = time.perf_counter(), time.process_time()
            size = op(k)
            times.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
            if time.monotonic() > end:
                break
        with capture.recording() as sent:
            op(runs)
        statements = [item for item in sent if not CONTROL.match(item[0])]
        data = [s for s in statements if kind(s[0]) == "data"]
        out["workloads"][name] = {
            "app_ms": stats(times),
            "app_cpu_ms": stats(cpu),
            "body_bytes": size,
            "transactions": capture.transactions,
            "statements": [{"kind": kind(s), "sql": " ".join(s.split())[:160]} for s, _p, _m in statements],
            "raw_sql_ms": {
                "all": replay(db.engine, list(statements), args.runs, args.warmup, args.max_seconds),
                "data": replay(db.engine, data, args.runs, args.warmup, args.max_seconds),
            },
        }
        print(f"{name} done", file=sys.stderr)

    if args.profile:
        from pyinstrument import Profiler

        folder = Path(args.profile)
        folder.mkdir(parents=True, exist_ok=True)
        for name, (op, _runs) in workloads.items():
            profiler = Profiler(interval=0.0002)
            profiler.start()
            for k in range(args.profile_runs):
                op(10_000 + k)
            profiler.stop()
            (folder / f"profile-{name}.txt").write_text(profiler.output_text(unicode=True, color=False, show_all=False), encoding="utf-8")
            if args.profile_html:
                Path(args.profile_html).mkdir(parents=True, exist_ok=True)
                (Path(args.profile_html) / f"profile-{name}.html").write_text(profiler.output_html(), encoding="utf-8")
            print(f"{name} profiled", file=sys.stderr)
    db.dispose()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
