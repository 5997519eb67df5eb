"""Checking and building views: the columns, sort and filter a list or board may use, and
what a board groups by (states or a select field), its swimlanes, WIP limits and collapsed
columns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowdeck.engine.fieldtypes import FIELD_TYPES, is_many
from flowdeck.engine.filters import FilterError, normalize_condition
from flowdeck.engine.messages import M, Message
from flowdeck.engine.phrases import a_field, listing, said_by, suggestion
from flowdeck.engine.schema.checks import SYSTEM_FIELD_TYPES, Checks, Path, unknown_field
from flowdeck.engine.schema.model import Field, Label, View, WipLimit, Workflow, humanize

SWIMLANE_TYPES = {"select", "user", "reference", "boolean"}


class ViewChecks(Checks):
    def view(self, path: Path, key: str, spec: Mapping[str, Any], fields: Mapping[str, Field], workflow: Workflow | None) -> View:
        known = {**{k: f.type for k, f in fields.items() if not f.is_table}, **SYSTEM_FIELD_TYPES}
        if workflow is None:
            known.pop("state")
        else:
            known["state_category"] = "state_category"

        def column_names(name: str) -> tuple[str, ...]:
            keys = tuple(spec.get(name, ()))
            for index, column in enumerate(keys):
                if column not in known:
                    self.problem((*path, name, index), _unknown_column(column, fields, known))
            return keys

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

        self.filter((*path, "filter"), spec.get("filter", {}), fields, workflow, known)
        group_by = spec.get("group_by")
        swimlanes = spec.get("swimlanes")
        group_values: tuple[str, ...] = ()
        if spec["type"] == "board":
            if group_by == "state":
                if workflow is None:
                    self.problem((*path, "group_by"), M("this entity has no workflow, so a board cannot group by state"))
                else:
                    group_values = workflow.state_keys()
            elif group_by in fields and fields[group_by].type == "select":
                group_values = fields[group_by].option_keys()
            elif group_by in fields:
                said = M(
                    "“%(key)s” is %(field_kind)s; a board groups by “state” or a select field",
                    key=group_by,
                    field_kind=a_field(fields[group_by].type),
                )
                self.problem((*path, "group_by"), said)
            else:
                said = M(
                    "unknown field “%(key)s”%(hint)s; a board groups by “state” or a select field",
                    key=group_by,
                    hint=suggestion(str(group_by), [*fields, "state"]),
                )
                self.problem((*path, "group_by"), said)
            if swimlanes is not None:
                self.swimlanes((*path, "swimlanes"), swimlanes, fields, known)
            for name in ("wip", "collapsed"):
                for index, column in enumerate(spec.get(name, ())):
                    if group_values and column not in group_values:
                        where = (*path, name, column) if name == "wip" else (*path, name, index)
                        self.problem(
                            where,
                            M("“%(key)s” is not a column of this board %(listing)s", key=column, listing=listing("columns", group_values)),
                        )
        else:
            for name in ("group_by", "card", "swimlanes", "wip", "collapsed"):
                if name in spec:
                    self.problem((*path, name), M("applies only to board views"))
        if spec["type"] == "board" and "columns" in spec:
            self.problem((*path, "columns"), M("applies only to list views (a board shows “card” fields)"))
        return View(
            key=key,
            type=spec["type"],
            label=Label.of(spec.get("label"), humanize(key)),
            filter=dict(spec.get("filter", {})),
            sort=sort,
            columns=column_names("columns"),
            page_size=spec.get("page_size", 50),
            group_by=group_by,
            card=column_names("card"),
            swimlanes=swimlanes,
            wip={k: WipLimit(v["max"], v.get("enforce", "warn")) for k, v in spec.get("wip", {}).items()},
            collapsed=tuple(spec.get("collapsed", ())),
        )

    def swimlanes(self, path: Path, swimlanes: str, fields: Mapping[str, Field], known: Mapping[str, str]) -> None:
        lane = fields.get(swimlanes)
        if lane is None and swimlanes in known:
            said = M(
                "“%(key)s” is a system field; swimlanes need a single select, user, reference or boolean field of this entity",
                key=swimlanes,
            )
        elif lane is None:
            said = unknown_field(swimlanes, list(fields))
        elif lane.is_many:
            said = M("“%(key)s” holds many values; swimlanes need a single select, user, reference or boolean field", key=swimlanes)
        elif lane.type not in SWIMLANE_TYPES:
            said = M(
                "“%(key)s” is %(field_kind)s; swimlanes need a single select, user, reference or boolean field",
                key=swimlanes,
                field_kind=a_field(lane.type),
            )
        else:
            return
        self.problem(path, said)

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
