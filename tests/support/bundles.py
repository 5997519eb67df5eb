"""Helpers of the bundle tests (engine and CLI): a tracker app with every kind of value, seeded records."""

from __future__ import annotations

import copy
import hashlib
import io
import struct
import zipfile

import pytest
import sqlalchemy as sa

from flowdeck.engine import bundles, files, models, records, users
from flowdeck.engine.apps import apply_document
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import Catalog
from flowdeck.engine.workflow import transition_record
from tests.support.documents import minimal_app

SYSTEM = Actor.system()


def tracker_doc():
    doc = minimal_app()
    doc["key"] = "tracker"
    doc["source"] = "acme.tasks"
    task = doc["entities"]["task"]
    task["fields"].update(
        {
            "code": {"type": "text", "unique": True},
            "owner": {"type": "user"},
            "reviewers": {"type": "user", "many": True},
            "parent": {"type": "reference", "to": "task"},
            "tags": {"type": "multiselect", "options": ["red", "blue"]},
            "due": {"type": "date"},
            "spec": {"type": "attachment"},
            "photos": {"type": "attachment", "many": True},
            "lines": {
                "type": "table",
                "fields": {"item": {"type": "text"}, "hours": {"type": "decimal"}, "by": {"type": "user"}, "scan": {"type": "attachment"}},
            },
        }
    )
    task["tree"] = "parent"
    task["workflow"]["transitions"][2]["approval"] = {"steps": [{"key": "pm", "approvers": {"users": ["erin"]}}]}
    doc["entities"]["note"] = {
        "fields": {
            "number": {"type": "autonumber", "format": "N-{####}"},
            "title": {"type": "text", "required": True},
            "task": {"type": "reference", "to": "task"},
            "related": {"type": "reference", "to": "task", "many": True},
            "logged": {"type": "datetime"},
            "done": {"type": "boolean"},
            "effort": {"type": "money", "currency": "CNY"},
        }
    }
    return doc


def add_user(db, username, *, email=None, admin=False, display=None):
    return db.run(lambda conn: users.create_user(conn, username, password="password123", display_name=display, email=email, is_admin=admin))


def seed(db, files_dir=None, doc=None):
    """The tracker app with users, records (a deleted one leaves a gap in the ids), line
    items, references, a transition and, with `files_dir`, attachments."""
    apply_document(db, doc or tracker_doc(), actor=SYSTEM)
    ann = add_user(db, "ann", email="ann@example.com", admin=True, display="Ann Admin")
    erin = add_user(db, "erin", email="erin@example.com", display="Erin Wu")
    frank = add_user(db, "frank", email="frank@example.com", display="Frank Li")
    registry = Catalog(db).current()
    task, note = registry.entity("tracker", "task"), registry.entity("tracker", "note")

    def work(conn):
        admin = users.actor_for(conn, ann)
        attached = {}
        if files_dir is not None:
            for name, content in (("spec.pdf", b"%PDF spec"), ("copy-of-spec.pdf", b"%PDF spec"), ("photo.png", b"\x89PNG photo")):
                sha, size = files.save_blob(files_dir, io.BytesIO(content), 1 << 20)
                attached[name] = files.add_file(conn, filename=name, size=size, sha256=sha, actor_id=ann)
        scratch = records.create_record(conn, task, {"title": "scratch"}, actor=admin)
        t1 = records.create_record(
            conn,
            task,
            {
                "title": "Plan the launch",
                "code": "T-1",
                "owner": erin,
                "reviewers": [erin, frank],
                "tags": ["red", "blue"],
                "due": "2026-12-01",
                "estimate": "12.50",
                "spec": attached.get("spec.pdf"),
                "photos": [attached[n] for n in ("photo.png", "copy-of-spec.pdf") if n in attached],
                "lines": [
                    {"item": "draft", "hours": "1.5", "by": frank, "scan": attached.get("photo.png")},
                    {"item": "review", "hours": "2", "by": erin},
                ],
            },
            actor=admin,
        )
        t2 = records.create_record(conn, task, {"title": "Book the room", "code": "T-2", "parent": t1.id, "owner": frank}, actor=admin)
        transition_record(conn, task, t2.id, "start", actor=admin)
        transition_record(conn, task, t2.id, "submit", actor=admin)
        records.delete_record(conn, task, scratch.id, actor=admin)
        records.create_record(
            conn,
            note,
            {
                "title": "Kick-off",
                "task": t1.id,
                "related": [t2.id, t1.id],
                "logged": "2026-11-02T09:30:00Z",
                "done": True,
                "effort": "99.90",
            },
            actor=admin,
        )
        records.create_record(conn, note, {"title": "Follow-up", "task": t2.id}, actor=admin)

    db.run(work)
    return {"ann": ann, "erin": erin, "frank": frank}


def export(db, key="tracker", **options):
    return db.read(lambda conn: bundles.export_bundle(conn, Catalog(db).current(), key, **options))


def sha(data):
    return hashlib.sha256(data).hexdigest()


def document(db, key):
    a, v = models.apps, models.app_versions
    return db.read(
        lambda conn: conn.execute(
            sa.select(v.c.document).join(a, (a.c.key == v.c.app) & (a.c.version == v.c.version)).where(a.c.key == key)
        ).scalar()
    )


def count(db, table, where=None):
    query = sa.select(sa.func.count()).select_from(table)
    if where is not None:
        query = query.where(where)
    return db.read(lambda conn: conn.execute(query).scalar())


def _flip_byte(data, name):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(name)
    name_length, extra_length = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
    position = info.header_offset + 30 + name_length + extra_length + info.compress_size // 2
    damaged = bytearray(data)
    damaged[position] ^= 0xFF
    return bytes(damaged)


def _upstream_v2(doc):
    doc = copy.deepcopy(doc)
    fields = doc["entities"]["task"]["fields"]
    fields["risk"] = {"type": "select", "options": ["low", "high"], "label": "Risk"}
    fields["estimate"]["label"] = "Estimate (hours)"
    fields["title"]["label"] = "Headline"
    return doc


@pytest.fixture
def other_db(databases):
    """A second, fresh instance (system tables only) to import into."""
    database = databases.fresh(databases.template("empty", lambda db: None))
    yield database
    databases.drop(database)
