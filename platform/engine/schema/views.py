"""Checking and building views: the columns, sort and filter every view may use; the keys
of each view type are checked by its entry in `engine.viewtypes` (a view of one type using
another type's keys is a problem)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowdeck.engine.fieldtypes import FIELD_TYPES, is_many, orderable
from flowdeck.engine.filters import FilterError, normalize_condition
from flowdeck.engine.messages import M, Message
from flowdeck.engine.phrases import a_field, said_by
from flowdeck.engine.schema.checks import SYSTEM_FIELD_TYPES, Checks, Path, unknown_field
from flowdeck.engine.schema.model import Field, Label, View, Workflow, humanize
from flowdeck.engine.viewtypes import VIEW_TYPES


class ViewChecks(Checks):
    def view(self, path: Path, key: str, spec: Mapping[str, Any], fields: Mapping[str, Field], workflow: Workflow | None) -> View:
        known = {**{k: f.type for k, f in fields.items() if not f.is_table}, **SYSTEM_FIELD_TYPES}
        if workflow is None:
            known.pop("state")
        else:
            known["state_category"] = "state_category"

        def check_columns(name: str) -> None:
            for index, column in enumerate(spec.get(name, ())):
                if column not in known:
                    self.problem((*path, name, index), _unknown_column(column, fields, known))

        sort = tuple(spec.get("sort", ()))
        for index, item in enumerate(sort):
            column = item.lstrip("-")
            if column not in known:
                self.problem((*path, "sort", index), _unknown_column(column, fields, known))
            elif column == "state_category":
                self.problem((*path, "sort", index), M("“state_category” can filter but not sort; sort by “state” (workflow order)"))
            elif column in fields and is_many(fields[column]):
                self.problem((*path, "sort", index), M("“%(key)s” holds many values, so it cannot be sorted", key=column))
            elif column in fields and not FIELD_TYPES[fields[column].type].orderable:
                self.problem(
                    (*path, "sort", index),
                    M("“%(key)s” is %(field_kind)s, which cannot be sorted", key=column, field_kind=a_field(fields[column].type)),
                )
            elif column in fields and not orderable(fields[column]):
                self.problem(
                    (*path, "sort", index),
                    M("“%(key)s” changes on a working calendar the database cannot count, so it cannot be sorted", key=column),
                )

        self.filter((*path, "filter"), spec.get("filter", {}), fields, workflow, known)
        kind = VIEW_TYPES[spec["type"]]
        kind.check(self.problem, path, spec, fields, workflow, known)
        for other in VIEW_TYPES.values():
            for name in other.keys:
                if other is not kind and name not in kind.keys and name in spec:
                    self.problem((*path, name), other.elsewhere)
        for other in VIEW_TYPES.values():
            for name in other.column_keys:
                check_columns(name)
        return View(
            key=key,
            type=kind.name,
            label=Label.of(spec.get("label"), humanize(key)),
            filter=dict(spec.get("filter", {})),
            sort=sort,
            page_size=spec.get("page_size", 50),
            **kind.options(spec),
        )

    def filter(
        self, path: Path, spec: Mapping[str, Any], fields: Mapping[str, Field], workflow: Workflow | None, known: Mapping[str, str]
    ) -> None:
        for key, condition in spec.items():
            if key not in known:
                self.problem((*path, key), _unknown_column(key, fields, known))
                continue
            try:
                normalize_condition(key, condition, fields.get(key), workflow)
            except FilterError as exc:
                self.problem((*path, key), said_by(exc))
            except ArithmeticError:  # e.g. a datetime whose offset moves it before year 1
                self.problem((*path, key), M("has a value out of range"))


def _unknown_column(column: str, fields: Mapping[str, Field], known: Mapping[str, str]) -> Message:
    if column in fields and fields[column].is_table:
        return M("“%(key)s” is a table field; views cannot show, sort or filter by it", key=column)
    return unknown_field(column, list(known))
