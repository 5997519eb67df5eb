"""Bundled apps are installed once and then upgraded like a bundle: a restart never undoes an
admin's change, and a newer bundled document is merged three ways (local edits win unless
the admin picks the new version's)."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
import sqlalchemy as sa

from flowdeck.engine import apps, bundled_apps, models, records
from flowdeck.engine.registry import Catalog
from flowdeck.engine.sqltypes import UTCDateTime
from flowdeck.engine.storage.tables import table_name
from tests.support.documents import with_task_field, with_task_name_label


def _current(db, key="project") -> dict:
    v, a = models.app_versions, models.apps
    return db.read(
        lambda c: dict(
            c.execute(
                sa.select(v.c.document).join(a, (a.c.key == v.c.app) & (a.c.version == v.c.version)).where(a.c.key == key)
            ).scalar_one()
        )
    )


def _admin_edit(db, system, document) -> None:
    apps.apply_document(db, document, actor=system, message="admin edit")


@pytest.fixture
def shipped():
    return bundled_apps.documents()


@pytest.fixture
def newer(monkeypatch, shipped):
    """Make this Flowdeck ship a newer project document (what `upgrade` then offers)."""

    def ship(document: dict) -> None:
        monkeypatch.setattr(bundled_apps, "documents", lambda: {**shipped, "project": document})

    return ship


def test_install_missing_installs_once_and_never_changes_an_installed_app(db, system, shipped):
    """Does a second init leave the admin's added field in place (no new version), where the old init re-applied the bundled document?"""
    first = bundled_apps.install_missing(db, actor=system)
    assert {(r.key, r.installed_now) for r in first} == {("project", True), ("operations", True)}
    _admin_edit(db, system, with_task_field(_current(db), "risk_level", "Risk level"))
    again = bundled_apps.install_missing(db, actor=system)
    assert {(r.key, r.installed_now, r.upgrade_available) for r in again} == {("project", False, False), ("operations", False, False)}
    assert "risk_level" in _current(db)["entities"]["task"]["fields"]
    assert Catalog(db).current().versions["project"] == 2


def test_only_the_chosen_bundled_apps_are_installed(db, system):
    """Does --apps project install project alone, and --no-apps none?"""
    assert bundled_apps.install_missing(db, actor=system, only=[]) == []
    assert [r.key for r in bundled_apps.install_missing(db, actor=system, only=["project"])] == ["project"]
    assert set(Catalog(db).current().apps) == {"project"}
    with pytest.raises(bundled_apps.UpgradeRefused, match="there is no bundled app"):
        bundled_apps.install_missing(db, actor=system, only=["nope"])


def test_a_newer_bundled_document_is_offered_and_merged_keeping_local_edits(db, system, shipped, newer):
    """Is a newer bundled document offered as an upgrade keeping the admin's field and label, adding the new field, applied when asked?"""
    bundled_apps.install_missing(db, actor=system, only=["project"])
    local = with_task_name_label(with_task_field(_current(db), "risk_level", "Risk level"), "Work item")
    _admin_edit(db, system, local)
    newer(with_task_name_label(with_task_field(shipped["project"], "upstream_note", "Upstream note"), "Activity"))
    assert [b.upgrade_available for b in db.read(bundled_apps.status) if b.key == "project"] == [True]
    plan, result = bundled_apps.upgrade(db, "project", actor=system, dry_run=True)
    assert result is None
    assert [c.path for c in plan.conflicts] == ["entities.task.fields.name.label.en"]
    assert plan.chosen == {"entities.task.fields.name.label.en": "local"}
    assert any("upstream_note" in str(step.description) for step in plan.migration.steps)
    assert "upstream_note" not in _current(db)["entities"]["task"]["fields"]  # a dry run changes nothing

    _plan, result = bundled_apps.upgrade(db, "project", actor=system)
    assert result is not None and result.applied
    task = _current(db)["entities"]["task"]["fields"]
    assert {"risk_level", "upstream_note"} <= set(task)
    assert task["name"]["label"]["en"] == "Work item"
    assert [b.upgrade_available for b in db.read(bundled_apps.status) if b.key == "project"] == [False]


def test_the_admin_may_take_the_new_version_at_a_conflict(db, system, shipped, newer):
    """With the incoming side picked for a conflict, does the new version's value win there (and only there)?"""
    bundled_apps.install_missing(db, actor=system, only=["project"])
    _admin_edit(db, system, with_task_name_label(with_task_field(_current(db), "risk_level", "Risk level"), "Work item"))
    newer(with_task_name_label(shipped["project"], "Activity"))
    path = "entities.task.fields.name.label.en"
    bundled_apps.upgrade(db, "project", actor=system, resolutions={path: "incoming"})
    task = _current(db)["entities"]["task"]["fields"]
    assert task["name"]["label"]["en"] == "Activity" and "risk_level" in task
    with pytest.raises(bundled_apps.UpgradeRefused, match="there is no conflict"):
        db.read(lambda c: bundled_apps.plan_upgrade(c, "project", resolutions={"entities.nowhere": "local"}))


def test_an_app_installed_from_elsewhere_is_not_upgraded(db, system, shipped):
    """Is an app whose key a bundled app uses, but from another source, refused rather than merged?"""
    foreign = dict(shipped["project"], source="acme.projects")
    apps.apply_document(db, foreign, actor=system)
    with pytest.raises(bundled_apps.UpgradeRefused, match="not from the bundled document"):
        db.read(lambda c: bundled_apps.plan_upgrade(c, "project"))


def _operations_before_the_sla_clocks(shipped_operations: dict) -> dict:
    """The Operations document as instances installed it before its ticket page lost the
    stored `sla_due` (and `sla_hours`, `within_sla`) to the live SLA clocks."""
    old = copy.deepcopy(shipped_operations)
    ticket = old["entities"]["ticket"]
    ticket["fields"].update(
        sla_hours={"type": "computed", "result": "integer", "formula": '4 if priority == "p1" else 24'},
        sla_due={"type": "datetime", "label": {"en": "SLA due", "zh": "SLA 到期时间"}},
        within_sla={"type": "computed", "result": "boolean", "formula": "null if sla_due == null else resolved_at <= sla_due"},
    )
    ticket["sections"][1]["fields"] = ["support_group", "assignee", "sla_hours", "sla_due", "related_incident"]
    return old


@pytest.fixture
def old_operations(monkeypatch, shipped, db, system, make_user):
    """An instance that installed the old Operations document and holds a ticket with an SLA
    due time typed in; returns (the ticket's id, its due time, the requester)."""
    monkeypatch.setattr(bundled_apps, "documents", lambda: {"operations": _operations_before_the_sla_clocks(shipped["operations"])})
    bundled_apps.install_missing(db, actor=system, only=["operations"])
    asker = make_user("asker", {"operations": ["requester"]})
    et = Catalog(db).current().entity("operations", "ticket")
    due = dt.datetime(2026, 12, 9, 2, 0, tzinfo=dt.UTC)
    values = {"title": "VPN", "category": "network", "description": "Down.", "requester": asker.user_id, "sla_due": due}
    ticket = db.run(lambda c: records.create_record(c, et, values, actor=system))
    monkeypatch.setattr(bundled_apps, "documents", lambda: shipped)
    return ticket.id, due, asker


def _stored_due(db, ticket_id: int) -> dt.datetime | None:
    table = sa.table(table_name("operations", "ticket"), sa.column("id"), sa.column("sla_due", UTCDateTime()))
    return db.read(lambda c: c.execute(sa.select(table.c.sla_due).where(table.c.id == ticket_id)).scalar_one())


def test_upgrading_operations_archives_the_stored_sla_due_and_keeps_its_values(db, system, shipped, old_operations):
    """Does the upgrade take sla_due, sla_hours and within_sla off the ticket, keep every typed due time in the
    archive (restorable), and let new tickets be written?"""
    ticket_id, due, asker = old_operations
    plan, result = bundled_apps.upgrade(db, "operations", actor=system)
    assert result is not None and result.applied and not plan.conflicts
    fields = _current(db, "operations")["entities"]["ticket"]["fields"]
    assert not {"sla_due", "sla_hours", "within_sla"} & set(fields)
    archived = db.read(lambda c: bundled_apps_archived(c))
    assert {("ticket", "sla_due"), ("ticket", "sla_hours"), ("ticket", "within_sla")} <= archived
    assert _stored_due(db, ticket_id) == due
    et = Catalog(db).current().entity("operations", "ticket")
    values = {"title": "Printer", "category": "hardware", "description": "Jam.", "requester": asker.user_id}
    assert db.run(lambda c: records.create_record(c, et, values, actor=system)).id


def test_an_admins_change_to_sla_due_survives_the_upgrade(db, system, shipped, old_operations):
    """Has an admin who relabelled sla_due kept the field (their edit wins the merge) with its values?"""
    ticket_id, due, _asker = old_operations
    local = _current(db, "operations")
    local["entities"]["ticket"]["fields"]["sla_due"]["label"] = {"en": "Promised by", "zh": "承诺时间"}
    _admin_edit(db, system, local)
    _plan, result = bundled_apps.upgrade(db, "operations", actor=system)
    assert result is not None and result.applied
    fields = _current(db, "operations")["entities"]["ticket"]["fields"]
    assert fields["sla_due"]["label"]["en"] == "Promised by" and "sla_hours" not in fields
    assert _stored_due(db, ticket_id) == due


def bundled_apps_archived(conn) -> set[tuple[str, str]]:
    rows = conn.execute(sa.select(models.archived.c.entity, models.archived.c.field).where(models.archived.c.app == "operations"))
    return {(entity, fld) for entity, fld in rows}


def test_an_installed_operations_app_takes_the_requester_reply_rule(db, system, shipped, monkeypatch):
    """Does an Operations app installed from the document before the requester-reply rule
    (with an admin's own field added since) get the rule through the bundled upgrade, with no
    conflict and the admin's field kept?"""
    before = copy.deepcopy(shipped["operations"])
    before["automations"] = [a for a in before["automations"] if a["key"] != "ticket_requester_replied"]
    monkeypatch.setattr(bundled_apps, "documents", lambda: {**shipped, "operations": before})
    bundled_apps.install_missing(db, actor=system, only=["operations"])
    local = _current(db, "operations")
    local["entities"]["ticket"]["fields"]["site"] = {"type": "text", "label": "Site"}
    _admin_edit(db, system, local)
    monkeypatch.setattr(bundled_apps, "documents", lambda: shipped)
    plan, result = bundled_apps.upgrade(db, "operations", actor=system)
    assert plan.conflicts == [] and result is not None and result.applied
    now = _current(db, "operations")
    assert "ticket_requester_replied" in [a["key"] for a in now["automations"]]
    assert "site" in now["entities"]["ticket"]["fields"]
