"""Converting stored values when a field changes its type, in plain Python.

`convert(value, old, new)` says what happens to one stored value: it converts exactly
(`ok`), only approximately (`lossy`: a number rounded to fewer decimal places, a date and
time cut to its date, a list cut to its first value), or not at all (`failed`, with the
reason). The migration planner counts and lists these before anything is written; the
admin's answer decides what happens to the lossy and failed ones.

Supported conversions (old value type -> new value type):

- text, markdown, email, url, phone, autonumber, select, integer, decimal, money, percent,
  date, datetime, boolean -> text, markdown, email, url, phone (the new type's checks
  apply; a select value becomes its English label, a boolean yes or no);
- text-like, autonumber, select and every number type (the registry's `number` family:
  integer, decimal, money, percent, rating) -> every number type (fewer decimal places
  round, half up: lossy; a value outside the new type's range, such as a rating above its
  `max`, fails);
- text-like, select, datetime -> date (a datetime with a time of day: lossy);
- text-like, select, date -> datetime (a date becomes local midnight);
- text-like, select -> boolean (yes/no, true/false, 1/0, on/off);
- text-like, autonumber -> select (an option key or label, any case);
- select <-> multiselect (a record with several values: lossy, the first is kept);
- user, reference (same `to`), attachment -> the same type with `many` added or removed;
- anything -> computed (the values are computed again).

A many-valued field becomes single-valued only within the same kind of value. Table
fields, a reference to another entity, and other pairs are not converted.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from flowdeck.engine import clock
from flowdeck.engine.fieldtypes import FIELD_TYPES, MAX_INTEGER, MAX_NUMBER, InvalidValue, scale_of, types_in
from flowdeck.engine.jsonvalues import to_json_scalar
from flowdeck.engine.messages import M, Message
from flowdeck.engine.phrases import Words, said_by
from flowdeck.engine.schema.model import Field, Label, Option, humanize

TEXTS = types_in("text")
NUMBERS = types_in("number")
OPTIONS = types_in("choice")
IDENTS = types_in("user", "reference", "file")
_AS_TEXT = TEXTS | NUMBERS | types_in("serial", "date", "boolean") | {"select"}

# What an approximate conversion loses, and the answer that accepts it.
LOSS_CHOICES: dict[str, Message] = {
    "round": M("round them"),
    "date": M("keep only the date"),
    "first": M("keep the first value of each"),
}


@dataclass(frozen=True)
class Outcome:
    """What happens to one value: `kind` is ok, lossy or failed; `reason` says why a value
    is lossy or failed."""

    kind: str
    value: Any = None
    reason: Words = ""
    loss: str = ""

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


def _ok(value: Any) -> Outcome:
    return Outcome("ok", value)


def _failed(reason: Words) -> Outcome:
    return Outcome("failed", None, reason)


def _lossy(value: Any, loss: str, reason: Words) -> Outcome:
    return Outcome("lossy", value, reason, loss)


def base_type(field: Field) -> str:
    """The kind of a single value: multiselect holds select values."""
    return "select" if field.value_type == "multiselect" else field.value_type


def supported(old: Field, new: Field) -> bool:
    """Can values of `old` be converted to `new` at all (value by value)?"""
    if old.is_table or new.is_table:
        return False
    if new.derived:
        return True
    if new.value_type == "autonumber":
        return False
    src, dst = base_type(old), base_type(new)
    if src in IDENTS or dst in IDENTS:
        return src == dst and old.to == new.to
    if old.is_many != new.is_many and src != dst:
        return False
    if src == dst:
        return True
    if dst in TEXTS:
        return src in _AS_TEXT
    if dst in NUMBERS:
        return src in TEXTS | NUMBERS | types_in("serial") | {"select"}
    if dst in types_in("date"):  # a date from a date and time, or the other way round
        return src in TEXTS | types_in("date") | {"select"}
    if dst == "boolean":
        return src in TEXTS | {"select"}
    if dst == "select":
        return src in TEXTS | types_in("serial")
    return False


def convert(value: Any, old: Field, new: Field) -> Outcome:
    """Convert one stored value of `old` (a list for many-valued fields) to a value of `new`."""
    if value is None or value == [] or (isinstance(value, str) and not value.strip()):
        return _ok([] if new.is_many else None)
    if old.is_many:
        items = list(value)
        outcomes = [_scalar(item, old, new) for item in items]
        failed = next((o for o in outcomes if o.kind == "failed"), None)
        if failed is not None:
            return failed
        values: list[Any] = []
        for outcome in outcomes:
            if outcome.value not in values:
                values.append(outcome.value)
        lossy = next((o for o in outcomes if o.kind == "lossy"), None)
        if new.is_many:
            return _lossy(values, lossy.loss, lossy.reason) if lossy else _ok(values)
        if len(values) > 1:
            return _lossy(values[0], "first", M("has %(count)s values", count=len(values)))
        return _lossy(values[0], lossy.loss, lossy.reason) if lossy else _ok(values[0])
    outcome = _scalar(value, old, new)
    if new.is_many and outcome.kind != "failed":
        return Outcome(outcome.kind, [outcome.value], outcome.reason, outcome.loss)
    return outcome


def _scalar(value: Any, old: Field, new: Field) -> Outcome:
    src, dst = base_type(old), base_type(new)
    if dst in NUMBERS:
        return _to_number(value, src, new)
    if src == dst:
        return _checked(new, value)
    if dst in TEXTS:
        return _parsed(new, as_text(value, old))
    if dst == "date" and src == "datetime":
        local = value.astimezone(clock.zone())
        if local.time() != dt.time():
            return _lossy(local.date(), "date", M("has the time %(time)s", time=local.strftime("%H:%M")))
        return _ok(local.date())
    if dst == "datetime" and src == "date":
        return _ok(clock.start_of(value))
    if dst == "select":
        return _to_option(new, as_text(value, old, labels=False))
    return _parsed(new, as_text(value, old, labels=False))


def _checked(new: Field, value: Any) -> Outcome:
    """A value of the same kind, checked against the new field's own rules (options, length, range)."""
    if base_type(new) == "select" and new.option(value) is None:
        return _failed(M('"%(value)s" is not one of the options (%(options)s)', value=value, options=list(new.option_keys())))
    try:
        if not new.derived:
            FIELD_TYPES[new.type].check(new, value)
    except InvalidValue as exc:
        return _failed(said_by(exc))
    return _ok(value)


def _parsed(new: Field, text: str) -> Outcome:
    kind = FIELD_TYPES[base_type(new)]
    try:
        value = kind.coerce(new, text)
        kind.check(new, value)
    except InvalidValue as exc:
        return _failed(said_by(exc))
    return _ok(value)


def _to_option(new: Field, text: str) -> Outcome:
    wanted = text.strip()
    if new.option(wanted) is not None:
        return _ok(wanted)
    folded = wanted.casefold()
    for option in new.options:
        if option.key.casefold() == folded or any(label.strip().casefold() == folded for label in option.label.texts.values()):
            return _ok(option.key)
    return _failed(M("is not one of the options (%(options)s)", options=list(new.option_keys())))


def _to_number(value: Any, src: str, new: Field) -> Outcome:
    if src in NUMBERS:
        number = Decimal(value) if not isinstance(value, Decimal) else value
    else:
        text = value if isinstance(value, str) else str(value)
        text = text.strip().replace(",", "").replace(" ", "")
        if text.endswith("%"):
            text = text[:-1]
        try:
            number = Decimal(text)
        except InvalidOperation:
            return _failed(M("is not a number"))
        if not number.is_finite():
            return _failed(M("is not a number"))
    whole = FIELD_TYPES[new.value_type].whole
    if whole:
        rounded = number.to_integral_value(rounding=ROUND_HALF_UP)
        limit, rounding = Decimal(MAX_INTEGER), M("would be rounded to whole numbers")
    else:
        scale = scale_of(new)
        rounded = number.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
        limit, rounding = MAX_NUMBER, M("would be rounded to %(places)s decimal places", places=scale)
    if abs(rounded) >= limit:
        return _failed(M("is too large"))
    result: Any = int(rounded) if whole else rounded
    try:
        FIELD_TYPES[new.value_type].check(new, result)
    except InvalidValue as exc:
        return _failed(said_by(exc))
    if rounded != number:
        return _lossy(result, "round", rounding)
    return _ok(result)


def as_text(value: Any, field: Field, *, labels: bool = True) -> str:
    """A stored value as a person would type it: option labels, yes/no, ISO dates."""
    if base_type(field) == "select" and labels:
        option = field.option(value)
        return option.label.get("en") if option is not None else str(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def show(value: Any) -> str:
    """A value in a plan's sample list: JSON-like, so text shows in quotes."""
    return json.dumps(to_json_scalar(value), ensure_ascii=False)


def field_from_spec(key: str, spec: Mapping[str, Any]) -> Field:
    """A Field with what conversion needs (type, options, scale, limits) from a stored
    definition, without the expressions and references that need the whole document."""
    options = tuple(
        Option(item, Label.of(None, humanize(item)))
        if isinstance(item, str)
        else Option(item["key"], Label.of(item.get("label"), humanize(item["key"])), item.get("color"))
        for item in spec.get("options", ())
    )
    result = spec.get("result") or ("decimal" if spec.get("type") == "computed" else None)
    return Field(
        key=key,
        type=spec.get("type", "text"),
        label=Label.of(spec.get("label"), humanize(key)),
        options=options,
        many=bool(spec.get("many", False)),
        to=spec.get("to"),
        scale=spec.get("scale"),
        result=result,
        min=spec.get("min"),
        max=spec.get("max"),
        min_length=spec.get("min_length"),
        max_length=spec.get("max_length"),
        pattern=spec.get("pattern"),
    )
