"""Which rules can answer an event, worked out once per registry: per (app, entity, event
kind) the enabled rules whose trigger listens to that kind. The listener's cost for an
event no rule listens to is then one generation read and one dictionary lookup, whatever
the number of rules in the app.

The registry is kept per database engine and swapped when the schema generation changes
(the same rule as `Catalog`), so a worker picks up a newly applied document at once."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping

from sqlalchemy.engine import Connection, Engine

from flowdeck.engine.automations.triggers import TRIGGERS
from flowdeck.engine.registry import Registry, load_registry
from flowdeck.engine.schema.model import Automation
from flowdeck.engine.system import schema_generation

Index = Mapping[tuple[str, str, str], tuple[Automation, ...]]
_registries: weakref.WeakKeyDictionary[Engine, Registry] = weakref.WeakKeyDictionary()
_lock = threading.Lock()
_KEY = "automations.index"


def registry_for(conn: Connection) -> Registry:
    """The registry of the current schema generation of `conn`'s database."""
    generation = schema_generation(conn)
    engine = conn.engine
    found = _registries.get(engine)
    if found is not None and found.generation == generation:
        return found
    with _lock:
        found = _registries.get(engine)
        if found is None or found.generation != generation:
            found = _registries[engine] = load_registry(conn)
        return found


def build(registry: Registry) -> Index:
    index: dict[tuple[str, str, str], list[Automation]] = {}
    for tables in registry.apps.values():
        for rule in tables.app.automations:
            if not rule.enabled:
                continue
            for kind in TRIGGERS[rule.trigger].events:
                index.setdefault((tables.app.key, rule.entity, kind), []).append(rule)
    return {key: tuple(rules) for key, rules in index.items()}


def index_for(registry: Registry) -> Index:
    found = registry.memo.get(_KEY)
    if found is None:
        found = registry.memo[_KEY] = build(registry)
    return found  # type: ignore[return-value]
