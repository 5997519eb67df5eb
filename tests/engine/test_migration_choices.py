"""Migrations that move or convert data: the plan's questions, the admin's answers, and
what happens to the records, on real data (run with FLOWDECK_TEST_DB=postgresql too).

Covers the WBS board scenario S5 (a state removed while tasks sit in it), type changes
with values that cannot be converted (listed, then stopped or cleared with the old values
archived and restored by changing the type back), removed options in use, scale changes,
and the `flowdeck apply` command with --choice and --answers.
"""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from flowdeck.engine import approvals, models, records, workflow
from flowdeck.engine.apps import plan_change
from flowdeck.engine.db import Database
from flowdeck.engine.errors import ChoicesNeeded, Forbidden, MigrationRefused, SchemaInvalid
from flowdeck.engine.messages import english
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import Catalog
from flowdeck.engine.storage.plan import Question
from tests.support.documents import minimal_app
from tests.support.migrations import BUDGETS, Demo, apply, entries, to_decimal, version_of, wbs_without_pending_review, with_field

TASK = "demo__task"


# -- helpers -------------------------------------------------------------------------------


def in_english(question: Question) -> Question:
    """The question with its texts, choices and samples as the CLI words them."""
    choices = [(value, str(label)) for value, label in question.choices]
    return Question(question.id, str(question.text), choices, question.count, english(question.samples))  # type: ignore[arg-type]


def columns(db: Database, table: str) -> set[str]:
    return db.read(lambda c: {col["name"] for col in sa.inspect(c).get_columns(table)})


def raw(db: Database, table: str, column: str) -> dict[int, Any]:
    quote = db.engine.dialect.identifier_preparer.quote
    return dict(db.read(lambda c: c.exec_driver_sql(f"SELECT id, {quote(column)} FROM {quote(table)} ORDER BY id").all()))


def archive_rows(db: Database) -> list[dict[str, Any]]:
    return db.read(lambda c: [dict(r) for r in c.execute(sa.select(models.archived).order_by(models.archived.c.id)).mappings()])


# -- S5: a state removed while tasks sit in it -----------------------------------------------


def test_s5_removing_a_state_with_tasks_asks_where_they_go_and_applies_nothing(db, wbs):
    """S5: is removing pending_review with two tasks in it held back by a question naming both tasks, with nothing applied?"""
    et, tasks, ivan = wbs
    with pytest.raises(ChoicesNeeded) as caught:
        apply(db, wbs_without_pending_review(), actor=ivan)
    assert isinstance(caught.value, MigrationRefused)
    (question,) = caught.value.questions
    assert in_english(question) == Question(
        id="state:task:pending_review",
        text="removes state pending_review of task, but 2 records are in it: choose the state they move to",
        choices=[
            ("open", "move them to open (Open)"),
            ("working", "move them to working (Working)"),
            ("completed", "move them to completed (Completed)"),
            ("cancelled", "move them to cancelled (Cancelled)"),
        ],
        count=2,
        samples=[f'#{tasks["接口设计 API design"]} "接口设计 API design"', f'#{tasks["数据库设计 DB design"]} "数据库设计 DB design"'],
    )
    assert version_of(db, "wbs") == 1
    states = db.read(lambda c: dict(c.execute(sa.select(et.table.c.id, et.table.c.state)).all()))
    assert sorted(states.values()) == ["open", "pending_review", "pending_review", "working"]
    flagged = wbs_without_pending_review()
    flagged["entities"]["task"]["workflow"]["transitions"].append({"key": "submit_review", "from": "working", "to": "pending_review"})
    with pytest.raises(SchemaInvalid) as invalid:
        apply(db, flagged, actor=ivan, choices={"state:task:pending_review": "working"})
    assert any(
        p.path == "entities.task.workflow.transitions[4].to" and "unknown state “pending_review”" in str(p.message)
        for p in invalid.value.problems
    ), [str(p) for p in invalid.value.problems]


def test_unanswered_questions_refuse_everything_and_list_each(db, install):
    """Are all open questions listed at once (state, option, type), with nothing of the change applied?"""
    demo = Demo(db, install)
    rec = demo.add(title="a", priority="high", estimate="1.25")
    demo.move(rec, "start", "submit")
    doc = copy.deepcopy(demo.doc)
    workflow_doc = doc["entities"]["task"]["workflow"]
    del workflow_doc["states"]["review"]
    workflow_doc["transitions"] = [{"key": "start", "from": "todo", "to": "doing"}, {"key": "finish", "from": "doing", "to": "done"}]
    doc["entities"]["task"]["fields"]["priority"]["options"] = ["low", "normal"]
    doc["entities"]["task"]["fields"]["estimate"] = {"type": "integer"}
    doc["entities"]["task"]["fields"]["due"] = {"type": "date"}
    before = columns(db, TASK)
    with pytest.raises(ChoicesNeeded) as caught:
        apply(db, doc, choices={"state:task:review": "doing"})
    assert [q.id for q in caught.value.questions] == ["type:task:estimate", "option:task:priority:high"]
    assert caught.value.plan.answers == {"state:task:review": "doing"}
    assert version_of(db) == 1 and columns(db, TASK) == before
    assert demo.record(rec).state == "review" and demo.values(rec)["priority"] == "high"


@pytest.mark.parametrize(
    ("choices", "message"),
    [
        ({"state:task:review": "review"}, "“review” is not a choice for state:task:review (choices: todo, doing, done)"),
        ({"state:task:review": "doing", "state:task:revue": "todo"}, "there is no question state:task:revue in this plan"),
    ],
    ids=["not-a-choice", "unknown-question"],
)
def test_invalid_answers_are_refused(db, install, choices, message):
    """Is an answer that is not one of the choices, or for a question the plan does not ask, refused with nothing applied?"""
    demo = Demo(db, install)
    rec = demo.add()
    demo.move(rec, "start", "submit")
    doc = copy.deepcopy(demo.doc)
    del doc["entities"]["task"]["workflow"]["states"]["review"]
    doc["entities"]["task"]["workflow"]["transitions"] = [{"key": "start", "from": "todo", "to": "doing"}]
    with pytest.raises(MigrationRefused) as caught:
        apply(db, doc, choices=choices)
    assert not isinstance(caught.value, ChoicesNeeded)
    assert any(reason.startswith(message) for reason in english(caught.value.reasons)), english(caught.value.reasons)
    assert version_of(db) == 1 and demo.record(rec).state == "review"


def test_only_administrators_apply(db, install, make_user):
    """Is a document applied by someone who is not an administrator refused before anything is planned?"""
    Demo(db, install)
    member = make_user("mia", {"demo": ["lead"]})
    with pytest.raises(Forbidden):
        apply(db, with_field(minimal_app(), "due", {"type": "date"}), actor=member)
    assert version_of(db) == 1


def test_removed_transition_withdraws_its_pending_approval_requests(db, install, make_user):
    """Are pending approval requests of a transition the new document removes withdrawn, so the record is not stuck?"""
    doc = minimal_app()
    doc["entities"]["task"]["workflow"]["transitions"][1]["approval"] = {"steps": [{"key": "lead", "approvers": {"role": "lead"}}]}
    registry = install(doc)
    make_user("lea", {"demo": ["lead"]})
    admin = make_user("root", is_admin=True)
    et = registry.entity("demo", "task")
    rec = db.run(lambda c: records.create_record(c, et, {"title": "a"}, actor=admin))
    db.run(lambda c: workflow.transition_record(c, et, rec.id, "start", actor=admin))
    outcome = db.run(lambda c: approvals.request_approval(c, et, rec.id, "submit", actor=admin))
    assert outcome.status == "pending"
    result = apply(db, minimal_app(), actor=admin)
    assert "withdraws the 1 pending approval requests of transition submit of task (it no longer asks for approval)" in (
        english(result.plan.describe())
    )
    status = db.read(lambda c: c.execute(sa.select(models.approval_requests.c.status)).scalar_one())
    assert status == "withdrawn"
    et = Catalog(db).current().entity("demo", "task")
    moved = db.run(lambda c: workflow.transition_record(c, et, rec.id, "submit", actor=admin))
    assert moved.state == "review"


# -- type changes ---------------------------------------------------------------------------


def test_text_to_decimal_lists_the_values_that_cannot_be_converted(db, budgets):
    """Does text→decimal count the convertible values and list the 3 that are not (record id and value), applying nothing?"""
    demo, ids, _ = budgets
    plan = db.read(lambda c: plan_change(c, to_decimal(demo))[1])
    (question,) = plan.questions
    assert question.id == "type:task:budget"
    assert question.count == 3
    assert str(question.text) == (
        "changes field budget of task from text to decimal: 4 values are converted, 3 values cannot be converted (listed): "
        "choose to stop, or clear them; the old values are archived"
    )
    assert english(question.samples) == [
        f'#{ids[2]}: "abc" (is not a number)',
        f'#{ids[4]}: "n/a" (is not a number)',
        f'#{ids[6]}: "12,5 €" (is not a number)',
    ]
    assert question.values() == ["stop", "clear"]
    with pytest.raises(ChoicesNeeded):
        apply(db, to_decimal(demo))
    assert version_of(db) == 1 and demo.values(ids[2])["budget"] == "abc"


def test_stop_refuses_the_type_change(db, budgets):
    """Does answering "stop" refuse the whole change, leaving the text values and columns as they were?"""
    demo, ids, _ = budgets
    before = columns(db, TASK)
    with pytest.raises(MigrationRefused) as caught:
        apply(db, to_decimal(demo), choices={"type:task:budget": "stop"})
    assert not isinstance(caught.value, ChoicesNeeded)
    assert english(caught.value.reasons) == ["stopped by the answer to type:task:budget: changes field budget of task from text to decimal"]
    assert version_of(db) == 1 and columns(db, TASK) == before
    assert [demo.values(i)["budget"] for i in ids] == BUDGETS


def test_clear_converts_the_rest_and_archives_every_old_value(db, budgets):
    """Does "clear" convert 4 values, clear 3 (a history entry each), recompute formulas, and keep every old value in budget__v1?"""
    demo, ids, empty = budgets
    result = apply(db, to_decimal(demo), choices={"type:task:budget": "clear"})
    assert result.applied
    assert (
        "changes field budget of task from text to decimal: 4 values are converted, 3 are cleared (each record gets a history entry); "
        "the old values are kept in column budget__v1 of demo__task"
    ) in english(result.plan.describe())
    got = [demo.values(i)["budget"] for i in ids]
    assert got == [Decimal("12.50"), Decimal("1200.00"), None, Decimal("7.00"), None, Decimal("3.25"), None]
    assert demo.values(ids[0])["double"] == Decimal("25.00"), "formulas reading the field are computed again"
    assert raw(db, TASK, "budget__v1") == {**dict(zip(ids, BUDGETS, strict=True)), empty: None}, "old values readable with SQL"
    rows = [r for r in archive_rows(db) if r["field"].startswith("budget")]
    assert [(r["entity"], r["field"], r["storage"], r["definition"], r["archived_in_version"]) for r in rows] == [
        ("task", "budget__v1", TASK, {"type": "text"}, 2)
    ]
    cleared = entries(db, "demo", "task", ids[2])[-1]
    assert (cleared.action, str(cleared.message), cleared.comment) == ("migrated", "value cleared by schema change", None)
    assert cleared.changes == [{"field": "budget", "old": "abc", "new": None}]
    assert demo.record(ids[2]).version == 2 and demo.record(ids[0]).version == 1, "only changed records get a new version"


def test_changing_the_type_back_restores_the_archived_values(db, budgets):
    """Does re-adding budget as text bring back every original text (cleared ones too), while a value edited since keeps its new value?"""
    demo, ids, _ = budgets
    apply(db, to_decimal(demo), choices={"type:task:budget": "clear"})
    et = demo.catalog.current().entity("demo", "task")
    db.run(lambda c: records.update_record(c, et, ids[3], {"budget": "99"}, actor=Actor.system(), expected_version=None))
    result = apply(db, demo.doc)
    assert result.plan.questions == []
    assert any(
        line.startswith("changes field budget of task from decimal to text: 6 values come back from budget__v1 (archived in version 2), "
                        "1 values are converted")
        for line in english(result.plan.describe())
    ), english(result.plan.describe())  # fmt: skip
    got = [demo.values(i)["budget"] for i in ids]
    assert got == ["12.5", "1,200", "abc", "99.00", "n/a", "3.25", "12,5 €"]
    assert demo.values(ids[2])["double"] == "abc"
    assert {r["field"] for r in archive_rows(db)} >= {"budget__v1", "budget__v2"}
    assert raw(db, TASK, "budget__v2")[ids[3]] in (Decimal("99.00"), 9900), "the decimal values are archived in turn"


def test_type_change_without_values_needs_no_question(db, install):
    """Does a type change of a field nobody filled in apply without a question?"""
    demo = Demo(db, install, note={"type": "text"})
    demo.add(title="a")
    result = apply(db, with_field(demo.doc, "note", {"type": "date"}))
    assert result.plan.questions == []
    assert "changes field note of task from text to date (no values to convert)" in english(result.plan.describe())
    rec = demo.add(title="b", note="2025-03-10")
    assert demo.values(rec)["note"] == dt.date(2025, 3, 10)


def test_lossless_conversions_apply_without_questions(db, install):
    """Are decimal→text, a larger scale, select→text (its label) and text→select (key or label) converted exactly without a question?"""
    demo = Demo(
        db,
        install,
        size={"type": "select", "options": [{"key": "s", "label": {"en": "Small", "zh": "小"}}, "m"]},
        code={"type": "text"},
    )
    first = demo.add(estimate="1.5", size="s", code="Small")
    second = demo.add(estimate="2", size="m", code="m")
    doc = with_field(demo.doc, "estimate", {"type": "decimal", "scale": 4})
    doc["entities"]["task"]["fields"]["size"] = {"type": "text"}
    doc["entities"]["task"]["fields"]["code"] = {"type": "select", "options": [{"key": "s", "label": "Small"}, "m"]}
    doc["entities"]["task"]["fields"]["title"] = {"type": "markdown", "required": True}
    result = apply(db, doc)
    assert result.plan.questions == [] and result.applied
    assert demo.values(first).items() >= {"estimate": Decimal("1.5000"), "size": "Small", "code": "s"}.items()
    assert demo.values(second)["size"] == "M" and demo.values(second)["code"] == "m"
    assert str(demo.values(first)["estimate"]) == "1.5000"


@pytest.mark.parametrize(
    ("spec", "choice", "expected", "sample"),
    [
        ({"type": "decimal", "scale": 1}, "round", [Decimal("1.3"), Decimal("2.5"), Decimal("3.0")], '"1.25" -> "1.3"'),
        ({"type": "decimal", "scale": 1}, "clear", [None, Decimal("2.5"), Decimal("3.0")], '"1.25" -> "1.3"'),
        ({"type": "integer"}, "round", [1, 3, 3], '"1.25" -> 1'),
        ({"type": "money", "scale": 0}, "round", [Decimal("1"), Decimal("3"), Decimal("3")], '"1.25" -> "1"'),
    ],
    ids=["scale-round", "scale-clear", "to-integer", "to-money"],
)
def test_scale_changes_count_and_list_rounding(db, install, spec, choice, expected, sample):
    """Is a smaller scale (or integer) a conversion that counts and lists the values rounding would change, then rounds or clears them?"""
    demo = Demo(db, install)
    ids = [demo.add(estimate=v) for v in ("1.25", "2.50", "3")]
    plan = db.read(lambda c: plan_change(c, with_field(demo.doc, "estimate", spec))[1])
    (question,) = plan.questions
    assert question.count == (1 if spec.get("scale") == 1 else 2), "1.25 rounds either way; 2.50 only to a whole number"
    assert str(question.samples[0]) == f"#{ids[0]}: {sample}"
    assert "round" in question.values()
    apply(db, with_field(demo.doc, "estimate", spec), choices={"type:task:estimate": choice})
    assert [demo.values(i)["estimate"] for i in ids] == expected
    rounded = entries(db, "demo", "task", ids[0])[-1]
    assert rounded.action == "migrated" and rounded.changes[0]["old"] == "1.25"


def test_single_to_many_and_back(db, install, make_user):
    """Does a single user become a one-item list, and a multiselect with two values ask before keeping only the first?"""
    demo = Demo(db, install, owner={"type": "user"}, tags={"type": "multiselect", "options": ["x", "y"]})
    uma = make_user("uma", {"demo": ["member"]})
    one = demo.add(owner=uma.user_id, tags=["y"])
    two = demo.add(tags=["y", "x"])
    doc = with_field(demo.doc, "owner", {"type": "user", "many": True})
    doc["entities"]["task"]["fields"]["tags"] = {"type": "select", "options": ["x", "y"]}
    plan = db.read(lambda c: plan_change(c, doc)[1])
    (question,) = plan.questions
    assert question.id == "type:task:tags" and question.values() == ["stop", "first", "clear"]
    assert not any("creates tables" in line or "index" in line for line in english(plan.describe())), english(plan.describe())
    assert english(question.samples) == [f'#{two}: ["y", "x"] -> "y"']
    apply(db, doc, choices={"type:task:tags": "first"})
    assert demo.values(one)["owner"] == [uma.user_id] and demo.values(one)["tags"] == "y"
    assert demo.values(two)["tags"] == "y" and demo.values(two)["owner"] == []
    tables = db.read(lambda c: set(sa.inspect(c).get_table_names()))
    assert {"demo__task__owner", "demo__task__tags__v1"} <= tables and "demo__task__tags" not in tables
    assert raw(db, TASK, "owner__v1")[one] == uma.user_id
    apply(db, demo.doc)
    assert demo.values(two)["tags"] == ["y", "x"], "changing back restores the archived lists"
    assert demo.values(one)["owner"] == uma.user_id


def test_text_to_date_and_datetime_to_date(db, install, monkeypatch):
    """Are texts parsed as dates (bad ones listed) and datetimes with a time of day asked about before keeping only the date?"""
    monkeypatch.setenv("FLOWDECK_TIMEZONE", "UTC")
    from flowdeck.engine import clock

    clock.zone.cache_clear()
    try:
        demo = Demo(db, install, due={"type": "text"}, at={"type": "datetime"})
        good = demo.add(due="2025-03-10", at="2025-03-10T00:00Z")
        bad = demo.add(due="next week", at="2025-03-11T09:30Z")
        doc = with_field(demo.doc, "due", {"type": "date"})
        doc["entities"]["task"]["fields"]["at"] = {"type": "date"}
        plan = db.read(lambda c: plan_change(c, doc)[1])
        assert [(q.id, q.values(), q.count) for q in plan.questions] == [
            ("type:task:due", ["stop", "clear"], 1),
            ("type:task:at", ["stop", "date", "clear"], 1),
        ]
        assert english(plan.questions[1].samples) == [f'#{bad}: "2025-03-11T09:30:00Z" -> "2025-03-11"']
        apply(db, doc, choices={"type:task:due": "clear", "type:task:at": "date"})
        assert demo.values(good).items() >= {"due": dt.date(2025, 3, 10), "at": dt.date(2025, 3, 10)}.items()
        assert demo.values(bad)["due"] is None and demo.values(bad)["at"] == dt.date(2025, 3, 11)
    finally:
        clock.zone.cache_clear()


def test_unsupported_conversions_are_refused(db, install):
    """Is a conversion without meaning (decimal→date, a reference to another entity) refused when values exist?"""
    doc = minimal_app()
    doc["entities"]["note"] = {"fields": {"body": {"type": "text"}}}
    doc["entities"]["task"]["fields"]["link"] = {"type": "reference", "to": "task"}
    install(doc)
    catalog = Catalog(db)
    et = catalog.current().entity("demo", "task")
    first = db.run(lambda c: records.create_record(c, et, {"title": "a", "estimate": "2"}, actor=Actor.system()))
    db.run(lambda c: records.create_record(c, et, {"title": "b", "link": first.id}, actor=Actor.system()))
    changed = copy.deepcopy(doc)
    changed["entities"]["task"]["fields"]["estimate"] = {"type": "date"}
    changed["entities"]["task"]["fields"]["link"] = {"type": "reference", "to": "note"}
    with pytest.raises(MigrationRefused) as caught:
        apply(db, changed)
    assert english(caught.value.reasons) == [
        "changes field estimate of task from decimal to date: decimal values cannot be converted to date (1 records have a value); "
        "add a new field instead",
        "changes field link of task from reference to task to reference to note: reference to task values cannot be converted to "
        "reference to note (1 records have a value); add a new field instead",
    ]


def test_converted_duplicates_of_a_unique_field_are_refused(db, install):
    """Is a conversion refused when a unique field's converted values would collide (1.0 and 1 as decimals)?"""
    demo = Demo(db, install, code={"type": "text", "unique": True})
    demo.add(code="1.0")
    demo.add(code="1")
    with pytest.raises(MigrationRefused) as caught:
        apply(db, with_field(demo.doc, "code", {"type": "decimal", "unique": True}))
    assert english(caught.value.reasons) == [
        "changes field code of task from text to decimal: 1 converted values would appear more than once, but the field is unique; "
        "fix them first"
    ]


def test_computed_result_type_change_computes_again(db, install):
    """Does a computed field whose result type changes get a new column computed again for every record?"""
    demo = Demo(db, install, double={"type": "computed", "formula": "estimate * 2", "result": "decimal"})
    rec = demo.add(estimate="1.5")
    result = apply(db, with_field(demo.doc, "double", {"type": "computed", "formula": "estimate * 2", "result": "integer"}))
    assert result.plan.questions == []
    assert demo.values(rec)["double"] == 3


def test_unique_index_follows_the_converted_column(db, install):
    """Does a unique field keep a working unique index on its new column after a type change?"""
    demo = Demo(db, install, code={"type": "text", "unique": True})
    demo.add(code="7")
    apply(db, with_field(demo.doc, "code", {"type": "integer", "unique": True}))
    indexes = db.read(lambda c: {ix["name"]: ix["column_names"] for ix in sa.inspect(c).get_indexes(TASK)})
    assert indexes["ux__demo__task__code"] == ["code"]
    with pytest.raises(records.RecordInvalid):
        demo.add(code="7")


# -- options ----------------------------------------------------------------------------------


def test_removed_option_is_replaced_with_history(db, install):
    """Does removing option high with the answer "normal" move its records to normal, each with a history entry?"""
    demo = Demo(db, install)
    high = [demo.add(priority="high"), demo.add(priority="high")]
    low = demo.add(priority="low")
    doc = with_field(demo.doc, "priority", {"type": "select", "options": ["low", "normal"], "default": "normal"})
    with pytest.raises(ChoicesNeeded) as caught:
        apply(db, doc)
    (question,) = caught.value.questions
    assert (question.id, question.count, question.values()) == ("option:task:priority:high", 2, ["low", "normal", "clear"])
    result = apply(db, doc, choices={"option:task:priority:high": "normal"})
    assert "replaces option high of task.priority with normal in 2 records; each gets a history entry" in english(result.plan.describe())
    assert [demo.values(i)["priority"] for i in high] == ["normal", "normal"] and demo.values(low)["priority"] == "low"
    entry = entries(db, "demo", "task", high[0])[-1]
    assert (entry.action, str(entry.message), entry.comment, entry.changes) == (
        "migrated",
        "option migrated by schema change",
        None,
        [{"field": "priority", "old": "high", "new": "normal"}],
    )


def test_removed_multiselect_option_is_cleared_or_replaced(db, install):
    """Does removing a multiselect option clear it from the lists (or replace it without duplicating a value already there)?"""
    demo = Demo(db, install, tags={"type": "multiselect", "options": ["x", "y", "z"]})
    both = demo.add(tags=["y", "x"])
    only = demo.add(tags=["y"])
    apply(db, with_field(demo.doc, "tags", {"type": "multiselect", "options": ["x", "z"]}), choices={"option:task:tags:y": "x"})
    assert demo.values(both)["tags"] == ["x"] and demo.values(only)["tags"] == ["x"]
    apply(db, with_field(demo.doc, "tags", {"type": "multiselect", "options": ["z"]}), choices={"option:task:tags:x": "clear"})
    assert demo.values(both)["tags"] == [] and demo.values(only)["tags"] == []
    assert str(entries(db, "demo", "task", both)[-1].message) == "option cleared by schema change"


# -- other workers ------------------------------------------------------------------------------


def test_another_catalog_sees_the_migrated_schema(db, wbs):
    """Does another worker's Catalog switch to the version without pending_review on its next use, seeing the moved tasks?"""
    _, tasks, ivan = wbs
    other_db = Database(db.url)
    try:
        other = Catalog(other_db)
        assert other.current().entity("wbs", "task").entity.workflow.state("pending_review") is not None
        apply(db, wbs_without_pending_review(), actor=ivan, choices={"state:task:pending_review": "working"})
        registry = other.current()
        assert registry.versions["wbs"] == 2
        et = registry.entity("wbs", "task")
        assert et.entity.workflow.state("pending_review") is None
        rec = other_db.read(lambda c: records.fetch_record(c, et, tasks["接口设计 API design"]))
        assert rec.state == "working"
    finally:
        other_db.dispose()


# -- the command line -----------------------------------------------------------------------------
