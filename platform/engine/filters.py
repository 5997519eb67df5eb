"""The filter language shared by view definitions, the query service and the web layer.

A filter maps a field to a condition: a value (equals), a list (one of), or an object of
operators (`{"gte": "$today", "lt": "$today+7"}`). `$me`, `$today` and `$now` are resolved
when the query runs, so a saved view stays relative to whoever opens it and when.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from flowdeck.engine.errors import ValueRefused
from flowdeck.engine.fieldtypes import FIELD_TYPES, MomentOutOfRange, is_many, operators_for, resolve_date, resolve_datetime, types_in
from flowdeck.engine.messages import M, Message
from flowdeck.engine.schema.model import Field, Workflow

OPERATORS = ("eq", "ne", "in", "not_in", "contains", "gt", "gte", "lt", "lte", "empty")
SYSTEM_OPERATORS = {
    "id": ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte"),
    "state": ("eq", "ne", "in", "not_in"),
    "state_category": ("eq", "ne", "in", "not_in"),
    "created_at": ("gt", "gte", "lt", "lte"),
    "updated_at": ("gt", "gte", "lt", "lte"),
    "created_by": ("eq", "ne", "in", "not_in"),
    "updated_by": ("eq", "ne", "in", "not_in"),
}
CATEGORIES = ("todo", "doing", "done")


class FilterError(ValueRefused):
    """A filter that does not fit its field; `message` says why."""


@dataclass(frozen=True)
class Condition:
    key: str
    op: str
    value: Any


@dataclass(frozen=True)
class Context:
    """What `$me`, `$today` and `$now` mean for one query."""

    user_id: int | None = None
    today: dt.date | None = None


def _split(condition: Any) -> list[tuple[str, Any]]:
    if isinstance(condition, Mapping):
        return list(condition.items())
    if isinstance(condition, (list, tuple)):
        return [("in", list(condition))]
    return [("eq", condition)]


def _check_value(key: str, op: str, value: Any, field: Field | None, workflow: Workflow | None) -> None:
    if op == "empty":
        if not isinstance(value, bool):
            raise FilterError(M("“empty” takes true or false"))
        return
    values = value if op in ("in", "not_in") else [value]
    if op in ("in", "not_in") and not isinstance(value, list):
        raise FilterError(M("“%(operator)s” takes a list of values", operator=op))
    for item in values:
        _check_one(key, op, item, field, workflow)


def _check_one(key: str, op: str, item: Any, field: Field | None, workflow: Workflow | None) -> None:
    if key == "state":
        if workflow is not None and item not in workflow.state_keys():
            raise FilterError(M('unknown state "%(value)s" (states: %(states)s)', value=item, states=workflow.state_keys()))
        return
    if key == "state_category":
        if item not in CATEGORIES:
            raise FilterError(M('unknown category "%(value)s" (categories: %(categories)s)', value=item, categories=CATEGORIES))
        return
    vtype = field.value_type if field is not None else {"created_by": "user", "updated_by": "user", "id": "integer"}.get(key, "datetime")
    if vtype == "user" and item in ("$me", "me"):
        return
    if item is None:
        raise FilterError(M('use {"empty": true} to find records without a value'))
    try:
        if vtype == "date":
            resolve_date(item)
        elif vtype == "datetime":
            resolve_datetime(item)
        elif field is not None and (op != "contains" or is_many(field)):
            _typed_one(key, op, item, field)
        elif field is not None and not isinstance(item, str) and field.value_type in types_in("text"):
            raise FilterError(M("“contains” on %(kind)s needs text", kind=field.value_type))
        elif field is None and vtype in ("user", "integer"):
            int(item)
    except MomentOutOfRange:
        raise FilterError(
            M("%(value)s does not fit this field: %(detail)s", value=repr(item), detail=M("must be a date and time from year 1 to 9999"))
        ) from None
    except (ValueRefused, ValueError, TypeError) as exc:
        detail = exc.message if isinstance(exc, ValueRefused) else _not_a(vtype)
        raise FilterError(M("%(value)s does not fit this field: %(detail)s", value=repr(item), detail=detail)) from None


def _not_a(value_type: str) -> Message:
    """What a value Python could not read as a date, a time or a number should have been."""
    if value_type == "date":
        return M("must be a date (YYYY-MM-DD)")
    if value_type == "datetime":
        return M("must be a date and time (YYYY-MM-DDTHH:MM)")
    if value_type == "user":
        return M("must be a user")
    return M("must be a whole number")


def kind_of_field(field_type: str) -> Message:
    """ "a text field", "an integer field": a field named by its type."""
    if field_type[:1] in ("a", "e", "i", "o", "u"):
        return M("an %(type)s field", type=field_type)
    return M("a %(type)s field", type=field_type)


def _result_field(field: Field) -> Field:
    """A computed field or a lookup read as a field of its value type (a lookup carries the
    options, currency and scale of the field it shows)."""
    return replace(field, type=field.value_type, lookup=None)


def _typed_one(key: str, op: str, item: Any, field: Field | None) -> Any:
    """One filter value as its column holds it, so the SQL compares like with like (a "5"
    from a URL is the number 5); `$me` and dates stay as they are until the query runs."""
    if field is None:
        if key == "id" or (key in ("created_by", "updated_by") and item not in ("$me", "me")):
            return int(item)
        return item
    if field.value_type in types_in("date") or (field.value_type == "user" and item in ("$me", "me")):
        return item
    if op == "contains" and not is_many(field):
        return item
    if field.type == "autonumber":
        return FIELD_TYPES["text"].coerce(field, item)
    target = field if not field.derived else _result_field(field)
    return FIELD_TYPES[target.type].coerce(target, item)


def _typed(key: str, op: str, value: Any, field: Field | None) -> Any:
    if op == "empty":
        return value
    if op in ("in", "not_in"):
        return [_typed_one(key, op, item, field) for item in value]
    return _typed_one(key, op, value, field)


def normalize_condition(key: str, condition: Any, field: Field | None, workflow: Workflow | None) -> list[Condition]:
    """Check one field's condition and return it as (key, operator, value) triples."""
    if field is not None and field.is_table:
        raise FilterError(M("a table field cannot be filtered"))
    allowed = operators_for(field) if field is not None else SYSTEM_OPERATORS.get(key, ())
    out = []
    for op, value in _split(condition):
        if op == "eq" and isinstance(value, list):
            op = "in"
        if field is not None and is_many(field) and op == "eq":
            op = "contains"
        if op not in allowed:
            what = kind_of_field(field.type) if field is not None else f"“{key}”"
            raise FilterError(
                M(
                    "operator “%(operator)s” does not apply to %(field_kind)s (operators: %(operators)s)",
                    operator=op,
                    field_kind=what,
                    operators=allowed,
                )
            )
        _check_value(key, op, value, field, workflow)
        out.append(Condition(key, op, _typed(key, op, value, field)))
    return out


def resolve_value(value: Any, field_type: str, context: Context) -> Any:
    """Replace `$me`, `$today`, `$now` (and relative dates) with their values for this query."""
    if isinstance(value, list):
        return [resolve_value(v, field_type, context) for v in value]
    if value in ("$me", "me") and field_type == "user":
        return context.user_id
    if field_type == "date" and value is not None and not isinstance(value, bool):
        return resolve_date(value, context.today)
    if field_type == "datetime" and value is not None and not isinstance(value, bool):
        return resolve_datetime(value)
    return value
