"""Which record events anyone listens to, known once per registry.

Every record write tells its listeners (`events.emit`): automations, watchers, webhooks,
reminders. Asking each of them on every write cost statements the write did not need (the
schema generation read again by each, the app's webhook endpoints read each time). Instead
each listener says once per registry which (app, entity, event kind) it listens to, and the
writer asks this index before building the event: a write nobody listens to costs one
generation read per transaction and a dictionary lookup.

The registry is `registry.registry_for`'s: one per database engine, swapped when the schema
generation (read once per transaction, `system.transaction_generation`) changes, so a
worker sees a newly applied document at once. Configuration that lives in tables but
decides who listens (webhook endpoints) bumps the schema generation when it changes, as
calendars do, so the index is rebuilt everywhere."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

if TYPE_CHECKING:  # the registry's loader imports the listeners, which import this
    from flowdeck.engine.registry import Registry

Key = tuple[str, str, str]
"""(app, entity, event kind)."""
Interest = Callable[[Connection, "Registry"], Iterable[Key]]
"""What a listener listens to under a registry (called once per registry)."""


def entities(registry: Registry) -> Iterable[tuple[str, str, object]]:
    """(app, entity, its model) of every entity of the registry."""
    for app_key, tables in registry.apps.items():
        for entity_key, et in tables.entities.items():
            yield app_key, entity_key, et.entity


def build(conn: Connection, registry: Registry, listeners: Iterable[tuple[object, Interest | None]]) -> dict[Key | None, tuple]:
    """Per key, the listeners that want it, in subscription order; under `None` those that
    listen to everything (a listener subscribed without an interest)."""
    ordered = list(listeners)
    wanted: dict[object, set[Key]] = {}
    for listener, interest in ordered:
        if interest is not None:
            wanted[listener] = set(interest(conn, registry))
    keys = set().union(*wanted.values()) if wanted else set()
    index: dict[Key | None, tuple] = {None: tuple(listener for listener, interest in ordered if interest is None)}
    for key in keys:
        index[key] = tuple(listener for listener, interest in ordered if interest is None or key in wanted[listener])
    return index
