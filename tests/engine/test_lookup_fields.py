"""Lookup fields: a field of a referenced record shown on this one, live (always the current
value, read by the statement that reads the record or the page) or copied (a snapshot taken
when the reference is set or changed). Checked on the database under test (SQLite or
PostgreSQL)."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from flowdeck.catalogs import say
from flowdeck.engine import approvals, records, users
from flowdeck.engine.apps import apply_document, plan_change
from flowdeck.engine.permissions import Actor
from flowdeck.engine.query import Query, query_records
from flowdeck.engine.schema.loader import check_document, load_app

APP = "lk"


def document() -> dict[str, Any]:
    """Clients, projects (sponsor, budget, client) and risks that look up their project."""
    return {
        "key": APP,
        "label": "Lookups",
        "roles": {"member": {}},
        "entities": {
            "client": {"fields": {"name": {"type": "text"}, "tier": {"type": "select", "options": ["gold", "silver", "bronze"]}}},
            "project": {
                "fields": {
                    "name": {"type": "text"},
                    "sponsor": {"type": "user"},
                    "budget": {"type": "money"},
                    "client": {"type": "reference", "to": "client"},
                }
            },
            "risk": {
                "fields": {
                    "title": {"type": "text"},
                    "project": {"type": "reference", "to": "project"},
                    "sponsor": {"type": "lookup", "from": "project.sponsor"},
                    "budget": {"type": "lookup", "from": "project.budget", "mode": "copy"},
                    "tier": {"type": "lookup", "from": "project.client.tier"},
                    "half": {"type": "computed", "result": "money", "formula": "budget / 2 if budget != null else null"},
                    "gold": {"type": "computed", "result": "boolean", "formula": 'tier == "gold"'},
                },
                "workflow": {
                    "states": {"open": {"category": "todo"}, "accepted": {"category": "done"}},
                    "transitions": [
                        {
                            "key": "accept",
                            "from": ["open"],
                            "to": "accepted",
                            "guard": 'tier == "gold"',
                            "approval": {"steps": [{"key": "sponsor", "approvers": {"field": "sponsor"}}]},
                        }
                    ],
                },
            },
        },
    }


def problems(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p.path, say(p.message, "en")) for p in check_document(doc)]


class World:
    """The app installed with two clients, two projects and people."""

    def __init__(self, db: Any, registry: Any) -> None:
        self.db = db
        self.registry = registry

        def setup(conn: sa.Connection) -> dict[str, int]:
            ids = {}
            for name in ("sam", "sue", "ann"):
                ids[name] = users.create_user(conn, name, password="password123", display_name=name.title())
                users.grant_role(conn, ids[name], APP, "member")
            return ids

        self.people = db.run(setup)
        self.gold = self.create("client", name="Acme", tier="gold")
        self.silver = self.create("client", name="Beta", tier="silver")
        self.apollo = self.create("project", name="Apollo", sponsor=self.people["sam"], budget="1000.00", client=self.gold)
        self.zeus = self.create("project", name="Zeus", sponsor=self.people["sue"], budget="300.00", client=self.silver)

    def actor(self, name: str = "ann") -> Any:
        return self.db.read(lambda c: users.actor_for(c, self.people[name]))

    def create(self, entity: str, **values: Any) -> int:
        et = self.registry.entity(APP, entity)
        return self.db.run(lambda c: records.create_record(c, et, values, actor=self.actor())).id

    def update(self, entity: str, record_id: int, **values: Any) -> records.Record:
        et = self.registry.entity(APP, entity)
        return self.db.run(lambda c: records.update_record(c, et, record_id, values, actor=self.actor(), expected_version=None))

    def get(self, entity: str, record_id: int) -> dict[str, Any]:
        et = self.registry.entity(APP, entity)
        return self.db.read(lambda c: records.fetch_record(c, et, record_id)).values

    def page(self, **query: Any) -> list[dict[str, Any]]:
        et = self.registry.entity(APP, "risk")
        return self.db.read(lambda c: query_records(c, et, Query(**query), actor=self.actor())).rows


@pytest.fixture
def world(db, install) -> World:
    return World(db, install(document()))


def test_a_live_lookup_follows_the_referenced_record(world):
    """Does a live lookup show the project's current sponsor, also after the project changes?"""
    risk = world.create("risk", title="Late delivery", project=world.apollo)
    assert world.get("risk", risk)["sponsor"] == world.people["sam"]
    world.update("project", world.apollo, sponsor=world.people["sue"])
    assert world.get("risk", risk)["sponsor"] == world.people["sue"]


def test_a_copied_lookup_keeps_its_snapshot_until_the_reference_changes(world):
    """Does a copy keep the budget found when the project was set, change when the risk moves
    to another project, and never follow edits of the project?"""
    risk = world.create("risk", title="Cost overrun", project=world.apollo)
    assert world.get("risk", risk)["budget"] == Decimal("1000.00")
    world.update("project", world.apollo, budget="5000.00")
    assert world.get("risk", risk)["budget"] == Decimal("1000.00")
    world.update("risk", risk, title="Cost overrun (again)")
    assert world.get("risk", risk)["budget"] == Decimal("1000.00")
    world.update("risk", risk, project=world.zeus)
    assert world.get("risk", risk)["budget"] == Decimal("300.00")
    world.update("risk", risk, project=None)
    assert world.get("risk", risk)["budget"] is None


def test_a_lookup_goes_through_several_references(world):
    """Does `project.client.tier` read the client of the project, and follow a client change?"""
    risk = world.create("risk", title="Churn", project=world.apollo)
    assert world.get("risk", risk)["tier"] == "gold"
    world.update("project", world.apollo, client=world.silver)
    assert world.get("risk", risk)["tier"] == "silver"


def test_lists_select_filter_and_sort_by_lookups_in_one_statement(world, db):
    """Does a list page carry live and copied lookups, filter by a live one (a subquery) and
    sort by it in the select's option order, reading the page in one statement?"""
    first = world.create("risk", title="A", project=world.zeus)
    second = world.create("risk", title="B", project=world.apollo)
    third = world.create("risk", title="C")
    rows = world.page(columns=["title", "sponsor", "budget", "tier"], sort=["tier"])
    assert [r["id"] for r in rows] == [second, first, third]  # gold, silver, then empty
    assert rows[0]["sponsor"] == world.people["sam"] and rows[0]["budget"] == Decimal("1000.00")
    assert [r["id"] for r in world.page(filter={"tier": "gold"})] == [second]
    assert [r["id"] for r in world.page(filter={"sponsor": world.people["sue"]})] == [first]
    assert [r["id"] for r in world.page(filter={"budget": {"gte": 500}})] == [second]
    assert [r["id"] for r in world.page(filter={"tier": {"empty": True}})] == [third]
    assert [r["id"] for r in world.page(sort=["-budget"], columns=["title"])] == [second, first, third]
    statements: list[str] = []

    def seen(*args: Any) -> None:
        statements.append(args[2])

    sa.event.listen(db.engine, "before_cursor_execute", seen)
    try:
        world.page(columns=["title", "sponsor", "tier"], per_page=50)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", seen)
    page_reads = [s for s in statements if "lk__risk" in s and "count" not in s.lower()]
    assert len(page_reads) == 1


def test_formulas_read_lookups(world):
    """Do formulas see a copied and a live lookup's value when the record is saved?"""
    risk = world.create("risk", title="X", project=world.apollo)
    values = world.get("risk", risk)
    assert values["half"] == Decimal("500.00") and values["gold"] is True
    world.update("risk", risk, project=world.zeus)
    values = world.get("risk", risk)
    assert values["half"] == Decimal("150.00") and values["gold"] is False


def test_the_approver_can_be_the_sponsor_of_the_risks_project(world, db):
    """Is the approval routed to the user a live lookup finds (the project's sponsor), with the
    guard reading a lookup too?"""
    et = world.registry.entity(APP, "risk")
    risk = world.create("risk", title="Vendor lock-in", project=world.apollo)
    out = db.run(lambda c: approvals.request_approval(c, et, risk, "accept", actor=world.actor("ann")))
    assert out.status == "pending"
    (round_,) = db.read(lambda c: approvals.timeline(c, APP, "risk", risk))
    assert [t.approver_id for step in round_.steps for t in step.tasks] == [world.people["sam"]]


def test_the_guard_reads_a_live_lookup(world, db):
    """Is the transition refused when the looked-up tier makes the guard false?"""
    from flowdeck.engine.errors import TransitionRefused

    et = world.registry.entity(APP, "risk")
    risk = world.create("risk", title="Small", project=world.zeus)
    with pytest.raises(TransitionRefused):
        db.run(lambda c: approvals.request_approval(c, et, risk, "accept", actor=world.actor("ann")))


def with_field(spec: dict[str, Any], key: str = "extra") -> dict[str, Any]:
    doc = document()
    doc["entities"]["risk"]["fields"][key] = spec
    return doc


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"type": "lookup", "from": "project.owner"}, "project: unknown field “owner”"),
        ({"type": "lookup", "from": "projekt.name"}, "risk: unknown field “projekt”"),
        ({"type": "lookup", "from": "title.name"}, "“title” of “risk” is a text field; every name but the last must be a reference field"),
        (
            {"type": "lookup", "from": "project.name.first"},
            "“name” of “project” is a text field; every name but the last must be a reference field",
        ),
    ],
)
def test_a_bad_path_is_reported_at_its_from(spec, expected):
    """Is an unknown name or a hop through a field that is not a reference reported at `from`?"""
    found = problems(with_field(spec))
    assert [(path, text.split(" (")[0].split(";  ")[0]) for path, text in found][:1] == [("entities.risk.fields.extra.from", expected)] or (
        found and found[0][0] == "entities.risk.fields.extra.from" and found[0][1].startswith(expected)
    )


def test_a_lookup_needs_its_from_and_takes_only_its_keys():
    """Is a lookup without `from`, or with a key of another type, refused at its path?"""
    (missing,) = problems(with_field({"type": "lookup"}))
    assert missing[0] == "entities.risk.fields.extra" and "from" in missing[1]
    assert problems(with_field({"type": "lookup", "from": "project.name", "options": ["a"]})) == [
        ("entities.risk.fields.extra.options", "does not apply to a lookup field")
    ]
    assert problems(with_field({"type": "lookup", "from": "project.name", "mode": "snapshot"}))[0][0] == "entities.risk.fields.extra.mode"


def test_only_a_copied_lookup_can_be_indexed():
    """Is `indexed` refused on a live lookup (no column) and kept on a copied one?"""
    assert problems(with_field({"type": "lookup", "from": "project.name", "indexed": True})) == [
        ("entities.risk.fields.extra.indexed", "applies only to a copied lookup (“mode”: “copy”); a live one has no column")
    ]
    assert problems(with_field({"type": "lookup", "from": "project.name", "mode": "copy", "indexed": True})) == []


def test_lookups_that_read_each_other_are_a_cycle():
    """Are two lookups that show each other reported as a cycle?"""
    doc = document()
    doc["entities"]["project"]["fields"]["first_risk"] = {"type": "reference", "to": "risk"}
    doc["entities"]["project"]["fields"]["echo"] = {"type": "lookup", "from": "first_risk.echo"}
    doc["entities"]["risk"]["fields"]["echo"] = {"type": "lookup", "from": "project.echo"}
    found = problems(doc)
    assert any(text.startswith("lookup cycle: ") for _, text in found), found


def test_a_lookup_of_many_values_or_through_many_references_is_refused():
    """Is a path through a many-valued reference, or ending on a many-valued field, refused?"""
    doc = document()
    doc["entities"]["project"]["fields"]["watchers"] = {"type": "user", "many": True}
    doc["entities"]["risk"]["fields"]["watchers"] = {"type": "lookup", "from": "project.watchers"}
    doc["entities"]["risk"]["fields"]["others"] = {"type": "reference", "to": "project", "many": True}
    doc["entities"]["risk"]["fields"]["other_budget"] = {"type": "lookup", "from": "others.budget"}
    paths = {path for path, _ in problems(doc)}
    assert {"entities.risk.fields.watchers.from", "entities.risk.fields.other_budget.from"} <= paths


def test_an_approver_lookup_must_find_a_user():
    """Is an approver source naming a lookup of a non-user field refused at its path?"""
    doc = document()
    steps = doc["entities"]["risk"]["workflow"]["transitions"][0]["approval"]["steps"]
    steps[0]["approvers"] = {"field": "tier"}
    found = problems(doc)
    assert found == [
        (
            "entities.risk.workflow.transitions[0].approval.steps[0].approvers.field",
            "“tier” looks up a select field; approvers come from a user field",
        )
    ]


def test_a_lookup_of_a_lookup_reads_where_the_inner_one_reads():
    """Does a live lookup of a live lookup resolve to the end of the inner path, with its type?"""
    doc = document()
    doc["entities"]["client"]["fields"]["risk"] = {"type": "reference", "to": "risk"}
    doc["entities"]["client"]["fields"]["risk_tier"] = {"type": "lookup", "from": "risk.tier"}
    fld = load_app(doc).get_entity("client").get_field("risk_tier")
    assert fld.lookup is not None
    assert fld.lookup.hops == (("client", "risk"), ("risk", "project"), ("project", "client"))
    assert (fld.lookup.target_entity, fld.lookup.target, fld.value_type) == ("client", "tier", "select")
    assert fld.option_keys() == ("gold", "silver", "bronze")


def test_adding_a_copied_lookup_fills_existing_records_in_the_plan(world, db, system):
    """Does the plan adding a copy lookup say it copies the values, and fill every existing
    record; does a live lookup need no column?"""
    first = world.create("risk", title="A", project=world.apollo)
    second = world.create("risk", title="B", project=world.zeus)
    doc = document()
    doc["entities"]["risk"]["fields"]["client_name"] = {"type": "lookup", "from": "project.client.name", "mode": "copy"}
    doc["entities"]["risk"]["fields"]["project_name"] = {"type": "lookup", "from": "project.name"}
    _, plan, *_ = db.read(lambda c: plan_change(c, copy.deepcopy(doc)))
    said = [say(step.description, "en") for step in plan.steps]
    assert any("copies client_name into the 2 existing risk records" in text for text in said), said
    assert not any("project_name" in text for text in said), said
    apply_document(db, copy.deepcopy(doc), actor=system)
    from flowdeck.engine.registry import Catalog

    registry = Catalog(db).current()
    et = registry.entity(APP, "risk")
    assert "client_name" in et.table.c and "project_name" not in et.table.c
    got = db.read(lambda c: {r: records.fetch_record(c, et, r).values for r in (first, second)})
    assert (got[first]["client_name"], got[second]["client_name"]) == ("Acme", "Beta")
    assert (got[first]["project_name"], got[second]["project_name"]) == ("Apollo", "Zeus")


def test_a_bundle_round_trip_keeps_copies_and_reads_live_lookups_again(world, db, system):
    """Does an exported bundle carry a copied lookup's snapshot (not the project's new value)
    and leave live lookups out, and does importing it as another app give the same values?"""
    import io
    import json
    import zipfile

    from flowdeck.engine.bundles.export import export_bundle
    from flowdeck.engine.bundles.importer import import_bundle
    from flowdeck.engine.registry import Catalog

    world.create("risk", title="Kept", project=world.apollo)
    world.update("project", world.apollo, budget="7777.00")
    data = db.read(lambda c: export_bundle(c, world.registry, APP, include_records=True))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        name = next(n for n in archive.namelist() if n.endswith("risk.jsonl"))
        (line,) = [json.loads(x) for x in archive.read(name).decode().splitlines() if x.strip()]
    assert line["values"]["budget"] == "1000.00" and "sponsor" not in line["values"] and "tier" not in line["values"]
    admin = Actor(user_id=None, username="system", is_admin=True) if not system.is_admin else system
    import_bundle(db, data, actor=admin, as_key="lk_copy")
    et = Catalog(db).current().entity("lk_copy", "risk")
    (imported,) = db.read(lambda c: [records.fetch_record(c, et, r).values for r in c.execute(sa.select(et.table.c.id)).scalars()])
    assert imported["budget"] == Decimal("1000.00") and imported["tier"] == "gold"
    assert imported["sponsor"] == world.people["sam"]


def test_switching_a_lookup_between_live_and_copy_keeps_the_values(world, db, system):
    """Does turning a live lookup into a copy fill its new column from the references, and
    turning it back read it live again?"""
    risk = world.create("risk", title="A", project=world.apollo)
    doc = document()
    doc["entities"]["risk"]["fields"]["tier"]["mode"] = "copy"
    apply_document(db, copy.deepcopy(doc), actor=system)
    from flowdeck.engine.registry import Catalog

    et = Catalog(db).current().entity(APP, "risk")
    assert "tier" in et.table.c
    assert db.read(lambda c: c.execute(sa.select(et.table.c.tier).where(et.table.c.id == risk)).scalar()) == "gold"
    apply_document(db, document(), actor=system)
    et = Catalog(db).current().entity(APP, "risk")
    assert "tier" not in et.table.c and "tier" in et.lookups
    assert db.read(lambda c: records.fetch_record(c, et, risk)).values["tier"] == "gold"
