"""Computed fields with options: the codes a formula returns are shown as their labels, in
the reader's language and the option's colour, in every place a value appears."""

from __future__ import annotations

import csv
import html
import io
import json
import re

import pytest

from flowdeck.engine import records
from flowdeck.engine.schema import writing
from flowdeck.engine.storage.tables import EntityTables
from tests.support.documents import minimal_app
from tests.support.web import csrf_token, login, text

LIST = "/a/demo/task/v/all"
BOARD = "/a/demo/task/v/board"


def heat_app() -> dict:
    """A task whose `heat` formula returns the codes `hot` and `cold`, or a free text code."""
    doc = minimal_app(
        fields={
            "title": {"type": "text", "required": True},
            "score": {"type": "integer"},
            "code": {"type": "text"},
            "heat": {
                "type": "computed",
                "result": "text",
                "formula": 'code if code != null else ("hot" if score >= 10 else "cold")',
                "label": {"en": "Heat", "zh": "热度"},
                "options": [
                    {"key": "hot", "label": {"en": "Running hot", "zh": "过热"}, "color": "#c62828"},
                    {"key": "cold", "label": {"en": "Cooling down", "zh": "降温"}, "color": "#1e88e5"},
                ],
            },
        },
        permissions={"create": ["lead", "member"], "update": ["lead", "member"], "delete": ["lead"]},
    )
    doc["entities"]["task"]["views"] = {
        "all": {"type": "list", "label": "All", "columns": ["title", "score", "heat"]},
        "board": {"type": "board", "label": "Board", "group_by": "state", "card": ["heat"]},
    }
    return doc


@pytest.fixture
def heat(install) -> EntityTables:
    return install(heat_app()).entity("demo", "task")


@pytest.fixture
def reader(client, make_user):
    """A signed-in lead whose pages are in the language `reader(lang)` picks."""
    make_user("lea", {"demo": ["lead"]})
    assert login(client, "lea").status_code == 302

    def choose(lang: str):
        client.post("/prefs/lang", data={"lang": lang, "next": "/", "csrf_token": csrf_token(client, "/")})
        return client

    return choose


def add(db, et: EntityTables, system, **values) -> int:
    return db.run(lambda conn: records.create_record(conn, et, {"title": "t", **values}, actor=system)).id


def cells(html: str, css: str = "badge") -> list[str]:
    return re.findall(rf'<span class="{css}[^"]*">([^<]*)</span>', html)


@pytest.mark.parametrize(("lang", "hot", "cold"), [("en", "Running hot", "Cooling down"), ("zh", "过热", "降温")])
def test_list_cells_show_the_option_label_in_the_readers_language_and_colour(db, heat, system, reader, lang, hot, cold):
    """Does a list show a formula's code as its option's label, coloured, never the code?"""
    add(db, heat, system, score=12)
    add(db, heat, system, score=3)
    page = text(reader(lang).get(LIST))
    assert f'<span class="badge bc-c62828">{hot}</span>' in page
    assert f'<span class="badge bc-1e88e5">{cold}</span>' in page
    assert ">hot<" not in page and ">cold<" not in page


@pytest.mark.parametrize(("lang", "hot"), [("en", "Running hot"), ("zh", "过热")])
def test_board_cards_show_the_label_as_a_badge(db, heat, system, reader, lang, hot):
    """Does a board card show the label in a badge, like a select's value?"""
    add(db, heat, system, score=20)
    page = text(reader(lang).get(BOARD))
    assert f'<span class="badge bc-c62828">{hot}</span>' in page
    assert ">hot<" not in page


@pytest.mark.parametrize(("lang", "hot", "cold"), [("en", "Running hot", "Cooling down"), ("zh", "过热", "降温")])
def test_record_page_and_history_show_labels(db, heat, system, reader, lang, hot, cold):
    """Do the record page and its history (old and new value) show labels, not codes?"""
    record_id = add(db, heat, system, score=20)
    db.run(lambda conn: records.update_record(conn, heat, record_id, {"score": 1}, actor=system, expected_version=None))
    page = text(reader(lang).get(f"/a/demo/task/{record_id}"))
    history = page[page.index('<ol class="timeline">') :]
    assert f'<span class="badge bc-1e88e5">{cold}</span>' in page
    assert f'<span class="badge bc-c62828">{hot}</span>' in history
    assert ">hot<" not in page and ">cold<" not in page


@pytest.mark.parametrize(("lang", "hot", "cold"), [("en", "Running hot", "Cooling down"), ("zh", "过热", "降温")])
def test_csv_export_has_the_label_in_the_exporters_language(db, heat, system, reader, lang, hot, cold):
    """Does the CSV hold the label in the exporter's language, not the code?"""
    add(db, heat, system, title="a", score=20)
    add(db, heat, system, title="b", score=2)
    response = reader(lang).get("/a/demo/task/export.csv?view=all&sort=title")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert [row[-1] for row in rows[1:]] == [hot, cold]


def test_a_code_that_is_not_an_option_shows_raw_in_a_neutral_badge(db, heat, system, reader):
    """Is a code the options do not list shown as written, in an uncoloured badge?"""
    add(db, heat, system, code="lukewarm")
    page = text(reader("en").get(LIST))
    assert '<span class="badge">lukewarm</span>' in page


@pytest.mark.parametrize(("lang", "hot"), [("en", "Running hot"), ("zh", "过热")])
def test_the_filter_bar_offers_the_options_and_filters_by_them(db, heat, system, reader, lang, hot):
    """Does the filter offer the options like a select, and does choosing one filter the list?"""
    add(db, heat, system, title="warm-one", score=20)
    add(db, heat, system, title="cool-one", score=2)
    client = reader(lang)
    page = text(client.get(LIST))
    assert f'<input type="checkbox" name="heat" value="hot"> {hot}</label>' in page
    filtered = text(client.get(f"{LIST}?heat=hot"))
    assert "warm-one" in filtered and "cool-one" not in filtered
    chip = re.search(r'<li class="chip"><span class="chiplabel">[^<]*:</span> ([^<]*) <a', filtered)
    assert chip is not None and chip.group(1) == hot


def test_the_builder_edits_a_computed_fields_options(client, install, make_user):
    """Does the builder show a text formula's options and add one through its form?"""
    doc = heat_app()
    install(doc)
    make_user("boss", is_admin=True)
    login(client, "boss")
    data = {
        "csrf_token": csrf_token(client, "/admin/apps/"),
        "document": writing.dumps(doc),
        "entity": "task",
        "action": "add_option:heat",
        "add_option:heat:key": "mild",
        "add_option:heat:label_en": "Mild",
        "add_option:heat:label_zh": "温和",
        "add_option:heat:color": "#9e9e9e",
    }
    page = text(client.post("/admin/apps/demo/builder", data=data))
    editor = html.unescape(re.search(r'<textarea id="document"[^>]*>(.*?)</textarea>', page, re.DOTALL).group(1))
    options = json.loads(editor)["entities"]["task"]["fields"]["heat"]["options"]
    assert options[-1] == {"key": "mild", "label": {"en": "Mild", "zh": "温和"}, "color": "#9e9e9e"}
    assert 'name="edit_option:heat:mild:label_zh" value="温和"' in page
