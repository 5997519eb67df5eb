"""The view type registry: for each type of view (a list, a board), the document keys it
owns, the checks of those keys, the index its page reads by and what it groups records by.

A view's common keys (`type`, `label`, `filter`, `sort`, `page_size`) are checked by
`schema.views`; everything else that differs between view types lives in one entry here, so
the loader, storage, the builder and the pages ask `VIEW_TYPES[view.type]` instead of
comparing type names. The web side (`views.view_pages`) has one entry per type too: its
page and its builder form. Adding a view type: docs/dev/adding-a-type.md#view-types.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from flowdeck.engine.fieldtypes import LANE_TYPES
from flowdeck.engine.messages import M, Message
from flowdeck.engine.phrases import a_field, listing, suggestion
from flowdeck.engine.schema.checks import Path, unknown_field
from flowdeck.engine.schema.model import Entity, Field, View, WipLimit, Workflow

COMMON_KEYS = ("type", "label", "filter", "sort", "page_size")
"""The document keys every view type accepts (checked by `schema.views`)."""

SWIMLANE_TYPES = LANE_TYPES
"""The field types a board may draw swimlanes by (`lanes` in the field type registry)."""

Problem = Callable[[Path, Message], None]
"""Records a problem at a JSON path (the loader's `Checks.problem`)."""


@dataclass(frozen=True)
class ViewType:
    """How one view type behaves everywhere.

    `keys` are the document keys the type owns besides `COMMON_KEYS`, in the order their
    problems are reported; `column_keys` the ones among them that list columns (checked
    like sort keys), `field_keys` the ones naming one field (both follow a renamed or
    removed field in the builder). `elsewhere` is the problem a view of another type gets
    for using one of `keys`. `check` checks the type's own keys of a spec; `options` turns them into
    `View` arguments. `index_keys` is the order the type's page reads records in, as
    (column, descending) pairs ahead of `id`, for one composite index per view (empty: no
    index). `grouped_by` is the field the page groups records by (None: not grouped).
    `missing` is the builder's refusal for a key that is not a view of this type.
    """

    name: str
    keys: tuple[str, ...]
    column_keys: tuple[str, ...]
    field_keys: tuple[str, ...]
    elsewhere: Message
    check: Callable[[Problem, Path, Mapping[str, Any], Mapping[str, Field], Workflow | None, Mapping[str, str]], None]
    options: Callable[[Mapping[str, Any]], dict[str, Any]]
    index_keys: Callable[[Entity, View, Collection[str]], tuple[tuple[str, bool], ...]]
    grouped_by: Callable[[View], str | None]
    missing: Callable[[str], Message]


def _no_checks(
    problem: Problem, path: Path, spec: Mapping[str, Any], fields: Mapping[str, Field], workflow: Workflow | None, known: Mapping[str, str]
) -> None:
    """A list's own key (`columns`) is checked with every column key by `schema.views`."""


def _no_index(entity: Entity, view: View, columns: Collection[str]) -> tuple[tuple[str, bool], ...]:
    """A list is read in whatever order its user sorts by: no one index serves it."""
    return ()


def _list_options(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {"columns": tuple(spec.get("columns", ()))}


def _board_check(
    problem: Problem, path: Path, spec: Mapping[str, Any], fields: Mapping[str, Field], workflow: Workflow | None, known: Mapping[str, str]
) -> None:
    """A board groups by `state` (with a workflow) or a select field; swimlanes, WIP
    limits and collapsed columns must name what it groups into."""
    group_by = spec.get("group_by")
    group_values: tuple[str, ...] = ()
    if group_by == "state":
        if workflow is None:
            problem((*path, "group_by"), M("this entity has no workflow, so a board cannot group by state"))
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
        problem((*path, "group_by"), said)
    else:
        said = M(
            "unknown field “%(key)s”%(hint)s; a board groups by “state” or a select field",
            key=group_by,
            hint=suggestion(str(group_by), [*fields, "state"]),
        )
        problem((*path, "group_by"), said)
    swimlanes = spec.get("swimlanes")
    if swimlanes is not None:
        _swimlanes(problem, (*path, "swimlanes"), swimlanes, fields, known)
    for name in ("wip", "collapsed"):
        for index, column in enumerate(spec.get(name, ())):
            if group_values and column not in group_values:
                where = (*path, name, column) if name == "wip" else (*path, name, index)
                problem(
                    where, M("“%(key)s” is not a column of this board %(listing)s", key=column, listing=listing("columns", group_values))
                )


def _swimlanes(problem: Problem, path: Path, swimlanes: str, fields: Mapping[str, Field], known: Mapping[str, str]) -> None:
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
    problem(path, said)


def _board_options(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "group_by": spec.get("group_by"),
        "card": tuple(spec.get("card", ())),
        "swimlanes": spec.get("swimlanes"),
        "wip": {k: WipLimit(v["max"], v.get("enforce", "warn")) for k, v in spec.get("wip", {}).items()},
        "collapsed": tuple(spec.get("collapsed", ())),
    }


def _board_index(entity: Entity, view: View, columns: Collection[str]) -> tuple[tuple[str, bool], ...]:
    """(grouped column, the view's sort keys): exactly the order in which `engine.boards`
    reads a column's first cards, so each column is one index range read up to its LIMIT
    instead of a sort of every record in it. Many-valued and repeated keys are left out."""
    if view.group_by is None or view.group_by not in columns:
        return ()
    keys: list[tuple[str, bool]] = [(view.group_by, False)]
    named = [view.group_by]  # the index's name parts: a key sorted both ways appears twice
    for item in view.sort:
        key = item.lstrip("-")
        fld = entity.field(key)
        if key not in columns or key in named or (fld is not None and fld.is_many):
            continue
        descending = item.startswith("-")
        named.append(f"{key}_desc" if descending else key)
        keys.append((key, descending))
    return tuple(keys)


LIST = ViewType(
    name="list",
    keys=("columns",),
    column_keys=("columns",),
    field_keys=(),
    elsewhere=M("applies only to list views (a board shows “card” fields)"),
    check=_no_checks,
    options=_list_options,
    index_keys=_no_index,
    grouped_by=lambda view: None,
    missing=lambda key: M('The entity has no list view "%(key)s".', key=key),
)

BOARD = ViewType(
    name="board",
    keys=("group_by", "card", "swimlanes", "wip", "collapsed"),
    column_keys=("card",),
    field_keys=("group_by", "swimlanes"),
    elsewhere=M("applies only to board views"),
    check=_board_check,
    options=_board_options,
    index_keys=_board_index,
    grouped_by=lambda view: view.group_by,
    missing=lambda key: M('There is no board view "%(key)s".', key=key),
)

VIEW_TYPES: dict[str, ViewType] = {t.name: t for t in (LIST, BOARD)}
"""Every view type by name, in the order the meta-schema lists them."""


COLUMN_KEYS = tuple(key for kind in VIEW_TYPES.values() for key in kind.column_keys)
"""The view keys, of any type, that list columns (a renamed or removed field follows)."""
FIELD_KEYS = tuple(key for kind in VIEW_TYPES.values() for key in kind.field_keys)
"""The view keys, of any type, that name one field."""


def view_type(view: View) -> ViewType:
    """The registry entry of a loaded view (its type was checked by the loader)."""
    return VIEW_TYPES[view.type]


def groups_by_state(view: View | None) -> bool:
    """Whether `view` groups its records by workflow state (a move between its columns is
    a transition)."""
    return view is not None and view_type(view).grouped_by(view) == "state"
