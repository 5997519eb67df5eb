"""Record forms for the web: the widget each field gets, the form's sections, which fields
show and are required right now, and posted form data turned back into raw values.

Browsers post flat strings: an unchecked checkbox sends nothing, a checkbox group a list,
line items arrive as `items.0.qty` (with `items.0.id`), and a datetime-local input holds the
instance's local time. `read_form` rebuilds what the engine expects
(`{"items": [{"id": "3", "qty": "2"}]}`, datetimes in UTC) and leaves every judgement about
the values to the engine, so the web, the API and the CLI refuse the same things in the same
words. Templates render widgets from `Widget` only; nothing here knows about HTML.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from flowdeck.engine.fieldtypes import DEFAULT_MARKDOWN_LENGTH, DEFAULT_TEXT_LENGTH, FIELD_TYPES, resolve_date, scale_of, types_in
from flowdeck.engine.files import DEFAULT_MAX_MB
from flowdeck.engine.messages import Message
from flowdeck.engine.permissions import FieldAccess
from flowdeck.engine.records import required_now, visible
from flowdeck.engine.schema.model import Entity, Field, Label
from flowdeck.forms.records import Problems, load_input

TRUE_WORDS = frozenset({"true", "1", "yes", "on", "y"})


class EditSpec(Protocol):
    """What a form needs from the web's entry for a field type (`views.field_widgets`):
    the edit template's name, whether the widget is a group (a fieldset) or spans the form,
    and its `<input>`'s type and autocomplete."""

    @property
    def edit(self) -> str: ...

    @property
    def grouped(self) -> bool: ...

    @property
    def wide(self) -> bool: ...

    @property
    def input_type(self) -> str | None: ...

    @property
    def autocomplete(self) -> str | None: ...


class FormData(Protocol):
    """What `read_form` needs from posted data (a werkzeug MultiDict has it)."""

    def getlist(self, key: str) -> list[str]: ...

    def __contains__(self, key: object) -> bool: ...

    def __iter__(self) -> Iterator[str]: ...


@dataclass(frozen=True)
class Widget:
    """How one field is edited: its template, input type and HTML attributes."""

    field: Field
    template: str
    input_type: str | None = None
    attrs: Mapping[str, str] = field(default_factory=dict)
    grouped: bool = False
    wide: bool = False
    columns: tuple[Widget, ...] = ()

    @property
    def key(self) -> str:
        return self.field.key

    @property
    def max_mb(self) -> float:
        """The upload limit per file, as the schema states it."""
        return self.field.max_size_mb or DEFAULT_MAX_MB


def _number_attrs(fld: Field) -> dict[str, str]:
    if FIELD_TYPES[fld.type].whole:
        attrs = {"step": "1", "inputmode": "numeric"}
    else:
        scale = scale_of(fld)
        attrs = {"step": format(Decimal(1).scaleb(-scale), "f"), "inputmode": "decimal"}
    for name in ("min", "max"):
        bound = getattr(fld, name)
        if bound is not None and not isinstance(bound, bool):
            try:
                attrs[name] = format(Decimal(str(bound)), "f")
            except InvalidOperation:
                continue
    return attrs


def _date_attrs(fld: Field) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for name in ("min", "max"):
        bound = getattr(fld, name)
        if bound is not None:
            try:
                attrs[name] = resolve_date(bound).isoformat()
            except (ValueError, TypeError):
                continue
    return attrs


def _text_attrs(fld: Field, default_max: int, autocomplete: str | None = None) -> dict[str, str]:
    attrs = {"maxlength": str(fld.max_length or default_max)}
    if fld.min_length:
        attrs["minlength"] = str(fld.min_length)
    if autocomplete:
        attrs["autocomplete"] = autocomplete
    return attrs


def widget_for(fld: Field, kinds: Mapping[str, EditSpec], *, editable: bool = True) -> Widget:
    """The widget for `fld`, from its type's entry in `kinds` (the web's field widget
    registry); `editable=False` (a field rule locks it) shows it as text."""
    kind = fld.type
    if not editable or not fld.editable:
        return Widget(fld, "readonly", wide=kind in kinds and kinds[kind].wide, grouped=kind == "table")
    spec = kinds[kind]
    template = spec.edit
    if template == "text":
        return Widget(fld, template, spec.input_type, _text_attrs(fld, DEFAULT_TEXT_LENGTH, spec.autocomplete))
    if kind == "markdown":
        return Widget(fld, template, attrs=_text_attrs(fld, DEFAULT_MARKDOWN_LENGTH), wide=spec.wide)
    if template == "number":
        return Widget(fld, template, "number", _number_attrs(fld))
    if kind in types_in("date"):
        return Widget(fld, template, spec.input_type, _date_attrs(fld) if kind == "date" else {})
    if kind == "attachment":
        accept = {"accept": ",".join(fld.accept)} if fld.accept else {}
        return Widget(fld, template, "file", accept)
    if kind == "table":
        columns = tuple(widget_for(child, kinds) for child in fld.fields)
        return Widget(fld, template, grouped=True, wide=True, columns=columns)
    return Widget(fld, template, grouped=kinds[kind].grouped)


@dataclass(frozen=True)
class FormSection:
    """A group of fields as the schema orders them; `label` None for the fields that no
    section names (they come after the named sections)."""

    label: Label | None
    fields: tuple[Field, ...]


def sections(entity: Entity) -> list[FormSection]:
    placed: set[str] = set()
    out: list[FormSection] = []
    for section in entity.sections:
        fields = tuple(entity.get_field(key) for key in section.fields)
        placed.update(section.fields)
        out.append(FormSection(section.label, fields))
    rest = tuple(f for f in entity.fields if f.key not in placed)
    if rest:
        out.append(FormSection(None, rest))
    return out


@dataclass(frozen=True)
class WidgetSection:
    label: Label | None
    widgets: tuple[Widget, ...]


def form_sections(
    entity: Entity, access: FieldAccess, kinds: Mapping[str, EditSpec], only: Iterable[str] | None = None
) -> list[WidgetSection]:
    """The widgets of a form for one state and set of roles: fields a rule hides are left
    out, fields a rule locks are shown as text, empty sections are dropped."""
    wanted = set(only) if only is not None else None
    out = []
    for section in sections(entity):
        widgets = tuple(
            widget_for(f, kinds, editable=f.key not in access.read_only)
            for f in section.fields
            if f.key not in access.hidden and (wanted is None or f.key in wanted)
        )
        if widgets:
            out.append(WidgetSection(section.label, widgets))
    return out


@dataclass(frozen=True)
class FieldState:
    visible: bool
    required: bool


def field_states(entity: Entity, values: Mapping[str, Any], system: Mapping[str, Any], access: FieldAccess) -> dict[str, FieldState]:
    """Whether each field shows and is required for these values, by the engine's rules
    (the same functions that judge the record when it is saved)."""
    env = {**system, **values}
    states = {}
    for fld in entity.fields:
        shown = visible(fld, env, access)
        states[fld.key] = FieldState(shown, shown and required_now(fld, env, access))
    return states


# -- values to show in inputs ---------------------------------------------------------------------


def input_values(entity: Entity, values: Mapping[str, Any], *, tz: str) -> dict[str, Any]:
    """Typed values as the strings the widgets show: strings, lists of strings for many-valued
    fields, lists of row dicts for line items; datetimes in the instance's local time."""
    zone = ZoneInfo(tz)
    return {f.key: _input(f, values.get(f.key), zone) for f in entity.fields}


def _input(fld: Field, value: Any, zone: ZoneInfo) -> Any:
    if fld.is_table:
        return [{"id": _scalar(row.get("id"), zone), **{c.key: _input(c, row.get(c.key), zone) for c in fld.fields}} for row in value or []]
    if fld.is_many:
        return [_scalar(v, zone) for v in value or []]
    return _scalar(value, zone)


def _scalar(value: Any, zone: ZoneInfo) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.astimezone(zone).strftime("%Y-%m-%dT%H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def fill_computed_cells(entity: Entity, shown: dict[str, Any], computed: Mapping[str, Any], *, tz: str) -> None:
    """Put freshly computed line-item columns (an amount from qty x price) into rows the
    user posted, which carry only what they typed, so the form shows them again."""
    zone = ZoneInfo(tz)
    for fld in entity.fields:
        rows, results = shown.get(fld.key), computed.get(fld.key)
        if not fld.is_table or not isinstance(rows, list) or not isinstance(results, list) or len(rows) != len(results):
            continue
        for row, result in zip(rows, results, strict=True):
            for child in fld.fields:
                if child.is_computed and isinstance(result, Mapping):
                    row[child.key] = _scalar(result.get(child.key), zone)


def is_checked(value: Any) -> bool:
    return str(value).strip().lower() in TRUE_WORDS


# -- posted data back to raw values ----------------------------------------------------------------


@dataclass
class FormInput:
    """A posted form: `raw` for the engine, `shown` to fill the form again exactly as the
    user left it, `typed` the values that parsed (for conditions and names to display).
    `errors` are the field-level parse errors found before the engine looked; `refused`
    the inputs turned away before that (uploads), which no later check can clear."""

    raw: dict[str, Any]
    shown: dict[str, Any]
    typed: dict[str, Any]
    errors: Problems
    refused: Problems = field(default_factory=dict)

    def refuse(self, key: str, message: Message | str) -> None:
        self.refused = merge_errors(self.refused, {key: [message]})

    def problems(self, later: Mapping[str, list[Message | str]] | None = None) -> Problems:
        """Every problem known: the parse errors, then `later` ones (the engine's, which
        say the same about the same field and more), then the refusals, which win."""
        return {**self.errors, **(later or {}), **self.refused}


def read_form(entity: Entity, form: FormData, *, tz: str, input_errors: Mapping[str, list[Message | str]] | None = None) -> FormInput:
    """Raw values of the entity's fields found in `form` (fields not posted are left out).

    `input_errors` are problems keyed by input name (an upload refused for `items.3.file`);
    they come back keyed like the engine's errors (`items[0].file`).
    """
    zone = ZoneInfo(tz)
    raw: dict[str, Any] = {}
    shown: dict[str, Any] = {}
    positions: dict[str, dict[int, int]] = {}
    for fld in entity.fields:
        if fld.is_table:
            indexes = _row_indexes(fld.key, form)
            if not indexes and fld.key not in form:
                continue
            positions[fld.key] = {index: position for position, index in enumerate(indexes)}
            rows = [_posted_row(fld, form, index) for index in indexes]
            shown[fld.key] = rows
            raw[fld.key] = [_raw_row(fld, row, zone) for row in rows]
        elif fld.key in form:
            shown[fld.key] = _posted(fld, form, fld.key)
            raw[fld.key] = _to_utc(shown[fld.key], zone) if fld.type == "datetime" else shown[fld.key]
    typed, errors = load_input(entity, raw)
    refused: Problems = {}
    for name, messages in (input_errors or {}).items():
        refused = merge_errors(refused, {error_key(name, positions): messages})
    return FormInput(raw, shown, typed, errors, refused)


def _posted(fld: Field, form: FormData, name: str) -> Any:
    values = form.getlist(name)
    if fld.is_many:
        return [v.strip() for v in values if v.strip()]
    if fld.type in ("boolean", "attachment"):
        # A checkbox follows its hidden "false"; a new upload follows the kept file.
        filled = [v for v in values if v.strip()]
        return filled[-1] if filled else ""
    return values[0] if values else ""


def _row_indexes(key: str, form: FormData) -> list[int]:
    pattern = re.compile(rf"^{re.escape(key)}\.(\d{{1,6}})\.[a-z][a-z0-9_]*$")
    return sorted({int(m.group(1)) for name in form if (m := pattern.match(name))})


def _posted_row(fld: Field, form: FormData, index: int) -> dict[str, Any]:
    prefix = f"{fld.key}.{index}."
    ids = form.getlist(prefix + "id")
    row: dict[str, Any] = {"id": ids[0].strip() if ids else ""}
    for child in fld.fields:
        if child.editable and prefix + child.key in form:
            row[child.key] = _posted(child, form, prefix + child.key)
    return row


def _raw_row(fld: Field, row: Mapping[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if not (k == "id" and not v)}
    for child in fld.fields:
        if child.type == "datetime" and child.key in out:
            out[child.key] = _to_utc(out[child.key], zone)
    return out


def _to_utc(text: Any, zone: ZoneInfo) -> Any:
    """A local `YYYY-MM-DDTHH:MM` as UTC ISO text; anything else unchanged (the engine
    explains what is wrong with it)."""
    if not isinstance(text, str) or not text.strip():
        return text
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    try:
        return moment.astimezone(dt.UTC).isoformat()
    except OverflowError:  # out of range in UTC: the engine refuses it with the offset kept
        return moment.isoformat()


def error_key(name: str, positions: Mapping[str, Mapping[int, int]]) -> str:
    """An input name (`items.3.file`) as the key the engine uses for it (`items[0].file`)."""
    match = re.fullmatch(r"([a-z][a-z0-9_]*)\.(\d+)\.([a-z][a-z0-9_]*)", name)
    if match is None:
        return name
    key, index, child = match.group(1), int(match.group(2)), match.group(3)
    position = positions.get(key, {}).get(index, index)
    return f"{key}[{position}].{child}"


def merge_errors(*sources: Mapping[str, list[Message | str]]) -> Problems:
    """Messages per key from several checks, each message once."""
    merged: Problems = {}
    for source in sources:
        for key, messages in source.items():
            bucket = merged.setdefault(key, [])
            bucket.extend(m for m in messages if m not in bucket)
    return merged


def upload_field(entity: Entity, name: str) -> Field | None:
    """The attachment field (or line-item column) that a file input named `name` fills."""
    match = re.fullmatch(r"([a-z][a-z0-9_]*)(?:\.\d{1,6}\.([a-z][a-z0-9_]*))?", name)
    if match is None:
        return None
    fld = entity.field(match.group(1))
    if fld is not None and match.group(2) is not None:
        fld = next((c for c in fld.fields if c.key == match.group(2)), None) if fld.is_table else None
    return fld if fld is not None and fld.type == "attachment" and fld.editable else None
