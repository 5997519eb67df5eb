"""The editor's hints from the meta-schema (engine/schema/hints.py): the keys an object at a
path may hold, required ones first, and the values an enumerated setting takes."""

from __future__ import annotations

from flowdeck.engine.schema.hints import hints_for


def test_hints_for_a_field_list_its_keys_and_the_field_types():
    """At a field, are its keys listed with "type" (required) first and the ones present marked, and on "type" the field types offered?"""
    hints = hints_for(["entities", "task", "fields", "due"], ["entities", "task", "fields", "due", "type"], ["type"])
    assert hints.path == "entities.task.fields.due" and hints.kind == "object"
    assert hints.keys[0].name == "type" and hints.keys[0].required and hints.keys[0].present
    names = [k.name for k in hints.keys]
    assert {"label", "required", "options", "show_if"} <= set(names)
    assert hints.member == "entities.task.fields.due.type"
    assert {"text", "date", "select", "multiselect", "reference"} <= set(hints.values)


def test_hints_for_keys_that_need_quoting_use_the_engines_paths():
    """Is a path with a key that is not a plain name written as the engine writes paths (`fields["due date"]`)?"""
    hints = hints_for(["entities", "task", "fields", "due date"], None)
    assert hints.path == 'entities.task.fields["due date"]'


def test_hints_for_a_list_and_for_an_unknown_place():
    """Is a list of transitions known as a list, and a place the meta-schema does not describe given no keys?"""
    assert hints_for(["entities", "task", "workflow", "transitions"], None).kind == "array"
    unknown = hints_for(["nowhere", "at", "all"], None)
    assert unknown.kind is None and unknown.keys == []
