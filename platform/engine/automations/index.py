"""Which rules can answer an event, worked out once per registry: per (app, entity, event
kind) the enabled rules whose trigger listens to that kind. The listener's cost for an
event no rule listens to is then one generation read and one dictionary lookup, whatever
the number of rules in the app.

The index lives in the registry's memo (`flowdeck.engine.registry.registry_for`, one per
database engine and schema generation), so it goes when a newly applied document
replaces the registry."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy.engine import Connection

from flowdeck.engine.automations.triggers import TRIGGERS
from flowdeck.engine.registry import Registry
from flowdeck.engine.schema.model import Automation

Index = Mapping[tuple[str, str, str], tuple[Automation, ...]]
_KEY = "automations.index"
__all__ = ["Index", "build", "index_for", "interest"]


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
