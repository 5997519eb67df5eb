"""Regression tests of the defects found by probing a running instance (issue #11): input
that used to crash a request, an import or an apply, on SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest
import sqlalchemy as sa

from flowdeck.engine import bundles, files, models, query, records, users
from flowdeck.engine.apps import apply_document
from flowdeck.engine.errors import RecordInvalid, SchemaInvalid
from flowdeck.engine.fieldtypes import FIELD_TYPES, InvalidValue
from flowdeck.engine.messages import english
from flowdeck.engine.registry import Catalog
from flowdeck.engine.schema.label import Label
from flowdeck.engine.schema.loader import check_document
from flowdeck.engine.schema.model import Field
from tests.support.bundles import SYSTEM, export, seed
from tests.support.documents import minimal_app

# -- uploads ------------------------------------------------------------------------------------


def test_file_names_lose_bidi_and_format_controls():
    """Does `invoice\\u202efdp.exe` (shown as "invoiceexe.pdf") keep its real order, and do
    the other format controls (zero-width, BOM, isolates) go too?"""
    assert files.clean_name("invoice\u202efdp.exe") == "invoicefdp.exe"
    assert files.clean_name("\u2067re\u200bport\ufeff\u2069.pdf") == "report.pdf"
    assert files.clean_name("报告\u200d.pdf") == "报告.pdf"


# -- bundles ------------------------------------------------------------------------------------


def test_line_and_paragraph_separators_in_text_round_trip_through_a_bundle(db, other_db):
    """Do U+2028, U+2029 and U+0085 inside a text leave the app's own bundle importable, with
    the text as written?"""
    people = seed(db)
    task = Catalog(db).current().entity("tracker", "task")
    odd = "one\u2028two\u2029three\u0085four"

    db.run(
        lambda conn: records.create_record(conn, task, {"title": odd, "lines": [{"item": odd}]}, actor=users.actor_for(conn, people["ann"]))
    )
    bundles.import_bundle(other_db, export(db, include_records=True), actor=SYSTEM, user_map={"*": "create"})
    copied = Catalog(other_db).current().entity("tracker", "task")
    found = other_db.read(lambda conn: [records.fetch_record(conn, copied, i) for i in range(1, 4)])
    record = next(r for r in found if r.values["title"] == odd)
    assert [row["item"] for row in record.values["lines"]] == [odd]


def _with_entry(data: bytes, name: str, content: bytes) -> bytes:
    """The bundle with one entry replaced and its manifest signed again, as a SQLite
    instance that had stored the value would have exported it."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        contents = {info.filename: archive.read(info) for info in archive.infolist()}
    manifest = json.loads(contents.pop("manifest.json"))
    contents[name] = content
    manifest["entries"] = {entry: hashlib.sha256(body).hexdigest() for entry, body in contents.items()}
    listing = "".join(f"{manifest['entries'][entry]}  {entry}\n" for entry in sorted(manifest["entries"]))
    manifest["checksum"] = hashlib.sha256(listing.encode()).hexdigest()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        for entry, body in contents.items():
            archive.writestr(entry, body)
    return buffer.getvalue()


def test_a_bundle_holding_a_nul_is_refused_with_its_place(db, other_db):
    """Is a record whose text holds NUL (what SQLite used to store) refused with the entry,
    line and field, on both databases, instead of a raw database error?"""
    seed(db)
    data = export(db, include_records=True)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        lines = archive.read("records/task.jsonl").decode().split("\n")
    first = json.loads(lines[0])
    first["values"]["title"] = "bad\x00title"
    lines[0] = json.dumps(first, ensure_ascii=False)
    with pytest.raises(bundles.BundleInvalid) as caught:
        bundles.import_bundle(
            other_db, _with_entry(data, "records/task.jsonl", "\n".join(lines).encode()), actor=SYSTEM, user_map={"*": "create"}
        )
    assert english(caught.value.problems) == ["records/task.jsonl line 1: title must not contain a NUL character"]
    assert "tracker" not in other_db.read(lambda conn: [row.key for row in conn.execute(sa.select(models.apps.c.key))])


# -- field values -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["text", "email", "url", "phone"])
@pytest.mark.parametrize("raw", ["a\x00b", "tab\there", "line\nbreak", "esc\x1b[31m"])
def test_single_line_text_refuses_control_characters(kind, raw):
    """Is every C0 control (NUL, tab, line break, escape) refused in single-line text types?"""
    fld = Field(key="f", type=kind, label=Label({"en": "F"}))
    with pytest.raises(InvalidValue) as caught:
        FIELD_TYPES[kind].parse(fld, raw)
    assert str(caught.value.message) == "must not contain control characters"


def test_multi_line_text_keeps_tabs_and_line_breaks_but_refuses_other_controls():
    """Does markdown keep tab, CR and LF, and refuse NUL, a bell or an escape?"""
    fld = Field(key="notes", type="markdown", label=Label({"en": "Notes"}))
    assert FIELD_TYPES["markdown"].parse(fld, "a\tb\r\nc\nd") == "a\tb\r\nc\nd"
    for raw in ("a\x00b", "bell\x07", "\x1b[2J"):
        with pytest.raises(InvalidValue):
            FIELD_TYPES["markdown"].parse(fld, raw)


@pytest.mark.parametrize("raw", ["0001-01-01T00:00+08:00", "9999-12-31T23:00-05:00", "0001-01-01T05:00Z", "9999-12-31T12:00Z"])
def test_a_moment_outside_the_years_one_to_9999_is_a_field_error(raw):
    """Is a date and time outside year 1 to 9999 in UTC (or too close to be shown in every
    time zone) refused with a field message instead of an OverflowError?"""
    fld = Field(key="at", type="datetime", label=Label({"en": "At"}))
    with pytest.raises(InvalidValue) as caught:
        FIELD_TYPES["datetime"].parse(fld, raw)
    assert str(caught.value.message) == "must be a date and time from year 1 to 9999"


def test_a_filter_on_a_moment_out_of_range_is_a_filter_error(db, install, system):
    """Does a query whose filter is before year 1 in UTC fail with a message naming the field?"""
    doc = minimal_app()
    doc["entities"]["task"]["fields"]["starts_at"] = {"type": "datetime"}
    et = install(doc).entity("demo", "task")
    wanted = query.Query(filter={"starts_at": {"gte": "0001-01-01T00:00+08:00"}})
    with pytest.raises(RecordInvalid) as caught:
        db.read(lambda conn: query.query_records(conn, et, wanted, actor=system))
    assert list(caught.value.errors) == ["starts_at"]


# -- ids ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["user", "reference", "attachment"])
@pytest.mark.parametrize("raw", ["١٢", "１２３", "12\u0663", "²"])
def test_ids_are_ascii_digits_only(kind, raw):
    """Are Arabic-Indic, full-width and superscript digits refused as ids?"""
    fld = Field(key="f", type=kind, label=Label({"en": "F"}), to="task" if kind == "reference" else None)
    with pytest.raises(InvalidValue):
        FIELD_TYPES[kind].parse(fld, raw)
    assert FIELD_TYPES[kind].parse(fld, " 12 ") == 12


def test_an_unknown_user_in_a_line_item_is_a_field_error(db):
    """Is a line item's user column holding an id nobody has refused next to that cell
    (like the record's own user field), not a foreign key failure?"""
    people = seed(db)
    task = Catalog(db).current().entity("tracker", "task")
    values = {"title": "t", "owner": 99999, "lines": [{"item": "ok", "by": people["erin"]}, {"item": "ghost", "by": 99999}]}
    with pytest.raises(RecordInvalid) as caught:
        db.run(lambda conn: records.create_record(conn, task, values, actor=users.actor_for(conn, people["ann"])))
    assert english(caught.value.errors["lines[1].by"]) == ["no user with id 99999"]
    assert english(caught.value.errors["owner"]) == ["no active user with id 99999"]
    assert "lines[0].by" not in caught.value.errors


# -- documents ----------------------------------------------------------------------------------


def _document_text(**task_field: object) -> str:
    doc = minimal_app()
    doc["entities"]["task"]["fields"]["estimate"] = task_field
    return json.dumps(doc)


def test_a_5000_digit_number_in_a_document_is_a_problem_with_its_path():
    """Does a number longer than Python converts give a problem at its place instead of a
    ValueError, and the same for a parsed document holding such an int?"""
    text = _document_text(type="integer", max=0).replace('"max": 0', '"max": ' + "9" * 5000)
    problems = check_document(text)
    assert [p.path for p in problems] == ["entities.task.fields.estimate.max"]
    assert str(problems[0].message) == "a number of 5000 digits is too long"
    parsed = minimal_app()
    parsed["entities"]["task"]["fields"]["estimate"] = {"type": "integer", "max": 10**5000}
    assert [p.path for p in check_document(parsed)] == ["entities.task.fields.estimate.max"]


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "\\u0000"])
def test_a_lone_surrogate_or_nul_escape_in_a_document_is_refused_before_apply(db, escape):
    """Is a label holding a lone surrogate (not a character, cannot be written as UTF-8) or a
    NUL (PostgreSQL's JSON cannot hold it) a problem with its path, and nothing applied?"""
    text = json.dumps(minimal_app()).replace('"required": true', '"required": true, "label": "bad ' + escape + '"', 1)
    problems = check_document(text)
    assert [p.path for p in problems] == ["entities.task.fields.title.label"]
    with pytest.raises(SchemaInvalid):
        apply_document(db, text, actor=SYSTEM)
    assert db.read(lambda conn: conn.execute(sa.select(sa.func.count()).select_from(models.apps)).scalar()) == 0
