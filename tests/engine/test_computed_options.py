"""Options on computed fields: the loader builds them like a select's and checks them against
the formula; the bundled apps declare them for every formula that returns codes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from flowdeck.catalogs import say
from flowdeck.engine import apps, bundled_apps
from flowdeck.engine.apps import bundled_documents, read_document
from flowdeck.engine.expressions import Scope, compile_expression, text_results
from flowdeck.engine.registry import Catalog, current_documents
from flowdeck.engine.schema import authoring
from flowdeck.engine.schema.loader import check_document, load_app
from tests.support.documents import minimal_app

FORMULA = '"no_data" if estimate == null else ("over" if estimate > 10 else "within")'


def coded(**changes: Any) -> dict[str, Any]:
    """The minimal app with a `budget` formula returning codes, its field spec changed by `changes`."""
    spec: dict[str, Any] = {
        "type": "computed",
        "result": "text",
        "formula": FORMULA,
        "options": [
            {"key": "within", "label": {"en": "Within budget", "zh": "预算内"}, "color": "#2e7d32"},
            {"key": "over", "label": {"en": "Over budget", "zh": "超支"}, "color": "#c62828"},
            "no_data",
        ],
    }
    spec.update(changes)
    doc = minimal_app()
    doc["entities"]["task"]["fields"]["budget"] = spec
    return doc


def problems(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p.path, say(p.message, "en")) for p in check_document(doc)]


def test_options_on_a_computed_field_are_built_like_a_selects():
    """Does a computed field keep its options' keys, labels in both languages and colours?"""
    fld = load_app(coded()).entity("task").field("budget")
    assert fld is not None
    assert fld.option_keys() == ("within", "over", "no_data")
    over = fld.option("over")
    assert over is not None and over.label.get("zh") == "超支" and over.color == "#c62828"
    no_data = fld.option("no_data")
    assert no_data is not None and no_data.label.get("en") == "No data"


def test_an_option_listed_twice_is_reported_at_its_index():
    """Is a repeated option key reported at the JSON path of the repetition?"""
    options = coded()["entities"]["task"]["fields"]["budget"]["options"] + ["over"]
    assert problems(coded(options=options)) == [("entities.task.fields.budget.options[3]", "option “over” is listed twice")]


def test_options_need_a_text_result():
    """Are options refused on a formula whose result is not text (codes are text)?"""
    found = problems(coded(result="integer", formula="1"))
    assert found == [("entities.task.fields.budget.options", "applies only when “result” is “text”")]


def test_a_code_the_formula_returns_that_is_not_an_option_is_reported_on_the_formula():
    """Is every text the formula can return as written, but the options lack, reported?"""
    found = problems(coded(formula='"no_data" if estimate == null else ("overr" if estimate > 10 else "within")'))
    assert found == [("entities.task.fields.budget.formula", "can return “overr”, which is not one of the options (within, over, no_data)")]


def test_codes_compared_in_a_condition_are_not_results():
    """Are texts a formula only compares with (not returns) left alone?"""
    formula = '"over" if priority == "high" else "within"'
    assert problems(coded(formula=formula)) == []


def test_a_formula_returning_another_fields_value_is_not_checked():
    """Is a formula whose codes come from a field (not literals) accepted as it is?"""
    doc = coded(formula='coalesce(title, "within")')
    assert problems(doc) == []


def test_keys_that_do_not_apply_are_still_refused_on_computed_fields():
    """Does a computed field still refuse select-only keys such as `many`?"""
    assert problems(coded(many=True)) == [("entities.task.fields.budget.many", "does not apply to a computed field")]


def test_text_results_follow_branches_boolean_operands_and_coalesce():
    """Does `text_results` collect the texts of every branch, and only those?"""
    scope = Scope(names=frozenset({"a", "b", "c"}))
    expression = compile_expression('"x" if a == "cmp" else (b or "y") if c else coalesce(a, "z")', scope)
    assert text_results(expression) == {"x", "y", "z"}
    assert text_results(compile_expression('a + "suffix"', scope)) == frozenset()


@pytest.mark.parametrize("path", bundled_documents(), ids=lambda p: p.stem)
def test_bundled_formulas_returning_codes_declare_options(path):
    """Does every bundled formula that returns literal codes label each of them in both languages?"""
    app = load_app(read_document(path))
    coded_fields = [f for entity in app.entities for f in entity.fields if f.formula is not None and text_results(f.formula)]
    assert coded_fields, "the bundled apps have formulas that return codes"
    for fld in coded_fields:
        assert fld.options, f"{path.stem}: {fld.key} returns codes without options"
        assert fld.formula is not None and text_results(fld.formula) <= set(fld.option_keys())
        for option in fld.options:
            assert option.label.get("en") != option.label.get("zh") and option.color, f"{fld.key}.{option.key}"


def _without_options(document: dict[str, Any]) -> dict[str, Any]:
    """A bundled document as shipped before computed fields had options."""
    older = copy.deepcopy(document)
    for entity in older["entities"].values():
        for spec in entity["fields"].values():
            if spec["type"] == "computed":
                spec.pop("options", None)
    return older


@pytest.mark.parametrize("key", ["project", "operations"])
def test_an_installed_bundled_app_takes_the_options_as_an_upgrade(db, system, monkeypatch, key):
    """Does an app installed from the document without options upgrade to it cleanly, keeping an admin's label?"""
    shipped = bundled_apps.documents()
    monkeypatch.setattr(bundled_apps, "documents", lambda: {**shipped, key: _without_options(shipped[key])})
    bundled_apps.install_missing(db, actor=system, only=[key])
    field_key = {"project": ("project", "budget_status"), "operations": ("kpi", "status")}[key]
    local = copy.deepcopy(db.read(current_documents)[key][1])
    local["entities"][field_key[0]]["fields"][field_key[1]]["label"] = {"en": "Cost health", "zh": "成本健康度"}
    apps.apply_document(db, local, actor=system, message="admin edit")
    monkeypatch.setattr(bundled_apps, "documents", lambda: shipped)

    plan, result = bundled_apps.upgrade(db, key, actor=system)
    assert not plan.conflicts and result is not None and result.applied
    fld = Catalog(db).current().entity(key, field_key[0]).entity.field(field_key[1])
    shipped_options = shipped[key]["entities"][field_key[0]]["fields"][field_key[1]]["options"]
    assert fld is not None and fld.option_keys() == tuple(o["key"] for o in shipped_options)
    assert fld.label.get("en") == "Cost health"


def test_the_builder_adds_edits_and_removes_a_computed_fields_options():
    """Can the builder's commands give a text formula options, edit them, and remove the last one?"""
    doc = coded()
    del doc["entities"]["task"]["fields"]["budget"]["options"]
    doc["entities"]["task"]["fields"]["budget"]["formula"] = '"over" if estimate > 10 else "within"'
    doc = authoring.add_option(doc, entity="task", field="budget", key="over", label_en="Over budget", label_zh="超支", color="#c62828")
    doc = authoring.add_option(doc, entity="task", field="budget", key="within")
    assert problems(doc) == []
    doc = authoring.edit_option(doc, entity="task", field="budget", option="within", label_en="Within budget", label_zh="预算内")
    within = load_app(doc).entity("task").field("budget").option("within")
    assert within is not None and within.label.get("zh") == "预算内"
    doc = authoring.remove_option(doc, entity="task", field="budget", option="over")
    doc = authoring.remove_option(doc, entity="task", field="budget", option="within")
    assert "options" not in doc["entities"]["task"]["fields"]["budget"]
    assert problems(doc) == []


def test_the_builder_refuses_options_on_a_formula_that_does_not_return_text():
    """Is adding an option to a number formula refused with the builder's message?"""
    doc = coded(result="integer", formula="1")
    del doc["entities"]["task"]["fields"]["budget"]["options"]
    with pytest.raises(authoring.EditRefused) as refused:
        authoring.add_option(doc, entity="task", field="budget", key="x")
    assert say(refused.value.message, "en") == "Only select fields and computed fields with a text result have options."
