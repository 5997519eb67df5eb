"""Computed fields: formulas evaluated on every write and stored, so lists can filter and
sort by them like any column. Line-item formulas run first, then the record's own, each in
dependency order. A formula that fails on the data (division by zero, text where a number
is needed) leaves its field empty rather than blocking the save.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flowdeck.engine.expressions import ExpressionError
from flowdeck.engine.fieldtypes import scale_of
from flowdeck.engine.schema.model import Entity, Field


def _cast(field: Field, value: Any) -> Any:
    if value is None:
        return None
    result = field.result or "decimal"
    try:
        if result == "integer":
            if isinstance(value, bool):
                return int(value)
            return int(Decimal(value).to_integral_value(rounding=ROUND_HALF_UP))
        if result in ("decimal", "money", "percent"):
            if isinstance(value, bool):
                value = int(value)
            number = Decimal(value)
            if not number.is_finite() or abs(number) >= Decimal(10) ** 13:
                return None
            return number.quantize(Decimal(1).scaleb(-scale_of(field)), rounding=ROUND_HALF_UP)
        if result == "text":
            return str(value)[:1000]
        if result == "boolean":
            return bool(value)
        if result == "date":
            return value if isinstance(value, dt.date) and not isinstance(value, dt.datetime) else None
        if result == "datetime":
            if not isinstance(value, dt.datetime):
                return None
            return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    except (ArithmeticError, ValueError, TypeError):
        return None
    return None


def _evaluate(field: Field, env: Mapping[str, Any]) -> Any:
    assert field.formula is not None
    try:
        return _cast(field, field.formula.evaluate(env))
    except ExpressionError:
        return None


def compute_row(table_field: Field, row: dict[str, Any], me: int | None) -> dict[str, Any]:
    """Fill a line item's computed columns in place."""
    env = {**row, "me": me}
    for key in table_field.computed_order:
        row[key] = env[key] = _evaluate(table_field.child(key), env)
    return row


def compute_values(entity: Entity, values: dict[str, Any], system: Mapping[str, Any]) -> dict[str, Any]:
    """Fill every computed field of `values` (and of its line items) in place.

    `system` supplies what formulas may read besides fields: id, state, me, created_by...
    """
    me = system.get("me")
    for fld in entity.fields:
        if fld.is_table and fld.computed_order:
            for row in values.get(fld.key) or []:
                compute_row(fld, row, me)
    if not entity.computed_order:
        return values
    env = {**system, **values}
    for key in entity.computed_order:
        values[key] = env[key] = _evaluate(entity.get_field(key), env)
    return values


def expression_env(entity: Entity, values: Mapping[str, Any], system: Mapping[str, Any]) -> dict[str, Any]:
    """The names a guard or condition sees for a record."""
    return {**system, **values}
