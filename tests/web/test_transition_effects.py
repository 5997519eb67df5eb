"""A transition's effects through the web app: performing it from the record page shows
the values its effects set on the record page."""

from __future__ import annotations

from typing import Any

from flowdeck.engine import clock, records
from tests.support.documents import minimal_app
from tests.support.web import HX, field_block, signed_in, text, url


def effects_app() -> dict[str, Any]:
    doc = minimal_app()
    entity = doc["entities"]["task"]
    entity["fields"].update(
        {
            "outcome": {"type": "text", "read_only": True},
            "finished_on": {"type": "date"},
            "owner": {"type": "user"},
        }
    )
    entity["workflow"]["transitions"][0]["effects"] = [
        {"set": "outcome", "to": "'started by ' + title"},
        {"set": "finished_on", "to": "today()"},
        {"set": "owner", "to": "me"},
    ]
    return doc


def test_performing_a_transition_shows_what_its_effects_set(client, db, install, make_user):
    lead = make_user("lea", {"demo": ["lead"]})
    task = install(effects_app()).entity("demo", "task")
    rec = db.run(lambda c: records.create_record(c, task, {"title": "trip"}, actor=lead))
    token = signed_in(client, "lea")
    form = {"csrf_token": token, "transition": "start", "version": str(rec.version), "from_state": "todo"}
    done = client.post(url(rec.id, "/transition"), data=form, headers=HX)
    assert done.status_code == 200 and done.headers["HX-Redirect"] == url(rec.id)
    page = text(client.get(url(rec.id)))
    assert "started by trip" in field_block(page, "outcome")
    today = clock.today()
    assert f"<dd>{today:%b} {today.day}, {today.year}</dd>" in field_block(page, "finished_on")
    assert "Lea" in field_block(page, "owner")
    stored = db.read(lambda c: records.fetch_record(c, task, rec.id))
    assert (stored.state, stored.values["owner"]) == ("doing", lead.user_id)
