"""The two sides of the field type registry agree: every engine type (`engine.fieldtypes`)
has its web entry (`views.field_widgets`) and the web names no type the engine lacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowdeck.engine.fieldtypes import FIELD_TYPES, ID_TYPES, LANE_TYPES, RESULT_TYPES, types_in
from flowdeck.engine.schema.model import Field, Label
from flowdeck.engine.schema.shape import meta_schema
from flowdeck.engine.viewtypes import SWIMLANE_TYPES
from flowdeck.views import boards, field_widgets, listbar, lists, records

EDIT_TEMPLATES = Path(field_widgets.__file__).resolve().parent / "templates" / "fields" / "edit"
FILTER_CONTROLS = {"choice", "user", "text", "number", "date", "boolean", "empty"}


def test_every_engine_type_has_a_web_entry_and_no_more():
    """Does each field type of the engine have exactly one web entry, and the web no unknown type?"""
    assert sorted(FIELD_TYPES) == sorted(field_widgets.FIELD_WIDGETS)


@pytest.mark.parametrize("name", sorted(FIELD_TYPES))
def test_web_entry_is_complete(app, name):
    """Has the type an edit template that exists, a display function, a known filter control and a builder label in both languages?"""
    entry = field_widgets.FIELD_WIDGETS[name]
    assert (EDIT_TEMPLATES / f"{entry.edit}.html").is_file()
    assert callable(entry.display)
    assert entry.filter in FILTER_CONTROLS
    for language in ("en", "zh"):
        with app.test_request_context("/", headers={"Accept-Language": language}):
            assert str(entry.label).strip(), f"{name} has no builder label in {language}"


def test_engine_families_cover_every_type():
    """Does every engine type belong to a family, so families are derived and never listed?"""
    families = {kind.family for kind in FIELD_TYPES.values()}
    assert set().union(*(types_in(f) for f in families)) == set(FIELD_TYPES)
    assert {"integer", "decimal", "money", "percent"} <= types_in("number")


def test_number_filter_controls_follow_the_family():
    """Does every number type get the filter bar's number range, read from the registry?"""
    assert types_in("number") == listbar.NUMERIC
    assert all(field_widgets.FIELD_WIDGETS[name].filter == "number" for name in types_in("number"))


def test_builder_labels_are_translated(app):
    """Are the builder's type names different in Chinese, so none was left untranslated?"""
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        english = field_widgets.builder_labels()
    with app.test_request_context("/", headers={"Accept-Language": "zh"}):
        chinese = field_widgets.builder_labels()
    untranslated = [name for name in FIELD_TYPES if english[name] == chinese[name]]
    assert untranslated == []


def test_the_meta_schema_names_every_engine_type():
    """Does the JSON meta-schema editors complete from name exactly the engine's field types?"""
    assert meta_schema()["$defs"]["fieldType"]["enum"] == list(FIELD_TYPES)


def test_computed_results_are_the_registry_entries_marked_result():
    """Does the meta-schema offer a computed field exactly the result types the registry marks?"""
    field_spec = meta_schema()["$defs"]
    results = next(v["properties"]["result"]["enum"] for v in field_spec.values() if "result" in v.get("properties", {}))
    assert sorted(results) == sorted(RESULT_TYPES)


def test_type_properties_read_from_the_entries_keep_their_old_members():
    """Do the type sets read from the entries (lanes, ids, card values, linked titles, native required) hold what the hand lists held?"""
    assert {"select", "user", "reference", "boolean"} == SWIMLANE_TYPES == LANE_TYPES
    assert {"user", "reference", "attachment"} == ID_TYPES
    assert {"select", "multiselect", "user", "reference"} == boards.SELF_EXPLAINING
    assert {"url", "email", "reference", "attachment"} == lists._UNLINKABLE_TITLES
    assert {"text", "markdown", "number", "date", "datetime", "select", "user"} == records.NATIVE_REQUIRED


def test_number_suffix_comes_from_the_entry():
    """Does a percent input end in %, and another number in nothing, read from the entries?"""
    percent = Field(key="p", type="percent", label=Label.of("P"))
    integer = Field(key="i", type="integer", label=Label.of("I"))
    assert field_widgets.unit_suffix(percent) == "%"
    assert field_widgets.unit_suffix(integer) == ""
