"""Make a fresh Flowdeck instance holding the peer benchmark's data set.

    N=10000 python load.py            (the repo's .venv; PYTHONPATH holds the harness, for `dataset`)

What it makes (see docs/performance.md, "The benchmark app"):

- the database: a new SQLite file in the work folder, or, with FLOWDECK_BENCH_DATABASE_URL,
  a PostgreSQL database dropped and created again (its name must contain "bench");
- the system tables, and the app document `bench-app.json` applied as version 1;
- the users `guest` (the FLOWDECK_GUEST_USER of the benchmark server) and user01..user20,
  all with the role bench:member and no password (nobody signs in as them);
- `dataset.records(N)`, written in batches at storage level, but with exactly the values,
  versions and history that `records.create_record` writes for a record created by the
  system at the record's `created` time: the engine's own parsing (`parse_values`), defaults
  and `diff` make each row and its "create" history entry; the record is in the data set's
  state (not the workflow's initial one), version 1, created_at = updated_at = created,
  created_by = updated_by = nobody (System), and no transition entries (the floor's change
  table gets no rows at load either). A self-check creates record 1's twin through the real
  engine in a transaction that is rolled back and compares the two.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any

import dataset  # the harness's, from PYTHONPATH (PEERS_HOME)
import sqlalchemy as sa

from flowdeck import config
from flowdeck.engine import clock, history, models, records, users
from flowdeck.engine.apps import apply_document, read_document
from flowdeck.engine.computed import compute_values
from flowdeck.engine.db import Database
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import Catalog
from flowdeck.engine.storage.tables import EntityTables
from flowdeck.engine.system import upgrade_system_tables

HERE = Path(__file__).resolve().parent
APP_DOCUMENT = HERE / "bench-app.json"
APP, ENTITY = "bench", "ticket"
GUEST = "guest"
BATCH = 2000


def fresh_database(url: str) -> None:
    """An empty database at `url`: SQLite files removed, a PostgreSQL database re-created."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    name = parsed.database or ""
    if "bench" not in name:
        raise SystemExit(
            f"refusing to drop database {name!r}: FLOWDECK_BENCH_DATABASE_URL must name a database whose name contains 'bench'"
        )
    admin_url = parsed.set(drivername="postgresql+psycopg", database="postgres")
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()


def make_users(db: Database) -> dict[str, int]:
    def work(conn: sa.Connection) -> dict[str, int]:
        ids = {}
        for name in [GUEST, *dataset.USERS]:
            uid = users.create_user(conn, name, password=None, display_name=name)
            users.grant_role(conn, uid, APP, "member")
            ids[name] = uid
        return ids

    return db.run(work)


def raw_values(rec: dict[str, Any], user_ids: dict[str, int]) -> dict[str, Any]:
    """A data set record as the create form would post it."""
    return {
        "summary": rec["summary"],
        "description": rec["description"],
        "priority": rec["priority"],
        "assignee": str(user_ids[rec["assignee"]]),
        "category": rec["category"],
        "due_date": rec["due_date"].isoformat(),
        "estimate_hours": f"{rec['estimate_hours']:g}",
    }


def build(et: EntityTables, rec: dict[str, Any], user_ids: dict[str, int]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(entity row, history row) as `records.create_record` makes them, in the record's state."""
    entity, system_actor = et.entity, Actor.system()
    now, state = rec["created"], rec["status"]
    access = records.access_for(entity, state, system_actor)
    values = records.default_values(entity, system_actor, clock.today(now))
    values.update(records.parse_values(entity, raw_values(rec, user_ids), access))
    system = {"id": None, "state": state, "me": None, "created_at": now, "created_by": None, "updated_at": now, "updated_by": None}
    compute_values(entity, values, system)
    row = {f.key: values.get(f.key) for f in entity.stored_fields()}
    row.update(id=rec["id"], state=state, version=1, created_at=now, created_by=None, updated_at=now, updated_by=None)
    changes = [history.Change("state", None, state), *records.diff(entity, {}, values)]
    entry = {
        "app": APP,
        "entity": ENTITY,
        "record_id": rec["id"],
        "actor_id": None,
        "at": now,
        "action": "create",
        "transition": None,
        "changes": [{"field": c.field, "old": c.old, "new": c.new} for c in changes],
        "comment": None,
    }
    return row, entry


def load_records(db: Database, et: EntityTables, n: int, user_ids: dict[str, int]) -> None:
    rows: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []

    def flush() -> None:
        def work(conn: sa.Connection) -> None:
            conn.execute(et.table.insert(), rows)
            conn.execute(models.history.insert(), entries)

        db.run(work)
        rows.clear()
        entries.clear()

    for rec in dataset.records(n):
        row, entry = build(et, rec, user_ids)
        rows.append(row)
        entries.append(entry)
        if len(rows) >= BATCH:
            flush()
    if rows:
        flush()
    if db.dialect == "postgresql":  # explicit ids: move the id sequence past them
        db.run(lambda conn: conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{et.table.name}', 'id'), {max(n, 1)})"))


def self_check(db: Database, et: EntityTables, user_ids: dict[str, int]) -> None:
    """Record 1 written through `records.create_record` (rolled back) must equal the batch row."""
    rec = next(dataset.records(1))
    batch_row, batch_entry = build(et, rec, user_ids)
    initial = et.entity.workflow.initial if et.entity.workflow else None
    engine_rec = dict(rec, status=initial)
    expected_row, expected_entry = build(et, engine_rec, user_ids)

    class Rollback(Exception):
        pass

    seen: dict[str, Any] = {}

    def work(conn: sa.Connection) -> None:
        made = records.create_record(conn, et, raw_values(rec, user_ids), actor=Actor.system(), now=rec["created"])
        seen["row"] = dict(conn.execute(sa.select(et.table).where(et.table.c.id == made.id)).mappings().one())
        h = models.history
        entry = conn.execute(sa.select(h).where((h.c.app == APP) & (h.c.record_id == made.id)).order_by(h.c.id.desc())).mappings().first()
        seen["entry"] = dict(entry)
        raise Rollback

    with contextlib.suppress(Rollback):
        db.run(work)
    engine_row, engine_entry = seen["row"], seen["entry"]
    problems = []
    for key, value in expected_row.items():
        if key != "id" and engine_row.get(key) != value:
            problems.append(f"row {key}: engine {engine_row.get(key)!r}, loader {value!r}")
    for key in ("actor_id", "at", "action", "transition", "changes", "comment"):
        if engine_entry.get(key) != expected_entry[key]:
            problems.append(f"history {key}: engine {engine_entry.get(key)!r}, loader {expected_entry[key]!r}")
    if batch_row["state"] != rec["status"] or batch_entry["changes"][0]["new"] != rec["status"]:
        problems.append("the loaded record is not in the data set's state")
    if problems:
        raise SystemExit("loader self-check failed (the batch rows differ from the engine's):\n  " + "\n  ".join(problems))


def main() -> None:
    n = int(os.environ.get("N", "10000"))
    url = config.database_url()
    t0 = time.monotonic()
    fresh_database(url)
    config.instance_secret(config.instance_path())  # made once here, so the two workers never race for it
    db = Database(url)
    upgrade_system_tables(db)
    apply_document(db, read_document(APP_DOCUMENT), actor=Actor.system(), message="peer benchmark app")
    et = Catalog(db).current().entity(APP, ENTITY)
    user_ids = make_users(db)
    self_check(db, et, user_ids)
    t1 = time.monotonic()
    load_records(db, et, n, user_ids)
    t2 = time.monotonic()
    # What autovacuum does on a live server a little after a bulk insert, done now: fresh
    # statistics, and (PostgreSQL) a visibility map so counts are index-only scans.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE" if db.dialect == "postgresql" else "ANALYZE")
    with db.engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(et.table)).scalar_one()
        entries = conn.execute(sa.select(sa.func.count()).select_from(models.history)).scalar_one()
    db.dispose()
    print(
        f"flowdeck bench: {count} records, {entries} history entries in {db.describe()} "
        f"(schema and users {t1 - t0:.1f} s, records {t2 - t1:.1f} s)",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
