"""Checking and building fields: keys that apply to the field's type, options, references,
line items, autonumber formats, bounds, defaults that fit, expressions, and formulas that
do not read each other in a cycle."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from flowdeck.engine.expressions import Scope, text_results
from flowdeck.engine.fieldtypes import FIELD_TYPES, InvalidValue, resolve_date, resolve_datetime, types_in
from flowdeck.engine.messages import M
from flowdeck.engine.phrases import a_field, listing, said_by, suggestion
from flowdeck.engine.schema.checks import CHILD_SYSTEM_COLUMNS, RESERVED_KEYS, Checks, Path, json_text, opt_label
from flowdeck.engine.schema.model import Field, Label, Lookup, Option, humanize
from flowdeck.engine.sla.measures import DEFAULT_MEASURE, SLA_STATUS, measure_of

_AUTONUMBER_TOKEN = re.compile(r"\{([^{}]*)\}")
_AUTONUMBER_DATE_TOKENS = {"YYYY", "YY", "MM", "DD", "YYYYMM", "YYYYMMDD"}


class FieldChecks(Checks):
    def field(
        self,
        path: Path,
        key: str,
        spec: Mapping[str, Any],
        scope: Scope,
        entity_key: str,
        siblings: Mapping[str, Any],
        *,
        in_child: bool = False,
    ) -> Field:
        ftype = spec["type"]
        kind = FIELD_TYPES[ftype]
        reserved = RESERVED_KEYS if not in_child else RESERVED_KEYS | set(CHILD_SYSTEM_COLUMNS)
        if key in reserved:
            self.problem(path, M("“%(key)s” is a reserved name; choose another key", key=key))
        for extra in sorted(set(spec) - kind.keys):
            self.problem((*path, extra), M("does not apply to %(field_kind)s", field_kind=a_field(ftype)))
        # Keys that do not apply were reported once; checking their values too would only add noise.
        spec = {k: v for k, v in spec.items() if k in kind.keys}
        if in_child:
            spec = self.row_field(path, ftype, spec)
        if spec.get("unique") and spec.get("many"):
            self.problem((*path, "unique"), M("a many-valued field cannot be unique"))

        options = self.options((*path, "options"), spec.get("options", ()))
        to = spec.get("to")
        if to is not None and to not in self.entity_keys:
            entities = self.entity_keys
            said = M(
                "unknown entity “%(key)s”%(hint)s %(listing)s", key=to, hint=suggestion(to, entities), listing=listing("entities", entities)
            )
            self.problem((*path, "to"), said)

        children: tuple[Field, ...] = ()
        if ftype == "table" and "fields" in spec:
            self.check_renames(path, spec["fields"])
            child_scope = Scope(names=frozenset(spec["fields"]) | {"me"})
            children = tuple(
                self.field((*path, "fields", ck), ck, cs, child_scope, entity_key, spec["fields"], in_child=True)
                for ck, cs in spec["fields"].items()
            )
            self.check_cycles((*path, "fields"), children)
            if spec.get("min_rows") is not None and spec.get("max_rows") is not None and spec["min_rows"] > spec["max_rows"]:
                self.problem((*path, "min_rows"), M("is larger than max_rows (%(max)s)", max=spec["max_rows"]))

        if ftype == "autonumber" and "format" in spec:
            self.autonumber_format((*path, "format"), spec["format"])
        if spec.get("pattern") is not None:
            try:
                re.compile(spec["pattern"])
            except re.error as exc:
                self.problem((*path, "pattern"), M("is not a valid regular expression: %(error)s", error=str(exc)))
        result = spec.get("result")
        if ftype == "computed" and result is None:
            result = "decimal"
        if ftype == "sla":
            result = measure_of(spec.get("measure")).value_type  # the type of the fact it reads
            options = SLA_STATUS if spec.get("measure") == "status" else ()
            self.sla_name((*path, "sla"), spec.get("sla"), entity_key)
        if "currency" in spec and ftype == "computed" and result != "money":
            self.problem((*path, "currency"), M("applies only when “result” is “money”"))

        field = Field(
            key=key,
            type=ftype,
            label=Label.of(spec.get("label"), humanize(key)),
            help=opt_label(spec.get("help")),
            required=bool(spec.get("required", False)),
            required_if=self.expression((*path, "required_if"), spec.get("required_if"), scope),
            show_if=self.expression((*path, "show_if"), spec.get("show_if"), scope),
            unique=bool(spec.get("unique", False)),
            indexed=bool(spec.get("indexed", False)),
            read_only=bool(spec.get("read_only", False)),
            min=spec.get("min"),
            max=spec.get("max"),
            min_length=spec.get("min_length"),
            max_length=spec.get("max_length"),
            pattern=spec.get("pattern"),
            options=options,
            many=bool(spec.get("many", False)),
            to=to,
            currency=spec.get("currency") or ("CNY" if ftype == "money" or result == "money" else None),
            scale=spec.get("scale"),
            format=spec.get("format"),
            formula=self.expression((*path, "formula"), spec.get("formula"), scope),
            result=result,
            fields=children,
            min_rows=spec.get("min_rows"),
            max_rows=spec.get("max_rows"),
            accept=tuple(spec.get("accept", ())),
            max_size_mb=spec.get("max_size_mb"),
            was=spec.get("was"),
            computed_order=formula_order(children),
            lookup=Lookup(tuple(spec["from"].split(".")), spec.get("mode", "live")) if "from" in spec else None,
            sla=spec.get("sla"),
            measure=spec.get("measure", DEFAULT_MEASURE),
        )
        if ftype == "computed" and options:
            self.computed_codes(path, field)
        bounds_ok = self.check_bounds(path, field)
        for setting, problem in kind.settings(field):
            self.problem((*path, setting), problem)
            bounds_ok = False
        if "default" in spec:
            # With unusable bounds the default can still be checked for its type, not its range.
            checked = field if bounds_ok else replace(field, min=None, max=None)
            field = replace(field, default=self.default((*path, "default"), checked, spec["default"]))
        if field.min_length is not None and field.max_length is not None and field.min_length > field.max_length:
            self.problem((*path, "min_length"), M("is larger than max_length (%(max)s)", max=field.max_length))
        return field

    def sla_name(self, path: Path, key: Any, entity_key: str) -> None:
        """An `sla` field names one of its entity's `slas` (read from the document as written:
        the SLA definitions themselves are checked where they are parsed)."""
        if not isinstance(key, str):
            return
        declared = self.doc["entities"].get(entity_key, {}).get("slas") or []
        keys = [s["key"] for s in declared if isinstance(s, Mapping) and isinstance(s.get("key"), str)]
        if key not in keys:
            if keys:
                self.problem(path, M("unknown SLA “%(key)s”%(hint)s (SLAs: %(keys)s)", key=key, hint=suggestion(key, keys), keys=keys))
            else:
                self.problem(path, M("unknown SLA “%(key)s”: the entity declares no “slas”", key=key))

    def check_renames(self, path: Path, fields: Mapping[str, Any]) -> None:
        """`was` of the fields of an entity, or of the columns of a table field."""
        olds: dict[str, str] = {}
        for key, spec in fields.items():
            was = spec.get("was")
            if was is None:
                continue
            where = (*path, "fields", key, "was")
            if was == key:
                self.problem(where, M("names the field's own key; remove it or give the old key"))
            elif was in fields:
                self.problem(where, M("“%(key)s” is still a field of this entity; a renamed field cannot keep its old key", key=was))
            elif was in olds:
                self.problem(where, M("“%(key)s” is already renamed to “%(new)s”", key=was, new=olds[was]))
            olds.setdefault(was, key)

    def row_field(self, path: Path, ftype: str, spec: dict[str, Any]) -> dict[str, Any]:
        """A field of a table's rows: what a row cannot have is reported and left out."""
        if not FIELD_TYPES[ftype].in_child_rows:
            self.problem((*path, "type"), M("%(field_kind)s cannot be used inside a table's rows", field_kind=a_field(ftype)))
        if spec.get("many"):
            self.problem((*path, "many"), M("many-valued fields cannot be used inside a table's rows"))
        row_only = ("unique", "indexed", "read_only", "show_if")
        for name in row_only:
            if name in spec:
                self.problem((*path, name), M("does not apply inside a table's rows"))
        return {k: v for k, v in spec.items() if k not in row_only}

    def options(self, path: Path, specs: Sequence[Any]) -> tuple[Option, ...]:
        options = []
        seen: set[str] = set()
        for index, spec in enumerate(specs):
            item = {"key": spec} if isinstance(spec, str) else spec
            if item["key"] in seen:
                self.problem((*path, index), M("option “%(key)s” is listed twice", key=item["key"]))
            seen.add(item["key"])
            options.append(Option(item["key"], Label.of(item.get("label"), humanize(item["key"])), item.get("color")))
        return tuple(options)

    def computed_codes(self, path: Path, field: Field) -> None:
        """Options on a formula name the codes it returns: only text can be a code, and a code
        written in the formula that is not an option would reach users raw."""
        if field.result != "text":
            self.problem((*path, "options"), M("applies only when “result” is “text”"))
            return
        if field.formula is None:
            return
        keys = tuple(dict.fromkeys(field.option_keys()))
        for code in sorted(text_results(field.formula) - set(keys)):
            self.problem(
                (*path, "formula"), M("can return “%(value)s”, which is not one of the options (%(options)s)", value=code, options=keys)
            )

    def autonumber_format(self, path: Path, pattern: str) -> None:
        counters = 0
        for token in _AUTONUMBER_TOKEN.findall(pattern):
            if re.fullmatch(r"#{1,10}", token):
                counters += 1
            elif token not in _AUTONUMBER_DATE_TOKENS:
                self.problem(
                    path, M("unknown token “{%(token)s}”; use {YYYY}, {YY}, {MM}, {DD}, {YYYYMM}, {YYYYMMDD} and one {###}", token=token)
                )
        if counters != 1:
            self.problem(path, M("must contain exactly one counter such as {####} (found %(count)s)", count=counters))
        if _AUTONUMBER_TOKEN.sub("", pattern).count("{") or _AUTONUMBER_TOKEN.sub("", pattern).count("}"):
            self.problem(path, M("has an unmatched { or }"))

    def check_bounds(self, path: Path, field: Field) -> bool:
        """Report unusable or crossed min/max; False when a bound cannot be used at all."""
        vtype = field.value_type
        bounds = {}
        ok = True
        for name in ("min", "max"):
            raw = getattr(field, name)
            if raw is None:
                continue
            try:
                if vtype == "date":
                    bounds[name] = resolve_date(raw)
                elif vtype == "datetime":
                    bounds[name] = resolve_datetime(raw)
                elif isinstance(raw, (int, float)) and not isinstance(raw, bool) and math.isfinite(raw):
                    bounds[name] = raw
                else:
                    raise ValueError
            except (ValueError, TypeError, OverflowError):
                ok = False
                got = json_text(raw)
                if vtype == "date":
                    said = M("must be a date (YYYY-MM-DD) or today, today+N, today-N (got %(value)s)", value=got)
                elif vtype == "datetime":
                    said = M(
                        "must be a date and time (YYYY-MM-DDTHH:MM), now, or today, today+N, today-N (local midnight) (got %(value)s)",
                        value=got,
                    )
                else:
                    said = M("must be a number (got %(value)s)", value=got)
                self.problem((*path, name), said)
        if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
            self.problem((*path, "min"), M("is larger than max (%(max)s)", max=json_text(field.max)))
        return ok

    def default(self, path: Path, field: Field, raw: Any) -> Any:
        if field.type == "user" and raw == "me":
            return "me"
        if field.type == "date" and isinstance(raw, str) and re.fullmatch(r"today([+-]\d{1,4}d?)?", raw):
            return raw
        if field.type == "datetime" and raw == "now":
            return raw
        if field.type in types_in("reference", "file") or field.is_table:
            self.problem(path, M("%(field_kind)s cannot have a default", field_kind=a_field(field.type)))
            return None
        try:
            return FIELD_TYPES[field.type].parse(field, raw)
        except InvalidValue as exc:
            detail = said_by(exc)
            if field.type == "date":
                said = M("does not fit the field: %(detail)s; “today”, “today+N” or “today-N” is also accepted", detail=detail)
            elif field.type == "datetime":
                said = M("does not fit the field: %(detail)s; “now” is also accepted", detail=detail)
            elif field.type == "user":
                said = M("does not fit the field: %(detail)s; “me” is also accepted", detail=detail)
            else:
                said = M("does not fit the field: %(detail)s", detail=detail)
            self.problem(path, said)
        except (TypeError, ValueError):
            self.problem(path, M("does not fit %(field_kind)s", field_kind=a_field(field.type)))
        except ArithmeticError:  # e.g. a datetime whose offset moves it before year 1
            self.problem(path, M("does not fit %(field_kind)s: out of range", field_kind=a_field(field.type)))
        return None

    def check_cycles(self, path: Path, fields: Sequence[Field]) -> None:
        formulas = {f.key: f.formula.names for f in fields if f.formula is not None}
        reported: set[frozenset[str]] = set()
        done: set[str] = set()  # fully explored: without this, chains like c2 = c1 + c0 take exponential time

        def visit(key: str, trail: list[str]) -> None:
            for dep in sorted(formulas.get(key, ())):
                if dep in trail:
                    cycle = [*trail[trail.index(dep) :], dep]
                    if frozenset(cycle) not in reported:
                        reported.add(frozenset(cycle))
                        self.problem((*path, cycle[0], "formula"), M("formula cycle: %(cycle)s", cycle=" → ".join(cycle)))
                elif dep in formulas and dep not in done:
                    visit(dep, [*trail, dep])
            done.add(key)

        for key in formulas:
            if key not in done:
                visit(key, [key])


def formula_order(fields: Sequence[Field]) -> tuple[str, ...]:
    """Computed fields in an order where each comes after the computed fields it reads."""
    formulas = {f.key: f.formula.names for f in fields if f.formula is not None}
    order: list[str] = []
    visiting: set[str] = set()

    def visit(key: str) -> None:
        if key in order or key in visiting:
            return
        visiting.add(key)
        for dep in sorted(formulas[key]):
            if dep in formulas:
                visit(dep)
        order.append(key)

    for key in formulas:
        visit(key)
    return tuple(order)


CLOCK_NAMES = frozenset({"today()", "now()"})
"""What a compiled formula names when it calls the clock (`Expression.names`)."""


def clocked_keys(fields: Sequence[Field]) -> tuple[str, ...]:
    """The formulas whose value changes with time, found from the compiled expressions: those
    calling `today()` or `now()` (also inside a calendar function) and those reading such a
    formula, in any depth; a line item's as `table.key`. The clock refresh keeps exactly these
    up to date (`engine.clock_refresh`)."""
    nested = {f.key: clocked_keys(f.fields) for f in fields if f.is_table}
    formulas = {f.key: f.formula.names for f in fields if f.formula is not None}
    clocked = {key for key, names in formulas.items() if names & CLOCK_NAMES} | {key for key, keys in nested.items() if keys}
    grew = True
    while grew:
        found = {key for key, names in formulas.items() if key not in clocked and names & clocked}
        clocked |= found
        grew = bool(found)
    own = tuple(key for key in formulas if key in clocked)
    return own + tuple(f"{table}.{key}" for table, keys in nested.items() for key in keys)
