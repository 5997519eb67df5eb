"""What a workflow does by itself: a transition's `effects` and a workflow's `on_create`
routes.

Effects are worked out after the transition's checks pass and before the record is
written, so they are saved with the state, the posted values and the one history entry of
the transition, in its transaction: an effect that fails refuses the transition and
nothing is written. Every effect reads the record as the transition will write it (the
stored values, the posted values over them, computed fields worked out again), not the
result of the effects before it, so their order does not matter. Each value is parsed with
its field's type, like a value a person sends.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping
from typing import Any

from flowdeck.engine.computed import compute_values
from flowdeck.engine.errors import TransitionRefused
from flowdeck.engine.expressions import CLOCK_KEY, ExpressionError
from flowdeck.engine.fieldtypes import FIELD_TYPES, InvalidValue
from flowdeck.engine.messages import M
from flowdeck.engine.schema.model import Entity, Transition


def effect_values(
    entity: Entity, transition: Transition, values: Mapping[str, Any], system: Mapping[str, Any], now: dt.datetime
) -> dict[str, Any]:
    """The values the transition's effects write, by field key; `values` are the record's
    values with the posted ones over them. `now()` and `today()` read `now`, the moment of
    the transition (its history entry's time). Raises TransitionRefused naming the effect's
    field when an expression fails or its value does not fit the field."""
    if not transition.effects:
        return {}
    merged = compute_values(entity, copy.deepcopy(dict(values)), dict(system))
    env = {**system, **merged, CLOCK_KEY: now}
    out: dict[str, Any] = {}
    for effect in transition.effects:
        fld = entity.get_field(effect.field)
        if effect.expression is None:
            out[fld.key] = [] if fld.is_many else None
            continue
        try:
            out[fld.key] = FIELD_TYPES[fld.type].parse(fld, effect.expression.evaluate(env))
        except (ExpressionError, InvalidValue) as exc:
            raise TransitionRefused(
                M(
                    "“%(transition)s” could not set %(field)s: %(problem)s",
                    transition=transition.label,
                    field=fld.label,
                    problem=exc.message,
                )
            ) from None
    return out


def first_state(entity: Entity, values: Mapping[str, Any], system: Mapping[str, Any]) -> str | None:
    """The state a new record starts in: the state of the first `on_create` route whose
    condition holds on its values, else the workflow's initial state. A condition that
    fails to evaluate (or gives null) does not hold."""
    workflow = entity.workflow
    if workflow is None:
        return None
    env = {**system, **values}
    for route in workflow.on_create:
        try:
            if route.when.test(env):
                return route.state
        except ExpressionError:
            continue
    return workflow.initial
