"""The field type registry: for each type, its column, how raw input becomes a value, the
constraints it checks, the filter operators it offers and the document keys it accepts.

Everything that differs between field types lives here, so forms, storage, queries and the
schema checks ask one place (`FIELD_TYPES[field.type]`) instead of switching on type names.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, String, Text
from sqlalchemy.types import TypeEngine

from flowdeck.engine.fieldkinds import InvalidValue, check_rating, rating_settings
from flowdeck.engine.messages import M, Message
from flowdeck.engine.moments import MomentOutOfRange, resolve_date, resolve_datetime
from flowdeck.engine.schema.model import Field
from flowdeck.engine.sla.measures import measure_of
from flowdeck.engine.sqltypes import ScaledDecimal, UTCDateTime
from flowdeck.engine.textinput import controls_refusal, has_controls

MAX_NUMBER = Decimal(10) ** 13
MAX_INTEGER = 2**53
DEFAULT_TEXT_LENGTH = 1000
DEFAULT_MARKDOWN_LENGTH = 100_000

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
_PHONE = re.compile(r"^\+?[0-9][0-9 ()\-]{2,29}$")

COMMON_KEYS = frozenset({"type", "label", "help", "required", "required_if", "show_if", "default", "read_only", "indexed", "was", "unique"})


def _is_blank(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip()) or raw == []


@dataclass(frozen=True)
class FieldType:
    """How one field type behaves everywhere.

    `coerce` turns raw input (form strings or JSON values) into the stored Python value or
    raises InvalidValue; blank input is handled before it is called. `check` applies the
    field's own constraints (range, length, pattern) to a coerced value. `family` groups
    types that convert, filter and display alike (`number`, `text`, `choice`...): code that
    treats a family alike asks `types_in(family)` instead of listing type names. `whole`
    marks numbers kept as integers; `offered` says whether the builder offers the type
    (the others need settings written in JSON); `titles` whether it may be an entity's title;
    `lanes` whether a board may draw swimlanes by it (one value of a short, known kind);
    `result` whether a computed field may produce it.
    `settings` reports the type's own problems with a field's settings, as (key, message).
    """

    name: str
    keys: frozenset[str]
    coerce: Callable[[Field, Any], Any]
    column: Callable[[Field], TypeEngine[Any]] | None
    operators: tuple[str, ...]
    family: str
    check: Callable[[Field, Any], None] = lambda field, value: None
    whole: bool = False
    offered: bool = True
    titles: bool = False
    settings: Callable[[Field], Iterable[tuple[str, Message]]] = lambda field: ()
    many_capable: bool = False
    searchable: bool = False
    orderable: bool = True
    in_child_rows: bool = True
    lanes: bool = False
    result: bool = False

    def parse(self, field: Field, raw: Any) -> Any:
        """Coerce and check `raw`; blank becomes None (or [] for many-valued fields)."""
        many = field.is_many
        if _is_blank(raw):
            return [] if many else None
        if many:
            items = raw if isinstance(raw, (list, tuple)) else [raw]
            values: list[Any] = []
            for item in items:
                if _is_blank(item):
                    continue
                value = self.coerce(field, item)
                if value not in values:
                    values.append(value)
            return values
        value = self.coerce(field, raw)
        self.check(field, value)
        return value


def _text(field: Field, raw: Any) -> str:
    if isinstance(raw, bool) or not isinstance(raw, (str, int, Decimal)):
        raise InvalidValue(M("must be text"))
    value = str(raw).strip()
    if has_controls(value):
        raise InvalidValue(controls_refusal())
    return value


def _check_length(field: Field, value: str, default_max: int) -> None:
    limit = field.max_length or default_max
    if len(value) > limit:
        raise InvalidValue(M("must be at most %(max)s characters (got %(got)s)", max=limit, got=len(value)))
    if field.min_length and len(value) < field.min_length:
        raise InvalidValue(M("must be at least %(min)s characters", min=field.min_length))


def _check_text(field: Field, value: str) -> None:
    _check_length(field, value, DEFAULT_TEXT_LENGTH)
    if field.pattern and not re.fullmatch(field.pattern, value):
        raise InvalidValue(M("does not match the required pattern %(pattern)s", pattern=field.pattern))


def _formatted(regex: re.Pattern[str], refusal: Message) -> Callable[[Field, Any], str]:
    def coerce(field: Field, raw: Any) -> str:
        value = _text(field, raw)
        if not regex.match(value):
            raise InvalidValue(refusal)
        return value

    return coerce


def _markdown(field: Field, raw: Any) -> str:
    if not isinstance(raw, str):
        raise InvalidValue(M("must be text"))
    if has_controls(raw, multiline=True):
        raise InvalidValue(controls_refusal())
    return raw.rstrip()


def _integer(field: Field, raw: Any) -> int:
    if isinstance(raw, bool):
        raise InvalidValue(M("must be a whole number"))
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, (str, Decimal, float)):
        try:
            number = Decimal(str(raw).strip().replace(",", ""))
        except InvalidOperation:
            raise InvalidValue(M("must be a whole number")) from None
        if not number.is_finite() or number != number.to_integral_value():
            raise InvalidValue(M("must be a whole number"))
        value = int(number)
    else:
        raise InvalidValue(M("must be a whole number"))
    if abs(value) > MAX_INTEGER:
        raise InvalidValue(M("is too large"))
    return value


def scale_of(field: Field) -> int:
    """Decimal places a numeric field keeps."""
    if field.scale is not None:
        return field.scale
    return 2


def _decimal(field: Field, raw: Any) -> Decimal:
    if isinstance(raw, bool):
        raise InvalidValue(M("must be a number"))
    try:
        text = str(raw).strip().replace(",", "")
        if text.endswith("%") and field.type == "percent":
            text = text[:-1]
        number = Decimal(text)
    except (InvalidOperation, ValueError):
        raise InvalidValue(M("must be a number")) from None
    if not number.is_finite():
        raise InvalidValue(M("must be a number"))
    if abs(number) >= MAX_NUMBER:
        raise InvalidValue(M("is too large"))
    scale = scale_of(field)
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > scale:
        quantized = number.quantize(Decimal(1).scaleb(-scale))
        if quantized != number:
            raise InvalidValue(M("must have at most %(places)s decimal places", places=scale))
    return number.quantize(Decimal(1).scaleb(-scale))


def _bound(field: Field, bound: Any) -> Any:
    if bound is None:
        return None
    if field.value_type in ("date",):
        return resolve_date(bound)
    if field.value_type == "datetime":
        return resolve_datetime(bound)
    return Decimal(str(bound))


def _check_range(field: Field, value: Any) -> None:
    low, high = _bound(field, field.min), _bound(field, field.max)
    if low is not None and value < low:
        raise InvalidValue(M("must be at least %(min)s", min=field.min))
    if high is not None and value > high:
        raise InvalidValue(M("must be at most %(max)s", max=field.max))


def _date(field: Field, raw: Any) -> dt.date:
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    if not isinstance(raw, str):
        raise InvalidValue(M("must be a date (YYYY-MM-DD)"))
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidValue(M("must be a date (YYYY-MM-DD)")) from None


# A stored moment must be shown in every time zone (up to a day away from UTC) without leaving
# the years Python's datetime holds.
_EARLIEST = dt.datetime(1, 1, 2, tzinfo=dt.UTC)
_LATEST = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)


def _datetime(field: Field, raw: Any) -> dt.datetime:
    if not isinstance(raw, (str, dt.datetime)):
        raise InvalidValue(M("must be a date and time (YYYY-MM-DDTHH:MM)"))
    try:
        value = resolve_datetime(raw)
    except MomentOutOfRange:
        raise InvalidValue(M("must be a date and time from year 1 to 9999")) from None
    except ValueError:
        raise InvalidValue(M("must be a date and time (YYYY-MM-DDTHH:MM)")) from None
    if not _EARLIEST <= value < _LATEST:
        raise InvalidValue(M("must be a date and time from year 1 to 9999"))
    return value


_TRUE = {"true", "1", "yes", "on", "y"}
_FALSE = {"false", "0", "no", "off", "n"}


def _boolean(field: Field, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    raise InvalidValue(M("must be yes or no"))


def _option(field: Field, raw: Any) -> str:
    if not isinstance(raw, str):
        raise InvalidValue(M("must be one of the options"))
    value = raw.strip()
    if field.option(value) is None:
        raise InvalidValue(M('"%(value)s" is not one of the options (%(options)s)', value=value, options=field.option_keys()))
    return value


def _ident(refusal: Message) -> Callable[[Field, Any], int]:
    def coerce(field: Field, raw: Any) -> int:
        if isinstance(raw, bool):
            raise InvalidValue(refusal)
        text = str(raw).strip()
        if not (text.isascii() and text.isdigit()):  # int() also reads "١٢" and "１２３"
            raise InvalidValue(refusal)
        value = int(text)
        if value <= 0 or value > MAX_INTEGER:
            raise InvalidValue(refusal)
        return value

    return coerce


def _not_settable(field: Field, raw: Any) -> Any:
    raise InvalidValue(M("is computed and cannot be set"))


def _table(field: Field, raw: Any) -> list[dict[str, Any]]:
    # Rows are parsed row by row by the record service; nothing else may set a table whole.
    raise InvalidValue(M("must be a list of rows"))


def _numeric_column(field: Field) -> TypeEngine[Any]:
    return ScaledDecimal(scale_of(field))


def _computed_column(field: Field) -> TypeEngine[Any]:
    """The column of a derived value (a formula's or a roll-up's): its result type's."""
    result = FIELD_TYPES[field.value_type]
    assert result.column is not None
    return result.column(field)


def _lookup_column(field: Field) -> TypeEngine[Any]:
    """A copied lookup's column is the column of the type it looks up (a live one has none)."""
    kind = FIELD_TYPES[field.value_type]
    assert kind.column is not None
    return kind.column(field)


_TEXT_OPS = ("eq", "ne", "in", "not_in", "contains", "empty")
_NUMBER_OPS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "empty")
_CHOICE_OPS = ("eq", "ne", "in", "not_in", "empty")
_MANY_OPS = ("contains", "in", "empty")
_TEXT_KEYS = frozenset({"min_length", "max_length", "pattern"})
_NUMBER_KEYS = frozenset({"min", "max"})


def _text_type(name: str, coerce: Callable[[Field, Any], Any], extra: frozenset[str] = _TEXT_KEYS, result: bool = False) -> FieldType:
    return FieldType(
        name=name,
        keys=COMMON_KEYS | extra,
        coerce=coerce,
        column=lambda f: Text(),
        operators=_TEXT_OPS,
        family="text",
        check=_check_text,
        searchable=True,
        titles=True,
        result=result,
    )


def _numeric_type(name: str, extra: frozenset[str] = frozenset()) -> FieldType:
    return FieldType(
        name=name,
        keys=COMMON_KEYS | _NUMBER_KEYS | {"scale"} | extra,
        coerce=_decimal,
        column=_numeric_column,
        operators=_NUMBER_OPS,
        family="number",
        check=_check_range,
        result=True,
    )


FIELD_TYPES: dict[str, FieldType] = {
    t.name: t
    for t in (
        _text_type("text", _text, result=True),
        FieldType(
            name="markdown",
            keys=COMMON_KEYS - {"unique", "indexed"} | {"max_length", "min_length"},
            coerce=_markdown,
            column=lambda f: Text(),
            operators=("contains", "empty"),
            family="text",
            check=lambda f, v: _check_length(f, v, DEFAULT_MARKDOWN_LENGTH),
            searchable=True,
            orderable=False,
        ),
        FieldType(
            name="integer",
            keys=COMMON_KEYS | _NUMBER_KEYS,
            coerce=_integer,
            column=lambda f: BigInteger(),
            operators=_NUMBER_OPS,
            family="number",
            titles=True,
            check=_check_range,
            whole=True,
            result=True,
        ),
        _numeric_type("decimal"),
        _numeric_type("money", frozenset({"currency"})),
        _numeric_type("percent"),
        FieldType(
            name="rating",
            keys=COMMON_KEYS | {"max"},
            coerce=_integer,
            column=lambda f: BigInteger(),
            operators=_NUMBER_OPS,
            family="number",
            check=check_rating,
            whole=True,
            settings=rating_settings,
        ),
        FieldType(
            name="date",
            keys=COMMON_KEYS | _NUMBER_KEYS,
            coerce=_date,
            column=lambda f: Date(),
            operators=_NUMBER_OPS,
            family="date",
            titles=True,
            check=_check_range,
            result=True,
        ),
        FieldType(
            name="datetime",
            keys=COMMON_KEYS | _NUMBER_KEYS,
            coerce=_datetime,
            column=lambda f: UTCDateTime(),
            operators=_NUMBER_OPS,
            family="date",
            check=_check_range,
            result=True,
        ),
        FieldType(
            name="boolean",
            keys=COMMON_KEYS - {"unique"},
            coerce=_boolean,
            column=lambda f: Boolean(),
            operators=("eq", "ne", "empty"),
            family="boolean",
            lanes=True,
            result=True,
        ),
        FieldType(
            name="select",
            keys=COMMON_KEYS | {"options"},
            coerce=_option,
            column=lambda f: String(40),
            operators=_CHOICE_OPS,
            family="choice",
            titles=True,
            lanes=True,
        ),
        FieldType(
            name="multiselect",
            keys=COMMON_KEYS - {"unique"} | {"options"},
            coerce=_option,
            column=lambda f: String(40),
            operators=_MANY_OPS,
            family="choice",
            orderable=False,
            in_child_rows=False,
        ),
        FieldType(
            name="user",
            keys=COMMON_KEYS | {"many"},
            coerce=_ident(M("must be a user")),
            column=lambda f: BigInteger(),
            operators=_CHOICE_OPS,
            family="user",
            many_capable=True,
            lanes=True,
        ),
        FieldType(
            name="reference",
            keys=COMMON_KEYS | {"many", "to"},
            coerce=_ident(M("must be a record")),
            column=lambda f: BigInteger(),
            operators=_CHOICE_OPS,
            family="reference",
            many_capable=True,
            lanes=True,
        ),
        _text_type("email", _formatted(_EMAIL, M("is not a valid email address")), frozenset({"max_length"})),
        _text_type("url", _formatted(_URL, M("is not a valid web address (http:// or https://)")), frozenset({"max_length"})),
        _text_type("phone", _formatted(_PHONE, M("is not a valid phone number")), frozenset()),
        FieldType(
            name="attachment",
            keys=COMMON_KEYS - {"unique", "default"} | {"many", "accept", "max_size_mb"},
            coerce=_ident(M("must be a file")),
            column=lambda f: BigInteger(),
            operators=("empty",),
            family="file",
            many_capable=True,
            orderable=False,
        ),
        FieldType(
            name="autonumber",
            keys=frozenset({"type", "label", "help", "format", "was", "show_if"}),
            coerce=_not_settable,
            column=lambda f: String(60),
            operators=("eq", "in", "contains", "empty"),
            family="serial",
            titles=True,
            offered=False,
            searchable=True,
            in_child_rows=False,
        ),
        FieldType(
            name="table",
            keys=frozenset({"type", "label", "help", "fields", "min_rows", "max_rows", "required", "show_if", "was"}),
            coerce=_table,
            column=None,
            operators=(),
            family="table",
            offered=False,
            orderable=False,
            in_child_rows=False,
        ),
        FieldType(
            name="computed",
            keys=frozenset({"type", "label", "help", "formula", "result", "scale", "indexed", "show_if", "was", "currency", "options"}),
            coerce=_not_settable,
            column=_computed_column,
            operators=_NUMBER_OPS,
            family="computed",
            offered=False,
        ),
        FieldType(
            name="lookup",
            keys=frozenset({"type", "label", "help", "from", "mode", "show_if", "was", "indexed"}),
            coerce=_not_settable,
            column=_lookup_column,
            operators=_CHOICE_OPS,
            family="lookup",
            offered=False,
            in_child_rows=False,
        ),
        FieldType(
            name="sla",
            keys=frozenset({"type", "label", "help", "sla", "measure", "show_if"}),
            coerce=_not_settable,
            column=lambda f: UTCDateTime(),
            operators=_NUMBER_OPS,
            family="computed",
            offered=False,
            in_child_rows=False,
        ),
        FieldType(
            name="rollup",
            keys=frozenset(
                {"type", "label", "help", "over", "aggregate", "field", "weight", "where", "condition", "indexed", "show_if", "was"}
            ),
            coerce=_not_settable,
            column=_computed_column,
            operators=_NUMBER_OPS,
            family="computed",
            offered=False,
            in_child_rows=False,
        ),
    )
}


@lru_cache(maxsize=64)
def types_in(*families: str) -> frozenset[str]:
    """The field types of the given families, read from the registry (never listed again);
    kept per process, since display code asks per value."""
    return frozenset(name for name, kind in FIELD_TYPES.items() if kind.family in families)


# The builder's types (the others need settings written in JSON), and the title's types.
OFFERED_TYPES = tuple(name for name, kind in FIELD_TYPES.items() if kind.offered)
TITLE_TYPES = frozenset(name for name, kind in FIELD_TYPES.items() if kind.titles)

# Value types a computed field may produce, and those a board may draw swimlanes by.
RESULT_TYPES = tuple(name for name, kind in FIELD_TYPES.items() if kind.result)
LANE_TYPES = frozenset(name for name, kind in FIELD_TYPES.items() if kind.lanes)
# Types whose values are ids of rows kept elsewhere (users, records, files).
ID_TYPES = types_in("user", "reference", "file")


def is_many(field: Field) -> bool:
    return field.is_many


def orderable(field: Field) -> bool:
    """Whether lists may sort by the field: a derived field sorts like its value type, an
    `sla` field as its measure allows (`elapsed` grows on a calendar SQL cannot count)."""
    if field.sla is not None and not measure_of(field.measure).orderable:
        return False
    return not is_many(field) and FIELD_TYPES[field.value_type].orderable


def operators_for(field: Field) -> tuple[str, ...]:
    """A computed field, a roll-up or a lookup filters like the type of its values; an `sla`
    field by what the database answers exactly for its measure (`engine/sla/measures.py`)."""
    if field.sla is not None:
        return measure_of(field.measure).operators
    if field.derived:
        return FIELD_TYPES[field.value_type].operators
    if is_many(field):
        return _MANY_OPS
    return FIELD_TYPES[field.type].operators
