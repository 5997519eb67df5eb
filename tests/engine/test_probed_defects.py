"""Regression tests of the defects found by probing a running instance (issue #11): input
that used to crash a request, an import or an apply, on SQLite and on PostgreSQL."""

from __future__ import annotations

from flowdeck.engine import bundles, files, records, users
from flowdeck.engine.registry import Catalog
from tests.support.bundles import SYSTEM, export, seed

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
