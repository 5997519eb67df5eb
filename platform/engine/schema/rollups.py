"""Checking and resolving roll-up fields, once every entity is built: what `over` names,
whether the aggregate fits the field it reads (`sum` of a number, a `weight` for a weighted
average, a boolean or a `condition` for `all`/`any`), whether the filter can run in the
database, the result type the aggregate gives, and roll-ups that read each other (through
formulas too) in a cycle. Each problem is reported at the JSON path of the key at fault.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from flowdeck.engine.expressions import Expression, ExpressionError, Scope, compile_expression
from flowdeck.engine.fieldtypes import FIELD_TYPES, scale_of, types_in
from flowdeck.engine.messages import M, Message
from flowdeck.engine.phrases import a_field, listing, said_by, suggestion
from flowdeck.engine.rollup_sql import NotInSql, condition
from flowdeck.engine.schema.checks import Path, unknown_field
from flowdeck.engine.schema.model import Entity, Field, Rollup

Problem = Callable[[Path, Message], None]
SYSTEM_NAMES = ("id", "created_at", "created_by", "updated_at", "updated_by")
NEEDS_FIELD = ("sum", "min", "max", "average", "weighted_average")
ARITHMETIC = ("sum", "average", "weighted_average")


def resolve_rollups(document: Mapping[str, Any], entities: tuple[Entity, ...], problem: Problem) -> tuple[Entity, ...]:
    """The entities with every roll-up field resolved (its `rollup`, result type, scale and
    currency); a roll-up reading another is resolved after it."""
    resolver = _Resolver(document, {e.key: e for e in entities}, problem)
    for entity in entities:
        for fld in entity.fields:
            if fld.type == "rollup":
                resolver.resolve(entity.key, fld.key)
    resolved = resolver.entities
    _check_cycles(resolved, problem)
    return tuple(resolved[e.key] for e in entities)


class _Resolver:
    def __init__(self, document: Mapping[str, Any], entities: dict[str, Entity], problem: Problem) -> None:
        self.document = document
        self.entities = entities
        self.problem = problem
        self.done: set[tuple[str, str]] = set()
        self.visiting: set[tuple[str, str]] = set()

    def resolve(self, entity_key: str, key: str) -> Field:
        """The field, resolved first when it is a roll-up (a roll-up over a roll-up needs the
        other's result type). A cycle is left unresolved here and reported by `_check_cycles`."""
        fld = self.entities[entity_key].get_field(key)
        node = (entity_key, key)
        if fld.type != "rollup" or node in self.done or node in self.visiting:
            return fld
        self.visiting.add(node)
        resolved = self.build(self.entities[entity_key], fld)
        self.visiting.discard(node)
        self.done.add(node)
        entity = self.entities[entity_key]
        fields = tuple(resolved if f.key == key else f for f in entity.fields)
        self.entities[entity_key] = replace(entity, fields=fields)
        return resolved

    def build(self, entity: Entity, fld: Field) -> Field:
        spec: Mapping[str, Any] = self.document["entities"][entity.key]["fields"][fld.key]
        path: Path = ("entities", entity.key, "fields", fld.key)
        found = self.source(path, entity, spec["over"])
        if found is None:
            return fld
        kind, source, via, fields, has_state = found
        aggregate = spec["aggregate"]
        sources = {f.key: f for f in fields}
        value = self.named(path, "field", spec.get("field"), sources, source)
        weight = self.named(path, "weight", spec.get("weight"), sources, source)
        scope = Scope(names=frozenset(sources) | set(SYSTEM_NAMES) | ({"state"} if has_state else set()))
        where = self.expression((*path, "where"), spec.get("where"), scope, sources, has_state)
        test = self.expression((*path, "condition"), spec.get("condition"), scope, sources, has_state)
        unknown = ("field" in spec and value is None) or ("weight" in spec and weight is None)
        if not self.fits(path, spec, aggregate, value, weight) or unknown:
            return fld
        rollup = Rollup(
            over=spec["over"], kind=kind, source=source, via=via, aggregate=aggregate,
            field=spec.get("field"), weight=spec.get("weight"), where=where, condition=test,
        )  # fmt: skip
        result, scale, currency = result_of(aggregate, value)
        return replace(fld, rollup=rollup, result=result, scale=scale, currency=currency)

    def source(self, path: Path, entity: Entity, over: str) -> tuple[str, str, str, tuple[Field, ...], bool] | None:
        """(kind, source, via, the source's fields, whether it has a state) of `over`."""
        where = (*path, "over")
        if over == "tree":
            if entity.tree is None:
                self.problem(where, M("“tree” needs the entity's own “tree” (its parent reference)"))
                return None
            return "tree", entity.key, entity.tree, self.stored(entity.key), entity.workflow is not None
        if "." not in over:
            table = entity.field(over)
            if table is None or not table.is_table:
                tables = [f.key for f in entity.fields if f.is_table]
                self.problem(where, M("“%(key)s” is not a table field of this entity (tables: %(tables)s)", key=over, tables=tables))
                return None
            return "rows", over, "parent_id", tuple(f for f in table.fields if not f.is_many), False
        source_key, via = over.split(".", 1)
        source = self.entities.get(source_key)
        if source is None:
            keys = list(self.entities)
            said = M(
                "unknown entity “%(key)s”%(hint)s %(listing)s",
                key=source_key,
                hint=suggestion(source_key, keys),
                listing=listing("entities", keys),
            )
            self.problem(where, said)
            return None
        ref = source.field(via)
        if ref is None or ref.type != "reference" or ref.many or ref.to != entity.key:
            said = M(
                "“%(field)s” of “%(entity)s” must be a single reference to “%(target)s”",
                field=via,
                entity=source_key,
                target=entity.key,
            )
            self.problem(where, said)
            return None
        return "reverse", source_key, via, self.stored(source_key), source.workflow is not None

    def stored(self, entity_key: str) -> tuple[Field, ...]:
        entity = self.entities[entity_key]
        return tuple(self.resolve(entity_key, f.key) for f in entity.stored_fields())

    def named(self, path: Path, key: str, name: str | None, sources: Mapping[str, Field], source: str) -> Field | None:
        if name is None:
            return None
        found = sources.get(name)
        if found is None:
            self.problem((*path, key), unknown_field(name, list(sources)))
        return found

    def expression(self, path: Path, source: str | None, scope: Scope, sources: Mapping[str, Field], has_state: bool) -> Expression | None:
        if source is None:
            return None
        try:
            expression = compile_expression(source, scope)
            columns = {name: sa.column(name) for name in [*sources, *SYSTEM_NAMES, *(["state"] if has_state else [])]}
            condition(expression, columns)
        except ExpressionError as exc:
            self.problem(path, said_by(exc))
            return None
        except NotInSql as exc:
            self.problem(path, exc.message)
            return None
        return expression

    def fits(self, path: Path, spec: Mapping[str, Any], aggregate: str, value: Field | None, weight: Field | None) -> bool:
        """Whether the aggregate can be taken of the field (and weight) it names."""
        ok = True
        numbers = types_in("number")
        if aggregate in NEEDS_FIELD and "field" not in spec:
            self.problem(path, M("“%(aggregate)s” needs “field”: the field it aggregates", aggregate=aggregate))
            ok = False
        if aggregate == "weighted_average" and "weight" not in spec:
            self.problem(path, M("“weighted_average” needs “weight”: the number field each value is weighted by"))
            ok = False
        if aggregate != "weighted_average" and "weight" in spec:
            self.problem((*path, "weight"), M("applies only to “weighted_average”"))
            ok = False
        if aggregate in ("all", "any"):
            if ("field" in spec) == ("condition" in spec):
                self.problem(path, M("“%(aggregate)s” needs either “field” (a boolean field) or “condition”", aggregate=aggregate))
                ok = False
            elif value is not None and value.value_type != "boolean":
                self.problem((*path, "field"), M("“%(aggregate)s” needs a boolean field", aggregate=aggregate))
                ok = False
        elif "condition" in spec:
            self.problem((*path, "condition"), M("applies only to “all” and “any” (use “where” to filter)"))
            ok = False
        if value is not None and aggregate in ARITHMETIC and value.value_type not in numbers:
            self.problem((*path, "field"), M("“%(aggregate)s” needs a number field, not %(field_kind)s", aggregate=aggregate,
                                             field_kind=a_field(value.value_type)))  # fmt: skip
            ok = False
        if value is not None and aggregate in ("min", "max") and value.value_type not in numbers | types_in("date"):
            self.problem((*path, "field"), M("“%(aggregate)s” needs a number or date field, not %(field_kind)s", aggregate=aggregate,
                                             field_kind=a_field(value.value_type)))  # fmt: skip
            ok = False
        if weight is not None and weight.value_type not in numbers:
            self.problem((*path, "weight"), M("must be a number field, not %(field_kind)s", field_kind=a_field(weight.value_type)))
            ok = False
        return ok


def result_of(aggregate: str, value: Field | None) -> tuple[str, int | None, str | None]:
    """(result type, scale, currency) of an aggregate of `value`: a count is an integer,
    `all`/`any` a boolean; a sum, minimum or maximum keeps the field's kind of value (whole
    numbers stay whole); an average keeps a decimal kind (percent, money) with its places, and
    of whole numbers gives a decimal with 2 places."""
    if aggregate == "count":
        return "integer", None, None
    if aggregate in ("all", "any"):
        return "boolean", None, None
    assert value is not None
    kind = FIELD_TYPES[value.value_type]
    if kind.family != "number":
        return value.value_type, None, None
    if kind.whole:
        return ("integer", None, None) if aggregate in ("sum", "min", "max") else ("decimal", 2, None)
    return value.value_type, scale_of(value), value.currency


def _check_cycles(entities: Mapping[str, Entity], problem: Problem) -> None:
    """Roll-ups that read themselves: through other roll-ups, formulas or a tree."""
    edges: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for entity in entities.values():
        for fld in entity.fields:
            if fld.formula is not None:
                edges[(entity.key, fld.key)] = {(entity.key, n) for n in fld.formula.names}
            rollup = fld.rollup
            if rollup is not None and rollup.kind != "rows":
                reads = rollup.reads - {rollup.via}
                edges[(entity.key, fld.key)] = {(rollup.source, n) for n in reads}
    reported: set[frozenset[tuple[str, str]]] = set()
    done: set[tuple[str, str]] = set()

    def visit(node: tuple[str, str], trail: list[tuple[str, str]]) -> None:
        for dep in sorted(edges.get(node, ())):
            if dep in trail:
                cycle = [*trail[trail.index(dep) :], dep]
                rollups = [n for n in cycle if entities[n[0]].get_field(n[1]).rollup is not None]
                if rollups and frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    first = rollups[0]
                    said = M("roll-up cycle: %(cycle)s", cycle=" → ".join(f"{e}.{f}" for e, f in cycle))
                    problem(("entities", first[0], "fields", first[1], "over"), said)
            elif dep in edges and dep not in done:
                visit(dep, [*trail, dep])
        done.add(node)

    for node in sorted(edges):
        if node not in done:
            visit(node, [node])
