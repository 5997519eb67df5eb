"""Roll-up fields in the web app: read-only in forms, shown, sorted and filtered in lists
like any stored column, and refused when posted."""

from __future__ import annotations

import re

import pytest

from flowdeck.engine import records
from flowdeck.engine.schema import writing
from tests.support.documents import rollup_app
from tests.support.web import login, signed_in, text

LIST = "/a/pm/project/v/all"


@pytest.fixture
def pm(install, make_user, system):
    """The roll-up app with two projects (costs 30 and 5), a list of them and a signed-in lead."""
    document = rollup_app()
    document["entities"]["project"]["views"] = {
        "all": {"type": "list", "label": "All", "columns": ["name", "cost", "progress", "all_done", "tasks"]}
    }
    registry = install(document)
    make_user("lea", {"pm": ["lead"]})
    return registry


def _add(db, registry, system, entity, **values):
    return db.run(lambda c: records.create_record(c, registry.entity("pm", entity), values, actor=system)).id


def test_lists_show_sort_and_filter_by_a_roll_up(db, pm, client, system):
    """Does a list show the roll-up's value, sort by it and filter by a range of it, as it would a number field?"""
    big, small = _add(db, pm, system, "project", name="Big"), _add(db, pm, system, "project", name="Small")
    _add(db, pm, system, "task", name="a", project=big, cost="30", estimate=1, progress=50)
    _add(db, pm, system, "task", name="b", project=small, cost="5", estimate=1, progress=10)
    assert login(client, "lea").status_code == 302
    page = text(client.get(f"{LIST}?sort=cost"))
    assert page.index(">Small<") < page.index(">Big<")
    assert "30.00" in page and ">50%<" in page
    filtered = text(client.get(f"{LIST}?cost__gte=10"))
    assert ">Big<" in filtered and ">Small<" not in filtered


def test_the_form_shows_a_roll_up_read_only_and_a_post_cannot_set_it(db, pm, client, system):
    """Is a roll-up not an input of the edit form, and is a value posted for it refused without a write?"""
    pid = _add(db, pm, system, "project", name="P")
    token = signed_in(client, "lea")
    response = client.get(f"/a/pm/project/{pid}/edit")
    form = text(response)
    assert response.status_code == 200 and 'name="name"' in form
    assert not re.search(r'<input[^>]*name="cost"', form)
    response = client.post(f"/a/pm/project/{pid}/edit", data={"csrf_token": token, "name": "P", "cost": "99"})
    assert response.status_code in (200, 422)
    assert db.read(lambda c: records.fetch_record(c, pm.entity("pm", "project"), pid)).values["cost"] == 0


def test_the_builder_and_its_preview_show_an_app_with_roll_ups(db, pm, client, make_user):
    """Do the document editor and the preview draw an app with roll-up fields, the preview's form without an input for them?"""
    make_user("boss", is_admin=True)
    token = signed_in(client, "boss")
    editor = client.get("/admin/apps/pm/edit")
    assert editor.status_code == 200 and "milestone_cost" in text(editor)
    document = writing.dumps(rollup_app())
    preview = client.post("/admin/apps/pm/preview", data={"csrf_token": token, "document": document, "entity": "project"})
    body = text(preview)
    assert preview.status_code == 200 and 'name="name"' in body
    assert not re.search(r'<input[^>]*name="cost"', body)
