"""Migration edge cases found while documenting the schema language."""

import sqlalchemy as sa

from flowdeck.engine import records
from tests.support.documents import minimal_app


def _with_lines(key: str = "lines", was: str | None = None) -> dict:
    doc = minimal_app()
    spec = {"type": "table", "fields": {"item": {"type": "text"}, "qty": {"type": "integer", "default": 1}}}
    if was:
        spec["was"] = was
    doc["entities"]["task"]["fields"][key] = spec
    return doc


def test_renaming_a_line_item_field_keeps_its_rows(install, make_user, db):
    """Does renaming a table field with `was` move its rows instead of crashing the plan?"""
    registry = install(_with_lines())
    lead = make_user("lea", {"demo": ["lead"]})
    et = registry.entity("demo", "task")
    rec = db.run(lambda c: records.create_record(c, et, {"title": "a", "lines": [{"item": "bolt"}]}, actor=lead))
    assert rec.values["lines"][0]["qty"] == 1
    registry = install(_with_lines("items", was="lines"))
    et = registry.entity("demo", "task")
    again = db.read(lambda c: records.fetch_record(c, et, rec.id))
    assert [(r["item"], r["qty"]) for r in again.values["items"]] == [("bolt", 1)]


def test_deleting_a_record_removes_its_links_from_others(install, make_user, db):
    """Can a record that others reference in a many-reference field be deleted?"""
    doc = minimal_app()
    doc["entities"]["task"]["fields"]["related"] = {"type": "reference", "to": "task", "many": True}
    registry = install(doc)
    lead = make_user("lea", {"demo": ["lead"]})
    et = registry.entity("demo", "task")
    a = db.run(lambda c: records.create_record(c, et, {"title": "a"}, actor=lead))
    b = db.run(lambda c: records.create_record(c, et, {"title": "b", "related": [a.id]}, actor=lead))
    db.run(lambda c: records.delete_record(c, et, a.id, actor=lead))
    assert db.read(lambda c: records.fetch_record(c, et, b.id)).values["related"] == []
    assert db.read(lambda c: c.execute(sa.select(sa.func.count()).select_from(et.links["related"])).scalar()) == 0


def test_adding_a_formula_and_a_many_valued_field_together(install, make_user, db):
    """Can one change add a formula field and a many-valued field over existing records?"""
    registry = install(minimal_app())
    lead = make_user("lea", {"demo": ["lead"]})
    et = registry.entity("demo", "task")
    rec = db.run(lambda c: records.create_record(c, et, {"title": "a", "estimate": "2"}, actor=lead))
    doc = minimal_app()
    doc["entities"]["task"]["fields"]["double"] = {"type": "computed", "formula": "estimate * 2"}
    doc["entities"]["task"]["fields"]["watchers"] = {"type": "user", "many": True}
    et = install(doc).entity("demo", "task")
    values = db.read(lambda c: records.fetch_record(c, et, rec.id)).values
    assert str(values["double"]) == "4.00" and values["watchers"] == []
