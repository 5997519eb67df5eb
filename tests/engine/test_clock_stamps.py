"""Moments the engine stamps follow the engine clock (`clock.set_now`), not the machine's:
sessions and reset links expire, history and the audit log, applied versions, the archive and
bundle manifests are dated by it, so a held clock holds them all."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from flowdeck.engine import accounts, apps, clock, history, models, sessions
from flowdeck.engine.bundles.export import export_bundle
from flowdeck.engine.registry import Catalog
from tests.support.documents import minimal_app

HELD = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)
"""Long before the machine's clock: a stamp taken from the machine's clock cannot equal it."""


@pytest.fixture(autouse=True)
def held() -> Iterator[None]:
    clock.set_now(HELD)
    yield
    clock.set_now(None)


def test_a_session_expires_on_the_engine_clock(db, make_user):
    """Is a session started and checked without an explicit moment live after 10 held minutes and idle-expired after 3 held hours?"""
    lea = make_user("lea")
    token = db.run(lambda c: sessions.start_session(c, lea.user_id, ip=None, user_agent=None))
    clock.set_now(HELD + dt.timedelta(minutes=10))
    assert db.read(lambda c: sessions.check_session(c, token, sessions.Timeouts())).user_id == lea.user_id
    clock.set_now(HELD + dt.timedelta(hours=3))
    assert db.read(lambda c: sessions.check_session(c, token, sessions.Timeouts())).expired


def test_a_reset_link_expires_on_the_engine_clock(db, make_user, system):
    """Does a reset link work within its hours on the held clock and not after them?"""
    lea = make_user("lea")
    token = db.run(lambda c: accounts.start_reset(c, lea.user_id, actor=system))
    clock.set_now(HELD + dt.timedelta(hours=accounts.LINK_HOURS - 1))
    assert db.read(lambda c: accounts.reset_user(c, token)) is not None
    clock.set_now(HELD + dt.timedelta(hours=accounts.LINK_HOURS + 1))
    assert db.read(lambda c: accounts.reset_user(c, token)) is None


def test_history_audit_versions_and_the_archive_are_dated_by_the_engine_clock(db, system, make_user):
    """Are a history entry, the audit entries, the app's row and a field's archive row stamped with the held moment?"""
    apps.apply_document(db, minimal_app(), actor=system)
    removed = minimal_app()
    del removed["entities"]["task"]["fields"]["estimate"]
    apps.apply_document(db, removed, actor=system)
    db.run(lambda c: history.add_entry(c, app="demo", entity="task", record_id=1, actor_id=None, action="update"))
    entries = db.read(lambda c: history.list_entries(c, "demo", "task", 1))
    assert [e.at for e in entries] == [HELD]
    stamps = db.read(
        lambda c: (
            set(c.execute(sa.select(models.audit.c.at)).scalars()),
            c.execute(sa.select(models.apps.c.installed_at, models.apps.c.updated_at)).one(),
            c.execute(sa.select(models.archived.c.archived_at)).scalar_one(),
        )
    )
    assert stamps == ({HELD}, (HELD, HELD), HELD)


def test_a_bundle_manifest_is_dated_by_the_engine_clock(db, system):
    """Does an exported bundle's manifest say it was exported at the held moment?"""
    apps.apply_document(db, minimal_app(), actor=system)
    registry = Catalog(db).current()
    data = db.read(lambda c: export_bundle(c, registry, "demo"))
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("manifest.json"))
    assert manifest["exported_at"] == "2025-03-01T09:00:00Z"
