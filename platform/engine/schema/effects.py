"""Checking a transition's `effects` and a workflow's `on_create` routes when the document
is loaded, so a typo, a computed target or a value that cannot fit its field is a problem
of the document at its JSON path, not a refusal at some later transition.

An expression that reads no name (no field, no `me`) is worked out here and parsed with the
target field's own type; the others are parsed the same way when the transition runs
(`engine.effects`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flowdeck.engine.expressions import Expression, ExpressionError, Scope
from flowdeck.engine.fieldtypes import FIELD_TYPES, InvalidValue, types_in
from flowdeck.engine.messages import M
from flowdeck.engine.phrases import said_by
from flowdeck.engine.schema.checks import Checks, Path, unknown_field, unknown_state
from flowdeck.engine.schema.model import Effect, Field, Route

# Types an effect cannot write: filled by the system, or rows no expression can make.
NOT_SETTABLE = types_in("computed", "serial", "table")


class EffectChecks(Checks):
    def effects(
        self, path: Path, specs: Sequence[Mapping[str, Any]], fields: Mapping[str, Any], typed: Mapping[str, Field], scope: Scope
    ) -> tuple[Effect, ...]:
        effects = []
        seen: dict[str, int] = {}
        for index, spec in enumerate(specs):
            epath = (*path, index)
            target = spec.get("set", spec.get("clear"))
            where = (*epath, "set" if "set" in spec else "clear")
            if target not in fields:
                self.problem(where, unknown_field(str(target), list(fields)))
                continue
            kind = fields[target]["type"]
            if kind in NOT_SETTABLE:
                self.problem(where, M("“%(key)s” is %(kind)s: an effect cannot set it", key=target, kind=kind))
                continue
            if target in seen:
                self.problem(where, M("“%(key)s” is already set by effects[%(index)s]", key=target, index=seen[target]))
            seen.setdefault(target, index)
            expression = self.expression((*epath, "to"), spec.get("to"), scope) if "set" in spec else None
            if expression is not None and target in typed:
                self.fits((*epath, "to"), expression, typed[target])
            if "set" in spec and expression is None:
                continue
            effects.append(Effect(target, expression))
        return tuple(effects)

    def fits(self, path: Path, expression: Expression, field: Field) -> None:
        """A value that reads no name (`"done"`, `3`, `now()`) must fit the field: `now()`
        is a date and time whenever it runs, so it does not fit an integer field."""
        if any(not name.endswith("()") for name in expression.names):  # the clock is listed as "now()"
            return
        try:
            value = expression.evaluate({})
            FIELD_TYPES[field.type].parse(field, value)
        except (ExpressionError, InvalidValue) as exc:
            self.problem(path, M("does not fit field “%(key)s”: %(problem)s", key=field.key, problem=said_by(exc)))

    def routes(self, path: Path, specs: Sequence[Mapping[str, Any]], state_keys: Sequence[str], scope: Scope) -> tuple[Route, ...]:
        routes = []
        for index, spec in enumerate(specs):
            rpath = (*path, index)
            if spec["state"] not in state_keys:
                self.problem((*rpath, "state"), unknown_state(spec["state"], state_keys))
                continue
            when = self.expression((*rpath, "when"), spec["when"], scope)
            if when is not None:
                routes.append(Route(when, spec["state"]))
        return tuple(routes)
