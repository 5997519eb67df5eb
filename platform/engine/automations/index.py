"""Which rules can answer an event, worked out once per registry: per (app, entity, event
kind) the enabled rules whose trigger listens to that kind. The listener's cost for an
event no rule listens to is then one generation read and one dictionary lookup, whatever
the number of rules in the app.

The registry is `listening.registry_for`'s: one per database engine, swapped when the schema
generation changes (the same rule as `Catalog`), so a worker picks up a newly applied
document at once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy.engine import Connection

from flowdeck.engine.automations.triggers import TRIGGERS
from flowdeck.engine.listening import registry_for
from flowdeck.engine.registry import Registry
from flowdeck.engine.schema.model import Automation

Index = Mapping[tuple[str, str, str], tuple[Automation, ...]]
_KEY = "automations.index"
__all__ = ["Index", "build", "index_for", "interest", "registry_for"]


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


def interest(conn: Connection, registry: Registry) -> Iterable[tuple[str, str, str]]:
    """What the automations listener listens to: the keys some enabled rule is indexed under."""
    return index_for(registry).keys()
