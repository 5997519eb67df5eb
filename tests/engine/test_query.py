"""Listing records: every filter operator per type family, text search, sort, pages, columns.

Five records with hand-picked values (and some empty ones) are queried with a fixed
`today`, so relative dates (`$today+7`) give the same answer every day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest

from flowdeck.engine import query, records, workflow
from flowdeck.engine.errors import RecordInvalid
from flowdeck.engine.messages import english
from flowdeck.engine.permissions import Actor
from flowdeck.engine.storage.tables import EntityTables
from tests.support.documents import minimal_app

TODAY = dt.date(2025, 6, 15)


def query_app() -> dict[str, Any]:
    doc = minimal_app(
        search=["title", "code"],
        fields={
            "title": {"type": "text", "required": True},
            "code": {"type": "text"},
            "notes": {"type": "markdown"},
            "priority": {"type": "select", "options": ["low", "normal", "high"]},
            "estimate": {"type": "decimal"},
            "count": {"type": "integer"},
            "due": {"type": "date"},
            "starts_at": {"type": "datetime"},
            "urgent": {"type": "boolean"},
            "tags": {"type": "multiselect", "options": ["red", "blue", "green"]},
            "owner": {"type": "user"},
            "watchers": {"type": "user", "many": True},
            "parent": {"type": "reference", "to": "task"},
            "number": {"type": "autonumber", "format": "Q-{###}"},
            "double": {"type": "computed", "formula": "estimate * 2"},
            "lines": {"type": "table", "fields": {"qty": {"type": "integer"}}},
        },
    )
    return doc


@dataclass
class Seeded:
    db: Any
    et: EntityTables
    lead: Actor
    member: Actor
    ids: dict[str, int]

    def names(self, rows: list[dict[str, Any]]) -> list[str]:
        by_id = {v: k for k, v in self.ids.items()}
        return [by_id[row["id"]] for row in rows]

    def page(self, q: query.Query, actor: Actor | None = None) -> query.Page:
        return self.db.read(lambda c: query.query_records(c, self.et, q, actor=actor or self.lead, today=TODAY))

    def find(self, filter: dict[str, Any] | None = None, *, actor: Actor | None = None, **kwargs: Any) -> list[str]:
        page = self.page(query.Query(filter=filter or {}, per_page=100, **kwargs), actor)
        assert page.total == len(page.rows)
        return self.names(page.rows)


@pytest.fixture
def seeded(db, install, make_user) -> Seeded:
    et = install(query_app()).entity("demo", "task")
    lead = make_user("lea", {"demo": ["lead"]})
    member = make_user("mo", {"demo": ["member"]})
    day = dt.timedelta(days=1)
    specs: list[tuple[str, Actor, dict[str, Any], list[str]]] = [
        (
            "r1",
            lead,
            {
                "title": "Alpha report",
                "code": "A_1",
                "notes": "first 100% draft",
                "priority": "low",
                "estimate": "1.5",
                "count": 10,
                "due": TODAY - 2 * day,
                "starts_at": "2024-01-01T08:00:00Z",
                "urgent": True,
                "tags": ["red"],
                "owner": lead.user_id,
                "watchers": [lead.user_id, member.user_id],
            },
            [],
        ),
        (
            "r2",
            member,
            {
                "title": "Beta plan",
                "code": "B-2",
                "priority": "normal",
                "estimate": "2.25",
                "count": 20,
                "due": TODAY,
                "starts_at": "2024-01-02T08:00:00Z",
                "urgent": False,
                "tags": ["red", "blue"],
                "owner": member.user_id,
                "watchers": [member.user_id],
            },
            ["start", "submit"],
        ),
        ("r3", lead, {"title": "gamma Review", "priority": "high", "due": TODAY + 7 * day}, []),
        (
            "r4",
            lead,
            {
                "title": "Delta alpha",
                "code": "",
                "priority": "normal",
                "estimate": "10",
                "count": 5,
                "starts_at": "2024-01-03T00:00:00+08:00",
                "urgent": False,
                "tags": ["blue"],
                "owner": lead.user_id,
            },
            ["start", "submit", "approve"],
        ),
        ("r5", lead, {"title": "Epsilon", "priority": "high", "estimate": "0", "count": 0, "notes": "plain"}, ["start"]),
    ]
    ids: dict[str, int] = {}
    for name, actor, values, steps in specs:
        if name == "r2":
            values = {**values, "parent": ids["r1"]}
        rec = db.run(lambda c, v=values, a=actor: records.create_record(c, et, v, actor=a))
        for step in steps:
            db.run(lambda c, s=step, r=rec.id: workflow.transition_record(c, et, r, s, actor=lead))
        ids[name] = rec.id
    return Seeded(db, et, lead, member, ids)


ALL = ["r1", "r2", "r3", "r4", "r5"]


# -- filters per type family ----------------------------------------------------------------

TEXT_CASES = [
    ({"code": "A_1"}, ["r1"]),
    ({"code": {"eq": "B-2"}}, ["r2"]),
    ({"code": {"ne": "A_1"}}, ["r2", "r3", "r4", "r5"]),
    ({"code": ["A_1", "B-2"]}, ["r1", "r2"]),
    ({"code": {"in": ["B-2", "nothing"]}}, ["r2"]),
    ({"code": {"not_in": ["A_1"]}}, ["r2", "r3", "r4", "r5"]),
    ({"title": {"contains": "ALPHA"}}, ["r1", "r4"]),
    ({"title": {"contains": "ha r"}}, ["r1"]),
    ({"code": {"contains": "_"}}, ["r1"]),
    ({"code": {"contains": "-"}}, ["r2"]),
    ({"code": {"empty": True}}, ["r3", "r4", "r5"]),
    ({"code": {"empty": False}}, ["r1", "r2"]),
    ({"notes": {"contains": "100%"}}, ["r1"]),
    ({"notes": {"contains": "%"}}, ["r1"]),
    ({"notes": {"empty": True}}, ["r2", "r3", "r4"]),
    ({"number": "Q-003"}, ["r3"]),
    ({"number": {"in": ["Q-001", "Q-005"]}}, ["r1", "r5"]),
    ({"number": {"contains": "Q-00"}}, ALL),
]

NUMBER_CASES = [
    ({"count": 10}, ["r1"]),
    ({"count": {"ne": 10}}, ["r2", "r3", "r4", "r5"]),
    ({"count": {"in": [5, 20]}}, ["r2", "r4"]),
    ({"count": {"not_in": [5, 20]}}, ["r1", "r3", "r5"]),
    ({"count": {"gt": 5}}, ["r1", "r2"]),
    ({"count": {"gte": 5}}, ["r1", "r2", "r4"]),
    ({"count": {"lt": 10}}, ["r4", "r5"]),
    ({"count": {"lte": 10}}, ["r1", "r4", "r5"]),
    ({"count": {"gt": 0, "lt": 20}}, ["r1", "r4"]),
    ({"count": {"empty": True}}, ["r3"]),
    ({"count": {"empty": False}}, ["r1", "r2", "r4", "r5"]),
    ({"count": {"gt": "5"}}, ["r1", "r2"]),
    ({"count": "20"}, ["r2"]),
    ({"estimate": "2.25"}, ["r2"]),
    ({"estimate": {"gt": 2}}, ["r2", "r4"]),
    ({"estimate": {"gt": "2.24"}}, ["r2", "r4"]),
    ({"estimate": {"lte": 1.5}}, ["r1", "r5"]),
    ({"estimate": {"gte": "0", "lt": "2.25"}}, ["r1", "r5"]),
    ({"estimate": {"empty": True}}, ["r3"]),
    ({"double": {"gte": 4.5}}, ["r2", "r4"]),
    ({"double": 3}, ["r1"]),
]

DATE_CASES = [
    ({"due": "$today"}, ["r2"]),
    ({"due": {"eq": "2025-06-15"}}, ["r2"]),
    ({"due": {"lt": "$today"}}, ["r1"]),
    ({"due": {"gte": "$today", "lte": "$today+7"}}, ["r2", "r3"]),
    ({"due": {"gt": "$today+6"}}, ["r3"]),
    ({"due": {"gte": "today-2", "lt": "today"}}, ["r1"]),
    ({"due": {"gte": "$today-2d", "lte": "$today+1d"}}, ["r1", "r2"]),
    ({"due": {"lte": "2025-06-15"}}, ["r1", "r2"]),
    ({"due": {"ne": "$today"}}, ["r1", "r3", "r4", "r5"]),
    ({"due": {"in": ["2025-06-13", "$today+7"]}}, ["r1", "r3"]),
    ({"due": {"empty": True}}, ["r4", "r5"]),
    ({"starts_at": {"gte": "2024-01-02T00:00:00Z"}}, ["r2", "r4"]),
    ({"starts_at": {"lt": "2024-01-03T00:00:00+08:00"}}, ["r1", "r2"]),
    ({"starts_at": {"lte": "2024-01-02T16:00:00Z"}}, ["r1", "r2", "r4"]),
    ({"starts_at": {"gt": "2024-01-02T15:59:59Z"}}, ["r4"]),
    ({"starts_at": {"empty": True}}, ["r3", "r5"]),
]

CHOICE_CASES = [
    ({"urgent": True}, ["r1"]),
    ({"urgent": False}, ["r2", "r4"]),
    ({"urgent": "yes"}, ["r1"]),
    ({"urgent": {"ne": True}}, ["r2", "r3", "r4", "r5"]),
    ({"urgent": {"empty": True}}, ["r3", "r5"]),
    ({"priority": "high"}, ["r3", "r5"]),
    ({"priority": {"ne": "high"}}, ["r1", "r2", "r4"]),
    ({"priority": ["low", "normal"]}, ["r1", "r2", "r4"]),
    ({"priority": {"not_in": ["low", "normal"]}}, ["r3", "r5"]),
    ({"priority": {"empty": False}}, ALL),
]

MANY_CASES = [
    ({"tags": "red"}, ["r1", "r2"]),
    ({"tags": {"contains": "blue"}}, ["r2", "r4"]),
    ({"tags": {"in": ["blue", "red"]}}, ["r1", "r2", "r4"]),
    ({"tags": ["green"]}, []),
    ({"tags": {"empty": True}}, ["r3", "r5"]),
    ({"tags": {"empty": False}}, ["r1", "r2", "r4"]),
    ({"watchers": {"empty": True}}, ["r3", "r4", "r5"]),
]

STATE_CASES = [
    ({"state": "doing"}, ["r5"]),
    ({"state": ["review", "done"]}, ["r2", "r4"]),
    ({"state": {"ne": "todo"}}, ["r2", "r4", "r5"]),
    ({"state": {"not_in": ["todo", "doing"]}}, ["r2", "r4"]),
    ({"state_category": "doing"}, ["r2", "r5"]),
    ({"state_category": "done"}, ["r4"]),
    ({"state_category": {"ne": "todo"}}, ["r2", "r4", "r5"]),
    ({"state_category": ["todo", "done"]}, ["r1", "r3", "r4"]),
    ({"state_category": {"not_in": ["doing"]}}, ["r1", "r3", "r4"]),
    ({"state": "todo", "priority": "high"}, ["r3"]),
]


def _cases(*groups: list[tuple[dict[str, Any], list[str]]]) -> list[Any]:
    return [pytest.param(spec, expected, id=repr(spec)) for group in groups for spec, expected in group]


@pytest.mark.parametrize(("spec", "expected"), _cases(TEXT_CASES))
def test_text_filters(seeded: Seeded, spec, expected):
    """Does each text operator (eq, ne, in, not_in, contains with literal % and _, empty) select exactly the right records?"""
    assert seeded.find(spec) == expected


@pytest.mark.parametrize(("spec", "expected"), _cases(NUMBER_CASES))
def test_number_filters(seeded: Seeded, spec, expected):
    """Does each number operator (eq, ne, in, not_in, gt, gte, lt, lte, empty) compare numerically on integers, decimals and formulas?"""
    assert seeded.find(spec) == expected


@pytest.mark.parametrize(("spec", "expected"), _cases(DATE_CASES))
def test_date_filters(seeded: Seeded, spec, expected):
    """Do date and datetime comparisons work with ISO values, time zones and `$today±N`?"""
    assert seeded.find(spec) == expected


@pytest.mark.parametrize(("spec", "expected"), _cases(CHOICE_CASES))
def test_boolean_and_select_filters(seeded: Seeded, spec, expected):
    """Do boolean and select filters (eq, ne, in, not_in, empty) select exactly the right records?"""
    assert seeded.find(spec) == expected


@pytest.mark.parametrize(("spec", "expected"), _cases(MANY_CASES))
def test_many_valued_filters(seeded: Seeded, spec, expected):
    """Do contains, in and empty on many-valued fields look into the link tables?"""
    assert seeded.find(spec) == expected


@pytest.mark.parametrize(("spec", "expected"), _cases(STATE_CASES))
def test_state_and_category_filters(seeded: Seeded, spec, expected):
    """Do state and state_category filters select by workflow state and by the category of the state?"""
    assert seeded.find(spec) == expected


def test_me_means_whoever_runs_the_query(seeded: Seeded):
    """Does `$me` resolve to the actor running the query, on single and many-valued user fields and system columns?"""
    lead, member = seeded.lead, seeded.member
    assert seeded.find({"owner": "$me"}, actor=lead) == ["r1", "r4"]
    assert seeded.find({"owner": "$me"}, actor=member) == ["r2"]
    assert seeded.find({"owner": {"ne": "$me"}}, actor=lead) == ["r2", "r3", "r5"]
    assert seeded.find({"owner": {"in": ["$me", member.user_id]}}, actor=lead) == ["r1", "r2", "r4"]
    assert seeded.find({"watchers": "$me"}, actor=lead) == ["r1"]
    assert seeded.find({"watchers": {"contains": "$me"}}, actor=member) == ["r1", "r2"]
    assert seeded.find({"created_by": "$me"}, actor=member) == ["r2"]
    assert seeded.find({"owner": str(member.user_id)}) == ["r2"]


def test_reference_and_system_column_filters(seeded: Seeded):
    """Do filters on references, ids and timestamps work, including ids given as text?"""
    ids = seeded.ids
    assert seeded.find({"parent": ids["r1"]}) == ["r2"]
    assert seeded.find({"parent": {"empty": False}}) == ["r2"]
    assert seeded.find({"id": {"gt": ids["r3"]}}) == ["r4", "r5"]
    assert seeded.find({"id": {"in": [str(ids["r1"]), ids["r5"]]}}) == ["r1", "r5"]
    assert seeded.find({"created_at": {"gte": "2000-01-01T00:00:00Z"}}) == ALL
    assert seeded.find({"updated_at": {"lt": "2000-01-01T00:00:00Z"}}) == []


def test_relative_dates_follow_today(seeded: Seeded):
    """Does the same `$today` filter give a different answer on a different day?"""
    q = query.Query(filter={"due": {"lt": "$today"}}, per_page=100)
    later = seeded.db.read(lambda c: query.query_records(c, seeded.et, q, actor=seeded.lead, today=TODAY + dt.timedelta(days=1)))
    assert seeded.names(later.rows) == ["r1", "r2"]


# -- search -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("alpha", ["r1", "r4"]),
        ("ALPHA", ["r1", "r4"]),
        ("alpha report", ["r1"]),
        ("  delta   ALPHA ", ["r4"]),
        ("B-2", ["r2"]),
        ("a_1", ["r1"]),
        ("%", []),
        ("draft", []),
        ("zeta", []),
        ("", ALL),
    ],
)
def test_text_search_across_search_fields(seeded: Seeded, text, expected):
    """Does search match every word, case-insensitively, in any of the entity's search fields (and only those)?"""
    assert seeded.find(search=text) == expected


def test_search_by_id(seeded: Seeded):
    """Does a number in the search find the record with that id even when no text contains it?"""
    rid = seeded.ids["r3"]
    assert seeded.find(search=str(rid)) == ["r3"]
    assert seeded.find(search=f"gamma {rid}") == ["r3"]
    assert seeded.find(search=f"alpha {rid}") == []
    assert seeded.find(search="9" * 30) == [], "a number too large for an id matches nothing instead of failing"


def test_search_and_filter_combine(seeded: Seeded):
    """Do a search and a filter narrow the list together?"""
    assert seeded.find({"state": "todo"}, search="alpha") == ["r1"]


# -- sort ---------------------------------------------------------------------------------------


SORTS = [
    (["due"], ["r1", "r2", "r3", "r4", "r5"]),
    (["-due"], ["r3", "r2", "r1", "r5", "r4"]),
    (["count"], ["r5", "r4", "r1", "r2", "r3"]),
    (["-count"], ["r2", "r1", "r4", "r5", "r3"]),
    (["-estimate"], ["r4", "r2", "r1", "r5", "r3"]),
    (["estimate"], ["r5", "r1", "r2", "r4", "r3"]),
    (["-double"], ["r4", "r2", "r1", "r5", "r3"]),
    (["starts_at"], ["r1", "r2", "r4", "r3", "r5"]),
    (["-starts_at"], ["r4", "r2", "r1", "r5", "r3"]),
    (["urgent", "-count"], ["r2", "r4", "r1", "r5", "r3"]),
    (["-id"], ["r5", "r4", "r3", "r2", "r1"]),
    (["state", "due"], ["r1", "r3", "r5", "r2", "r4"]),  # workflow order: todo, doing, review, done
    ([], ALL),
]


@pytest.mark.parametrize(("sort", "expected"), [pytest.param(s, e, id=",".join(s) or "default") for s, e in SORTS])
def test_sort_with_nulls_last(seeded: Seeded, sort, expected):
    """Does sorting order by the columns given, ascending or descending, with empty values last either way?"""
    assert seeded.find(sort=sort) == expected


@pytest.mark.parametrize("key", ["tags", "notes", "lines", "watchers", "nope", "-version"])
def test_unsortable_columns_are_refused(seeded: Seeded, key):
    """Is sorting by a many-valued, markdown, table, unknown or internal column refused under the key "sort"?"""
    with pytest.raises(RecordInvalid) as caught:
        seeded.find(sort=["due", key])
    assert list(caught.value.errors) == ["sort"]
    assert f"cannot sort by “{key.lstrip('-')}”" in str(caught.value.errors["sort"][0])


# -- pages and columns ----------------------------------------------------------------------------


def test_pagination_totals(seeded: Seeded):
    """Do pages split the sorted list without gaps or repeats, with the total and page count of the whole list?"""
    seen: list[str] = []
    for number in (1, 2, 3):
        page = seeded.page(query.Query(sort=["-count"], page=number, per_page=2))
        assert (page.total, page.pages, page.page, page.per_page) == (5, 3, number, 2)
        seen += seeded.names(page.rows)
    assert seen == ["r2", "r1", "r4", "r5", "r3"]
    beyond = seeded.page(query.Query(page=4, per_page=2))
    assert (beyond.rows, beyond.total, beyond.pages) == ([], 5, 3)
    filtered = seeded.page(query.Query(filter={"priority": "high"}, per_page=1))
    assert (filtered.total, filtered.pages, len(filtered.rows)) == (2, 2, 1)
    empty = seeded.page(query.Query(filter={"tags": "green"}))
    assert (empty.total, empty.pages, empty.rows) == (0, 1, [])


def test_page_bounds_are_clamped(seeded: Seeded):
    """Are a page below 1 and a page size outside 1..500 clamped instead of failing?"""
    page = seeded.page(query.Query(page=0, per_page=0))
    assert (page.page, page.per_page, len(page.rows), page.total) == (1, 1, 1, 5)
    big = seeded.page(query.Query(per_page=10_000))
    assert big.per_page == query.MAX_PAGE_SIZE and len(big.rows) == 5


def test_selecting_only_some_columns(seeded: Seeded):
    """Does asking for some columns return just those (with id, version, state and the title), many-valued ones as lists?"""
    page = seeded.page(query.Query(columns=["code", "tags", "watchers"], sort=["id"]))
    assert set(page.rows[0]) == {"id", "version", "state", "title", "code", "tags", "watchers"}
    first = page.rows[0]
    assert (first["title"], first["code"], first["tags"]) == ("Alpha report", "A_1", ["red"])
    assert first["watchers"] == [seeded.lead.user_id, seeded.member.user_id]
    assert page.rows[2]["tags"] == [] and page.rows[2]["code"] is None
    minimal = seeded.page(query.Query(columns=[]))
    assert set(minimal.rows[0]) == {"id", "version", "state", "title"}


def test_all_columns_by_default(seeded: Seeded):
    """Without a column list, does each row carry every stored column and every many-valued field?"""
    row = seeded.page(query.Query(filter={"id": seeded.ids["r2"]})).rows[0]
    for key in ("title", "code", "estimate", "due", "owner", "tags", "watchers", "number", "double", "created_at", "updated_by", "state"):
        assert key in row
    assert row["tags"] == ["red", "blue"]
    assert row["state"] == "review"


# -- bad filters ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "key", "message"),
    [
        ({"nope": 1}, "nope", "Task has no field “nope”"),
        ({"count": {"gt": "many"}}, "count", "'many' does not fit this field"),
        ({"count": {"between": [1, 2]}}, "count", "operator “between” does not apply"),
        ({"title": {"gt": "a"}}, "title", "operator “gt” does not apply to a text field"),
        ({"tags": {"ne": "red"}}, "tags", "operator “ne” does not apply"),
        ({"state": "archived"}, "state", 'unknown state "archived" (states: todo, doing, review, done)'),
        ({"state_category": "later"}, "state_category", 'unknown category "later"'),
        ({"due": {"gt": "soon"}}, "due", "'soon' does not fit this field"),
        ({"starts_at": {"gt": "$tomorrow"}}, "starts_at", "does not fit this field"),
        ({"priority": "urgent"}, "priority", '"urgent" is not one of the options (low, normal, high)'),
        ({"count": None}, "count", 'use {"empty": true}'),
        ({"count": {"in": 5}}, "count", "“in” takes a list of values"),
        ({"count": {"empty": "yes"}}, "count", "“empty” takes true or false"),
        ({"lines": {"empty": True}}, "lines", "a table field cannot be filtered"),
        ({"tags": {"contains": "purple"}}, "tags", '"purple" is not one of the options'),
        ({"watchers": "bob"}, "watchers", "must be a user"),
        ({"owner": {"in": ["$me", "bob"]}}, "owner", "must be a user"),
        ({"urgent": "perhaps"}, "urgent", "yes or no"),
        ({"estimate": {"gt": "1.234"}}, "estimate", "at most 2 decimal places"),
        ({"id": "first"}, "id", "does not fit this field"),
        ({"title": {"contains": 5}}, "title", "“contains” on text needs text"),
        ({"created_at": {"eq": "2024-01-01"}}, "created_at", "operator “eq” does not apply"),
    ],
    ids=lambda v: v if isinstance(v, str) and " " not in v else None,
)
def test_bad_filters_name_the_field(seeded: Seeded, spec, key, message):
    """Is a filter that does not fit refused with RecordInvalid naming the field and what is wrong?"""
    with pytest.raises(RecordInvalid) as caught:
        seeded.find(spec)
    assert list(caught.value.errors) == [key]
    assert any(message in text for text in english(caught.value.errors[key])), caught.value.errors


def test_every_bad_filter_is_reported_at_once(seeded: Seeded):
    """Does one refused query name every bad field, not just the first?"""
    with pytest.raises(RecordInvalid) as caught:
        seeded.find({"nope": 1, "count": {"gt": "x"}, "state": "archived", "title": "ok"})
    assert set(caught.value.errors) == {"nope", "count", "state"}


def test_state_filter_on_an_entity_without_workflow(db, install):
    """Is a state or state_category filter refused on an entity that has no workflow?"""
    doc = minimal_app()
    del doc["entities"]["task"]["workflow"]
    et = install(doc).entity("demo", "task")
    for key in ("state", "state_category"):
        with pytest.raises(RecordInvalid) as caught:
            db.read(lambda c, k=key: query.query_records(c, et, query.Query(filter={k: "todo"}), actor=Actor.system()))
        assert list(caught.value.errors) == [key]
