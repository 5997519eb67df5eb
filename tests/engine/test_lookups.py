"""Names for showing a page of records: users, referenced titles and files, one statement
per kind whatever the number of rows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from flowdeck.engine import files, lookups, records
from flowdeck.engine.db import Database
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import Registry
from tests.support.documents import tracker_app


@pytest.fixture
def registry(install) -> Registry:
    return install(tracker_app())


@pytest.fixture
def lead(make_user) -> Actor:
    return make_user("lea", {"demo": ["lead"]})


@contextmanager
def counted(db: Database) -> Iterator[list[str]]:
    """The SQL statements run inside the block."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)


def _file(db: Database, name: str, actor: Actor) -> int:
    return db.run(lambda c: files.add_file(c, filename=name, size=1, sha256="0" * 64, actor_id=actor.user_id))


def test_names_of_users_titles_and_files(db, registry, lead):
    """Are user names, referenced records' titles and file names looked up for the rows given?"""
    et = registry.entity("demo", "task")
    parent = db.run(lambda c: records.create_record(c, et, {"title": "Parent"}, actor=lead))
    spec = _file(db, "plan.pdf", lead)
    row = {"owner": lead.user_id, "watchers": [lead.user_id], "parent": parent.id, "related": [parent.id, 999], "spec": spec}
    names = db.read(lambda c: lookups.names_for(c, et, [row, {"created_by": lead.user_id}], registry))
    assert names.users == {lead.user_id: "Lea"}
    assert names.refs == {("task", parent.id): "Parent"}
    assert names.files == {spec: "plan.pdf"}


def test_one_statement_per_kind_whatever_the_rows(db, registry, lead):
    """Does a page of many rows run as many statements as a page of one (users, one per referenced entity, files)?"""
    et = registry.entity("demo", "task")
    parents = [db.run(lambda c, n=n: records.create_record(c, et, {"title": f"P{n}"}, actor=lead)) for n in range(5)]
    spec = _file(db, "plan.pdf", lead)
    rows = [{"owner": lead.user_id, "parent": p.id, "spec": spec} for p in parents]
    counts = []
    for page in (rows[:1], rows):
        with counted(db) as seen:
            db.read(lambda c, page=page: lookups.names_for(c, et, page, registry, ["owner", "parent", "spec"]))
        counts.append(len([s for s in seen if s.lstrip().upper().startswith("SELECT")]))
    assert counts == [3, 3]
    assert "titles" in et.statements  # built once, kept on the entity's tables


def test_nothing_to_look_up_runs_no_statement(db, registry):
    """Do rows without users, references or files cost no statement at all?"""
    et = registry.entity("demo", "task")
    with counted(db) as seen:
        names = db.read(lambda c: lookups.names_for(c, et, [{"title": "a"}], registry, ["title"]))
    assert names == lookups.Names()
    assert not [s for s in seen if s.lstrip().upper().startswith("SELECT")]
