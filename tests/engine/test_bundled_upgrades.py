"""Bundled apps are installed once and then upgraded like a bundle: a restart never undoes an
admin's change, and a newer bundled document is merged three ways (local edits win unless
the admin picks the new version's)."""

from __future__ import annotations

import copy

import pytest
import sqlalchemy as sa

from flowdeck.engine import apps, bundled_apps, models
from flowdeck.engine.registry import Catalog
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


def test_an_installed_operations_app_takes_the_requester_reply_rule(db, system, shipped, monkeypatch):
    """Does an Operations app installed from the document before the requester-reply rule
    (with an admin's own field added since) get the rule and the corrected help text through
    the bundled upgrade, with no conflict and the admin's field kept?"""
    before = copy.deepcopy(shipped["operations"])
    before["automations"] = [a for a in before["automations"] if a["key"] != "ticket_requester_replied"]
    help_text = before["entities"]["ticket"]["fields"]["sla_hours"]["help"]
    help_text["en"] = "Resolution target by priority: P1 4 h, P2 8 h, P3 24 h, P4 72 h."
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
    assert "P3 2 working days" in now["entities"]["ticket"]["fields"]["sla_hours"]["help"]["en"]
    assert "site" in now["entities"]["ticket"]["fields"]
