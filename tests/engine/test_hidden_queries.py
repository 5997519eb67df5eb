"""Fields hidden from a role never drive that role's filters, sorts, searches or boards:
what a list keeps and how it orders it must not tell a hidden value (an oracle)."""

from __future__ import annotations

from typing import Any

import pytest

from flowdeck.engine import boards, records, workflow
from flowdeck.engine.board_columns import CardFilter
from flowdeck.engine.query import Query, query_records
from tests.support.hiding import hiding_app


@pytest.fixture
def world(db, install, make_user):
    et = install(hiding_app()).entity("demo", "task")
    lead = make_user("lea", {"demo": ["lead"]})
    viewer = make_user("vic", {"demo": ["viewer"]})
    ids = {}
    for title, rank, note, cost, doing in (
        ("a", 1, "x", 1, False),
        ("b", 9, "zebra", 9, False),
        ("c", 3, "x", 20, True),
        ("d", 7, "x", 2, True),
    ):
        values = {"title": title, "rank": rank, "note": note, "cost": cost, "watcher": viewer.user_id if title == "b" else None}
        rec = db.run(lambda conn, v=values: records.create_record(conn, et, v, actor=lead))
        if doing:
            db.run(lambda conn, r=rec: workflow.transition_record(conn, et, r.id, "start", actor=lead))
        ids[title] = rec.id
    return et, lead, viewer, ids


def titles(db, et, actor, **query: Any) -> list[str]:
    page = db.read(lambda conn: query_records(conn, et, Query(**query), actor=actor))
    return [row["title"] for row in page.rows]


def test_a_filter_on_a_field_hidden_everywhere_does_not_apply_for_that_reader(db, world):
    """Does a filter on a field hidden from the reader leave the list unfiltered, while it filters for a role that sees it?"""
    et, lead, viewer, _ = world
    assert titles(db, et, lead, filter={"rank": {"gte": 5}}, sort=["id"]) == ["b", "d"]
    assert titles(db, et, viewer, filter={"rank": {"gte": 5}}, sort=["id"]) == ["a", "b", "c", "d"]
    assert titles(db, et, viewer, filter={"rank": {"empty": True}}, sort=["id"]) == ["a", "b", "c", "d"]
    assert titles(db, et, viewer, filter={"watcher": "$me"}, sort=["id"]) == ["a", "b", "c", "d"]


def test_a_sort_on_a_hidden_field_does_not_order_for_that_reader(db, world):
    """Does a sort on a field hidden from the reader leave the order by id, while it orders for a role that sees it?"""
    et, lead, viewer, _ = world
    assert titles(db, et, lead, sort=["-rank"]) == ["b", "d", "c", "a"]
    assert titles(db, et, viewer, sort=["-rank"]) == ["d", "c", "b", "a"]
    assert titles(db, et, viewer, sort=["rank"]) == ["a", "b", "c", "d"]


def test_a_search_never_matches_through_a_hidden_field(db, world):
    """Does a text search find a record by a field the reader may see, never by one hidden from them?"""
    et, lead, viewer, _ = world
    assert titles(db, et, lead, search="zebra") == ["b"]
    assert titles(db, et, viewer, search="zebra") == []


def test_a_field_hidden_in_some_states_filters_and_sorts_only_where_it_is_seen(db, world):
    """Does a filter or sort on a field hidden in one state leave the records in that state unfiltered and last, whatever their value?"""
    et, lead, viewer, _ = world
    assert titles(db, et, lead, filter={"cost": {"gte": 5}}, sort=["id"]) == ["b", "c"]
    assert titles(db, et, viewer, filter={"cost": {"gte": 5}}, sort=["id"]) == ["b", "c", "d"]
    assert titles(db, et, viewer, filter={"cost": {"lt": 5}}, sort=["id"]) == ["a", "c", "d"]
    assert titles(db, et, lead, sort=["-cost"]) == ["c", "b", "d", "a"]
    assert titles(db, et, viewer, sort=["-cost"]) == ["b", "a", "d", "c"]


def test_a_board_never_filters_sorts_or_finds_mine_by_a_hidden_field(db, world):
    """Does a board's view filter and sort on a hidden field, and "my cards" through a hidden user field, not apply for that reader?"""
    et, lead, viewer, ids = world
    view = et.entity.view("board")

    def cards(actor, **filters: Any) -> list[str]:
        board = db.read(lambda conn: boards.load_board(conn, et, view, actor=actor, cards=CardFilter(**filters)))
        return [card["title"] for column in board.columns for card in column.cards]

    assert cards(lead) == ["b", "d"]
    assert cards(viewer) == ["a", "b", "c", "d"]
    assert cards(lead, mine=True) == [] and cards(viewer, mine=True) == []
    assert cards(viewer, search="zebra") == []
    assert ids["b"] and cards(viewer, conditions={"rank": {"gte": 5}}) == ["a", "b", "c", "d"]
