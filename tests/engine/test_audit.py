"""The audit log of what happens outside records: app documents applied and rolled back,
bundles imported, each with who did it and from where."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from flowdeck.engine import audit, bundles, models, versions
from flowdeck.engine.apps import apply_document
from flowdeck.engine.messages import M, Message
from tests.support.documents import minimal_app


def _entries(db) -> list[dict]:
    a = models.audit
    return db.read(lambda c: [dict(r._mapping) for r in c.execute(sa.select(a).order_by(a.c.id))])


def test_applies_and_rollbacks_are_recorded_with_who_and_why(db, make_user):
    """Does applying a document record its version and reason by the admin, and a rollback record the version it went back to?"""
    admin = make_user("root", is_admin=True)
    apply_document(db, minimal_app(), actor=admin, message="first cut")
    changed = minimal_app()
    changed["entities"]["task"]["label"] = {"en": "Job"}
    apply_document(db, changed, actor=admin)
    versions.rollback(db, "demo", 1, actor=admin)
    entries = _entries(db)
    assert [(e["action"], e["actor_name"], e["target"]) for e in entries] == [
        ("schema.applied", "root", "app:demo"),
        ("schema.applied", "root", "app:demo"),
        ("schema.applied", "root", "app:demo"),
        ("schema.rollback", "root", "app:demo"),
    ]
    said = [str(Message.from_json(e["message"])) for e in entries]
    assert said[0] == "applied version 1 of app demo: first cut"
    assert said[3] == "rolled app demo back to version 1 (as version 3)"


def test_a_bundle_import_is_recorded(db, system, make_user):
    """Does importing a bundle (as a copy here) record the source, the app and the version, and a dry run record nothing?"""
    admin = make_user("root", is_admin=True)
    apply_document(db, minimal_app(), actor=system)
    data = bundles.export_app(db, "demo")
    before = len(_entries(db))
    bundles.import_bundle(db, data, actor=admin, as_key="demo_copy", dry_run=True)
    assert len(_entries(db)) == before
    bundles.import_bundle(db, data, actor=admin, as_key="demo_copy")
    last = _entries(db)[-1]
    assert (last["action"], last["actor_name"], last["target"]) == ("bundle.imported", "root", "app:demo_copy")


def test_the_client_address_of_the_request_is_recorded(db):
    """Is the address set for the current request stored with the entries recorded meanwhile, and forgotten after?"""
    with audit.client_address("198.51.100.4"):
        db.run(lambda c: audit.record(c, "signout", M("signed out"), actor_name="lea"))
    db.run(lambda c: audit.record(c, "signout", M("signed out"), actor_name="lea"))
    assert [e["address"] for e in _entries(db)] == ["198.51.100.4", None]


def test_unknown_actions_are_refused(db):
    """Is an action the log does not know refused, so the filter always names every entry?"""
    with pytest.raises(KeyError):
        db.run(lambda c: audit.record(c, "coffee.made", M("signed out")))
