"""The statements a save issues for roll-ups: none when the change touches no field a
roll-up reads, and no statement for a level above one whose values did not move. Counted
with a SQLAlchemy event listener on the engine, so the tests fail if the skip is lost."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from flowdeck.engine import records, workflow
from flowdeck.engine.permissions import Actor
from tests.support.documents import rollup_app
from tests.support.rollup_writes import create, save, statements

PEAKS = {
    "key": "pk",
    "label": "Peaks",
    "roles": {"lead": {"label": "Lead"}},
    "entities": {
        "project": {
            "fields": {
                "name": {"type": "text"},
                "peak": {"type": "rollup", "over": "milestone.project", "aggregate": "max", "field": "peak"},
            }
        },
        "milestone": {
            "fields": {
                "name": {"type": "text"},
                "project": {"type": "reference", "to": "project"},
                "peak": {"type": "rollup", "over": "task.milestone", "aggregate": "max", "field": "cost"},
            }
        },
        "task": {"fields": {"name": {"type": "text"}, "milestone": {"type": "reference", "to": "milestone"}, "cost": {"type": "money"}}},
    },
}


def touching(seen: list[str], table: str) -> list[str]:
    """The roll-up statements that write or lock rows of `table` (locks come in id order)."""
    return [s for s in seen if (f"UPDATE {table} SET" in s and "rollup" in s) or s.endswith(f"ORDER BY {table}.id FOR UPDATE")]


def roll_up_statements(seen: list[str]) -> list[str]:
    return [s for s in seen if "rollup_" in s]


def test_a_change_no_rollup_reads_issues_no_rollup_statement(db, install):
    """Does renaming a task (a field no roll-up nor its filter reads) leave every roll-up alone, without one statement for them?"""
    registry = install(rollup_app())
    task, project, milestone = (registry.entity("pm", k) for k in ("task", "project", "milestone"))
    p = create(db, project, name="P")
    m = create(db, milestone, name="M", project=p)
    top = create(db, task, name="top", project=p, milestone=m, cost="1")
    leaf = create(db, task, name="leaf", project=p, parent=top, cost="2")
    with statements(db) as seen:
        save(db, task, leaf, name="renamed")
    assert any(s.startswith("UPDATE pm__task SET") for s in seen)  # the save itself was counted
    assert roll_up_statements(seen) == []
    with statements(db) as seen:
        save(db, task, leaf, cost="5")
    assert roll_up_statements(seen)  # a field roll-ups read: they are recomputed
    assert db.read(lambda c: records.fetch_record(c, project, p)).values["milestone_cost"] == Decimal("6.00")


def test_a_change_read_only_by_a_filter_recomputes_what_the_filter_guards(db, install):
    """Does a transition (the state only a roll-up's filter reads) recompute the project's roll-ups, and only the project's?"""
    registry = install(rollup_app())
    task, project = registry.entity("pm", "task"), registry.entity("pm", "project")
    p = create(db, project, name="P")
    t = create(db, task, name="a", project=p, cost="3")
    with statements(db) as seen:
        db.run(lambda c: workflow.transition_record(c, task, t, "cancel", actor=Actor.system()))
    assert touching(seen, "pm__project") and not touching(seen, "pm__milestone")
    assert not touching(seen, "pm__task")  # the tree roll-up reads cost, not state
    assert db.read(lambda c: records.fetch_record(c, project, p)).values["cost"] == 0


@pytest.mark.parametrize("new_cost, project_moves", [("2", False), ("20", True)])
def test_a_level_that_did_not_move_stops_the_cascade(db, install, new_cost, project_moves):
    """When a task's change leaves its milestone's maximum as it was, is the project left as it was (SQLite: unread), and moved if not?"""
    registry = install(PEAKS)
    task, milestone, project = (registry.entity("pk", k) for k in ("task", "milestone", "project"))
    p = create(db, project, name="P")
    m = create(db, milestone, name="M", project=p)
    small = create(db, task, name="small", milestone=m, cost="1")
    create(db, task, name="big", milestone=m, cost="10")
    with statements(db) as seen:
        save(db, task, small, cost=new_cost)
    postgresql = db.engine.dialect.name == "postgresql"
    assert len(touching(seen, "pk__milestone")) == 1 + postgresql  # on PostgreSQL its lock too
    if postgresql:  # the project goes in the milestone's round trip (its lock and UPDATE), named through the reference
        assert len([s for s in seen if "pk__project" in s and "SELECT pk__milestone.project" in s]) == 2
    else:
        assert bool(touching(seen, "pk__project")) is project_moves
    peak = Decimal("20.00") if project_moves else Decimal("10.00")
    assert db.read(lambda c: records.fetch_record(c, milestone, m)).values["peak"] == peak
    assert db.read(lambda c: records.fetch_record(c, project, p)).values["peak"] == peak


def test_each_aggregate_is_computed_once_by_the_update(db, install):
    """Does the plan of a milestone's roll-up UPDATE hold its aggregate once (not pulled up into SET and the "did it move" test)?"""
    registry = install(PEAKS)
    task, milestone, project = (registry.entity("pk", k) for k in ("task", "milestone", "project"))
    m = create(db, milestone, name="M", project=create(db, project, name="P"))
    small = create(db, task, name="small", milestone=m, cost="1")
    captured: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        if "UPDATE pk__milestone SET" in statement and "rollup_new" in statement:
            captured.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", keep)
    try:
        save(db, task, small, cost="7")
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", keep)
    assert len(captured) == 1
    sql, parameters = captured[0]
    postgresql = db.engine.dialect.name == "postgresql"
    with db.engine.connect() as conn:
        plan = [str(r[-1]) for r in conn.exec_driver_sql(("EXPLAIN " if postgresql else "EXPLAIN QUERY PLAN ") + sql, parameters)]
        conn.rollback()
    subqueries = [line for line in plan if (line.strip().startswith("SubPlan") if postgresql else "SCALAR SUBQUERY" in line)]
    assert len(subqueries) == 1, plan
