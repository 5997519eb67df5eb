"""How a save with roll-ups on several tables of one level locks their parents: on
PostgreSQL one statement a level (a milestone and a task's ancestors together, in the order
the level's UPDATEs come: tables by name, then ids), on SQLite none (`BEGIN IMMEDIATE`
serializes writers); and two writers changing two leaves of one tree at the same moment
leave the tree, the milestone and the project exact."""

from __future__ import annotations

import re
import threading
from decimal import Decimal

from flowdeck.engine import records
from flowdeck.engine.permissions import Actor
from tests.support.rollup_writes import chain, save, statements, value


def test_one_lock_statement_a_level(db, install):
    """Does a leaf's save lock the milestone and the task's ancestors in one statement (milestone first), then the project in a second?"""
    registry, ids = chain(db, install)
    with statements(db) as seen:
        save(db, registry.entity("ch", "task"), ids["left"], cost="4")
    locks = [s for s in seen if re.search(r"ORDER BY ch__\w+\.id FOR UPDATE", s)]  # the roll-ups' locks, not the record's own
    if db.engine.dialect.name != "postgresql":
        assert locks == []
    else:
        assert len(locks) == 2
        first, second = locks
        assert "ch__milestone" in first and "rollup_up" in first  # the level's two tables together
        # tables by name, as the UPDATEs come: UNION ALL runs its branches in order
        assert first.index("ch__milestone.id FOR UPDATE) AS rollup_lock0") < first.index("ch__task.id FOR UPDATE) AS rollup_lock1")
        # the project: the level above, named by the milestone's reference and sent in the same round trip
        assert second.startswith("SELECT ch__project.id FROM ch__project WHERE ch__project.id IN (SELECT ch__milestone.project")
    updates = [s for s in seen if "UPDATE ch__" in s and "rollup_new" in s]
    assert len(updates) == 3  # the milestone, the tree, the project
    assert value(db, registry, "task", ids["top"], "below_cost") == Decimal("4.00")
    assert value(db, registry, "project", ids["project"], "cost") == Decimal("4.00")


def test_two_writers_changing_two_leaves_of_one_tree(db, install):
    """Do two transactions changing the two leaves of one tree at the same moment leave the tree, milestone and project sums exact?"""
    registry, ids = chain(db, install)
    task = registry.entity("ch", "task")
    rounds = 10
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def writer(index: int, leaf: int) -> None:
        actor = Actor.system()
        try:
            for n in range(1, rounds + 1):
                barrier.wait(timeout=30)
                db.run(
                    lambda c, n=n: records.update_record(c, task, leaf, {"cost": str(n * (index + 1))}, actor=actor, expected_version=None)
                )
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(i, ids[leaf])) for i, leaf in enumerate(("left", "right"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    total = Decimal(rounds * 1 + rounds * 2)
    assert value(db, registry, "task", ids["mid"], "below_cost") == total
    assert value(db, registry, "task", ids["top"], "below_cost") == total
    assert value(db, registry, "milestone", ids["milestone"], "cost") == total
    assert value(db, registry, "project", ids["project"], "cost") == total
