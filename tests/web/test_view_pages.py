"""The view type registry (web side): every view type of `engine.viewtypes` has exactly one
web entry, its builder forms and template exist, and each view is shown by its type's page."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from flowdeck.engine.schema import writing
from flowdeck.engine.viewtypes import VIEW_TYPES
from flowdeck.views import view_pages
from flowdeck.views.schema_admin.forms import FORMS
from flowdeck.views.view_pages import VIEW_PAGES
from tests.support.documents import board_app, builder_app
from tests.support.web import csrf_token, login


def test_every_view_type_has_one_web_entry():
    """Does each engine view type have its web entry (page, builder), in the same order, and no entry lack a type?"""
    assert list(VIEW_PAGES) == list(VIEW_TYPES)
    for name, page in VIEW_PAGES.items():
        assert page.kind is VIEW_TYPES[name]


@pytest.mark.parametrize("name", list(VIEW_PAGES))
def test_each_builder_section_posts_its_own_forms(app, name):
    """Does each view type's builder template exist and post every builder form its entry names (and those forms exist)?"""
    page = VIEW_PAGES[name]
    source, _filename, _uptodate = app.jinja_env.loader.get_source(app.jinja_env, page.builder)
    assert page.forms
    for form in page.forms:
        assert form in FORMS, f"{name}: no builder form {form!r} in schema_admin.forms.FORMS"
        assert f'"{form}' in source, f"{name}: {page.builder} never posts {form!r}"


def test_the_builder_shows_a_section_per_view_type(client, install, make_user):
    """Does the builder panel draw each view of the entity in its type's section (lists and boards)?"""
    document = copy.deepcopy(builder_app())
    views = document["entities"]["task"].setdefault("views", {})
    views["open_items"] = {"type": "list", "columns": ["title"]}
    views["flow"] = {"type": "board", "group_by": "state"}
    install(document)
    make_user("boss", is_admin=True)
    login(client, "boss")
    data = {"csrf_token": csrf_token(client, "/admin/apps/"), "document": writing.dumps(document), "entity": "task", "action": "refresh"}
    body = client.post(f"/admin/apps/{document['key']}/builder", data=data).get_data(as_text=True)
    assert 'id="bl-open_items"' in body and 'name="action" value="set_list:open_items"' in body
    assert 'id="bv-flow"' in body and 'name="action" value="set_board:flow"' in body
    assert body.index('id="b-lists"') < body.index('id="b-boards"')


def test_each_view_is_shown_by_its_types_page(install, make_user, client, monkeypatch):
    """Does the view route hand a list view to the list page and a board view to the board page?"""
    document = copy.deepcopy(board_app())
    document["entities"]["task"]["views"]["all"] = {"type": "list"}
    install(document)
    make_user("lea", {"kb": ["lead"]})
    login(client, "lea")
    calls: list[tuple[str, str]] = []

    def page(name: str) -> Any:
        return lambda et, view, actor: calls.append((name, view.key)) or name

    for name, entry in VIEW_PAGES.items():
        monkeypatch.setitem(VIEW_PAGES, name, view_pages.ViewPage(entry.kind, page(name), entry.builder, entry.forms, entry.read))
    assert client.get("/a/kb/task/v/all").get_data(as_text=True) == "list"
    assert client.get("/a/kb/task/v/priorities").get_data(as_text=True) == "board"
    assert client.get("/a/kb/task/").get_data(as_text=True) == "board"
    assert calls == [("list", "all"), ("board", "priorities"), ("board", "board")]
