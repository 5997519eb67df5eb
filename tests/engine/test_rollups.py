"""Roll-up fields: each aggregate, the filter, child rows, the tree, moving and deleting
children, three levels of roll-ups, concurrency and the rebuild a migration plan runs."""

from __future__ import annotations

import copy
import datetime as dt
import threading
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from flowdeck.engine import records, workflow
from flowdeck.engine.apps import apply_document
from flowdeck.engine.messages import ENGLISH, render
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import Catalog
from flowdeck.engine.schema.loader import check_document
from tests.support.documents import rollup_app


class World:
    """The installed roll-up app and helpers that write through the record services."""

    def __init__(self, db: Any, registry: Any, actor: Actor) -> None:
        self.db, self.registry, self.actor = db, registry, actor

    def et(self, entity: str) -> Any:
        return self.registry.entity("pm", entity)

    def create(self, entity: str, **values: Any) -> int:
        return self.db.run(lambda c: records.create_record(c, self.et(entity), values, actor=self.actor)).id

    def update(self, entity: str, record_id: int, **values: Any) -> None:
        self.db.run(lambda c: records.update_record(c, self.et(entity), record_id, values, actor=self.actor, expected_version=None))

    def move(self, entity: str, record_id: int, transition: str) -> None:
        self.db.run(lambda c: workflow.transition_record(c, self.et(entity), record_id, transition, actor=self.actor))

    def delete(self, entity: str, record_id: int) -> None:
        self.db.run(lambda c: records.delete_record(c, self.et(entity), record_id, actor=self.actor))

    def get(self, entity: str, record_id: int) -> Any:
        return self.db.read(lambda c: records.fetch_record(c, self.et(entity), record_id))

    def values(self, entity: str, record_id: int) -> dict[str, Any]:
        return self.get(entity, record_id).values


@pytest.fixture
def world(db, install, system) -> World:
    return World(db, install(rollup_app()), system)


def test_each_aggregate_over_reverse_references(world):
    """Does each aggregate of a project's tasks give what a person would count by hand, with the filter applied?"""
    p = world.create("project", name="P", budget="1000")
    fresh = world.values("project", p)
    assert (fresh["cost"], fresh["tasks"], fresh["all_done"], fresh["any_blocked"], fresh["progress"]) == (0, 0, True, False, None)
    world.create("task", name="a", project=p, estimate=1, progress=100, cost="10.50", due="2026-03-01")
    world.create("task", name="b", project=p, estimate=3, progress=20, cost="5.25", due="2026-01-15", blocked=True)
    c = world.create("task", name="c", project=p, estimate=6, progress=0, cost="100", due="2026-05-01")
    world.move("task", c, "cancel")
    v = world.values("project", p)
    assert v["cost"] == Decimal("15.75")  # the cancelled task is filtered out
    assert v["progress"] == Decimal("40.00")  # (1*100 + 3*20) / 4
    assert v["tasks"] == 3 and v["open_tasks"] == 2
    assert v["first_due"] == dt.date(2026, 1, 15) and v["last_due"] == dt.date(2026, 5, 1)
    assert v["max_estimate"] == 6
    assert v["mean_progress"] == Decimal("40.00")  # (100 + 20 + 0) / 3
    assert v["all_done"] is False and v["any_blocked"] is True
    assert v["remaining"] == Decimal("984.25")  # the formula reads the roll-up
    world.create("task", name="d", project=p, progress=90)  # no estimate: left out of the weighting and the estimate's count
    v = world.values("project", p)
    assert v["progress"] == Decimal("40.00") and v["tasks"] == 4 and v["estimated"] == 3
    assert v["mean_estimate"] == Decimal("3.33")  # (1 + 3 + 6) / 3, a decimal of whole numbers


def test_transitions_and_updates_move_the_parent_without_bumping_its_version(world):
    """Does a child's transition update the parent's roll-up, leaving the parent's version (an open edit form) and history alone?"""
    p = world.create("project", name="P")
    t = world.create("task", name="a", project=p, cost="1")
    before = world.get("project", p)
    world.move("task", t, "finish")
    world.update("task", t, cost="7")
    after = world.get("project", p)
    assert after.values["all_done"] is True and after.values["open_tasks"] == 0 and after.values["cost"] == Decimal("7.00")
    assert after.version == before.version
    world.update("project", p, budget="10")  # the form opened before still saves
    assert world.values("project", p)["remaining"] == Decimal("3.00")


def test_moving_a_child_between_parents_and_deleting_it(world):
    """Does moving a task to another project update both projects, and deleting it update the last one?"""
    p1, p2 = world.create("project", name="P1"), world.create("project", name="P2")
    t = world.create("task", name="a", project=p1, cost="4")
    world.create("task", name="b", project=p1, cost="1")
    world.update("task", t, project=p2)
    assert world.values("project", p1)["cost"] == Decimal("1.00") and world.values("project", p2)["cost"] == Decimal("4.00")
    world.delete("task", t)
    assert world.values("project", p2)["cost"] == 0 and world.values("project", p2)["tasks"] == 0


def test_child_rows(world):
    """Do roll-ups over a record's own line items follow its rows as they are saved?"""
    p = world.create("project", name="P", lines=[{"item": "x", "amount": "2.5", "paid": True}, {"item": "y", "amount": "1", "paid": False}])
    v = world.values("project", p)
    assert v["lines_total"] == Decimal("3.50") and v["lines_paid"] is False
    world.update("project", p, lines=[{"item": "x", "amount": "2.5", "paid": True}])
    v = world.values("project", p)
    assert v["lines_total"] == Decimal("2.50") and v["lines_paid"] is True


def test_tree_recursion_and_three_levels(world):
    """Does a sub-sub-task's cost reach its ancestors (recursively), their milestone and the project, before the commit?"""
    p = world.create("project", name="P")
    m = world.create("milestone", name="M", project=p)
    top = world.create("task", name="top", milestone=m, cost="1")
    mid = world.create("task", name="mid", parent=top, cost="2")
    leaf = world.create("task", name="leaf", parent=mid, cost="4")
    assert world.values("task", top)["below_cost"] == Decimal("6.00")
    assert world.values("task", mid)["below_cost"] == Decimal("4.00")
    assert world.values("milestone", m)["tree_cost"] == Decimal("7.00")
    assert world.values("project", p)["milestone_cost"] == Decimal("7.00")
    world.update("task", leaf, cost="10")
    assert world.values("task", top)["below_cost"] == Decimal("12.00")
    assert world.values("project", p)["milestone_cost"] == Decimal("13.00")
    world.update("task", mid, parent=None)  # the branch leaves the tree under `top`
    assert world.values("task", top)["below_cost"] == 0
    assert world.values("project", p)["milestone_cost"] == Decimal("1.00")
    world.delete("task", leaf)
    assert world.values("task", mid)["below_cost"] == 0


def test_two_writers_changing_two_children_of_one_parent(world, databases):
    """Do two transactions changing two tasks of one project at the same moment leave the project's sum exact?"""
    p = world.create("project", name="P")
    tasks = [world.create("task", name=f"t{i}", project=p, cost="0") for i in range(2)]
    rounds = 10
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def writer(index: int) -> None:
        try:
            for n in range(1, rounds + 1):
                barrier.wait(timeout=30)
                world.update("task", tasks[index], cost=str(n * (index + 1)))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    assert world.values("project", p)["cost"] == Decimal(rounds * 1 + rounds * 2)


def test_plan_rebuilds_a_new_rollup_in_one_statement_per_level(db, install, system):
    """Does adding roll-ups to a document with records fill every record, one set-based UPDATE per roll-up and level, as planned?"""
    document = rollup_app()
    added = {k: document["entities"]["project"]["fields"].pop(k) for k in ("cost", "milestone_cost", "remaining")}
    added_tree = document["entities"]["milestone"]["fields"].pop("tree_cost")
    world = World(db, install(document), system)
    p = world.create("project", name="P")
    m = world.create("milestone", name="M", project=p)
    top = world.create("task", name="top", project=p, milestone=m, cost="1")
    world.create("task", name="leaf", project=p, parent=top, cost="2")
    document["entities"]["project"]["fields"].update(added)
    document["entities"]["milestone"]["fields"]["tree_cost"] = added_tree
    statements: list[str] = []

    def seen(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", seen)
    try:
        result = apply_document(db, copy.deepcopy(document), actor=system)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", seen)
    said = [render(step.description, ENGLISH) for step in result.plan.steps]
    rebuilds = [s for s in said if "set-based UPDATE" in s]
    assert [s.split(" of ")[0] for s in rebuilds] == [
        "rebuilds the roll-up cost",
        "rebuilds the roll-up tree_cost",
        "rebuilds the roll-up milestone_cost",
    ]
    assert [s.endswith(f"(level {n})") for s, n in zip(rebuilds, (1, 2, 3), strict=True)]
    updates = [s for s in statements if "rollup_src" in s]
    assert len(updates) == 3 and all("UPDATE" in s.upper() for s in updates)
    world.registry = Catalog(db).current()
    v = world.values("project", p)
    assert v["cost"] == Decimal("3.00") and v["milestone_cost"] == Decimal("3.00") and v["remaining"] is None
    assert world.values("milestone", m)["tree_cost"] == Decimal("3.00")


def test_schema_errors_name_their_json_paths():
    """Is each mistake in a roll-up reported at the key at fault: unknown over, sum of text, missing weight, bad filter, a cycle?"""
    document = rollup_app()
    fields = document["entities"]["project"]["fields"]
    fields["bad_over"] = {"type": "rollup", "over": "task.owner", "aggregate": "count"}
    fields["bad_table"] = {"type": "rollup", "over": "nothing", "aggregate": "count"}
    fields["text_sum"] = {"type": "rollup", "over": "task.project", "aggregate": "sum", "field": "name"}
    fields["no_weight"] = {"type": "rollup", "over": "task.project", "aggregate": "weighted_average", "field": "progress"}
    fields["bad_where"] = {"type": "rollup", "over": "task.project", "aggregate": "count", "where": "len(name) > 3"}
    fields["unknown"] = {"type": "rollup", "over": "task.project", "aggregate": "sum", "field": "costs"}
    fields["no_test"] = {"type": "rollup", "over": "task.project", "aggregate": "all"}
    task = document["entities"]["task"]["fields"]
    task["loop"] = {"type": "rollup", "over": "tree", "aggregate": "sum", "field": "loop_total"}
    task["loop_total"] = {"type": "computed", "result": "decimal", "formula": "coalesce(loop, 0) + 1"}
    found = {p.path: render(p.message, ENGLISH) for p in check_document(document)}
    assert "must be a single reference" in found["entities.project.fields.bad_over.over"]
    assert "is not a table field" in found["entities.project.fields.bad_table.over"]
    assert "needs a number field" in found["entities.project.fields.text_sum.field"]
    assert "needs “weight”" in found["entities.project.fields.no_weight"]
    assert "cannot be computed by the database" in found["entities.project.fields.bad_where.where"]
    assert "unknown field “costs”" in found["entities.project.fields.unknown.field"]
    assert "either “field”" in found["entities.project.fields.no_test"]
    assert "roll-up cycle: task.loop → task.loop_total → task.loop" in found["entities.task.fields.loop.over"]


def test_changing_a_tree_rollup_rebuilds_it_and_what_reads_it(db, install, system):
    """Does changing a tree roll-up's aggregate rebuild it for every task, then the formulas and the roll-ups above that read it?"""
    document = rollup_app()
    world = World(db, install(document), system)
    p = world.create("project", name="P")
    m = world.create("milestone", name="M", project=p)
    top = world.create("task", name="top", milestone=m, cost="1")
    mid = world.create("task", name="mid", parent=top, cost="2")
    world.create("task", name="leaf", parent=mid, cost="4")
    document["entities"]["task"]["fields"]["below_cost"]["aggregate"] = "max"
    result = apply_document(db, copy.deepcopy(document), actor=system)
    said = [render(step.description, ENGLISH) for step in result.plan.steps]
    assert any(s.startswith("rebuilds the roll-up below_cost of the 3 task records") for s in said)
    assert any(s.startswith("recomputes") and "tree_cost" in s for s in said)
    world.registry = Catalog(db).current()
    assert world.values("task", top)["below_cost"] == Decimal("4.00")  # the largest cost below, no longer the sum
    assert world.values("task", top)["tree_cost"] == Decimal("5.00")
    assert world.values("milestone", m)["tree_cost"] == Decimal("5.00")
    assert world.values("project", p)["milestone_cost"] == Decimal("5.00")


def test_moving_a_branch_between_two_trees_updates_both(world):
    """Does moving a sub-task from one tree to another (two parents in one save) update every ancestor of both, and the milestones above?"""
    p = world.create("project", name="P")
    m1, m2 = world.create("milestone", name="M1", project=p), world.create("milestone", name="M2", project=p)
    tops = [world.create("task", name=f"top{i}", milestone=m, cost="1") for i, m in enumerate((m1, m2))]
    mids = [world.create("task", name=f"mid{i}", parent=top, cost="2") for i, top in enumerate(tops)]
    leaf = world.create("task", name="leaf", parent=mids[0], cost="4")
    world.update("task", leaf, parent=mids[1])
    assert [world.values("task", t)["below_cost"] for t in (*tops, *mids)] == [Decimal("2.00"), Decimal("6.00"), 0, Decimal("4.00")]
    assert world.values("milestone", m1)["tree_cost"] == Decimal("3.00")
    assert world.values("milestone", m2)["tree_cost"] == Decimal("7.00")
    assert world.values("project", p)["milestone_cost"] == Decimal("10.00")
