"""Who listens to which record events is known once per registry: a write nobody listens to
reads neither the rules nor the webhook endpoints, and an admin's change of an endpoint is
seen by the next write of every process (the schema generation moves with it)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from flowdeck.engine import events, models, records, watchers
from flowdeck.engine.automations import listener
from flowdeck.engine.db import Database
from flowdeck.engine.registry import Catalog, registry_for
from flowdeck.engine.system import bump_schema_generation, transaction_generation
from flowdeck.engine.webhooks import endpoints, outgoing
from flowdeck.engine.webhooks.addresses import AddressPolicy
from tests.support.documents import effects_app

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
URL = "http://127.0.0.1:9/hook"


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    sent: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:
        sent.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", seen)
    try:
        yield sent
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", seen)


def _endpoint(db: Database, kinds=("record.created",), entities=()) -> int:
    return db.run(
        lambda c: endpoints.create_endpoint(
            c, "demo", url=URL, description="ops", kinds=list(kinds), entities=list(entities), known_entities=["task"],
            policy=AddressPolicy(allow_private=True), actor_id=None, now=NOW,
        )
    )[0]  # fmt: skip


def _deliveries(db: Database) -> int:
    return db.read(lambda c: c.execute(sa.select(sa.func.count()).select_from(models.webhook_deliveries)).scalar_one())


def _create(db: Database, task, admin, title: str) -> int:
    return db.run(lambda c: records.create_record(c, task, {"title": title, "estimate": "1"}, actor=admin).id)


def test_a_write_nobody_listens_to_reads_neither_rules_nor_endpoints(db, install, make_user):
    """After the first write, does a create on an entity without rules, endpoints or
    reminders send only its own statements and one generation read?"""
    task = install(effects_app()).entity("demo", "task")
    admin = make_user("ad", {"demo": ["member"]})
    _create(db, task, admin, "warm")
    with statements(db) as sent:
        _create(db, task, admin, "quiet")
    assert not [s for s in sent if "fd_webhook_endpoints" in s]
    assert len([s for s in sent if "schema_generation" in s or "fd_meta" in s]) == 1
    told = db.read(lambda c: events.listeners_for(c, "demo", "task", "record.created"))
    assert outgoing.on_event not in told and listener.on_event not in told and watchers.tell_watchers not in told
    _endpoint(db)
    told = db.read(lambda c: events.listeners_for(c, "demo", "task", "record.created"))
    assert outgoing.on_event in told and listener.on_event not in told


def test_an_endpoint_change_reaches_the_next_write_of_another_process(db, install, make_user):
    """With a second engine on the same database (another process), whose index was built
    before: does each of create, narrowing to another entity, turning off, on and deleting
    an endpoint change what its very next write delivers?"""
    install(effects_app())
    admin = make_user("ad", {"demo": ["member"]})
    other = Database(db.url)
    try:
        other_task = Catalog(other).current().entity("demo", "task")
        _create(other, other_task, admin, "before any endpoint")
        assert _deliveries(db) == 0
        endpoint_id = _endpoint(db)
        _create(other, other_task, admin, "one endpoint")
        assert _deliveries(db) == 1
        db.run(
            lambda c: endpoints.update_endpoint(
                c, "demo", endpoint_id, url=URL, description="ops", kinds=["record.created"], entities=["note"],
                known_entities=["task", "note"], policy=AddressPolicy(allow_private=True), now=NOW,
            )
        )  # fmt: skip
        _create(other, other_task, admin, "another entity's endpoint")
        assert _deliveries(db) == 1
        db.run(lambda c: endpoints.update_endpoint(
            c, "demo", endpoint_id, url=URL, description="ops", kinds=["record.created"], entities=[], known_entities=["task"],
            policy=AddressPolicy(allow_private=True), now=NOW,
        ))  # fmt: skip
        db.run(lambda c: endpoints.set_enabled(c, "demo", endpoint_id, False, now=NOW))
        _create(other, other_task, admin, "endpoint off")
        assert _deliveries(db) == 1
        db.run(lambda c: endpoints.set_enabled(c, "demo", endpoint_id, True, now=NOW))
        _create(other, other_task, admin, "endpoint on again")
        assert _deliveries(db) == 2
        db.run(lambda c: endpoints.delete_endpoint(c, "demo", endpoint_id))
        _create(other, other_task, admin, "endpoint gone")
        assert _deliveries(db) == 0  # deleting an endpoint forgets its deliveries
    finally:
        other.dispose()


def test_the_generation_is_read_once_per_transaction_and_a_bump_in_it_is_seen(db, install):
    """Is the generation read once for many uses in one transaction, read again in the next,
    and does a bump inside the transaction replace the kept value?"""
    install(effects_app())

    def work(conn) -> tuple[int, int, int]:
        first = transaction_generation(conn)
        again = transaction_generation(conn)
        bumped = bump_schema_generation(conn)
        return first, again, bumped if transaction_generation(conn) == bumped else -1

    with statements(db) as sent:
        first, again, bumped = db.run(work)
    assert first == again and bumped == first + 1
    reads = [s for s in sent if s.lstrip().upper().startswith("SELECT") and "fd_meta" in s]
    assert len(reads) == 3  # the first use, the bump's own read, the use after the bump
    assert db.read(transaction_generation) == bumped
    assert db.read(registry_for).generation == bumped
