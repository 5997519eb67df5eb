"""Lookup fields on the web: a list column, a board card and the record page show a looked-up
value like the field it looks up (a person's name, an option's label, money), the form has no
input for it, and the list filters by it from the query string."""

from __future__ import annotations

import re
from typing import Any

import pytest

from flowdeck.engine.permissions import Actor
from flowdeck.engine.storage.tables import EntityTables
from tests.support.documents import minimal_app
from tests.support.records import create
from tests.support.web import field_block, signed_in, text, url


def looked_up_app() -> dict[str, Any]:
    doc = minimal_app()
    doc["entities"]["project"] = {
        "fields": {
            "name": {"type": "text"},
            "sponsor": {"type": "user"},
            "tier": {"type": "select", "options": [{"key": "gold", "label": {"en": "Gold tier", "zh": "金牌"}}, "silver"]},
            "rate": {"type": "money"},
        }
    }
    task = doc["entities"]["task"]
    task["fields"].update(
        {
            "project": {"type": "reference", "to": "project"},
            "sponsor": {"type": "lookup", "from": "project.sponsor", "label": {"en": "Sponsor", "zh": "发起人"}},
            "tier": {"type": "lookup", "from": "project.tier"},
            "rate": {"type": "lookup", "from": "project.rate", "mode": "copy", "label": {"en": "Agreed rate", "zh": "约定费率"}},
        }
    )
    task["views"] = {
        "all": {"type": "list", "columns": ["title", "sponsor", "tier", "rate"]},
        "plain": {"type": "list", "columns": ["title"]},
        "board": {"type": "board", "group_by": "state", "card": ["sponsor", "tier"]},
    }
    return doc


@pytest.fixture
def registry(install) -> Any:
    return install(looked_up_app())


@pytest.fixture
def task(registry) -> EntityTables:
    return registry.entity("demo", "task")


@pytest.fixture
def lead(make_user) -> Actor:
    return make_user("lea", {"demo": ["lead"]})


@pytest.fixture
def project(db, registry, make_user, lead) -> int:
    sponsor = make_user("spencer", {"demo": ["member"]})
    return create(db, registry.entity("demo", "project"), lead, name="Apollo", sponsor=sponsor.user_id, tier="gold", rate="120.50").id


def test_a_list_shows_lookup_columns_like_the_fields_they_show(client, db, task, lead, project):
    """Does a list column show the sponsor's name, the option's label and the copied money?"""
    create(db, task, lead, title="Wire it", project=project)
    signed_in(client, "lea")
    page = text(client.get("/a/demo/task/v/all"))
    assert "Spencer" in page and "Gold tier" in page and "120.50" in page


def test_a_list_filters_by_a_lookup(client, db, task, lead, project):
    """Does `?tier=gold` keep the tasks whose project is gold and drop the others?"""
    create(db, task, lead, title="Inside", project=project)
    create(db, task, lead, title="Outside")
    signed_in(client, "lea")
    page = text(client.get("/a/demo/task/v/all?tier=gold"))
    titles = re.findall(r'<a class="title" href="[^"]*">([^<]+)</a>', page)
    assert titles == ["Inside"]


def test_the_record_page_shows_lookups_and_the_form_has_no_input_for_them(client, db, task, lead, project):
    """Does the record page show the looked-up values, and the edit form show them read-only?"""
    record = create(db, task, lead, title="Shown", project=project)
    signed_in(client, "lea")
    page = text(client.get(url(record.id)))
    assert "Spencer" in page and "Gold tier" in page and "120.50" in page
    form = text(client.get(url(record.id, "/edit")))
    block = field_block(form, "sponsor")
    assert "Spencer" in block and 'name="sponsor"' not in block


def test_a_board_card_shows_a_lookup(client, db, task, lead, project):
    """Does a board card show the sponsor and the tier's label?"""
    create(db, task, lead, title="Carded", project=project)
    signed_in(client, "lea")
    page = text(client.get("/a/demo/task/v/board"))
    card = page[page.index("Carded") :]
    assert "Spencer" in card and "Gold tier" in card


def test_editing_a_record_keeps_its_lookups(client, db, task, lead, project):
    """Does posting the edit form (which has no lookup inputs) save, keeping the copied rate
    and the live sponsor?"""
    from tests.support.records import fetch
    from tests.support.web import csrf_token

    record = create(db, task, lead, title="Before", project=project)
    signed_in(client, "lea")
    token = csrf_token(client, url(record.id, "/edit"))
    response = client.post(
        url(record.id, "/edit"), data={"csrf_token": token, "title": "After", "project": str(project), "version": str(record.version)}
    )
    assert response.status_code == 303, text(response)[:2000]
    values = fetch(db, task, record.id).values
    assert values["title"] == "After" and str(values["rate"]) == "120.50" and values["sponsor"] is not None
