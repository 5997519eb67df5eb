"""Resolving lookup fields: the path of each (`project.sponsor`, `task.milestone.due_date`)
is followed through single reference fields to the field it shows, once every entity is
built, since a path crosses entities.

Why here and not when the field is built: a path names fields of other entities, and a
lookup may show another lookup (whose own value type is known only once it is resolved).
A resolved lookup carries the reference hops, the entity and field it ends on, and the
value type and settings (options, currency, scale, target entity) of that field, so every
place that shows, filters or sorts a field treats it like the field it shows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from flowdeck.engine.messages import M
from flowdeck.engine.phrases import a_field
from flowdeck.engine.schema.checks import Checks, Path, unknown_field
from flowdeck.engine.schema.model import Entity, Field

Key = tuple[str, str]
Resolve = Callable[[Entity, Field, tuple[Key, ...]], Field | None]


class LookupChecks(Checks):
    def resolve_lookups(self, entities: Sequence[Entity]) -> tuple[Entity, ...]:
        """The entities with every lookup resolved; each problem reported at its `from`."""
        by_key = {e.key: e for e in entities}
        done: dict[Key, Field | None] = {}

        def resolve(entity: Entity, fld: Field, trail: tuple[Key, ...]) -> Field | None:
            key = (entity.key, fld.key)
            if key in done:
                return done[key]
            path: Path = ("entities", entity.key, "fields", fld.key, "from")
            if fld.indexed and fld.lookup is not None and fld.lookup.live:
                self.problem((*path[:-1], "indexed"), M("applies only to a copied lookup (“mode”: “copy”); a live one has no column"))
            result = self._follow(path, by_key, entity, fld, (*trail, key), resolve)
            done[key] = result
            return result

        out = []
        for entity in entities:
            if not any(f.lookup is not None for f in entity.fields):
                out.append(entity)
                continue
            fields = tuple(resolve(entity, f, ()) or f if f.lookup is not None else f for f in entity.fields)
            out.append(replace(entity, fields=fields))
        resolved = {e.key: e for e in out}
        for path, entity_key, fk in self.user_lookups:
            found = resolved[entity_key].field(fk)
            if found is not None and found.lookup is not None and found.lookup.value_type and found.value_type != "user":
                said = M(
                    "“%(key)s” looks up %(field_kind)s; approvers come from a user field", key=fk, field_kind=a_field(found.value_type)
                )
                self.problem(path, said)
        return tuple(out)

    def _follow(
        self, path: Path, by_key: dict[str, Entity], entity: Entity, fld: Field, trail: tuple[Key, ...], resolve: object
    ) -> Field | None:
        assert fld.lookup is not None
        lookup = fld.lookup
        hops: list[tuple[str, str]] = []
        current = entity
        for name in lookup.path[:-1]:
            hop = current.field(name)
            if hop is None:
                self.problem(
                    path, M("%(place)s: %(problem)s", place=current.key, problem=unknown_field(name, [f.key for f in current.fields]))
                )
                return None
            if hop.type != "reference" or hop.to is None:
                said = M(
                    "“%(name)s” of “%(entity)s” is %(field_kind)s; every name but the last must be a reference field",
                    name=name,
                    entity=current.key,
                    field_kind=a_field(hop.type),
                )
                self.problem(path, said)
                return None
            if hop.many:
                self.problem(
                    path,
                    M("“%(name)s” of “%(entity)s” holds many records; a lookup follows single references", name=name, entity=current.key),
                )
                return None
            following = by_key.get(hop.to)
            if following is None:  # the unknown entity is reported at the reference's `to`
                return None
            hops.append((current.key, name))
            current = following
        last_name = lookup.path[-1]
        last = current.field(last_name)
        if last is None:
            self.problem(
                path, M("%(place)s: %(problem)s", place=current.key, problem=unknown_field(last_name, [f.key for f in current.fields]))
            )
            return None
        if last.is_table or last.is_many:
            said = M(
                "“%(name)s” of “%(entity)s” is %(field_kind)s; a lookup shows a single value",
                name=last_name,
                entity=current.key,
                field_kind=a_field(last.type),
            )
            self.problem(path, said)
            return None
        settings, target_entity, target = last, current.key, last.key
        if last.lookup is not None:
            if (current.key, last.key) in trail:
                cycle = [*(f"{e}.{k}" for e, k in trail[trail.index((current.key, last.key)) :]), f"{current.key}.{last.key}"]
                self.problem(path, M("lookup cycle: %(cycle)s", cycle=" → ".join(cycle)))
                return None
            shown = resolve(current, last, trail)
            if shown is None or shown.lookup is None:
                return None
            settings = shown
            if shown.lookup.live:  # followed through: the value is read where the inner lookup reads it
                hops += list(shown.lookup.hops)
                target_entity, target = shown.lookup.target_entity or current.key, shown.lookup.target or last.key
        vtype = settings.value_type
        resolved = replace(lookup, hops=tuple(hops), target_entity=target_entity, target=target, value_type=vtype)
        return replace(
            fld,
            lookup=resolved,
            options=settings.options,
            to=settings.to if vtype == "reference" else None,
            currency=settings.currency,
            scale=settings.scale,
            min=settings.min,
            max=settings.max,
        )
