"""Formula values against their declared result type: what is stored, what is said, what is logged."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from flowdeck.engine import computed, records
from flowdeck.engine.messages import render
from tests.support.documents import minimal_app

FORMULAS = {
    "tags": {"type": "computed", "formula": "[title, 'x']", "result": "text"},
    "amount": {"type": "computed", "formula": "title", "result": "decimal"},
    "ratio": {"type": "computed", "formula": "10 / estimate", "result": "decimal"},
    "label": {"type": "computed", "formula": "estimate * 2", "result": "text"},
    "flag": {"type": "computed", "formula": "estimate", "result": "boolean"},
}


@pytest.fixture
def et(install):
    doc = minimal_app()
    doc["entities"]["task"]["fields"].update(FORMULAS)
    return install(doc).entity("demo", "task")


def problems_of(et, record) -> dict[str, str]:
    found = computed.formula_problems(et.entity, record.values, record.system(record.updated_by))
    return {key: render(message) for key, message in found.items()}


def test_values_of_the_wrong_kind_are_empty_with_a_problem_said_and_logged(db, et, system, caplog):
    """Are a list in a text field, a text in a decimal one, a division by zero, a number in a yes/no one null with a logged problem?"""
    with caplog.at_level(logging.WARNING, logger="flowdeck.engine.computed"):
        rec = db.run(lambda conn: records.create_record(conn, et, {"title": "abc", "estimate": "0"}, actor=system))
    values = rec.values
    assert values["tags"] is None and values["amount"] is None and values["ratio"] is None and values["flag"] is None
    assert values["label"] == "0.00"
    assert problems_of(et, rec) == {
        "tags": "the formula gave list, expected text",
        "amount": "the formula gave text, expected number",
        "ratio": "the formula failed: division by zero",
        "flag": "the formula gave number, expected boolean",
    }
    logged = [r.getMessage() for r in caplog.records]
    assert any("demo.task.tags" in line and "the formula gave list, expected text" in line for line in logged), logged
    assert any("demo.task.ratio" in line and "division by zero" in line for line in logged), logged
    fixed = db.run(lambda conn: records.update_record(conn, et, rec.id, {"estimate": "4"}, actor=system, expected_version=rec.version))
    assert fixed.values["ratio"] == Decimal("2.5") and fixed.values["label"] == "8.00"
    assert "ratio" not in problems_of(et, fixed) and "tags" in problems_of(et, fixed)


def test_a_formula_on_empty_values_is_empty_without_a_problem(db, et, system):
    """Does a formula over an empty field stay empty without any problem (null is not an error)?"""
    rec = db.run(lambda conn: records.create_record(conn, et, {"title": "abc"}, actor=system))
    assert rec.values["ratio"] is None and rec.values["label"] is None
    assert "ratio" not in problems_of(et, rec) and "label" not in problems_of(et, rec)
