"""Every field type survives a write and a read with its exact value and Python type.

Values go in through `records.create_record` and come back through `records.fetch_record`
and `query.query_records`: decimals keep their scale, datetimes come back aware in UTC,
many-valued fields keep their order, line items keep their computed columns. Invalid
values are refused per field, naming the field, with nothing written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from flowdeck.engine import models, query, records
from flowdeck.engine.errors import RecordInvalid
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import Registry
from flowdeck.engine.storage.tables import EntityTables
from tests.support.records import english_errors

UTC = dt.UTC

APP: dict[str, Any] = {
    "key": "rt",
    "label": "Round trip",
    "roles": {"member": {"label": "Member"}},
    "entities": {
        "project": {"fields": {"name": {"type": "text"}}},
        "item": {
            "title": "title",
            "fields": {
                "title": {"type": "text"},
                "notes": {"type": "markdown"},
                "count": {"type": "integer"},
                "ratio": {"type": "decimal", "scale": 3},
                "price": {"type": "money", "currency": "USD"},
                "share": {"type": "percent"},
                "due": {"type": "date"},
                "starts_at": {"type": "datetime"},
                "active": {"type": "boolean"},
                "size": {"type": "select", "options": ["s", "m", "l"]},
                "tags": {"type": "multiselect", "options": ["red", "green", "blue"]},
                "owner": {"type": "user"},
                "watchers": {"type": "user", "many": True},
                "proj": {"type": "reference", "to": "project"},
                "related": {"type": "reference", "to": "project", "many": True},
                "contact": {"type": "email"},
                "site": {"type": "url"},
                "phone": {"type": "phone"},
                "file": {"type": "attachment"},
                "files": {"type": "attachment", "many": True},
                "number": {"type": "autonumber", "format": "IT-{###}"},
                "lines": {
                    "type": "table",
                    "fields": {
                        "label": {"type": "text"},
                        "qty": {"type": "integer"},
                        "unit": {"type": "money"},
                        "amount": {"type": "computed", "formula": "qty * unit", "result": "money"},
                    },
                },
                "c_integer": {"type": "computed", "formula": "count * 2", "result": "integer"},
                "c_decimal": {"type": "computed", "formula": "ratio / 4", "result": "decimal", "scale": 3},
                "c_money": {"type": "computed", "formula": "sum(lines.amount)", "result": "money"},
                "c_percent": {"type": "computed", "formula": "share / 3", "result": "percent"},
                "c_text": {"type": "computed", "formula": 'title + "!"', "result": "text"},
                "c_boolean": {"type": "computed", "formula": "count > 5", "result": "boolean"},
                "c_date": {"type": "computed", "formula": "due + 7", "result": "date"},
            },
        },
    },
}


@dataclass
class World:
    db: Any
    registry: Registry
    item: EntityTables
    actor: Actor
    users: list[int]
    projects: list[int]
    files: list[int]


def _add_file(conn: sa.Connection, name: str) -> int:
    result = conn.execute(
        models.attachments.insert().values(filename=name, content_type="application/pdf", size=1234, sha256="ab" * 32, created_by=None)
    )
    return int(result.inserted_primary_key[0])


@pytest.fixture
def world(db, install, make_user, system) -> World:
    registry = install(APP)
    actor = make_user("maria", {"rt": ["member"]})
    other = make_user("omar", {"rt": ["member"]})
    third = make_user("quinn", {"rt": ["member"]})
    project = registry.entity("rt", "project")
    projects = [db.run(lambda c, n=n: records.create_record(c, project, {"name": n}, actor=system)).id for n in ("Alpha", "Beta", "Gamma")]
    files = db.run(lambda c: [_add_file(c, "a.pdf"), _add_file(c, "b.pdf"), _add_file(c, "c.pdf")])
    assert actor.user_id is not None and other.user_id is not None and third.user_id is not None
    return World(db, registry, registry.entity("rt", "item"), actor, [actor.user_id, other.user_id, third.user_id], projects, files)


def assert_exact(actual: Any, expected: Any, where: str = "value") -> None:
    """Equal, of the same Python type, with the same decimal scale and an aware UTC datetime."""
    assert type(actual) is type(expected), f"{where}: {actual!r} is a {type(actual).__name__}, expected {type(expected).__name__}"
    if isinstance(expected, list):
        assert len(actual) == len(expected), f"{where}: {actual!r} != {expected!r}"
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_exact(a, e, f"{where}[{index}]")
        return
    if isinstance(expected, dict):
        assert set(actual) == set(expected), f"{where}: keys {sorted(actual)} != {sorted(expected)}"
        for key in expected:
            assert_exact(actual[key], expected[key], f"{where}.{key}")
        return
    assert actual == expected, f"{where}: {actual!r} != {expected!r}"
    if isinstance(expected, Decimal):
        assert actual.as_tuple().exponent == expected.as_tuple().exponent, f"{where}: scale of {actual!r} differs from {expected!r}"
    if isinstance(expected, dt.datetime):
        assert actual.tzinfo is not None, f"{where}: {actual!r} is naive"
        assert actual.utcoffset() == dt.timedelta(0), f"{where}: {actual!r} is not in UTC"


@dataclass(frozen=True)
class Case:
    """One field type: what to send and what every read must give back."""

    id: str
    raw: Callable[[World], dict[str, Any]]
    expected: Callable[[World], dict[str, Any]]


def _const(values: dict[str, Any]) -> Callable[[World], dict[str, Any]]:
    return lambda w: dict(values)


CASES = [
    Case("text", _const({"title": "  Hello, 世界  "}), _const({"title": "Hello, 世界"})),
    Case("markdown", _const({"notes": "# Heading\n\n* one\n* two\n\n"}), _const({"notes": "# Heading\n\n* one\n* two"})),
    Case("integer", _const({"count": "1,234"}), _const({"count": 1234})),
    Case("integer-limit", _const({"count": -(2**53)}), _const({"count": -(2**53)})),
    Case("decimal-scale-3", _const({"ratio": "1234.5"}), _const({"ratio": Decimal("1234.500")})),
    Case("decimal-large", _const({"ratio": "9999999999999.999"}), _const({"ratio": Decimal("9999999999999.999")})),
    Case("decimal-negative", _const({"ratio": Decimal("-0.001")}), _const({"ratio": Decimal("-0.001")})),
    Case("money", _const({"price": "12.34"}), _const({"price": Decimal("12.34")})),
    Case("money-whole", _const({"price": 7}), _const({"price": Decimal("7.00")})),
    Case("percent", _const({"share": "12.5%"}), _const({"share": Decimal("12.50")})),
    Case("date", _const({"due": "2024-02-29"}), _const({"due": dt.date(2024, 2, 29)})),
    Case(
        "datetime-offset",
        _const({"starts_at": "2024-03-05T10:30:15.123456+08:00"}),
        _const({"starts_at": dt.datetime(2024, 3, 5, 2, 30, 15, 123456, tzinfo=UTC)}),
    ),
    Case(
        "datetime-zulu",
        _const({"starts_at": "2024-12-31T23:59:59Z"}),
        _const({"starts_at": dt.datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC)}),
    ),
    Case(
        "datetime-naive-is-utc",
        _const({"starts_at": dt.datetime(2024, 6, 1, 8, 0)}),
        _const({"starts_at": dt.datetime(2024, 6, 1, 8, 0, tzinfo=UTC)}),
    ),
    Case("boolean-true", _const({"active": "yes"}), _const({"active": True})),
    Case("boolean-false", _const({"active": False}), _const({"active": False})),
    Case("select", _const({"size": "m"}), _const({"size": "m"})),
    Case("multiselect", _const({"tags": ["blue", "red", "blue"]}), _const({"tags": ["blue", "red"]})),
    Case("user", lambda w: {"owner": w.users[1]}, lambda w: {"owner": w.users[1]}),
    Case("user-many", lambda w: {"watchers": [w.users[2], str(w.users[0])]}, lambda w: {"watchers": [w.users[2], w.users[0]]}),
    Case("reference", lambda w: {"proj": str(w.projects[1])}, lambda w: {"proj": w.projects[1]}),
    Case("reference-many", lambda w: {"related": [w.projects[2], w.projects[0]]}, lambda w: {"related": [w.projects[2], w.projects[0]]}),
    Case("email", _const({"contact": "ann@example.com"}), _const({"contact": "ann@example.com"})),
    Case("url", _const({"site": "https://example.com/a?b=c"}), _const({"site": "https://example.com/a?b=c"})),
    Case("phone", _const({"phone": "+86 (10) 1234-5678"}), _const({"phone": "+86 (10) 1234-5678"})),
    Case("attachment", lambda w: {"file": w.files[0]}, lambda w: {"file": w.files[0]}),
    Case("attachment-many", lambda w: {"files": [w.files[2], w.files[1]]}, lambda w: {"files": [w.files[2], w.files[1]]}),
    Case("autonumber", _const({}), _const({"number": "IT-001"})),
    Case(
        "table",
        _const({"lines": [{"label": "Bolts", "qty": "3", "unit": "1.25"}, {"label": "Nuts", "qty": 2, "unit": "0.10"}]}),
        _const(
            {
                "lines": [
                    {"label": "Bolts", "qty": 3, "unit": Decimal("1.25"), "amount": Decimal("3.75")},
                    {"label": "Nuts", "qty": 2, "unit": Decimal("0.10"), "amount": Decimal("0.20")},
                ],
                "c_money": Decimal("3.95"),
            }
        ),
    ),
    Case("computed-integer", _const({"count": 21}), _const({"c_integer": 42, "c_boolean": True})),
    Case("computed-decimal", _const({"ratio": "1.001"}), _const({"c_decimal": Decimal("0.250")})),
    Case("computed-money", _const({"lines": [{"label": "x", "qty": 3, "unit": "0.33"}]}), _const({"c_money": Decimal("0.99")})),
    Case("computed-percent", _const({"share": "10"}), _const({"c_percent": Decimal("3.33")})),
    Case("computed-text", _const({"title": "Go"}), _const({"c_text": "Go!"})),
    Case("computed-boolean", _const({"count": 5}), _const({"c_boolean": False, "c_integer": 10})),
    Case("computed-date", _const({"due": "2024-12-28"}), _const({"c_date": dt.date(2025, 1, 4)})),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_value_round_trips_with_exact_type(world: World, case: Case):
    """Does a value of this field type read back equal, with the same Python type, through fetch_record and query_records?"""
    raw = {"title": "Round trip", **case.raw(world)}
    expected = case.expected(world)
    et = world.item
    created = world.db.run(lambda c: records.create_record(c, et, raw, actor=world.actor))

    fetched = world.db.read(lambda c: records.fetch_record(c, et, created.id))
    for key, value in expected.items():
        got = fetched.values[key]
        if et.entity.get_field(key).is_table:
            assert all(type(row.pop("id")) is int for row in got), "line items come back with their integer ids"
        assert_exact(got, value, f"fetch_record {key}")

    full = world.db.read(lambda c: query.query_records(c, et, query.Query(filter={"id": created.id}), actor=world.actor))
    assert full.total == 1
    for key, value in expected.items():
        if et.entity.get_field(key).is_table:
            continue  # lists show the record's own columns; line items are read with the record
        assert_exact(full.rows[0][key], value, f"query_records {key}")

    listed = [k for k in expected if not et.entity.get_field(k).is_table]
    narrow = world.db.read(lambda c: query.query_records(c, et, query.Query(filter={"id": created.id}, columns=listed), actor=world.actor))
    for key in listed:
        assert_exact(narrow.rows[0][key], expected[key], f"query_records(columns) {key}")


def test_fields_left_empty_read_back_as_none_or_empty_lists(world: World):
    """Do fields that were not given read back as None (single values) and [] (many values, line items)?"""
    et = world.item
    created = world.db.run(lambda c: records.create_record(c, et, {"title": "Bare"}, actor=world.actor))
    fetched = world.db.read(lambda c: records.fetch_record(c, et, created.id))
    for fld in et.entity.fields:
        if fld.key in ("title", "number", "c_text", "c_boolean", "c_money"):
            continue
        empty = [] if (fld.is_many or fld.is_table) else None
        assert fetched.values[fld.key] == empty, fld.key
    assert fetched.values["number"] == "IT-001"
    assert fetched.values["c_text"] == "Bare!"
    assert fetched.values["c_boolean"] is False  # a comparison with an empty value is false
    assert_exact(fetched.values["c_money"], Decimal("0.00"))  # the sum of no line items is zero
    row = world.db.read(lambda c: query.query_records(c, et, query.Query(filter={"id": created.id}), actor=world.actor)).rows[0]
    assert row["tags"] == [] and row["watchers"] == [] and row["count"] is None


def test_system_timestamps_are_aware_utc(world: World):
    """Do created_at and updated_at come back timezone-aware in UTC from both reads?"""
    et = world.item
    created = world.db.run(lambda c: records.create_record(c, et, {"title": "When"}, actor=world.actor))
    fetched = world.db.read(lambda c: records.fetch_record(c, et, created.id))
    row = world.db.read(lambda c: query.query_records(c, et, query.Query(filter={"id": created.id}), actor=world.actor)).rows[0]
    for value in (fetched.created_at, fetched.updated_at, row["created_at"], row["updated_at"]):
        assert value.utcoffset() == dt.timedelta(0)
    assert abs(fetched.created_at - dt.datetime.now(UTC)) < dt.timedelta(minutes=5)


def test_updated_line_items_keep_ids_and_recompute(world: World):
    """Does updating line items keep the ids of rows sent back, drop the others, and recompute the formulas?"""
    et = world.item
    raw = {"title": "Order", "lines": [{"label": "a", "qty": 1, "unit": "2"}, {"label": "b", "qty": 1, "unit": "3"}]}
    created = world.db.run(lambda c: records.create_record(c, et, raw, actor=world.actor))
    first, second = created.values["lines"]
    change = {"lines": [{"id": second["id"], "label": "b", "qty": 4, "unit": "3"}, {"label": "c", "qty": 1, "unit": "0.5"}]}
    world.db.run(lambda c: records.update_record(c, et, created.id, change, actor=world.actor, expected_version=1))
    fetched = world.db.read(lambda c: records.fetch_record(c, et, created.id))
    lines = fetched.values["lines"]
    assert [row["label"] for row in lines] == ["b", "c"]
    assert lines[0]["id"] == second["id"]
    assert first["id"] not in {row["id"] for row in lines}
    assert_exact(lines[0]["amount"], Decimal("12.00"))
    assert_exact(fetched.values["c_money"], Decimal("12.50"))


def test_line_item_formula_wins_over_a_given_value(world: World):
    """Is a line item's computed column recomputed from its formula even when a value for it is sent?"""
    et = world.item
    raw = {"title": "Sneaky", "lines": [{"label": "a", "qty": 2, "unit": "1.50", "amount": "999"}]}
    created = world.db.run(lambda c: records.create_record(c, et, raw, actor=world.actor))
    fetched = world.db.read(lambda c: records.fetch_record(c, et, created.id))
    assert_exact(fetched.values["lines"][0]["amount"], Decimal("3.00"))
    assert_exact(fetched.values["c_money"], Decimal("3.00"))


# -- physical columns ---------------------------------------------------------------------


def _columns(db, table: str) -> dict[str, dict[str, Any]]:
    return db.read(lambda c: {col["name"]: col for col in sa.inspect(c).get_columns(table)})


def test_integer_field_is_an_integer_column(world: World):
    """Is an integer field stored in an integer column (not text or a float)?"""
    columns = _columns(world.db, world.item.table.name)
    assert isinstance(columns["count"]["type"], sa.Integer)
    assert isinstance(columns["owner"]["type"], sa.Integer), "user ids are integer columns"
    assert isinstance(columns["proj"]["type"], sa.Integer), "references are integer columns"


def test_money_is_stored_exactly(world: World):
    """Is a money value of 12.34 stored exactly (NUMERIC on PostgreSQL, whole cents on SQLite), never as a float?"""
    et = world.item
    created = world.db.run(lambda c: records.create_record(c, et, {"title": "Price", "price": "12.34"}, actor=world.actor))
    quote = world.db.engine.dialect.identifier_preparer.quote
    raw = world.db.read(lambda c: c.exec_driver_sql(f"SELECT price FROM {quote(et.table.name)} WHERE id = {created.id}").scalar())
    column = _columns(world.db, et.table.name)["price"]["type"]
    if world.db.dialect == "postgresql":
        assert isinstance(column, sa.Numeric) and not isinstance(column, sa.Float)
        assert column.scale == 2
        assert isinstance(raw, Decimal) and raw == Decimal("12.34")
    else:
        assert isinstance(column, sa.Integer)
        assert raw == 1234 and isinstance(raw, int)


def test_decimal_scale_reaches_the_column(world: World):
    """Does a decimal field with scale 3 keep three places in storage?"""
    et = world.item
    created = world.db.run(lambda c: records.create_record(c, et, {"title": "Ratio", "ratio": "0.125"}, actor=world.actor))
    quote = world.db.engine.dialect.identifier_preparer.quote
    raw = world.db.read(lambda c: c.exec_driver_sql(f"SELECT ratio FROM {quote(et.table.name)} WHERE id = {created.id}").scalar())
    if world.db.dialect == "postgresql":
        assert _columns(world.db, et.table.name)["ratio"]["type"].scale == 3
        assert raw == Decimal("0.125")
    else:
        assert raw == 125


def test_datetime_column_stores_the_utc_instant(world: World):
    """Is a datetime stored as the UTC instant (timestamptz on PostgreSQL)?"""
    et = world.item
    raw = {"title": "Clock", "starts_at": "2024-03-05T10:30:00+08:00"}
    created = world.db.run(lambda c: records.create_record(c, et, raw, actor=world.actor))
    quote = world.db.engine.dialect.identifier_preparer.quote
    stored = world.db.read(lambda c: c.exec_driver_sql(f"SELECT starts_at FROM {quote(et.table.name)} WHERE id = {created.id}").scalar())
    if world.db.dialect == "postgresql":
        assert _columns(world.db, et.table.name)["starts_at"]["type"].timezone is True
        assert stored == dt.datetime(2024, 3, 5, 2, 30, tzinfo=UTC)
    else:
        assert str(stored).startswith("2024-03-05 02:30:00")


def test_many_valued_and_table_fields_live_in_side_tables(world: World):
    """Do many-valued fields get link tables and table fields child tables, with no column in the record table?"""
    et = world.item
    main = _columns(world.db, et.table.name)
    for key in ("tags", "watchers", "related", "files", "lines"):
        assert key not in main
    assert set(et.links) == {"tags", "watchers", "related", "files"}
    assert set(et.children) == {"lines"}
    names = world.db.read(lambda c: set(sa.inspect(c).get_table_names()))
    for table in [*et.links.values(), *et.children.values()]:
        assert table.name in names
    link = _columns(world.db, et.links["watchers"].name)
    assert {"record_id", "value", "position"} <= set(link)
    assert isinstance(link["value"]["type"], sa.Integer)
    child = _columns(world.db, et.children["lines"].name)
    assert {"id", "parent_id", "position", "label", "qty", "unit", "amount"} <= set(child)


# -- invalid values ----------------------------------------------------------------------


INVALID: list[tuple[str, Callable[[World], dict[str, Any]], str, str]] = [
    ("text-not-text", _const({"title": True}), "title", "must be text"),
    ("text-too-long", _const({"title": "x" * 1001}), "title", "at most 1000 characters"),
    ("markdown-not-text", _const({"notes": 5}), "notes", "must be text"),
    ("integer-fraction", _const({"count": "1.5"}), "count", "whole number"),
    ("integer-words", _const({"count": "many"}), "count", "whole number"),
    ("integer-too-large", _const({"count": 2**53 + 1}), "count", "too large"),
    ("decimal-too-precise", _const({"ratio": "1.2345"}), "ratio", "at most 3 decimal places"),
    ("decimal-nan", _const({"ratio": "NaN"}), "ratio", "must be a number"),
    ("decimal-too-large", _const({"ratio": "1e20"}), "ratio", "too large"),
    ("money-cents", _const({"price": "12.345"}), "price", "at most 2 decimal places"),
    ("money-words", _const({"price": "twelve"}), "price", "must be a number"),
    ("percent-words", _const({"share": "lots%"}), "share", "must be a number"),
    ("date-impossible", _const({"due": "2023-02-29"}), "due", "must be a date"),
    ("date-number", _const({"due": 20240101}), "due", "must be a date"),
    ("datetime-words", _const({"starts_at": "tomorrow morning"}), "starts_at", "must be a date and time"),
    ("boolean-maybe", _const({"active": "maybe"}), "active", "yes or no"),
    ("select-unknown", _const({"size": "xl"}), "size", '"xl" is not one of the options (s, m, l)'),
    ("multiselect-unknown", _const({"tags": ["red", "pink"]}), "tags", '"pink" is not one of the options'),
    ("user-not-a-number", _const({"owner": "bob"}), "owner", "must be a user"),
    ("user-missing", _const({"owner": 987654}), "owner", "no active user with id 987654"),
    ("user-many-missing", lambda w: {"watchers": [w.users[0], 987654]}, "watchers", "no active user with id 987654"),
    ("reference-missing", _const({"proj": 987654}), "proj", "no project record with id 987654"),
    ("reference-many-missing", lambda w: {"related": [w.projects[0], 987654]}, "related", "no project record with id 987654"),
    ("reference-negative", _const({"proj": -3}), "proj", "must be a record"),
    ("email", _const({"contact": "not-an-address"}), "contact", "not a valid email address"),
    ("url", _const({"site": "ftp://example.com"}), "site", "not a valid web address"),
    ("phone", _const({"phone": "call me"}), "phone", "not a valid phone number"),
    ("attachment-missing", _const({"file": 987654}), "file", "no file with id 987654"),
    ("attachment-many-missing", lambda w: {"files": [987654]}, "files", "no file with id 987654"),
    ("autonumber-set", _const({"number": "IT-999"}), "number", "read-only"),
    ("table-not-rows", _const({"lines": "two bolts"}), "lines", "must be a list of rows"),
    ("table-bad-cell", _const({"lines": [{"label": "a", "qty": "lots"}]}), "lines[0].qty", "whole number"),
    ("table-unknown-column", _const({"lines": [{"label": "a", "colour": "red"}]}), "lines[0].colour", "not a column of this table"),
    ("computed-set", _const({"c_money": "5"}), "c_money", "read-only"),
    ("unknown-field", _const({"colour": "red"}), "colour", "has no field"),
]


def _row_counts(world: World) -> dict[str, int]:
    tables = [*world.item.all_tables(), models.history, models.counters]
    return world.db.read(lambda c: {t.name: int(c.execute(sa.select(sa.func.count()).select_from(t)).scalar() or 0) for t in tables})


@pytest.mark.parametrize(("raw", "key", "message"), [case[1:] for case in INVALID], ids=[case[0] for case in INVALID])
def test_invalid_value_is_refused_and_nothing_is_written(world: World, raw, key, message):
    """Is an invalid value refused with RecordInvalid naming the field and saying why, with no row written anywhere?"""
    et = world.item
    before = _row_counts(world)
    values = {"title": "Broken", **raw(world)}
    with pytest.raises(RecordInvalid) as caught:
        world.db.run(lambda c: records.create_record(c, et, values, actor=world.actor))
    errors = english_errors(caught.value.errors)
    assert key in errors, errors
    assert any(message in text for text in errors[key]), errors[key]
    assert _row_counts(world) == before


def test_all_invalid_fields_are_reported_together(world: World):
    """Does one refused create list every invalid field at once, not just the first?"""
    et = world.item
    before = _row_counts(world)
    with pytest.raises(RecordInvalid) as caught:
        world.db.run(
            lambda c: records.create_record(c, et, {"count": "x", "price": "1.001", "size": "xl", "proj": 987654}, actor=world.actor)
        )
    assert {"count", "price", "size", "proj"} <= set(caught.value.errors)
    assert _row_counts(world) == before
