"""The view type registry (engine side): the meta-schema, the loader, storage and the builder
commands know exactly the view types of `VIEW_TYPES`, and each type owns its keys."""

from __future__ import annotations

import copy

import pytest

from flowdeck.engine.messages import Message
from flowdeck.engine.schema import authoring
from flowdeck.engine.schema.authoring import EditRefused
from flowdeck.engine.schema.loader import check_document, load_app
from flowdeck.engine.schema.shape import meta_schema
from flowdeck.engine.storage.tables import build_app_tables
from flowdeck.engine.viewtypes import BOARD, COMMON_KEYS, LIST, VIEW_TYPES, groups_by_state, view_type
from tests.support.documents import board_app


def _with_view(spec: dict) -> dict:
    document = copy.deepcopy(board_app())
    document["entities"]["task"]["views"] = {"probe": spec}
    return document


def _problems(document: dict) -> dict[str, str]:
    return {p.path: str(p.message) for p in check_document(document)}


def test_the_meta_schema_allows_exactly_the_registered_view_types():
    """Does the meta-schema's view `type` enum list every registry entry, in its order, and nothing else?"""
    assert meta_schema()["$defs"]["view"]["properties"]["type"]["enum"] == list(VIEW_TYPES)


def test_every_view_key_of_the_meta_schema_has_one_owner():
    """Is each key a view may have either common to every type or owned by exactly one view type?"""
    allowed = set(meta_schema()["$defs"]["view"]["properties"])
    owned = [key for kind in VIEW_TYPES.values() for key in kind.keys]
    assert len(owned) == len(set(owned)), "a key owned by two view types"
    assert set(COMMON_KEYS) | set(owned) == allowed
    assert not set(COMMON_KEYS) & set(owned)
    for kind in VIEW_TYPES.values():
        assert set(kind.column_keys) <= set(kind.keys) and set(kind.field_keys) <= set(kind.keys)
        assert not set(kind.column_keys) & set(kind.field_keys)


def test_an_unknown_view_type_lists_the_registered_ones():
    """Is a view of an unknown type refused with the registry's names as the choices?"""
    problems = _problems(_with_view({"type": "calendr", "label": "x"}))
    said = problems["entities.task.views.probe.type"]
    assert "unknown view type" in said
    for name in VIEW_TYPES:
        assert name in said


@pytest.mark.parametrize(
    ("spec", "path", "owner"),
    [
        ({"type": "list", "group_by": "state"}, "group_by", BOARD),
        ({"type": "list", "wip": {"open": {"max": 1}}}, "wip", BOARD),
        ({"type": "board", "group_by": "state", "columns": ["title"]}, "columns", LIST),
    ],
)
def test_a_key_of_another_view_type_is_refused_with_its_owners_message(spec, path, owner):
    """Does a view using a key another view type owns get that type's `elsewhere` problem at the key?"""
    problems = _problems(_with_view(spec))
    assert problems == {f"entities.task.views.probe.{path}": str(owner.elsewhere)}


def test_each_view_type_builds_its_own_options():
    """Does each loaded view carry the options of its type (a board its grouping and limits, a list its columns)?"""
    document = _with_view({"type": "list", "columns": ["title", "owner"]})
    document["entities"]["task"]["views"].update(board_app()["entities"]["task"]["views"])
    entity = load_app(document).entity("task")
    listed, board = entity.view("probe"), entity.view("board")
    assert view_type(listed) is LIST and listed.columns == ("title", "owner") and listed.group_by is None
    assert view_type(board) is BOARD and board.group_by == "state" and board.card == ("priority", "owner", "helpers", "hours")
    assert board.wip["working"].max == 2 and board.collapsed == ("cancelled",)


def test_only_grouped_views_group_by_state():
    """Does `groups_by_state` hold for a state board only (not a select board, a list or no view)?"""
    document = _with_view({"type": "list"})
    document["entities"]["task"]["views"].update(board_app()["entities"]["task"]["views"])
    entity = load_app(document).entity("task")
    assert groups_by_state(entity.view("board"))
    assert not groups_by_state(entity.view("priorities"))
    assert not groups_by_state(entity.view("probe"))
    assert not groups_by_state(None)


def test_view_types_ask_for_their_indexes():
    """Does a board get its (group, sort keys, id) index while a list view gets none?"""
    document = _with_view({"type": "list", "sort": ["-hours"]})
    document["entities"]["task"]["views"]["prio"] = {"type": "board", "group_by": "priority", "sort": ["-hours", "title"]}
    table = build_app_tables(load_app(document)).entities["task"].table
    names = sorted(ix.name for ix in table.indexes if ix.name.startswith("ix__"))
    assert any(name.endswith("priority__hours_desc__title__id") for name in names), names
    assert not any("state__hours_desc" in name for name in names), names


@pytest.mark.parametrize(("kind", "command", "other"), [(LIST, authoring.set_list, BOARD), (BOARD, authoring.set_board, LIST)])
def test_the_builder_refuses_a_view_of_another_type_with_the_types_message(kind, command, other):
    """Does the builder refuse to edit a view as the wrong type with that type's own message, as data?"""
    refused = kind.missing("probe")
    assert isinstance(refused, Message) and refused.params == {"key": "probe"}
    document = _with_view({"type": other.name, "group_by": "state"} if other is BOARD else {"type": other.name})
    with pytest.raises(EditRefused) as caught:
        command(document, entity="task", view="probe")
    assert caught.value.message == refused


def test_every_view_type_refuses_with_a_message():
    """Is each view type's builder refusal a Message naming the key as a parameter?"""
    for kind in VIEW_TYPES.values():
        refused = kind.missing("ghost")
        assert isinstance(refused, Message) and refused.params == {"key": "ghost"}


def test_a_renamed_or_removed_field_follows_every_view_key_naming_it():
    """Do the column and field keys of every view type follow a renamed field, and a removed one leave them?"""
    document = _with_view({"type": "list", "columns": ["title", "owner"], "sort": ["-owner"]})
    document["entities"]["task"]["views"].update(board_app()["entities"]["task"]["views"])
    renamed = authoring.rename_field(document, entity="task", field="priority", new_key="urgency")["entities"]["task"]["views"]
    assert renamed["priorities"]["group_by"] == "urgency" and renamed["lanes"]["card"] == ["urgency"]
    renamed = authoring.rename_field(document, entity="task", field="owner", new_key="lead")["entities"]["task"]["views"]
    assert renamed["lanes"]["swimlanes"] == "lead" and renamed["probe"]["columns"] == ["title", "lead"]
    removed = authoring.remove_field(document, entity="task", field="owner")["entities"]["task"]["views"]
    assert "swimlanes" not in removed["lanes"] and removed["probe"]["columns"] == ["title"] and removed["priorities"]["card"] == []
