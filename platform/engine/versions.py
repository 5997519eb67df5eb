"""The versions of an app: who applied what and when, the difference between two
documents in plain words, and rollback to an earlier document (applied as a new version).

Every applied document is kept in `fd_app_versions`, so any version can be read, compared
or applied again. A rollback is an ordinary apply of the old document: its plan may ask
the same questions as any change (records in a state the old document does not have,
values to convert back), and `choices` answers them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import audit, models
from flowdeck.engine.apps import ApplyResult, apply_document
from flowdeck.engine.db import Database
from flowdeck.engine.errors import NotFound
from flowdeck.engine.permissions import Actor
from flowdeck.engine.schema.shape import format_path


@dataclass(frozen=True)
class VersionInfo:
    version: int
    author_id: int | None
    author_name: str | None  # the author's display name (username if none); None for the system or a deleted user
    created_at: dt.datetime
    message: str | None
    checksum: str


def list_versions(conn: Connection, app: str) -> list[VersionInfo]:
    """Every version of `app`, oldest first. Raises NotFound for an app never applied."""
    v, u = models.app_versions, models.users
    rows = conn.execute(
        sa.select(v.c.version, v.c.author_id, u.c.display_name, u.c.username, v.c.created_at, v.c.message, v.c.checksum)
        .select_from(v.outerjoin(u, u.c.id == v.c.author_id))
        .where(v.c.app == app)
        .order_by(v.c.version)
    ).all()
    if not rows:
        raise NotFound(f'there is no app "{app}"')
    return [
        VersionInfo(row.version, row.author_id, row.display_name or row.username, row.created_at, row.message, row.checksum) for row in rows
    ]


def get_document(conn: Connection, app: str, version: int) -> dict[str, Any]:
    """The document applied as `version` of `app`. Raises NotFound."""
    v = models.app_versions
    document = conn.execute(sa.select(v.c.document).where((v.c.app == app) & (v.c.version == version))).scalar()
    if document is None:
        raise NotFound(f'app "{app}" has no version {version}')
    return dict(document)


def rollback(db: Database, app: str, to_version: int, *, actor: Actor, choices: Mapping[str, str] | None = None) -> ApplyResult:
    """Apply the document of `to_version` again, as a new version with the message
    "rollback to vN". Data moves need `choices` like any change (ChoicesNeeded otherwise)."""
    document = db.read(lambda conn: get_document(conn, app, to_version))
    result = apply_document(db, document, actor=actor, message=f"rollback to v{to_version}", choices=choices)
    if result.applied:
        db.run(lambda conn: audit.schema_rolled_back(conn, actor, app, to_version, result.version))
    return result


# -- differences ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One difference between two documents: `path` in the document (the new one, or the
    old one for what was removed), `kind` added, removed or changed, and a summary."""

    path: str
    kind: str
    old: Any
    new: Any
    summary: str


# Objects compared as one value: a changed label is one change, not one per language.
_WHOLE = {"label", "plural", "description", "help", "guard_message", "filter", "sections", "rules", "search"}


def diff_documents(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """The differences from `old` to `new`, in document order, each with a summary such as
    "adds field task.due (date)" or "renames field budget to cost"."""
    out: list[Change] = []
    _Differ(out).document(old or {}, new or {})
    return out


def _text(value: Any) -> str:
    if isinstance(value, Mapping) and set(value) <= {"en", "zh"} and value:
        return str(value.get("en") or next(iter(value.values())))
    return json.dumps(value, ensure_ascii=False)


def _type_of(spec: Mapping[str, Any]) -> str:
    kind = spec.get("type", "?")
    if kind == "computed":
        kind = f"computed {spec.get('result', 'decimal')}"
    if spec.get("many"):
        kind = f"many {kind}"
    if spec.get("to"):
        kind = f"{kind} to {spec['to']}"
    return kind


def _keyed(items: Any) -> dict[str, tuple[int, Any]] | None:
    """A list of objects with unique keys (or plain option strings) as key -> (index, item)."""
    if not isinstance(items, list):
        return None
    out: dict[str, tuple[int, Any]] = {}
    for index, item in enumerate(items):
        key = item if isinstance(item, str) else item.get("key") if isinstance(item, Mapping) else None
        if not isinstance(key, str) or key in out:
            return None
        out[key] = (index, item)
    return out


_NAMES = {
    "to": "target state",
    "from": "source states",
    "require": "required fields",
    "comment": "comment rule",
    "color": "colour",
    "required": "required flag",
    "read_only": "read-only flag",
}


class _Differ:
    def __init__(self, out: list[Change]) -> None:
        self.out = out

    def add(self, path: list[Any], kind: str, old: Any, new: Any, summary: str) -> None:
        self.out.append(Change(format_path(path), kind, old, new, summary))

    # -- generic -----------------------------------------------------------------------------

    def values(self, path: list[Any], old: Mapping[str, Any], new: Mapping[str, Any], what: str) -> None:
        """Compare two objects member by member; `what` names the object ("state review")."""
        for key in [*new, *(k for k in old if k not in new)]:
            self.member([*path, key], old.get(key), new.get(key), what, base=len(path))

    def member(self, path: list[Any], old: Any, new: Any, what: str, *, base: int) -> None:
        """One member of an object; nested objects are compared member by member, except
        labels and the like, which are one value."""
        if old == new:
            return
        if isinstance(old, Mapping) and isinstance(new, Mapping) and path[-1] not in _WHOLE:
            for key in [*new, *(k for k in old if k not in new)]:
                self.member([*path, key], old.get(key), new.get(key), what, base=base)
            return
        raw = ".".join(str(p) for p in path[base:])
        name = _NAMES.get(raw, raw)
        kind = "added" if old is None else "removed" if new is None else "changed"
        if raw in ("label", "plural", "description", "help", "guard_message", "filter", "sections", "rules"):
            self.add(path, kind, old, new, f"{'removes' if new is None else 'changes'} the {name} of {what}")
        elif old is None:
            self.add(path, "added", None, new, f"sets the {name} of {what} to {_text(new)}")
        elif new is None:
            self.add(path, "removed", old, None, f"removes the {name} of {what}")
        else:
            self.add(path, "changed", old, new, f"changes the {name} of {what} from {_text(old)} to {_text(new)}")

    # -- the document ----------------------------------------------------------------------

    def document(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        for key in ("key", "label", "description", "source", "$schema"):
            self.member([key], old.get(key), new.get(key), "the app", base=0)
        self.objects(["roles"], old.get("roles") or {}, new.get("roles") or {}, "role", lambda k: k)
        old_entities, new_entities = old.get("entities") or {}, new.get("entities") or {}
        for key in [*new_entities, *(k for k in old_entities if k not in new_entities)]:
            path = ["entities", key]
            before, after = old_entities.get(key), new_entities.get(key)
            if before is None:
                self.add(path, "added", None, after, f"adds entity {key}")
            elif after is None:
                self.add(path, "removed", before, None, f"removes entity {key}")
            elif before != after:
                self.entity(path, key, before, after)

    def objects(self, path: list[Any], old: Mapping[str, Any], new: Mapping[str, Any], noun: str, name: Any) -> None:
        """Keyed objects (roles, states, views): added, removed, or changed member by member."""
        for key in [*new, *(k for k in old if k not in new)]:
            before, after = old.get(key), new.get(key)
            if before is None:
                self.add([*path, key], "added", None, after, f"adds {noun} {name(key)}")
            elif after is None:
                self.add([*path, key], "removed", before, None, f"removes {noun} {name(key)}")
            elif before != after:
                self.values([*path, key], before, after, f"{noun} {name(key)}")

    def entity(self, path: list[Any], key: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        for member in [*new, *(k for k in old if k not in new)]:
            if member in ("fields", "workflow", "views"):
                continue
            self.member([*path, member], old.get(member), new.get(member), f"entity {key}", base=len(path))
        self.fields([*path, "fields"], key, old.get("fields") or {}, new.get("fields") or {})
        self.workflow([*path, "workflow"], old.get("workflow"), new.get("workflow"))
        self.objects([*path, "views"], old.get("views") or {}, new.get("views") or {}, "view", lambda k: f"{key}.{k}")

    def fields(self, path: list[Any], entity: str, old: Mapping[str, Any], new: Mapping[str, Any], *, parent: str = "") -> None:
        owner = f"{entity}.{parent}." if parent else f"{entity}."
        renamed = {
            spec.get("was"): key
            for key, spec in new.items()
            if isinstance(spec, Mapping) and spec.get("was") in old and spec.get("was") not in new and key not in old
        }
        for key in [*new, *(k for k in old if k not in new)]:
            before, after = old.get(key), new.get(key)
            if key in renamed:
                continue  # reported under its new key
            if after is not None and before is None and key in renamed.values():
                was = after["was"]
                before = old[was]
                self.add([*path, key], "changed", before, after, f"renames field {was} to {key}")
                self.field([*path, key], f"{owner}{key}", {**before, "was": after.get("was")}, after, entity)
                continue
            if before is None:
                self.add([*path, key], "added", None, after, f"adds field {owner}{key} ({_type_of(after)})")
            elif after is None:
                self.add([*path, key], "removed", before, None, f"removes field {owner}{key}")
            elif before != after:
                self.field([*path, key], f"{owner}{key}", before, after, entity)

    def field(self, path: list[Any], name: str, old: Mapping[str, Any], new: Mapping[str, Any], entity: str) -> None:
        what = f"field {name}"
        if _type_of(old) != _type_of(new):
            self.add(
                [*path, "type"],
                "changed",
                _type_of(old),
                _type_of(new),
                f"changes the type of {what} from {_type_of(old)} to {_type_of(new)}",
            )
        for member in [*new, *(k for k in old if k not in new)]:
            if member in ("type", "many", "to", "result", "options", "fields", "was"):
                continue
            self.member([*path, member], old.get(member), new.get(member), what, base=len(path))
        if old.get("options") != new.get("options"):
            self.options([*path, "options"], name, old.get("options") or [], new.get("options") or [])
        if old.get("fields") != new.get("fields") and (old.get("type") == "table" or new.get("type") == "table"):
            self.fields([*path, "fields"], entity, old.get("fields") or {}, new.get("fields") or {}, parent=name.split(".", 1)[1])

    def options(self, path: list[Any], name: str, old: list[Any], new: list[Any]) -> None:
        before, after = _keyed(old), _keyed(new)
        if before is None or after is None:
            self.add(path, "changed", old, new, f"changes the options of field {name}")
            return
        for key in [*after, *(k for k in before if k not in after)]:
            if key not in before:
                index, item = after[key]
                self.add([*path, index], "added", None, item, f"adds option {key} to field {name}")
            elif key not in after:
                index, item = before[key]
                self.add([*path, index], "removed", item, None, f"removes option {key} of field {name}")
            else:
                (_, was), (index, item) = before[key], after[key]
                was = {"key": was} if isinstance(was, str) else was
                now = {"key": item} if isinstance(item, str) else item
                if was != now:
                    self.values([*path, index], was, now, f"option {key} of field {name}")
        if [k for k in before if k in after] != [k for k in after if k in before]:
            self.add(path, "changed", old, new, f"reorders the options of field {name}")

    def workflow(self, path: list[Any], old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> None:
        if old == new:
            return
        entity = path[-2]
        if old is None:
            self.add(path, "added", None, new, f"adds a workflow to entity {entity}")
            return
        if new is None:
            self.add(path, "removed", old, None, f"removes the workflow of entity {entity}")
            return
        if old.get("initial") != new.get("initial"):
            self.add(
                [*path, "initial"], "changed", old.get("initial"), new.get("initial"),
                f"changes the initial state of entity {entity} from {old.get('initial')} to {new.get('initial')}",
            )  # fmt: skip
        self.objects([*path, "states"], old.get("states") or {}, new.get("states") or {}, "state", lambda k: k)
        self.transitions([*path, "transitions"], old.get("transitions") or [], new.get("transitions") or [])
        if old.get("rules") != new.get("rules"):
            self.add([*path, "rules"], "changed", old.get("rules"), new.get("rules"), f"changes the field rules of entity {entity}")

    def transitions(self, path: list[Any], old: list[Any], new: list[Any]) -> None:
        before, after = _keyed(old), _keyed(new)
        if before is None or after is None:
            if old != new:
                self.add(path, "changed", old, new, "changes the transitions")
            return
        for key in [*after, *(k for k in before if k not in after)]:
            if key not in before:
                index, item = after[key]
                self.add([*path, index], "added", None, item, f"adds transition {key}")
            elif key not in after:
                index, item = before[key]
                self.add([*path, index], "removed", item, None, f"removes transition {key}")
            else:
                (_, was), (index, item) = before[key], after[key]
                if was != item:
                    self.values([*path, index], was, item, f"transition {key}")
