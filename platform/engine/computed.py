"""Computed fields: formulas evaluated on every write and stored, so lists can filter and
sort by them like any column. Line-item formulas run first, then the record's own, each in
dependency order.

A formula's value must fit its declared result type: a list is not stored as its Python
text in a text field, and a text in a number field is not guessed at. A value that does not
fit, and a formula that fails on the data (division by zero, text where a number is
needed), leave the field empty rather than blocking the save, and that is never silent:
the problem is logged when the record is written, and `formula_problems` says it again
when the record is shown. The problem is not stored: it follows from the stored values and
the formula alone, so working it out again when a page shows the record costs one
evaluation per empty computed field and can never disagree with the data (a stored note
would need a column per field and would go stale when a schema change recomputes).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flowdeck.engine.expression_values import is_number, kind_of
from flowdeck.engine.expressions import ExpressionError
from flowdeck.engine.fieldtypes import FIELD_TYPES, scale_of
from flowdeck.engine.messages import ENGLISH, M, Message, Mp, render
from flowdeck.engine.schema.model import Entity, Field

log = logging.getLogger(__name__)

TEXT_LIMIT = 1000
# What a formula should have given: a number for every result of the number family, else
# the one kind of value each other result type holds (checked one by one in `_cast`).
EXPECTED_NUMBER = Mp("a kind of value", "number")
EXPECTED = {
    "text": Mp("a kind of value", "text"),
    "boolean": Mp("a kind of value", "boolean"),
    "date": Mp("a kind of value", "date"),
    "datetime": Mp("a kind of value", "datetime"),
}


def _mismatch(value: Any, result: str) -> Message:
    expected = EXPECTED_NUMBER if _is_number_result(result) else EXPECTED[result]
    return M("the formula gave %(kind)s, expected %(expected)s", kind=kind_of(value), expected=expected)


def _is_number_result(result: str) -> bool:
    kind = FIELD_TYPES.get(result)
    return kind is not None and kind.family == "number"


def _number(field: Field, value: Any, result: str) -> tuple[Any, Message | None]:
    if isinstance(value, bool):
        value = int(value)
    if not is_number(value):
        return None, _mismatch(value, result)
    number = Decimal(value)
    if not number.is_finite() or abs(number) >= Decimal(10) ** 13:
        return None, M("the formula gave %(value)s, too large for this field", value=str(value)[:40])
    if FIELD_TYPES[result].whole:
        return int(number.to_integral_value(rounding=ROUND_HALF_UP)), None
    return number.quantize(Decimal(1).scaleb(-scale_of(field)), rounding=ROUND_HALF_UP), None


def _cast(field: Field, value: Any) -> tuple[Any, Message | None]:
    """The value as the field stores it, or None and why it does not fit."""
    if value is None:
        return None, None
    result = field.result or "decimal"
    if _is_number_result(result):
        return _number(field, value, result)
    if result == "text" and (isinstance(value, (str, dt.date)) or is_number(value)):
        text = value.isoformat() if isinstance(value, dt.date) else str(value)
        return text[:TEXT_LIMIT], None
    if result == "boolean" and isinstance(value, bool):
        return value, None
    if result == "date" and isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value, None
    if result == "datetime" and isinstance(value, dt.datetime):
        return (value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)), None
    return None, _mismatch(value, result)


def evaluate(field: Field, env: Mapping[str, Any]) -> tuple[Any, Message | None]:
    """A formula's value for the names in `env`, cast to its result type, or None and the
    problem (a failure on the data, or a value of the wrong kind)."""
    assert field.formula is not None
    try:
        value = field.formula.evaluate(env)
    except ExpressionError as exc:
        return None, M("the formula failed: %(reason)s", reason=exc.message)
    except (ArithmeticError, ValueError, TypeError):
        return None, M("the formula failed on these values")
    try:
        return _cast(field, value)
    except (ArithmeticError, ValueError, TypeError):
        return None, _mismatch(value, field.result or "decimal")


def _evaluate(field: Field, env: Mapping[str, Any], where: str | None) -> Any:
    value, problem = evaluate(field, env)
    if problem is not None and where is not None:
        log.warning("formula %s.%s of %s gave no value: %s", where, field.key, env.get("id") or "a new record", render(problem, ENGLISH))
    return value


def compute_row(table_field: Field, row: dict[str, Any], me: int | None, where: str | None = None) -> dict[str, Any]:
    """Fill a line item's computed columns in place (problems logged under `where`)."""
    env = {**row, "me": me}
    for key in table_field.computed_order:
        row[key] = env[key] = _evaluate(table_field.child(key), env, where)
    return row


def compute_values(entity: Entity, values: dict[str, Any], system: Mapping[str, Any], *, log_problems: bool = False) -> dict[str, Any]:
    """Fill every computed field of `values` (and of its line items) in place.

    `system` supplies what formulas may read besides fields: id, state, me, created_by...
    `log_problems` (a write, not a form being filled in) logs each formula left empty.
    """
    me = system.get("me")
    where = f"{entity.app}.{entity.key}" if log_problems else None
    for fld in entity.fields:
        if fld.is_table and fld.computed_order:
            for row in values.get(fld.key) or []:
                compute_row(fld, row, me, None if where is None else f"{where}.{fld.key}")
    if not entity.computed_order:
        return values
    env = {**system, **values}
    for key in entity.computed_order:
        values[key] = env[key] = _evaluate(entity.get_field(key), env, where)
    return values


def formula_problems(entity: Entity, values: Mapping[str, Any], system: Mapping[str, Any]) -> dict[str, Message]:
    """Why each of the record's computed fields that holds no value has none (a formula
    that failed, or gave a value of the wrong kind), worked out again from the stored
    values; fields whose formula simply gives nothing are left out."""
    env = {**system, **values}
    problems: dict[str, Message] = {}
    for key in entity.computed_order:
        if values.get(key) is None:
            _value, problem = evaluate(entity.get_field(key), env)
            if problem is not None:
                problems[key] = problem
    return problems


def expression_env(entity: Entity, values: Mapping[str, Any], system: Mapping[str, Any]) -> dict[str, Any]:
    """The names a guard or condition sees for a record."""
    return {**system, **values}
