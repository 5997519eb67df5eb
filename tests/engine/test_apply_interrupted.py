"""A process killed in the middle of an apply leaves the old version intact.

A child process (`sys.executable -c ...`) applies a change whose plan renames and adds
columns, converts 20,000 values and moves records out of a removed state. An event
listener in the child (test code, not Flowdeck's) reports "applying" on a pipe once the
apply is inside its transaction, after the first DDL statement or in the middle of the
data move, and then waits; the parent kills it with SIGKILL. On SQLite the child's page
cache is tiny, so uncommitted pages are already in the WAL file when it dies.

Afterwards the database must hold the old version, the old columns and every old value,
pass `PRAGMA integrity_check` from a new connection (SQLite), and accept the same apply.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from flowdeck.engine import models
from flowdeck.engine.apps import apply_document
from flowdeck.engine.permissions import Actor
from flowdeck.engine.system import schema_generation
from tests.support.documents import minimal_app

ROWS = 20_000
ROOT = Path(__file__).resolve().parents[2]
CHOICES = {"type:task:budget": "clear", "state:task:review": "doing"}

CHILD = textwrap.dedent(
    """
    import json, sys, time
    from sqlalchemy import event
    from flowdeck.engine.apps import apply_document
    from flowdeck.engine.db import Database
    from flowdeck.engine.permissions import Actor

    url, path, choices, trigger, after = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4], int(sys.argv[5])
    db = Database(url)
    if db.dialect == "sqlite":
        @event.listens_for(db.engine, "connect")
        def tiny_cache(dbapi_connection, record):
            dbapi_connection.execute("PRAGMA cache_size=20")  # spill uncommitted pages into the WAL

    seen = {"n": 0}

    @event.listens_for(db.engine, "after_cursor_execute")
    def watch(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(trigger):
            seen["n"] += 1
            if seen["n"] == after:
                print("applying", flush=True)
                time.sleep(300)

    with open(path, encoding="utf-8") as f:
        document = json.load(f)
    apply_document(db, document, actor=Actor.system(), choices=choices)
    print("finished", flush=True)
    """
)


def base_document() -> dict:
    doc = minimal_app()
    doc["entities"]["task"]["fields"]["budget"] = {"type": "text"}
    return doc


def changed_document() -> dict:
    doc = copy.deepcopy(base_document())
    task = doc["entities"]["task"]
    task["fields"]["budget"] = {"type": "decimal"}
    task["fields"]["due"] = {"type": "date"}
    del task["workflow"]["states"]["review"]
    task["workflow"]["transitions"] = [
        {"key": "start", "from": "todo", "to": "doing"},
        {"key": "finish", "from": "doing", "to": "done"},
    ]
    return doc


def budget(i: int) -> str:
    return "n/a" if i % 1000 == 0 else f"{i}.5"


@pytest.fixture
def big(db, install):
    """The base app with 20,000 tasks: budgets as text (20 not numbers), every tenth in review."""
    registry = install(base_document())
    table = registry.entity("demo", "task").table
    stamp = dt.datetime.now(dt.UTC)
    rows = [
        {
            "title": f"task {i}",
            "budget": budget(i),
            "state": "review" if i % 10 == 0 else "todo",
            "priority": "normal",
            "version": 1,
            "created_at": stamp,
            "updated_at": stamp,
        }
        for i in range(ROWS)
    ]
    db.run(lambda c: c.execute(table.insert(), rows))
    return table


def snapshot(db) -> dict:
    """What must not change when an apply dies: version, generation, columns, values, archive, history."""

    def read(conn):
        task = sa.table("demo__task", sa.column("id"), sa.column("budget"), sa.column("state"))
        return {
            "version": conn.execute(sa.select(models.apps.c.version).where(models.apps.c.key == "demo")).scalar_one(),
            "versions": conn.execute(sa.select(sa.func.count()).select_from(models.app_versions)).scalar_one(),
            "generation": schema_generation(conn),
            "columns": sorted(c["name"] for c in sa.inspect(conn).get_columns("demo__task")),
            "tables": sorted(n for n in sa.inspect(conn).get_table_names() if n.startswith("demo__")),
            "values": conn.execute(sa.select(task.c.id, task.c.budget, task.c.state).order_by(task.c.id)).all(),
            "archived": conn.execute(sa.select(sa.func.count()).select_from(models.archived)).scalar_one(),
            "history": conn.execute(sa.select(sa.func.count()).select_from(models.history)).scalar_one(),
        }

    return db.read(read)


def wal_size(db) -> int:
    file = Path(sa.make_url(db.url).database)
    wal = file.with_name(file.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def run_and_kill(db, tmp_path: Path, trigger: str, after: int) -> int:
    """Start the child, kill it once it says "applying"; the WAL size before it ran (SQLite)."""
    path = tmp_path / "changed.json"
    path.write_text(json.dumps(changed_document()), encoding="utf-8")
    db.dispose()
    wal_before = wal_size(db) if db.dialect == "sqlite" else 0
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, db.url, str(path), json.dumps(CHOICES), trigger, str(after)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = child.stdout.readline().strip()
        assert line == "applying", f"the child did not reach the apply: {line!r} {child.stderr.read() if line == '' else ''}"
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        child.stderr.close()
    return wal_before


@pytest.mark.parametrize(
    ("trigger", "after"),
    [("ALTER TABLE", 1), ("UPDATE", 5)],
    ids=["after-the-first-ddl", "in-the-data-move"],
)
def test_killed_apply_leaves_the_old_version_and_a_new_apply_works(db, big, tmp_path, trigger, after):
    """Does a SIGKILL in the middle of an apply leave version, columns, values, archive and history intact, and the next apply work?"""
    before = snapshot(db)
    assert before["version"] == 1 and len(before["values"]) == ROWS
    wal_before = run_and_kill(db, tmp_path, trigger, after)

    if db.dialect == "sqlite":
        file = Path(sa.make_url(db.url).database)
        if trigger == "UPDATE":
            assert wal_size(db) > wal_before, "the killed transaction had written uncommitted pages into the WAL"
        fresh = sqlite3.connect(file)
        try:
            assert fresh.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert fresh.execute("SELECT count(*) FROM demo__task WHERE budget = 'n/a'").fetchone() == (ROWS // 1000,)
        finally:
            fresh.close()

    after_kill = snapshot(db)
    assert after_kill == before, "the old version, its columns and every value are intact"
    assert "budget__v1" not in after_kill["columns"] and "due" not in after_kill["columns"]

    result = apply_document(db, changed_document(), actor=Actor.system(), choices=CHOICES)
    assert result.applied and result.version == 2
    done = snapshot(db)
    assert done["version"] == 2 and "budget__v1" in done["columns"] and "due" in done["columns"]
    values = {rid: (value, state) for rid, value, state in done["values"]}
    first = before["values"][1]
    assert values[first[0]][1] == "todo"
    reviewed = before["values"][10]
    assert reviewed[2] == "review" and values[reviewed[0]][1] == "doing"
    stored = values[first[0]][0]
    assert (Decimal(stored) if db.dialect == "postgresql" else Decimal(stored) / 100) == Decimal("1.5")
    assert sum(1 for value, _ in values.values() if value is None) == ROWS // 1000
