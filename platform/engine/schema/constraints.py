"""Checking and building an entity's `constraints`, the rules across records: every name a
rule uses resolves (fields, the related entity and its reference back, transitions in
`on`), ranges are dates, totals are numbers, and the conditions compile, each problem at
its JSON path. The rules are enforced by `engine.constraints`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from flowdeck.engine.expressions import Expression, Scope
from flowdeck.engine.fieldtypes import FIELD_TYPES, types_in
from flowdeck.engine.messages import M
from flowdeck.engine.phrases import a_field, listing, suggestion
from flowdeck.engine.schema.checks import SYSTEM_FIELD_TYPES, Checks, Path, opt_label, unknown_field
from flowdeck.engine.schema.label import Label
from flowdeck.engine.schema.model import Constraint, Entity, Guard, Related, humanize

KINDS = ("unique", "no_overlap", "total", "none", "all", "exists")
"""The kinds of rule; a constraint names exactly one of them as a key."""

RELATED_KINDS = ("none", "all", "exists")

_DATES = types_in("date")
_NUMBERS = types_in("number")


def _value_type(spec: Mapping[str, Any]) -> str:
    """The type of the values a raw field holds (a computed field's result type)."""
    kind = str(spec.get("type"))
    return str(spec.get("result") or "decimal") if kind in types_in("computed") else kind


def _single(spec: Mapping[str, Any]) -> bool:
    """A field with one value in its record's own column (what a rule may compare)."""
    kind = str(spec.get("type"))
    return kind in FIELD_TYPES and FIELD_TYPES[kind].family != "table" and not spec.get("many") and kind != "multiselect"


def row_scope(fields: Mapping[str, Any], *, has_workflow: bool) -> Scope:
    """What a condition over other records may read: their single-valued fields and the
    system names (the rows are read from the entity table alone)."""
    names = {k for k, f in fields.items() if _single(f)} | set(SYSTEM_FIELD_TYPES) | {"me"}
    if not has_workflow:
        names.discard("state")
    return Scope(names=frozenset(names))


class ConstraintChecks(Checks):
    def constraints(
        self, path: Path, specs: Sequence[Mapping[str, Any]], entity_key: str, entity_spec: Mapping[str, Any], scope: Scope
    ) -> tuple[Constraint, ...]:
        fields: Mapping[str, Any] = entity_spec["fields"]
        transitions = [t.get("key") for t in entity_spec.get("workflow", {}).get("transitions", [])]
        rows = row_scope(fields, has_workflow="workflow" in entity_spec)
        out = []
        seen: dict[str, int] = {}
        for index, spec in enumerate(specs):
            cpath = (*path, index)
            key = spec["key"]
            if key in seen:
                self.problem(
                    (*cpath, "key"), M("constraint “%(key)s” is already defined at constraints[%(index)s]", key=key, index=seen[key])
                )
            seen.setdefault(key, index)
            kinds = [k for k in KINDS if k in spec]
            if len(kinds) != 1:
                self.problem(cpath, M("needs exactly one kind of rule: %(kinds)s", kinds=list(KINDS)))
                continue
            on = None
            if "on" in spec:
                on = tuple(spec["on"])
                for position, transition in enumerate(on):
                    if transition not in transitions:
                        hint = suggestion(transition, transitions)
                        self.problem(
                            (*cpath, "on", position),
                            M("unknown transition “%(key)s”%(hint)s (transitions: %(keys)s)", key=transition, hint=hint, keys=transitions),
                        )
            built = self._kind((*cpath, kinds[0]), kinds[0], spec[kinds[0]], entity_key, fields, scope, rows)
            if built is None:
                continue
            where = self.expression((*cpath, "where"), spec.get("where"), rows)
            reads = set(built.pop("reads")) | (set(where.names) if where is not None else set())
            out.append(
                Constraint(
                    key=key,
                    kind=kinds[0],
                    message=opt_label(spec.get("message")),
                    where=where,
                    on=on,
                    reads=frozenset(reads),
                    **built,
                )
            )
        return tuple(out)

    def _kind(
        self,
        path: Path,
        kind: str,
        spec: Any,
        entity_key: str,
        fields: Mapping[str, Any],
        scope: Scope,
        rows: Scope,
    ) -> dict[str, Any] | None:
        """The kind's own part of the `Constraint`, with the names it reads (`reads`)."""
        if kind == "unique":
            keys = self._compared(path, spec, fields)
            return {"scope": keys, "reads": keys}
        if kind == "no_overlap":
            start = self._date_field((*path, "start"), spec["start"], fields)
            end = self._date_field((*path, "end"), spec["end"], fields)
            keys = self._compared((*path, "scope"), spec.get("scope", []), fields)
            if start and end and fields[start]["type"] != fields[end]["type"]:
                self.problem((*path, "end"), M("must be of the same type as “%(key)s” (both dates, or both dates and times)", key=start))
            day_bounds = bool(start) and fields[start]["type"] == "date"
            return {"start": start, "end": end, "scope": keys, "day_bounds": day_bounds, "reads": (*keys, start or "", end or "")}
        if kind == "total":
            return self._total(path, spec, entity_key, fields, scope, rows)
        related = self._related(path, spec, entity_key, required_where=kind == "all")
        return None if related is None else {"related": related, "reads": ()}

    def _compared(self, path: Path, keys: Sequence[str], fields: Mapping[str, Any]) -> tuple[str, ...]:
        """Fields whose values are compared between records: single-valued ones."""
        for index, key in enumerate(keys):
            if key not in fields:
                self.problem((*path, index), unknown_field(key, list(fields)))
            elif not _single(fields[key]):
                self.problem((*path, index), M("“%(key)s” holds many values or rows; a rule compares single values", key=key))
        return tuple(keys)

    def _date_field(self, path: Path, key: str, fields: Mapping[str, Any]) -> str | None:
        if key not in fields:
            self.problem(path, unknown_field(key, list(fields)))
            return None
        kind = _value_type(fields[key])
        if kind not in _DATES or not _single(fields[key]):
            self.problem(
                path, M("“%(key)s” is %(field_kind)s; a range needs date or date and time fields", key=key, field_kind=a_field(kind))
            )
            return None
        return key

    def _number_field(self, path: Path, key: str, fields: Mapping[str, Any]) -> str | None:
        if key not in fields:
            self.problem(path, unknown_field(key, list(fields)))
            return None
        kind = _value_type(fields[key])
        if kind not in _NUMBERS or not _single(fields[key]):
            self.problem(path, M("“%(key)s” is %(field_kind)s; a total adds up number fields", key=key, field_kind=a_field(kind)))
            return None
        return key

    def _total(
        self, path: Path, spec: Mapping[str, Any], entity_key: str, fields: Mapping[str, Any], scope: Scope, rows: Scope
    ) -> dict[str, Any] | None:
        bounds = [k for k in ("min", "max", "equals") if k in spec]
        if not bounds:
            self.problem(path, M("needs a bound: “max”, “min” or “equals”"))
        if "equals" in spec and ("min" in spec or "max" in spec):
            self.problem((*path, "equals"), M("cannot be combined with “min” or “max”"))
        if "via" in spec or "entity" in spec:
            if "scope" in spec:
                self.problem(
                    (*path, "scope"), M("a total adds up either the records in a scope or related records (“entity” and “via”), not both")
                )
            related = self._related(path, spec, entity_key, required_where=False)
            if related is None:
                return None
            other = self.doc["entities"][related.entity]["fields"]
            total_field = self._number_field((*path, "field"), spec["field"], other)
            reads: tuple[str, ...] = ()
            filter_ = None
            keys: tuple[str, ...] = ()
        else:
            related = None
            total_field = self._number_field((*path, "field"), spec["field"], fields)
            keys = self._compared((*path, "scope"), spec.get("scope", []), fields)
            filter_ = self.expression((*path, "where"), spec.get("where"), rows)
            reads = (*keys, spec["field"], *(filter_.names if filter_ is not None else ()))
        built: dict[str, Any] = {"field": total_field, "scope": keys, "filter": filter_, "related": related}
        for bound in bounds:
            expression = self._bound((*path, bound), spec[bound], scope)
            built[bound] = expression
            reads = (*reads, *(expression.names if expression is not None else ()))
        if total_field is None:
            return None
        return {**built, "reads": reads}

    def _bound(self, path: Path, value: Any, scope: Scope) -> Expression | None:
        """A bound: a number, or an expression over the record being checked (`balance`)."""
        source = value if isinstance(value, str) else str(value)
        return self.expression(path, source, scope)

    def _related(self, path: Path, spec: Mapping[str, Any], entity_key: str, *, required_where: bool) -> Related | None:
        entities = self.doc["entities"]
        other_key = spec.get("entity")
        if other_key is None or "via" not in spec:
            self.problem(path, M("needs “entity” and “via”: the records whose reference “via” points at this one"))
            return None
        if other_key not in entities:
            keys = list(entities)
            hint = suggestion(other_key, keys)
            self.problem(
                (*path, "entity"),
                M("unknown entity “%(key)s”%(hint)s %(listing)s", key=other_key, hint=hint, listing=listing("entities", keys)),
            )
            return None
        other = entities[other_key]
        other_fields: Mapping[str, Any] = other["fields"]
        via = spec["via"]
        ref = other_fields.get(via)
        if ref is None:
            self.problem((*path, "via"), unknown_field(via, list(other_fields)))
            return None
        if ref.get("type") != "reference" or ref.get("to") != entity_key:
            self.problem(
                (*path, "via"),
                M("“%(key)s” of “%(entity)s” must be a reference to “%(target)s”", key=via, entity=other_key, target=entity_key),
            )
            return None
        if required_where and "where" not in spec:
            self.problem(path, M("needs a “where”: the condition every related record must meet"))
        where = self.expression((*path, "where"), spec.get("where"), row_scope(other_fields, has_workflow="workflow" in other))
        title = other.get("title") or next((k for k, f in other_fields.items() if f.get("type") == "text"), next(iter(other_fields)))
        return Related(
            entity=other_key,
            label=Label.of(other.get("label"), humanize(other_key)),
            title=title if title in other_fields else next(iter(other_fields)),
            via=via,
            many=bool(ref.get("many")),
            where=where,
            field_labels=tuple((k, Label.of(f.get("label"), humanize(k))) for k, f in other_fields.items()),
        )


def with_guards(entities: Sequence[Entity]) -> tuple[Entity, ...]:
    """The entities, each knowing the rules of others that read its records (`guarded_by`)."""
    guards: dict[str, list[Guard]] = {}
    for entity in entities:
        for constraint in entity.constraints:
            if constraint.related is not None:
                guards.setdefault(constraint.related.entity, []).append(Guard(entity.key, constraint.key, constraint.related.via))
    return tuple(replace(e, guarded_by=tuple(guards[e.key])) if e.key in guards else e for e in entities)
