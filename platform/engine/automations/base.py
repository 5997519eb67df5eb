"""What the trigger and action registries share: the context a document check gets, the
context an action runs in, and the way a value becomes JSON for a run's log."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from flowdeck.engine.expressions import CHANGED_KEY, CLOCK_KEY, Expression, Scope
from flowdeck.engine.messages import Message
from flowdeck.engine.permissions import Actor

if TYPE_CHECKING:
    from flowdeck.engine.records import Record
    from flowdeck.engine.schema.checks import Checks, Path
    from flowdeck.engine.schema.model import App
    from flowdeck.engine.storage.tables import AppTables, EntityTables


class ActionFailed(Exception):
    """An action that cannot do its work (a refused guard, no one to assign): the run is
    logged as failed with this message and none of its actions' changes are kept."""

    def __init__(self, message: Message) -> None:
        super().__init__(str(message))
        self.message = message


@dataclass
class CheckContext:
    """What a registry entry's document check may use: the checks collecting problems (with
    `expression`), the whole document, and the rule's entity, its raw fields and scopes."""

    checks: Checks
    document: Mapping[str, Any]
    entity: str
    fields: Mapping[str, Any]
    scope: Scope
    """Plain names (the record's values, `me`, `state`...) with `old.` / `new.`."""
    trigger: str | None = None
    """The rule's trigger (`on`): some action settings (a notify's `digest`) need one."""

    def entity_fields(self, key: str) -> Mapping[str, Any]:
        return self.document["entities"].get(key, {}).get("fields", {})

    def transitions(self, entity: str) -> list[str]:
        workflow = self.document["entities"].get(entity, {}).get("workflow") or {}
        transitions = workflow.get("transitions") or {}
        return list(transitions) if isinstance(transitions, Mapping) else [t.get("key") for t in transitions]

    def expression(self, path: Path, source: Any, scope: Scope | None = None) -> Expression | None:
        return self.checks.expression(path, source, scope or self.scope)


@dataclass
class RunContext:
    """One run of a rule's actions: the connection (inside the run's savepoint), the app's
    tables, the record as it is now (None after a delete), the event's values, who the
    actions act as, and what they did so far (`changes`, `sent`) for the run's log."""

    conn: Connection
    tables: AppTables
    et: EntityTables
    record: Record | None
    old: Mapping[str, Any]
    changed: frozenset[str]
    actor: Actor
    event_actor: int | None
    now: dt.datetime
    rule_key: str
    run_id: int | None
    rule_label: Any = None
    changes: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    dry: bool = False
    reload: Callable[[], None] | None = None

    @property
    def app(self) -> App:
        return self.tables.app

    def values(self) -> dict[str, Any]:
        """The record's values as actions read them (the values `old` had after a delete)."""
        return dict(self.record.values) if self.record is not None else dict(self.old)

    def env(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        values = self.values()
        system = self.record.system(self.event_actor) if self.record is not None else {"me": self.event_actor}
        return {**system, **values, "old": dict(self.old), "new": values, CHANGED_KEY: self.changed, CLOCK_KEY: self.now, **(extra or {})}


def jsonable(value: Any) -> Any:
    """A value as a run's log keeps it: decimals, dates and times as text."""

    def default(item: Any) -> Any:
        if isinstance(item, (Decimal, dt.date, dt.datetime, dt.time)):
            return str(item)
        if isinstance(item, (set, frozenset)):
            return sorted(item)
        if isinstance(item, Message):
            return item.to_json()
        return str(item)

    return json.loads(json.dumps(value, default=default))
