"""Keys of table (child row) columns: what the schema reference documents for them is what
the loader accepts, and a column renamed with `was` keeps its values."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from flowdeck.engine import records
from flowdeck.engine.errors import SchemaInvalid
from flowdeck.engine.schema.loader import load_app
from tests.support.documents import minimal_app


def order_app() -> dict[str, Any]:
    return minimal_app(
        fields={
            "title": {"type": "text", "required": True},
            "parts": {
                "type": "table",
                "fields": {
                    "item": {"type": "text", "required": True},
                    "qty": {"type": "integer"},
                    "price": {"type": "money"},
                    "amount": {"type": "computed", "formula": "qty * price", "result": "money"},
                },
            },
            "total": {"type": "computed", "formula": "sum(parts.amount)", "result": "money"},
        }
    )


def test_a_renamed_table_column_keeps_its_values(db, install, make_user):
    """Does renaming a column with `was` rename it in the line-item table, keep every
    row's value, and let formulas read it under its new key?"""
    lead = make_user("lea", {"demo": ["lead"]})
    registry = install(order_app())
    task = registry.entity("demo", "task")
    rows = [{"item": "toner", "qty": 2, "price": "300"}, {"item": "cable", "qty": 1, "price": "25"}]
    rec = db.run(lambda c: records.create_record(c, task, {"title": "a", "parts": rows}, actor=lead))
    doc = order_app()
    columns = doc["entities"]["task"]["fields"]["parts"]["fields"]
    columns["quantity"] = {**columns.pop("qty"), "was": "qty"}
    columns["amount"]["formula"] = "quantity * price"
    task = install(doc).entity("demo", "task")
    stored = db.read(lambda c: records.fetch_record(c, task, rec.id)).values
    assert [(r["item"], r["quantity"]) for r in stored["parts"]] == [("toner", 2), ("cable", 1)]
    assert all("qty" not in r for r in stored["parts"])
    assert stored["total"] == Decimal("625.00")


def load_errors(document: dict[str, Any]) -> str:
    with pytest.raises(SchemaInvalid) as info:
        load_app(document)
    return str(info.value)


@pytest.mark.parametrize("key", ["unique", "indexed", "show_if", "read_only"])
def test_keys_the_reference_says_a_column_refuses_are_refused(key):
    """Is each key the reference lists as refused for a column refused, at its path?"""
    doc = order_app()
    doc["entities"]["task"]["fields"]["parts"]["fields"]["item"][key] = "qty > 1" if key == "show_if" else True
    said = load_errors(doc)
    assert f"entities.task.fields.parts.fields.item.{key}: does not apply inside a table's rows" in said


def test_a_column_rename_is_checked_like_a_field_rename():
    """Is a column `was` that names a column still there refused, at its path?"""
    doc = order_app()
    columns = doc["entities"]["task"]["fields"]["parts"]["fields"]
    columns["count"] = {"type": "integer", "was": "qty"}
    said = load_errors(copy.deepcopy(doc))
    assert "entities.task.fields.parts.fields.count.was" in said
    assert "“qty” is still a field of this entity" in said
