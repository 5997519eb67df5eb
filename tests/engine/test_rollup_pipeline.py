"""PostgreSQL sends a level's roll-up statements (the parents' lock, then the UPDATEs) in
one pipeline, with the level above when it is named by references (`rollups._ahead`): one
round trip, not one a statement. These tests count the round trips in libpq's protocol
trace, check that the UPDATEs' RETURNING rows still come back where the level above reads
them (the level-by-level path), and hold one writer's locks open while a second writer
waits on them, in both orders, to show that the second's aggregates (sent in the same
round trip as its lock) still see the first's committed child, and that a parent named
through a reference is the one the reference holds once the row below is locked."""

from __future__ import annotations

import copy
import threading
import time
from decimal import Decimal
from typing import Any

import pytest

from flowdeck.engine import records
from flowdeck.engine.permissions import Actor
from tests.support.rollup_writes import CHAIN, chain, create, round_trips, save, statements, value


def without_rollups() -> dict[str, Any]:
    """CHAIN under the key `pl` with its roll-up fields taken out."""
    doc = copy.deepcopy(CHAIN)
    doc["key"] = "pl"
    for entity in doc["entities"].values():
        entity["fields"] = {k: f for k, f in entity["fields"].items() if f["type"] != "rollup"}
    return doc


def answers(messages: list[str]) -> int:
    """The answers the client waited for: one `ReadyForQuery` a round trip."""
    return sum(1 for line in messages if line.startswith("B") and "ReadyForQuery" in line)


def test_the_cascade_is_one_round_trip(db, install):
    """Does a save moving three levels cost one round trip more than without roll-ups, for five more statements?"""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no round trips: it runs in the process")
    registry, ids = chain(db, install)
    plain_registry = install(without_rollups())
    plain = plain_registry.entity("pl", "task")
    milestone = create(db, plain_registry.entity("pl", "milestone"), name="M")
    plain_top = create(db, plain, name="top", milestone=milestone, cost="0")
    plain_leaf = create(db, plain, name="leaf", milestone=milestone, parent=plain_top, cost="0")
    task = registry.entity("ch", "task")
    for cost in ("1", "2"):  # the second save meets statements psycopg has prepared
        with round_trips(db) as base, statements(db) as base_sent:
            save(db, plain, plain_leaf, cost=cost)
        with round_trips(db) as rolled, statements(db) as rolled_sent:
            save(db, task, ids["left"], cost=cost)
        assert len(rolled_sent) - len(base_sent) == 5  # two locks, three UPDATEs
        assert answers(rolled) - answers(base) == 1, (base, rolled)
    assert value(db, registry, "project", ids["project"], "cost") == Decimal("2.00")  # the milestone's RETURNING came back


TWO_READ = copy.deepcopy(CHAIN)
# The milestone also keeps its tasks' largest tree sum: the tree's UPDATE is read (by the
# milestone one level up) as well as the milestone's (by the project), two RETURNINGs a level.
TWO_READ["entities"]["milestone"]["fields"]["widest"] = {
    "type": "rollup",
    "over": "task.milestone",
    "aggregate": "max",
    "field": "below_cost",
}


def test_two_updates_read_in_one_level(db, install):
    """When a level has two UPDATEs whose rows a level above reads, do both RETURNINGs come back through the pipeline?"""
    registry, ids = chain(db, install, TWO_READ)
    task = registry.entity("ch", "task")
    with statements(db) as seen:
        save(db, task, ids["left"], cost="3")
    project_locks = [s for s in seen if "ORDER BY ch__project.id FOR UPDATE" in s]
    if db.engine.dialect.name == "postgresql":  # level by level: the project by the id the milestone's UPDATE returned
        assert project_locks and all("SELECT ch__milestone.project" not in s for s in project_locks), project_locks
    save(db, task, ids["right"], cost="4")
    assert value(db, registry, "task", ids["top"], "below_cost") == Decimal("7.00")
    assert value(db, registry, "milestone", ids["milestone"], "widest") == Decimal("7.00")
    assert value(db, registry, "milestone", ids["milestone"], "cost") == Decimal("7.00")
    assert value(db, registry, "project", ids["project"], "cost") == Decimal("7.00")


def waiting_for_a_lock(db: Any) -> bool:
    """PostgreSQL: whether another session waits for a row lock (SQLite: assume so after a moment)."""
    if db.engine.dialect.name != "postgresql":
        time.sleep(0.3)
        return True
    sql = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    for _ in range(200):
        if db.read(lambda c: c.exec_driver_sql(sql).scalar()):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("first, second", [("left", "right"), ("right", "left")])
def test_the_second_writer_sees_the_first_once_its_lock_is_granted(db, install, first, second):
    """Does a writer waiting on another's locks sum the other's committed leaf once it gets them, in both orders?"""
    registry, ids = chain(db, install)
    task = registry.entity("ch", "task")
    actor = Actor.system()
    holder = db.engine.connect().execution_options(flowdeck_write=True)
    transaction = holder.begin()
    records.update_record(holder, task, ids[first], {"cost": "5"}, actor=actor, expected_version=None)
    failures: list[BaseException] = []

    def other() -> None:
        try:
            save(db, task, ids[second], cost="7")
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=other)
    thread.start()
    try:
        assert waiting_for_a_lock(db)
        assert thread.is_alive()  # it waits for the first writer's locks
    finally:
        transaction.commit()
        holder.close()
    thread.join(timeout=60)
    assert not failures, failures
    for entity, key in (("task", ids["mid"]), ("task", ids["top"]), ("milestone", ids["milestone"]), ("project", ids["project"])):
        field = "below_cost" if entity == "task" else "cost"
        assert value(db, registry, entity, key, field) == Decimal("12.00"), (entity, field)


def test_a_parent_through_a_reference_is_the_one_it_holds_once_locked(db, install):
    """While a milestone moves to another project uncommitted, does a save under it wait, then move the new project, not the old?"""
    registry, ids = chain(db, install)
    task, milestone, project = (registry.entity("ch", k) for k in ("task", "milestone", "project"))
    save(db, task, ids["left"], cost="2")
    other = create(db, project, name="Q")
    holder = db.engine.connect().execution_options(flowdeck_write=True)
    transaction = holder.begin()
    records.update_record(holder, milestone, ids["milestone"], {"project": other}, actor=Actor.system(), expected_version=None)
    failures: list[BaseException] = []

    def saver() -> None:
        try:
            save(db, task, ids["right"], cost="5")
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=saver)
    thread.start()
    try:
        assert waiting_for_a_lock(db)
    finally:
        transaction.commit()
        holder.close()
    thread.join(timeout=60)
    assert not failures, failures
    assert value(db, registry, "project", ids["project"], "cost") == Decimal("0.00")
    assert value(db, registry, "project", other, "cost") == Decimal("7.00")


FEES = copy.deepcopy(CHAIN)
# A formula of the milestone reads its roll-up, and the project rolls the formula up: the
# level above needs the formula computed after the milestone's UPDATE, so no level ahead.
FEES["entities"]["milestone"]["fields"]["billed"] = {"type": "computed", "result": "money", "formula": "cost + 1"}
FEES["entities"]["project"]["fields"]["billed"] = {"type": "rollup", "over": "milestone.project", "aggregate": "sum", "field": "billed"}


def test_a_formula_between_two_levels_goes_level_by_level(db, install):
    """When the project rolls up a milestone formula reading its roll-up, does it get the formula's new value, not the old?"""
    registry, ids = chain(db, install, FEES)
    task = registry.entity("ch", "task")
    with statements(db) as seen:
        save(db, task, ids["left"], cost="3")
    assert value(db, registry, "milestone", ids["milestone"], "billed") == Decimal("4.00")
    assert value(db, registry, "project", ids["project"], "billed") == Decimal("4.00")
    assert not [s for s in seen if "SELECT ch__milestone.project" in s]  # the project by the id the milestone's UPDATE returned
