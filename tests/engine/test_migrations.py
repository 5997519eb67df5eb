"""Changing an applied app document: what the migration plan does, asks and refuses.

Each test installs `minimal_app()`, writes some records, applies a changed document and
checks the plan's wording, the tables as the database reports them (`sqlalchemy.inspect`
and raw SQL), the records as the engine reads them, and the app version.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from flowdeck.engine import models, query, records, workflow
from flowdeck.engine.apps import ApplyResult, apply_document
from flowdeck.engine.db import Database
from flowdeck.engine.errors import ChoicesNeeded, MigrationRefused, NotFound, RecordInvalid
from flowdeck.engine.messages import english
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import Catalog, Registry
from flowdeck.engine.system import schema_generation
from tests.support.documents import minimal_app

TASK = "demo__task"


@pytest.fixture
def catalog(db) -> Catalog:
    return Catalog(db)


@pytest.fixture
def base(install) -> dict[str, Any]:
    """The installed document (version 1); tests copy and change it."""
    document = minimal_app()
    install(document)
    return document


def changed(document: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(document)


def apply(db: Database, document: dict[str, Any], **kwargs: Any) -> ApplyResult:
    return apply_document(db, copy.deepcopy(document), actor=Actor.system(), **kwargs)


def create(db: Database, registry: Registry, values: dict[str, Any], entity: str = "task") -> records.Record:
    et = registry.entity("demo", entity)
    return db.run(lambda c: records.create_record(c, et, values, actor=Actor.system()))


def fetch(db: Database, registry: Registry, record_id: int, entity: str = "task") -> records.Record:
    et = registry.entity("demo", entity)
    return db.read(lambda c: records.fetch_record(c, et, record_id))


def app_version(db: Database) -> int:
    return db.read(lambda c: c.execute(sa.select(models.apps.c.version).where(models.apps.c.key == "demo")).scalar_one())


def version_rows(db: Database) -> int:
    return db.read(lambda c: c.execute(sa.select(sa.func.count()).select_from(models.app_versions)).scalar_one())


def generation(db: Database) -> int:
    return db.read(schema_generation)


def columns(db: Database, table: str) -> dict[str, Any]:
    return db.read(lambda c: {col["name"]: col["type"] for col in sa.inspect(c).get_columns(table)})


def table_names(db: Database) -> set[str]:
    return db.read(lambda c: set(sa.inspect(c).get_table_names()))


def index_names(db: Database, table: str) -> set[str]:
    return db.read(lambda c: {ix["name"] for ix in sa.inspect(c).get_indexes(table)})


def raw_value(db: Database, table: str, column: str, record_id: int) -> Any:
    quote = db.engine.dialect.identifier_preparer.quote
    return db.read(lambda c: c.exec_driver_sql(f"SELECT {quote(column)} FROM {quote(table)} WHERE id = {int(record_id)}").scalar_one())


def archive_rows(db: Database) -> list[dict[str, Any]]:
    return db.read(lambda c: [dict(r) for r in c.execute(sa.select(models.archived).order_by(models.archived.c.id)).mappings()])


def assert_nothing_applied(db: Database, version: int, versions: int, gen: int) -> None:
    assert app_version(db) == version
    assert version_rows(db) == versions
    assert generation(db) == gen


# -- adding ------------------------------------------------------------------------------


def test_adding_a_field_adds_a_column(db, base, catalog):
    """Does adding a field plan "adds field", add a nullable column, and leave existing records empty in it?"""
    old = create(db, catalog.current(), {"title": "Before"})
    doc = changed(base)
    doc["entities"]["task"]["fields"]["due"] = {"type": "date"}
    result = apply(db, doc)
    assert result.applied and result.version == 2
    assert "adds field due to task" in english(result.plan.describe())
    assert "due" in columns(db, TASK)
    registry = catalog.current()
    assert fetch(db, registry, old.id).values["due"] is None
    new = create(db, registry, {"title": "After", "due": "2025-01-31"})
    assert str(fetch(db, registry, new.id).values["due"]) == "2025-01-31"
    assert app_version(db) == 2


def test_adding_an_entity_creates_its_table(db, base, catalog):
    """Does adding an entity plan its table, create it, and make it usable at once?"""
    doc = changed(base)
    doc["entities"]["note"] = {"fields": {"body": {"type": "text"}, "task": {"type": "reference", "to": "task"}}}
    result = apply(db, doc)
    described = english(result.plan.describe())
    assert "adds entity note (table demo__note)" in described
    assert any(line.startswith("creates tables: demo__note") for line in described)
    assert "demo__note" in table_names(db)
    assert {"id", "version", "body", "task"} <= set(columns(db, "demo__note"))
    registry = catalog.current()
    task = create(db, registry, {"title": "Parent"})
    note = create(db, registry, {"body": "hello", "task": task.id}, entity="note")
    assert fetch(db, registry, note.id, "note").values == {"body": "hello", "task": task.id}


def test_adding_and_removing_an_index(db, base):
    """Does marking a field indexed plan and create its index, and unmarking it drop only the index?"""
    doc = changed(base)
    doc["entities"]["task"]["fields"]["estimate"]["indexed"] = True
    result = apply(db, doc)
    assert "adds index ix__demo__task__estimate" in english(result.plan.describe())
    assert "ix__demo__task__estimate" in index_names(db, TASK)

    result = apply(db, base)
    assert "drops index ix__demo__task__estimate (no longer indexed or unique; no data is lost)" in english(result.plan.describe())
    assert "ix__demo__task__estimate" not in index_names(db, TASK)
    assert "estimate" in columns(db, TASK)


def test_adding_a_unique_field_creates_a_unique_index(db, base, catalog):
    """Does making a field unique over distinct values create a unique index that then refuses duplicates?"""
    create(db, catalog.current(), {"title": "One"})
    create(db, catalog.current(), {"title": "Two"})
    doc = changed(base)
    doc["entities"]["task"]["fields"]["title"]["unique"] = True
    result = apply(db, doc)
    assert "adds index ux__demo__task__title" in english(result.plan.describe())
    assert "ux__demo__task__title" in index_names(db, TASK)
    with pytest.raises(RecordInvalid) as caught:
        create(db, catalog.current(), {"title": "One"})
    assert english(caught.value.errors["title"]) == ["is already used by another record"]


def test_adding_a_field_with_a_default_fills_existing_records(db, base, catalog):
    """Does a new field with a literal default fill the records that already exist?"""
    first = create(db, catalog.current(), {"title": "a"})
    second = create(db, catalog.current(), {"title": "b"})
    doc = changed(base)
    doc["entities"]["task"]["fields"]["points"] = {"type": "integer", "default": 3}
    doc["entities"]["task"]["fields"]["size"] = {"type": "select", "options": ["s", "m"], "default": "m"}
    result = apply(db, doc)
    described = english(result.plan.describe())
    assert "fills field points of the 2 existing task records with its default" in described
    assert "fills field size of the 2 existing task records with its default" in described
    registry = catalog.current()
    for rec in (first, second):
        values = fetch(db, registry, rec.id).values
        assert values["points"] == 3 and values["size"] == "m"


def test_defaults_of_every_kind_reach_existing_records_and_leave_no_column_default(db, base, catalog):
    """Do new fields' defaults of each type (quotes in text included) reach existing records
    exactly as an engine write would store them, with no default left on the columns (on
    PostgreSQL they come from ADD COLUMN ... DEFAULT, dropped again; on SQLite from an
    UPDATE), while records created afterwards still get them from the engine?"""
    old = create(db, catalog.current(), {"title": "before"})
    defaults = {
        "points": ({"type": "integer", "default": 3}, 3),
        "ratio": ({"type": "decimal", "scale": 2, "default": 1.25}, Decimal("1.25")),
        "budget": ({"type": "money", "currency": "CNY", "default": "1000.50"}, Decimal("1000.50")),
        "done": ({"type": "percent", "default": 40}, Decimal("40")),
        "flag": ({"type": "boolean", "default": True}, True),
        "start": ({"type": "date", "default": "2026-01-31"}, "2026-01-31"),
        "owner_note": ({"type": "text", "default": "O'Brien; DROP TABLE x --"}, "O'Brien; DROP TABLE x --"),
        "size": ({"type": "select", "options": ["s", "m"], "default": "m"}, "m"),
    }
    doc = changed(base)
    for key, (spec, _) in defaults.items():
        doc["entities"]["task"]["fields"][key] = spec
    apply(db, doc)
    registry = catalog.current()
    new = create(db, registry, {"title": "after"})
    for rec in (old, new):
        values = fetch(db, registry, rec.id).values
        shown = {key: str(values[key]) if key == "start" else values[key] for key in defaults}
        assert shown == {key: expected for key, (_, expected) in defaults.items()}
    found = db.read(lambda c: {col["name"]: col.get("default") for col in sa.inspect(c).get_columns(TASK)})
    assert {key: found[key] for key in defaults} == dict.fromkeys(defaults)
    assert raw_value(db, TASK, "points", old.id) == raw_value(db, TASK, "points", new.id)
    assert raw_value(db, TASK, "budget", old.id) == raw_value(db, TASK, "budget", new.id)


def test_adding_a_computed_field_fills_existing_records(db, base, catalog):
    """Does a new computed field get computed for every record that already exists?"""
    first = create(db, catalog.current(), {"title": "a", "estimate": "1.5"})
    second = create(db, catalog.current(), {"title": "b"})
    doc = changed(base)
    doc["entities"]["task"]["fields"]["double"] = {"type": "computed", "formula": "estimate * 2", "result": "decimal"}
    result = apply(db, doc)
    assert "recomputes double for the 2 existing task records" in english(result.plan.describe())
    registry = catalog.current()
    assert fetch(db, registry, first.id).values["double"] == Decimal("3.00")
    assert fetch(db, registry, second.id).values["double"] is None
    page = db.read(
        lambda c: query.query_records(c, registry.entity("demo", "task"), query.Query(filter={"double": {"gt": 2}}), actor=Actor.system())
    )
    assert [row["id"] for row in page.rows] == [first.id]


def test_changing_a_formula_recomputes_existing_records(db, base, catalog):
    """Does changing a formula (of a field and of a line-item column) recompute the stored values of existing records?"""
    doc = changed(base)
    fields = doc["entities"]["task"]["fields"]
    fields["double"] = {"type": "computed", "formula": "estimate * 2"}
    fields["lines"] = {
        "type": "table",
        "fields": {"qty": {"type": "integer"}, "cost": {"type": "computed", "formula": "qty * 10", "result": "integer"}},
    }
    fields["total"] = {"type": "computed", "formula": "sum(lines.cost)", "result": "integer"}
    apply(db, doc)
    rec = create(db, catalog.current(), {"title": "a", "estimate": "2", "lines": [{"qty": 1}, {"qty": 2}]})
    before = fetch(db, catalog.current(), rec.id)
    assert before.values["double"] == Decimal("4.00") and before.values["total"] == 30

    doc = changed(doc)
    fields = doc["entities"]["task"]["fields"]
    fields["double"]["formula"] = "estimate * 3"
    fields["lines"]["fields"]["cost"]["formula"] = "qty * 100"
    result = apply(db, doc)
    assert "recomputes double, lines.cost for the 1 existing task records" in english(result.plan.describe())
    after = fetch(db, catalog.current(), rec.id)
    assert after.values["double"] == Decimal("6.00")
    assert [row["cost"] for row in after.values["lines"]] == [100, 200]
    assert [row["id"] for row in after.values["lines"]] == [row["id"] for row in before.values["lines"]]
    assert after.values["total"] == 300
    assert after.version == before.version, "recomputing is not an edit by a person"


def test_adding_a_workflow_puts_existing_records_in_the_initial_state(db, install, catalog):
    """Does giving an entity without a workflow one add the state column and put existing records in the initial state?"""
    doc = minimal_app()
    doc["entities"]["note"] = {"fields": {"body": {"type": "text"}}}
    install(doc)
    note = create(db, catalog.current(), {"body": "x"}, entity="note")
    doc = changed(doc)
    doc["entities"]["note"]["workflow"] = {"states": {"open": {"category": "todo"}, "closed": {"category": "done"}}}
    result = apply(db, doc)
    assert "puts the 1 existing note records in state open" in english(result.plan.describe())
    assert fetch(db, catalog.current(), note.id, "note").state == "open"


# -- renaming ----------------------------------------------------------------------------


def test_renaming_a_field_with_was_keeps_its_data(db, base, catalog):
    """Does renaming a field with `was` rename the column, keep every value and show it under the new key?"""
    rec = create(db, catalog.current(), {"title": "a", "estimate": "1.5"})
    doc = changed(base)
    fields = doc["entities"]["task"]["fields"]
    fields["effort"] = {**fields.pop("estimate"), "was": "estimate"}
    result = apply(db, doc)
    assert "renames field estimate to effort in task (data kept)" in english(result.plan.describe())
    live = columns(db, TASK)
    assert "effort" in live and "estimate" not in live
    registry = catalog.current()
    values = fetch(db, registry, rec.id).values
    assert values["effort"] == Decimal("1.50") and "estimate" not in values
    page = db.read(
        lambda c: query.query_records(c, registry.entity("demo", "task"), query.Query(filter={"effort": "1.5"}), actor=Actor.system())
    )
    assert [row["id"] for row in page.rows] == [rec.id]
    assert archive_rows(db) == [], "a renamed field is not archived"

    doc = changed(doc)
    doc["entities"]["task"]["fields"]["note"] = {"type": "text"}
    again = apply(db, doc)
    assert not any("renames" in line for line in english(again.plan.describe())), "a `was` left in the document renames only once"
    assert fetch(db, catalog.current(), rec.id).values["effort"] == Decimal("1.50")


def test_renaming_a_many_valued_field_keeps_its_values(db, base, catalog):
    """Does renaming a multiselect field with `was` rename its link table and keep the values in order?"""
    doc = changed(base)
    doc["entities"]["task"]["fields"]["tags"] = {"type": "multiselect", "options": ["x", "y", "z"]}
    apply(db, doc)
    rec = create(db, catalog.current(), {"title": "a", "tags": ["z", "x"]})
    doc = changed(doc)
    fields = doc["entities"]["task"]["fields"]
    fields["labels"] = {**fields.pop("tags"), "was": "tags"}
    result = apply(db, doc)
    assert "renames field tags to labels in task (data kept)" in english(result.plan.describe())
    names = table_names(db)
    assert "demo__task__labels" in names and "demo__task__tags" not in names
    assert fetch(db, catalog.current(), rec.id).values["labels"] == ["z", "x"]


# -- removing and restoring ---------------------------------------------------------------


def test_removing_a_field_archives_its_values(db, base, catalog):
    """Does removing a field keep its column and values, record it in fd_archived, and say so in the plan?"""
    rec = create(db, catalog.current(), {"title": "a", "estimate": "1.25"})
    create(db, catalog.current(), {"title": "b"})
    doc = changed(base)
    del doc["entities"]["task"]["fields"]["estimate"]
    result = apply(db, doc)
    assert "removes field estimate of task: its 1 values are archived, not deleted; re-adding estimate restores them" in english(
        result.plan.describe()
    )
    assert "estimate" in columns(db, TASK), "the column is kept"
    stored = raw_value(db, TASK, "estimate", rec.id)
    assert stored == (Decimal("1.25") if db.dialect == "postgresql" else 125), "the value is still readable with raw SQL"
    rows = archive_rows(db)
    assert len(rows) == 1
    row = rows[0]
    assert (row["app"], row["entity"], row["field"], row["storage"]) == ("demo", "task", "estimate", TASK)
    assert row["definition"] == {"type": "decimal"}
    assert row["archived_in_version"] == 2
    registry = catalog.current()
    assert "estimate" not in fetch(db, registry, rec.id).values
    new = create(db, registry, {"title": "c"})
    with pytest.raises(RecordInvalid) as caught:
        create(db, registry, {"title": "d", "estimate": "1"})
    assert "estimate" in caught.value.errors
    assert raw_value(db, TASK, "estimate", new.id) is None


def test_re_adding_a_removed_field_restores_its_values(db, base, catalog):
    """Does putting a removed field back bring its kept values back and take it out of the archive?"""
    rec = create(db, catalog.current(), {"title": "a", "estimate": "1.25"})
    doc = changed(base)
    del doc["entities"]["task"]["fields"]["estimate"]
    apply(db, doc)
    result = apply(db, base)
    assert result.applied
    assert "takes task.estimate out of the archive" in english(result.plan.describe())
    assert archive_rows(db) == []
    assert fetch(db, catalog.current(), rec.id).values["estimate"] == Decimal("1.25")


def test_removing_a_many_valued_field_archives_its_link_table(db, base, catalog):
    """Does removing a many-valued field keep its link table and restore its values when it comes back?"""
    doc = changed(base)
    doc["entities"]["task"]["fields"]["tags"] = {"type": "multiselect", "options": ["x", "y"]}
    apply(db, doc)
    rec = create(db, catalog.current(), {"title": "a", "tags": ["y", "x"]})
    result = apply(db, base)
    assert "removes field tags of task: its 2 values are archived, not deleted; re-adding tags restores them" in english(
        result.plan.describe()
    )
    assert "demo__task__tags" in table_names(db)
    assert [r["storage"] for r in archive_rows(db)] == ["demo__task__tags"]
    apply(db, doc)
    assert fetch(db, catalog.current(), rec.id).values["tags"] == ["y", "x"]


def test_re_adding_a_removed_field_with_another_type_is_refused(db, base, catalog):
    """Is bringing an archived field back under a different type refused, since its kept values have the old type?"""
    rec = create(db, catalog.current(), {"title": "a", "estimate": "1.25"})
    doc = changed(base)
    del doc["entities"]["task"]["fields"]["estimate"]
    apply(db, doc)
    version, versions, gen = app_version(db), version_rows(db), generation(db)
    retyped = changed(base)
    retyped["entities"]["task"]["fields"]["estimate"] = {"type": "text"}
    with pytest.raises(MigrationRefused) as caught:
        apply(db, retyped)
    assert any("estimate" in reason and "decimal" in reason and "text" in reason for reason in english(caught.value.reasons)), english(
        caught.value.reasons
    )
    assert_nothing_applied(db, version, versions, gen)
    assert len(archive_rows(db)) == 1
    apply(db, base)
    assert fetch(db, catalog.current(), rec.id).values["estimate"] == Decimal("1.25")


def test_removing_an_entity_keeps_its_table(db, install, catalog):
    """Does removing an entity keep its table and records, archive it, and restore its records when it comes back?"""
    doc = minimal_app()
    doc["entities"]["note"] = {"fields": {"body": {"type": "text"}}}
    install(doc)
    note = create(db, catalog.current(), {"body": "keep me"}, entity="note")
    smaller = changed(doc)
    del smaller["entities"]["note"]
    result = apply(db, smaller)
    assert "removes entity note: its 1 records are archived, not deleted; re-adding it restores them" in english(result.plan.describe())
    assert "demo__note" in table_names(db)
    assert raw_value(db, "demo__note", "body", note.id) == "keep me"
    rows = archive_rows(db)
    assert [(r["entity"], r["field"], r["storage"]) for r in rows] == [("note", "", "demo__note")]
    with pytest.raises(NotFound):
        catalog.current().entity("demo", "note")
    result = apply(db, doc)
    assert "takes note out of the archive" in english(result.plan.describe())
    assert fetch(db, catalog.current(), note.id, "note").values["body"] == "keep me"
    assert archive_rows(db) == []


# -- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "wording", "question"),
    [
        (
            {"type": "date"},
            "changes field estimate of task from decimal to date: decimal values cannot be converted to date (1 records have a value); "
            "add a new field instead",
            False,
        ),
        (
            {"type": "decimal", "scale": 0},
            "type:task:estimate needs an answer: changes field estimate of task from decimal with 2 decimal places to decimal with 0 "
            "decimal places: 0 values are converted, 1 values would be rounded",
            True,
        ),
        (
            {"type": "integer"},
            "type:task:estimate needs an answer: changes field estimate of task from decimal to integer: 0 values are converted, "
            "1 values would be rounded",
            True,
        ),
    ],
    ids=["decimal-to-date", "scale", "decimal-to-integer"],
)
def test_type_change_that_loses_values_applies_nothing(db, base, catalog, change, wording, question):
    """Is a type (or scale) change that cannot keep every value refused, or held back by a
    question, leaving version, tables and data untouched?"""
    rec = create(db, catalog.current(), {"title": "a", "estimate": "1.5"})
    version, versions, gen = app_version(db), version_rows(db), generation(db)
    before_columns = set(columns(db, TASK))
    doc = changed(base)
    doc["entities"]["task"]["fields"]["estimate"] = change
    doc["entities"]["task"]["fields"]["due"] = {"type": "date"}  # a harmless change in the same document
    with pytest.raises(MigrationRefused) as caught:
        apply(db, doc)
    assert any(reason.startswith(wording) for reason in english(caught.value.reasons)), english(caught.value.reasons)
    assert isinstance(caught.value, ChoicesNeeded) is question
    assert_nothing_applied(db, version, versions, gen)
    assert set(columns(db, TASK)) == before_columns, "the harmless part was not applied either"
    assert fetch(db, catalog.current(), rec.id).values["estimate"] == Decimal("1.50")


STORAGE_CHANGES = [
    (
        "tags",
        {"type": "multiselect", "options": ["x", "y"]},
        {"type": "select", "options": ["x", "y"]},
        "from multiselect to select: 0 values are converted, 1 records have more than one value",
    ),
    ("tags", {"type": "multiselect", "options": ["x", "y"]}, {"type": "text"}, "from multiselect to text"),
    ("lines", {"type": "table", "fields": {"qty": {"type": "integer"}}}, {"type": "integer"}, "from table to integer"),
]


@pytest.mark.parametrize(("key", "before", "after", "wording"), STORAGE_CHANGES, ids=["many-to-single", "many-to-text", "table-to-column"])
def test_change_between_column_link_table_and_line_items_is_held_back(db, base, catalog, make_user, key, before, after, wording):
    """Is a move between a column, a link table and line items that would lose values refused or asked about, keeping its values?"""
    doc = changed(base)
    doc["entities"]["task"]["fields"][key] = before
    apply(db, doc)
    user = make_user("uma", {"demo": ["member"]})
    value = {"owner": user.user_id, "tags": ["y", "x"], "lines": [{"qty": 4}]}[key]
    rec = create(db, catalog.current(), {"title": "a", key: value})
    version, versions, gen = app_version(db), version_rows(db), generation(db)
    retyped = changed(doc)
    retyped["entities"]["task"]["fields"][key] = after
    with pytest.raises(MigrationRefused) as caught:
        apply(db, retyped)
    assert [r for r in english(caught.value.reasons) if wording in r], english(caught.value.reasons)
    if key != "tags" or after["type"] == "text":
        assert [r for r in english(caught.value.reasons) if "(1 records have a value)" in r], english(caught.value.reasons)
    assert_nothing_applied(db, version, versions, gen)
    kept = fetch(db, catalog.current(), rec.id).values[key]
    if key == "lines":
        kept = [{"qty": row["qty"]} for row in kept]
    assert kept == value


def test_rename_with_a_type_change_is_done_cleanly(db, base, catalog):
    """Is renaming a field and changing its type in one step done cleanly (renamed,
    converted, old values archived), not a database error?"""
    rec = create(db, catalog.current(), {"title": "a", "estimate": "1.5"})
    version = app_version(db)
    doc = changed(base)
    fields = doc["entities"]["task"]["fields"]
    del fields["estimate"]
    fields["effort"] = {"type": "text", "was": "estimate"}
    result = apply(db, doc)
    assert english(result.plan.describe())[:2] == [
        "renames field estimate to effort in task (data kept)",
        "changes field effort of task from decimal to text: 1 values are converted; the old values are kept in column effort__v1 of "
        "demo__task",
    ]
    assert app_version(db) == version + 1
    live = columns(db, TASK)
    assert "estimate" not in live and "effort" in live and "effort__v1" in live
    assert fetch(db, catalog.current(), rec.id).values["effort"] == "1.50"
    assert raw_value(db, TASK, "effort__v1", rec.id) == (Decimal("1.50") if db.dialect == "postgresql" else 150)


def test_rename_and_unique_in_one_step(db, base, catalog):
    """Can a field be renamed and made unique in one apply, its existing values checked under the old name?"""
    create(db, catalog.current(), {"title": "a"})
    create(db, catalog.current(), {"title": "b"})
    dupe = create(db, catalog.current(), {"title": "a"})
    doc = changed(base)
    fields = doc["entities"]["task"]["fields"]
    fields["name"] = {**fields.pop("title"), "was": "title", "unique": True}
    doc["entities"]["task"]["title"] = "name"
    with pytest.raises(MigrationRefused) as caught:
        apply(db, doc)
    assert english(caught.value.reasons) == ["makes field name of task unique, but 1 values appear more than once; fix them first"]

    et = catalog.current().entity("demo", "task")
    db.run(lambda c: records.update_record(c, et, dupe.id, {"title": "c"}, actor=Actor.system(), expected_version=1))
    result = apply(db, doc)
    assert result.applied
    assert "renames field title to name in task (data kept)" in english(result.plan.describe())
    assert "ux__demo__task__name" in index_names(db, TASK)
    assert fetch(db, catalog.current(), dupe.id).values["name"] == "c"
    with pytest.raises(RecordInvalid) as refused:
        create(db, catalog.current(), {"name": "a"})
    assert english(refused.value.errors["name"]) == ["is already used by another record"] and list(refused.value.errors) == ["name"]


def test_new_unique_field_with_a_default_over_existing_records_is_refused(db, base, catalog):
    """Is adding a unique field whose default would give several existing records the same value refused up front?"""
    create(db, catalog.current(), {"title": "a"})
    create(db, catalog.current(), {"title": "b"})
    version = app_version(db)
    doc = changed(base)
    doc["entities"]["task"]["fields"]["code"] = {"type": "text", "unique": True, "default": "X"}
    with pytest.raises(MigrationRefused) as caught:
        apply(db, doc)
    assert english(caught.value.reasons) == [
        "adds field code to task as unique with a default, but its 2 existing records would all get the same value; "
        "add it without a default"
    ]
    assert app_version(db) == version
    assert "code" not in columns(db, TASK)


def _without_review(document: dict[str, Any]) -> dict[str, Any]:
    doc = changed(document)
    workflow = doc["entities"]["task"]["workflow"]
    del workflow["states"]["review"]
    workflow["transitions"] = [
        {"key": "start", "from": "todo", "to": "doing"},
        {"key": "finish", "from": "doing", "to": "done", "roles": ["lead"]},
        {"key": "reopen", "from": "done", "to": "todo"},
    ]
    return doc


def test_removing_a_state_with_records_asks_where_they_go(db, base, catalog):
    """Is removing a workflow state that records sit in held back by a question saying how many, with nothing applied?"""
    et = catalog.current().entity("demo", "task")
    rec = create(db, catalog.current(), {"title": "a"})
    for step in ("start", "submit"):
        db.run(lambda c, s=step: workflow.transition_record(c, et, rec.id, s, actor=Actor.system()))
    version, versions, gen = app_version(db), version_rows(db), generation(db)
    with pytest.raises(ChoicesNeeded) as caught:
        apply(db, _without_review(base))
    assert english(caught.value.reasons) == [
        "state:task:review needs an answer: removes state review of task, but 1 records are in it: choose the state they move to "
        "(choices: todo, doing, done)"
    ]
    assert [(q.id, q.count, english(q.samples)) for q in caught.value.questions] == [("state:task:review", 1, [f'#{rec.id} "a"'])]
    assert_nothing_applied(db, version, versions, gen)
    assert catalog.current().entity("demo", "task").entity.workflow.state("review") is not None


def test_removing_an_unused_state_is_allowed(db, base, catalog):
    """Is removing a state that no record is in allowed and described as such?"""
    create(db, catalog.current(), {"title": "a"})
    result = apply(db, _without_review(base))
    assert result.applied
    assert "removes state review of task (no records are in it)" in english(result.plan.describe())
    workflow = catalog.current().entity("demo", "task").entity.workflow
    assert workflow.state_keys() == ("todo", "doing", "done")


def test_removing_an_option_in_use_asks_for_a_replacement(db, base, catalog):
    """Is removing a select option that records use held back by a question, while removing an unused one is allowed?"""
    create(db, catalog.current(), {"title": "a", "priority": "high"})
    version, versions, gen = app_version(db), version_rows(db), generation(db)
    doc = changed(base)
    doc["entities"]["task"]["fields"]["priority"]["options"] = ["low", "normal"]
    with pytest.raises(ChoicesNeeded) as caught:
        apply(db, doc)
    assert english(caught.value.reasons) == [
        "option:task:priority:high needs an answer: removes option high of task.priority, but 1 records use it: choose a replacement, "
        "or clear it (choices: low, normal, clear)"
    ]
    assert_nothing_applied(db, version, versions, gen)

    doc["entities"]["task"]["fields"]["priority"]["options"] = ["normal", "high"]
    result = apply(db, doc)
    assert "removes option low of task.priority (no records use it)" in english(result.plan.describe())


def test_removing_a_multiselect_option_in_use_asks_for_a_replacement(db, base, catalog):
    """Is removing a multiselect option that records hold held back by a question counting them?"""
    doc = changed(base)
    doc["entities"]["task"]["fields"]["tags"] = {"type": "multiselect", "options": ["x", "y", "z"]}
    apply(db, doc)
    create(db, catalog.current(), {"title": "a", "tags": ["x", "y"]})
    create(db, catalog.current(), {"title": "b", "tags": ["y"]})
    doc = changed(doc)
    doc["entities"]["task"]["fields"]["tags"]["options"] = ["x", "z"]
    with pytest.raises(ChoicesNeeded) as caught:
        apply(db, doc)
    assert [(q.id, q.count) for q in caught.value.questions] == [("option:task:tags:y", 2)]
    assert "removes option y of task.tags, but 2 records use it" in english(caught.value.reasons)[0]


def test_making_a_field_unique_over_duplicates_is_refused(db, base, catalog):
    """Is making a field unique refused while duplicate values exist, with no index created?"""
    for title in ("same", "same", "other", "other", "single"):
        create(db, catalog.current(), {"title": title})
    version, versions, gen = app_version(db), version_rows(db), generation(db)
    doc = changed(base)
    doc["entities"]["task"]["fields"]["title"]["unique"] = True
    with pytest.raises(MigrationRefused) as caught:
        apply(db, doc)
    assert english(caught.value.reasons) == ["makes field title of task unique, but 2 values appear more than once; fix them first"]
    assert_nothing_applied(db, version, versions, gen)
    assert "ux__demo__task__title" not in index_names(db, TASK)


# -- dry runs, repeats and other processes ---------------------------------------------------


def test_dry_run_changes_nothing(db, base, catalog):
    """Does a dry run describe the plan but leave tables, archive, version and schema generation as they were?"""
    rec = create(db, catalog.current(), {"title": "a", "estimate": "2"})
    version, versions, gen = app_version(db), version_rows(db), generation(db)
    before_columns = set(columns(db, TASK))
    doc = changed(base)
    fields = doc["entities"]["task"]["fields"]
    del fields["estimate"]
    fields["due"] = {"type": "date", "indexed": True}
    fields["points"] = {"type": "integer", "default": 1}
    doc["entities"]["note"] = {"fields": {"body": {"type": "text"}}}
    result = apply(db, doc, dry_run=True)
    assert not result.applied and result.version == version
    described = english(result.plan.describe())
    assert "adds field due to task" in described
    assert any(line.startswith("removes field estimate of task") for line in described)
    assert set(columns(db, TASK)) == before_columns
    assert "demo__note" not in table_names(db)
    assert archive_rows(db) == []
    assert_nothing_applied(db, version, versions, gen)
    assert fetch(db, catalog.current(), rec.id).values["estimate"] == Decimal("2.00")


def test_dry_run_reports_refusals(db, base, catalog):
    """Does a dry run of a refused change, or of one with open questions, raise like a real apply?"""
    create(db, catalog.current(), {"title": "a", "estimate": "2.5"})
    doc = changed(base)
    doc["entities"]["task"]["fields"]["estimate"] = {"type": "date"}
    with pytest.raises(MigrationRefused):
        apply(db, doc, dry_run=True)
    doc["entities"]["task"]["fields"]["estimate"] = {"type": "integer"}
    with pytest.raises(ChoicesNeeded):
        apply(db, doc, dry_run=True)


def test_applying_the_same_document_twice_creates_no_new_version(db, base):
    """Does applying an unchanged document do nothing: no new version row, same version, same schema generation?"""
    version, versions, gen = app_version(db), version_rows(db), generation(db)
    result = apply(db, base)
    assert not result.applied
    assert result.version == version == 1
    assert english(result.plan.describe()) == ["no changes to the tables"]
    assert_nothing_applied(db, version, versions, gen)


def test_each_applied_change_is_a_new_version(db, base):
    """Does every applied change add exactly one version row and bump the schema generation once?"""
    gen = generation(db)
    doc = changed(base)
    doc["entities"]["task"]["fields"]["due"] = {"type": "date"}
    assert apply(db, doc).version == 2
    assert apply(db, base).version == 3
    assert app_version(db) == 3 and version_rows(db) == 3
    assert generation(db) == gen + 2
    stored = db.read(lambda c: c.execute(sa.select(models.app_versions.c.document).where(models.app_versions.c.version == 2)).scalar_one())
    assert stored == doc


def test_another_catalog_sees_the_new_schema_without_restart(db, base):
    """Does a second Catalog (another worker process with its own connections) pick up an applied change on its next use?"""
    other_db = Database(db.url)
    try:
        other = Catalog(other_db)
        first = other.current()
        assert first.entity("demo", "task").entity.field("due") is None
        assert other.current() is first, "unchanged schema: the registry is reused"

        doc = changed(base)
        doc["entities"]["task"]["fields"]["due"] = {"type": "date"}
        apply(db, doc)

        second = other.current()
        assert second is not first
        assert second.generation > first.generation
        assert second.versions["demo"] == 2
        et = second.entity("demo", "task")
        assert et.entity.field("due") is not None
        rec = other_db.run(lambda c: records.create_record(c, et, {"title": "x", "due": "2025-05-01"}, actor=Actor.system()))
        assert str(fetch(db, Catalog(db).current(), rec.id).values["due"]) == "2025-05-01"
    finally:
        other_db.dispose()
