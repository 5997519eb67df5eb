"""Checking the app document's `automations` when it is loaded: keys unique, the entity
known, the trigger and every action checked by their own registry entry (so each reports
its problems at its JSON path), the condition compiled with `old.`, `new.` and
`changed("field")`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flowdeck.engine.automations.actions import check_action
from flowdeck.engine.automations.base import CheckContext
from flowdeck.engine.automations.triggers import check_trigger
from flowdeck.engine.expressions import Scope
from flowdeck.engine.messages import M
from flowdeck.engine.phrases import suggestion
from flowdeck.engine.schema.checks import Checks
from flowdeck.engine.schema.label import Label
from flowdeck.engine.schema.model import Automation, AutomationAction, humanize

SYSTEM_NAMES = frozenset({"id", "me", "created_at", "created_by", "updated_at", "updated_by"})


def automation_scope(fields: Mapping[str, Any], *, has_workflow: bool) -> Scope:
    """What a rule's expressions may name: the record's values (as they are now), `me` (the
    person who caused the event), and `old.x` / `new.x` with `changed("x")`."""
    plain = {k for k, f in fields.items() if f.get("type") != "table"} | SYSTEM_NAMES
    if has_workflow:
        plain.add("state")
    tables = {k: frozenset(f.get("fields", {})) for k, f in fields.items() if f.get("type") == "table"}
    record = frozenset(plain - {"me"}) | frozenset(tables)
    return Scope(names=frozenset(plain), tables=tables, records={"old": record, "new": record})


class AutomationChecks(Checks):
    def automations(self, specs: Sequence[Mapping[str, Any]]) -> tuple[Automation, ...]:
        out = []
        seen: dict[str, int] = {}
        entities = self.doc["entities"]
        for index, spec in enumerate(specs):
            path = ("automations", index)
            key = spec["key"]
            if key in seen:
                self.problem(
                    (*path, "key"), M("automation “%(key)s” is already defined at automations[%(index)s]", key=key, index=seen[key])
                )
            seen.setdefault(key, index)
            entity = spec["entity"]
            if entity not in entities:
                known = list(entities)
                self.problem((*path, "entity"), M("unknown entity “%(key)s”%(hint)s", key=entity, hint=suggestion(entity, known)))
                continue
            fields = entities[entity]["fields"]
            on = spec["trigger"].get("on")
            scope = automation_scope(fields, has_workflow="workflow" in entities[entity])
            ctx = CheckContext(self, self.doc, entity, fields, scope, on if isinstance(on, str) else None)
            trigger = check_trigger(ctx, (*path, "trigger"), spec["trigger"])
            condition = self.expression((*path, "condition"), spec.get("condition"), ctx.scope)
            actions = []
            for position, action in enumerate(spec["actions"]):
                checked = check_action(ctx, (*path, "actions", position), action)
                if checked is not None:
                    actions.append(AutomationAction(checked[0], checked[1], position))
            if trigger is None:
                continue
            out.append(
                Automation(
                    key=key,
                    label=Label.of(spec.get("label"), humanize(key)),
                    entity=entity,
                    trigger=trigger[0],
                    trigger_settings=trigger[1],
                    condition=condition,
                    actions=tuple(actions),
                    run_as=spec.get("run_as", "system"),
                    enabled=spec.get("enabled", True),
                    rate_limit=spec.get("rate_limit", 100),
                )
            )
        return tuple(out)
