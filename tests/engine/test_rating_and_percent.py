"""The rating and percent field types in the engine: parsing and checks, the document's
settings, filters, conversions from and to the other numbers, and a bundle round trip."""

from __future__ import annotations

from decimal import Decimal

import pytest

from flowdeck.engine import bundles, query, records
from flowdeck.engine.fieldtypes import FIELD_TYPES, InvalidValue, types_in
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import Catalog
from flowdeck.engine.schema.loader import check_document, load_app
from flowdeck.engine.schema.model import Field, Label
from flowdeck.engine.storage import convert
from tests.support.bundles import SYSTEM, export, seed, tracker_doc
from tests.support.documents import minimal_app


def _field(type_: str, **settings) -> Field:
    return Field(key="x", type=type_, label=Label.of(None, "x"), **settings)


def _doc(**fields) -> dict:
    doc = minimal_app()
    doc["entities"]["task"]["fields"].update(fields)
    return doc


@pytest.mark.parametrize(("raw", "expected"), [("3", 3), (5, 5), ("1", 1), ("", None), ("4.0", 4)])
def test_a_rating_reads_whole_stars(raw, expected):
    """Is a rating read as a whole number of stars (blank is no rating)?"""
    assert FIELD_TYPES["rating"].parse(_field("rating"), raw) == expected


@pytest.mark.parametrize(("raw", "max_", "said"), [("0", None, "from 1 to 5"), ("6", None, "from 1 to 5"), ("4", 3, "from 1 to 3")])
def test_a_rating_outside_its_stars_is_refused(raw, max_, said):
    """Is 0, or more stars than `max` (5 unless set), refused with the range in the message?"""
    with pytest.raises(InvalidValue) as caught:
        FIELD_TYPES["rating"].parse(_field("rating", max=max_), raw)
    assert said in str(caught.value.message)


def test_a_rating_refuses_half_stars():
    """Is 2.5 refused as not a whole number?"""
    with pytest.raises(InvalidValue) as caught:
        FIELD_TYPES["rating"].parse(_field("rating"), "2.5")
    assert str(caught.value.message) == "must be a whole number"


def test_rating_is_a_whole_number_of_the_number_family():
    """Does the registry put rating with the numbers (filters, conversions) and keep it whole?"""
    assert "rating" in types_in("number") and FIELD_TYPES["rating"].whole
    assert "gte" in FIELD_TYPES["rating"].operators


@pytest.mark.parametrize("max_", [1, 11, 3.5, "5"])
def test_a_rating_max_must_be_2_to_10_stars(max_):
    """Is a rating's `max` outside 2..10 stars, or not a whole number, a problem of the document?"""
    problems = check_document(_doc(score={"type": "rating", "max": max_}))
    assert [p.path for p in problems] == ["entities.task.fields.score.max"]


def test_a_rating_with_max_and_default_loads():
    """Does a rating with 10 stars and a default of 7 load, and does `min` not apply to it?"""
    app = load_app(_doc(score={"type": "rating", "max": 10, "default": 7}))
    assert app.entity("task").get_field("score").default == 7
    problems = check_document(_doc(score={"type": "rating", "min": 2}))
    assert [p.path for p in problems] == ["entities.task.fields.score.min"]


def test_percent_reads_a_percent_sign():
    """Is "12.5%" a percent of 12.50, and a percent above its max refused?"""
    assert FIELD_TYPES["percent"].parse(_field("percent"), "12.5%") == Decimal("12.50")
    with pytest.raises(InvalidValue):
        FIELD_TYPES["percent"].parse(_field("percent", max=100), "120")


@pytest.fixture
def scored(install, db):
    et = install(_doc(score={"type": "rating"}, done={"type": "percent", "min": 0, "max": 100})).entity("demo", "task")
    actor = Actor.system()
    for title, score, done in (("a", 1, "10"), ("b", 3, "55.5"), ("c", 5, "100"), ("d", None, None)):
        db.run(lambda conn, t=title, s=score, d=done: records.create_record(conn, et, {"title": t, "score": s, "done": d}, actor=actor))
    return et, actor


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"score": {"gte": 3}}, ["b", "c"]),
        ({"score": 5}, ["c"]),
        ({"score": {"empty": True}}, ["d"]),
        ({"done": {"gt": 50}}, ["b", "c"]),
        ({"done": {"lte": "10%"}}, ["a"]),
    ],
)
def test_rating_and_percent_filters(db, scored, condition, expected):
    """Do number filters work on ratings and percents (a percent bound may carry its sign)?"""
    et, actor = scored
    page = db.read(lambda conn: query.query_records(conn, et, query.Query(filter=condition, per_page=50, sort=("title",)), actor=actor))
    assert [row["title"] for row in page.rows] == expected


@pytest.mark.parametrize(
    ("value", "old", "new", "kind", "result"),
    [
        (4, _field("integer"), _field("rating"), "ok", 4),
        (7, _field("integer"), _field("rating"), "failed", None),
        (0, _field("integer"), _field("rating"), "failed", None),
        (Decimal("2.40"), _field("decimal"), _field("rating"), "lossy", 2),
        (3, _field("rating"), _field("integer"), "ok", 3),
        (3, _field("rating"), _field("decimal"), "ok", Decimal("3.00")),
        ("4", _field("text"), _field("rating"), "ok", 4),
        (40, _field("integer"), _field("percent"), "ok", Decimal("40.00")),
        (Decimal("12.345"), _field("decimal", scale=3), _field("percent"), "lossy", Decimal("12.35")),
        (Decimal("55.50"), _field("percent"), _field("integer"), "lossy", 56),
        (Decimal("55.50"), _field("percent"), _field("decimal"), "ok", Decimal("55.50")),
    ],
)
def test_conversions_between_numbers(value, old, new, kind, result):
    """Does a value convert between rating, percent, integer and decimal exactly, approximately or not at all?"""
    assert convert.supported(old, new)
    outcome = convert.convert(value, old, new)
    assert (outcome.kind, outcome.value) == (kind, result)


def test_rating_and_percent_survive_a_bundle_round_trip(db, other_db):
    """Are a rating and a percent exported and imported with their values?"""
    doc = tracker_doc()
    doc["entities"]["task"]["fields"].update({"score": {"type": "rating", "max": 4}, "share": {"type": "percent"}})
    seed(db, doc=doc)
    task = Catalog(db).current().entity("tracker", "task")
    db.run(lambda conn: records.update_record(conn, task, 2, {"score": "4", "share": "12.5"}, actor=SYSTEM, expected_version=None))
    data = export(db, include_records=True)
    bundles.import_bundle(other_db, data, actor=SYSTEM, user_map={"*": "create"})
    imported = Catalog(other_db).current().entity("tracker", "task")
    page = other_db.read(lambda conn: query.query_records(conn, imported, query.Query(filter={"score": 4}), actor=SYSTEM))
    assert [(row["title"], row["share"]) for row in page.rows] == [("Plan the launch", Decimal("12.50"))]
    assert imported.entity.get_field("score").max == 4
