"""Rules across records (`constraints`), enforced on save and at transitions, on the test
database (SQLite or PostgreSQL): every kind, the refusal naming the conflicting record,
rules limited to transitions, and two sessions racing to add overlapping leave."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from flowdeck.catalogs import translator
from flowdeck.engine import records, workflow
from flowdeck.engine.constraints import ConstraintBroken, ConstraintRefusesTransition
from flowdeck.engine.db import Database
from flowdeck.engine.errors import RecordInvalid
from flowdeck.engine.messages import Message, render
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import Registry
from flowdeck.engine.storage.tables import EntityTables
from tests.support.constraint_apps import APP, rules_app


@pytest.fixture
def registry(install) -> Registry:
    return install(rules_app())


def et(registry: Registry, entity: str) -> EntityTables:
    return registry.entity(APP, entity)


def create(db: Database, table: EntityTables, actor: Actor, **values: Any) -> records.Record:
    return db.run(lambda c: records.create_record(c, table, values, actor=actor))


def update(db: Database, table: EntityTables, record_id: int, actor: Actor, **values: Any) -> records.Record:
    return db.run(lambda c: records.update_record(c, table, record_id, values, actor=actor, expected_version=None))


def move(db: Database, table: EntityTables, record_id: int, key: str, actor: Actor) -> records.Record:
    return db.run(lambda c: workflow.transition_record(c, table, record_id, key, actor=actor))


def said(message: Message) -> str:
    return str(message)


def zh(message: Message) -> str:
    return render(message, translator("zh"))


# -- unique within a scope -------------------------------------------------------------------


def test_unique_refuses_a_second_report_for_the_same_team_and_week(db, registry, system):
    """Is a second report for the same team and week refused, naming the first report?"""
    report = et(registry, "report")
    first = create(db, report, system, title="Week 49", team="core", week="2026-W49")
    with pytest.raises(ConstraintBroken) as caught:
        create(db, report, system, title="Again", team="core", week="2026-W49")
    assert said(caught.value.message) == f"Report #{first.id} “Week 49” already has the same Team, Week"
    assert caught.value.records == [("report", first.id)]
    assert create(db, report, system, title="Other team", team="web", week="2026-W49").id
    assert create(db, report, system, title="No week", team="core").id  # an empty scope value shares no scope


def test_unique_is_checked_when_an_update_moves_a_record_into_a_taken_scope(db, registry, system):
    """Is an edit that moves a report onto a taken week refused, while its other edits pass?"""
    report = et(registry, "report")
    create(db, report, system, title="Week 49", team="core", week="2026-W49")
    second = create(db, report, system, title="Week 50", team="core", week="2026-W50")
    with pytest.raises(RecordInvalid):
        update(db, report, second.id, system, week="2026-W49")
    assert update(db, report, second.id, system, title="Week 50 (final)").values["week"] == "2026-W50"


# -- no overlapping ranges -------------------------------------------------------------------


def leave(db: Database, registry: Registry, actor: Actor, employee: int, start: str, end: str, **values: Any) -> records.Record:
    return create(db, et(registry, "leave"), actor, title=f"{start}..{end}", employee=employee, start_date=start, end_date=end, **values)


def test_overlapping_leave_is_refused_naming_the_other_request(db, registry, system):
    """Is leave overlapping another of the same employee refused with the rule's message and
    the other request (label, #id, title, dates), in English and Chinese?"""
    ann = create(db, et(registry, "employee"), system, name="Ann").id
    ben = create(db, et(registry, "employee"), system, name="Ben").id
    first = leave(db, registry, system, ann, "2026-05-01", "2026-05-03")
    with pytest.raises(ConstraintBroken) as caught:
        leave(db, registry, system, ann, "2026-05-03", "2026-05-05")  # shares the 3rd
    assert said(caught.value.message) == (
        f"Leave must not overlap: overlaps Leave request #{first.id} “2026-05-01..2026-05-03” (2026-05-01 – 2026-05-03)"
    )
    assert (
        zh(caught.value.message) == f"请假时间不能重叠：与 请假申请 #{first.id}“2026-05-01..2026-05-03”（2026-05-01 – 2026-05-03）时间重叠"
    )
    assert leave(db, registry, system, ann, "2026-05-04", "2026-05-05").id  # the day after
    assert leave(db, registry, system, ben, "2026-05-01", "2026-05-03").id  # another employee


def test_overlap_ignores_records_the_rule_excludes_and_rechecks_when_they_return(db, registry, system):
    """Does rejected leave stop counting, and is reopening it refused while its days are taken?"""
    ann = create(db, et(registry, "employee"), system, name="Ann").id
    table = et(registry, "leave")
    first = leave(db, registry, system, ann, "2026-06-01", "2026-06-05")
    move(db, table, first.id, "submit", system)
    move(db, table, first.id, "reject", system)
    second = leave(db, registry, system, ann, "2026-06-02", "2026-06-03")
    with pytest.raises(ConstraintRefusesTransition) as caught:
        move(db, table, first.id, "reopen", system)
    assert f"Leave request #{second.id}" in said(caught.value.args[0])


# -- totals --------------------------------------------------------------------------------


def test_balance_counts_pending_and_approved_requests_against_the_allowance(db, registry, system):
    """Is a request whose days, with the employee's pending and approved ones of the year,
    exceed the allowance refused when it is submitted (drafts do not count)?"""
    ann = create(db, et(registry, "employee"), system, name="Ann").id
    table = et(registry, "leave")
    first = leave(db, registry, system, ann, "2026-03-02", "2026-03-06", days=5, year=2026, allowance=10)
    move(db, table, first.id, "submit", system)
    second = leave(db, registry, system, ann, "2026-04-06", "2026-04-11", days=6, year=2026, allowance=10)  # a draft: fine
    with pytest.raises(ConstraintRefusesTransition) as caught:
        move(db, table, second.id, "submit", system)
    assert said(caught.value.args[0]) == (
        f"the total of Days would be 11, more than 10 (counting Leave request #{first.id} “2026-03-02..2026-03-06”)"
    )
    update(db, table, second.id, system, days=5, end_date="2026-04-10")
    assert move(db, table, second.id, "submit", system).state == "pending"


def test_sibling_total_refuses_weights_over_100(db, registry, system):
    """Are key results of one objective refused once their weights pass 100 %?"""
    objective = create(db, et(registry, "objective"), system, title="Grow").id
    table = et(registry, "key_result")
    create(db, table, system, title="A", objective=objective, weight=60)
    with pytest.raises(ConstraintBroken) as caught:
        create(db, table, system, title="B", objective=objective, weight=50)
    assert "the total of Weight would be 110, more than 100" in said(caught.value.message)
    assert create(db, table, system, title="B", objective=objective, weight=40).id


def test_related_total_must_be_exactly_100_at_submit_only(db, registry, system):
    """Is an objective whose key results weigh 90 % saved freely but refused at “submit”,
    and submitted once they weigh 100 %?"""
    table = et(registry, "objective")
    objective = create(db, table, system, title="Grow").id
    key_results = et(registry, "key_result")
    create(db, key_results, system, title="A", objective=objective, weight=60)
    last = create(db, key_results, system, title="B", objective=objective, weight=30)
    assert update(db, table, objective, system, title="Grow more").version == 2  # saving is not a transition in `on`
    with pytest.raises(ConstraintRefusesTransition) as caught:
        move(db, table, objective, "submit", system)
    assert said(caught.value.args[0]).startswith("the total of Weight is 90; it must be exactly 100")
    update(db, key_results, last.id, system, weight=40)
    assert move(db, table, objective, "submit", system).state == "submitted"


# -- guards over related records --------------------------------------------------------------


def test_milestone_acceptance_needs_its_tasks_done(db, registry, system):
    """Is accepting a milestone refused while one of its tasks is open (naming the task),
    and allowed once every task is done?"""
    milestones, tasks = et(registry, "milestone"), et(registry, "task")
    milestone = create(db, milestones, system, title="Beta").id
    with pytest.raises(ConstraintRefusesTransition) as caught:
        move(db, milestones, milestone, "accept", system)
    assert said(caught.value.args[0]) == "needs at least one Task"
    done = create(db, tasks, system, title="Build", milestone=milestone).id
    open_task = create(db, tasks, system, title="Test", milestone=milestone).id
    move(db, tasks, done, "finish", system)
    with pytest.raises(ConstraintRefusesTransition) as caught:
        move(db, milestones, milestone, "accept", system)
    assert said(caught.value.args[0]) == f"Task #{open_task} “Test” still matches state != 'done'"
    assert caught.value.records == [("task", open_task)]
    with pytest.raises(ConstraintRefusesTransition) as caught:
        move(db, milestones, milestone, "close", system)
    assert said(caught.value.args[0]) == f"Task #{open_task} “Test” does not meet state == 'done'"
    assert update(db, milestones, milestone, system, title="Beta 1").version == 2  # edits are not checked
    move(db, tasks, open_task, "finish", system)
    assert move(db, milestones, milestone, "accept", system).state == "accepted"


def test_guard_through_a_many_valued_reference(db, registry, system):
    """Is reopening a task refused while a done task depends on it (`via` a many-valued
    reference), and allowed once that task is reopened first?"""
    tasks = et(registry, "task")
    base = create(db, tasks, system, title="Base").id
    top = create(db, tasks, system, title="Top", depends_on=[base]).id
    move(db, tasks, base, "finish", system)
    move(db, tasks, top, "finish", system)
    with pytest.raises(ConstraintRefusesTransition) as caught:
        move(db, tasks, base, "reopen", system)
    assert said(caught.value.args[0]) == f"Task #{top} “Top” still matches state == 'done'"
    move(db, tasks, top, "reopen", system)
    assert move(db, tasks, base, "reopen", system).state == "open"


# -- concurrency -------------------------------------------------------------------------------


def _race(db: Database, works: list[Any]) -> list[Any]:
    """Run each work in its own thread and transaction, started together; their outcomes.
    On PostgreSQL both transactions have begun before either checks (a barrier inside
    them); on SQLite the second cannot begin while the first writes (`BEGIN IMMEDIATE`),
    so the barrier is just before the transactions."""
    barrier = threading.Barrier(len(works))
    outcomes: list[Any] = [None] * len(works)
    inside = db.dialect == "postgresql"
    waited = [False] * len(works)

    def run(index: int) -> None:
        def work(conn: Any) -> Any:
            if inside and not waited[index]:
                waited[index] = True
                barrier.wait(timeout=20)
            return works[index](conn)

        try:
            if not inside:
                barrier.wait(timeout=20)
            outcomes[index] = db.run(work)
        except Exception as exc:
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(works))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


@pytest.mark.parametrize("round_", range(5))
def test_two_sessions_adding_overlapping_leave_at_once_exactly_one_succeeds(db, registry, system, round_):
    """Two sessions add overlapping leave for one employee at the same moment: does exactly
    one succeed and the other get the overlap refusal, on this database?"""
    table = et(registry, "leave")
    ann = create(db, et(registry, "employee"), system, name="Ann").id

    def add(start: str, end: str) -> Any:
        values = {"title": start, "employee": ann, "start_date": start, "end_date": end}
        return lambda conn: records.create_record(conn, table, values, actor=system)

    outcomes = _race(db, [add("2026-07-01", "2026-07-05"), add("2026-07-03", "2026-07-08")])
    made = [o for o in outcomes if isinstance(o, records.Record)]
    refused = [o for o in outcomes if isinstance(o, ConstraintBroken)]
    assert len(made) == 1 and len(refused) == 1, outcomes
    assert f"#{made[0].id}" in said(refused[0].message)


def test_concurrent_leave_of_different_employees_both_succeed(db, registry, system):
    """Do sessions adding the same days for two employees (two scopes) both succeed?"""
    table = et(registry, "leave")
    people = [create(db, et(registry, "employee"), system, name=n).id for n in ("Ann", "Ben")]

    def add(employee: int) -> Any:
        values = {"title": "x", "employee": employee, "start_date": "2026-07-01", "end_date": "2026-07-05"}
        return lambda conn: records.create_record(conn, table, values, actor=system)

    outcomes = _race(db, [add(people[0]), add(people[1])])
    assert all(isinstance(o, records.Record) for o in outcomes), outcomes


def test_accepting_a_milestone_while_an_open_task_is_added_is_ordered(db, registry, system):
    """A milestone is accepted while another session adds an open task under it: is the
    outcome one of the two orders (accepted with the task added after, or refused because
    the task came first), never an acceptance that missed a task committed before it?"""
    milestones, tasks = et(registry, "milestone"), et(registry, "task")
    milestone = create(db, milestones, system, title="Beta").id
    done = create(db, tasks, system, title="Build", milestone=milestone).id
    move(db, tasks, done, "finish", system)

    def accept(conn: Any) -> Any:
        return workflow.transition_record(conn, milestones, milestone, "accept", actor=system)

    def add(conn: Any) -> Any:
        return records.create_record(conn, tasks, {"title": "Late", "milestone": milestone}, actor=system)

    outcomes = _race(db, [accept, add])
    assert isinstance(outcomes[1], records.Record), outcomes
    assert isinstance(outcomes[0], (records.Record, ConstraintRefusesTransition)), outcomes


def test_sqlite_write_transactions_queue_from_their_begin(db):
    """On SQLite, does a second write transaction wait at its BEGIN until the first one
    commits, so a rule's check never runs beside another writer's (why SQLite needs no
    advisory lock)?"""
    if db.dialect != "sqlite":
        pytest.skip("SQLite's own locking; PostgreSQL takes the advisory locks")
    events: list[str] = []
    first_began = threading.Event()

    def second() -> None:
        first_began.wait(timeout=10)
        db.run(lambda conn: events.append("second began"))

    thread = threading.Thread(target=second)
    thread.start()
    with db.engine.connect() as conn:
        conn = conn.execution_options(flowdeck_write=True)
        with conn.begin():
            first_began.set()
            thread.join(timeout=0.5)  # the second is still waiting at BEGIN IMMEDIATE
            events.append("first commits")
    thread.join(timeout=10)
    assert events == ["first commits", "second began"]
