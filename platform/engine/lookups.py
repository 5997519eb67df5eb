"""Names for showing values: users' display names, the titles of referenced records and
the names of files, looked up for a whole page of records at once.

Lists and boards show hundreds of values per page, so each kind is one statement for the
page, never one per row or per value: one for the users, one per referenced entity, one
for the files. The statements are built once (the users' and files' here, a referenced
entity's on its tables, `EntityTables.statement`) and only their ids change, so their
compiled form is reused on this hot path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import models
from flowdeck.engine.registry import Registry
from flowdeck.engine.storage.tables import EntityTables

SYSTEM_USER_KEYS = ("created_by", "updated_by")
"""System columns that hold a user."""

_USER_NAMES = sa.select(models.users.c.id, models.users.c.display_name).where(models.users.c.id.in_(sa.bindparam("ids", expanding=True)))
_FILE_NAMES = sa.select(models.attachments.c.id, models.attachments.c.filename).where(
    models.attachments.c.id.in_(sa.bindparam("ids", expanding=True))
)


@dataclass
class Names:
    """What values refer to, by id: user names, referenced titles (by entity key and id)
    and file names."""

    users: dict[int, str] = field(default_factory=dict)
    refs: dict[tuple[str, int], str] = field(default_factory=dict)
    files: dict[int, str] = field(default_factory=dict)


def user_names(conn: Connection, ids: Iterable[int]) -> dict[int, str]:
    """Display names of users, by id (one statement)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {i: n for i, n in conn.execute(_USER_NAMES, {"ids": wanted})}


def file_names(conn: Connection, ids: Iterable[int]) -> dict[int, str]:
    """Names of stored files, by id (one statement)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {i: n for i, n in conn.execute(_FILE_NAMES, {"ids": wanted})}


def _select_titles(target: EntityTables) -> sa.Select[Any]:
    table = target.table
    return sa.select(table.c.id, table.c[target.entity.title]).where(table.c.id.in_(sa.bindparam("ids", expanding=True)))


def record_titles(conn: Connection, target: EntityTables, ids: Iterable[int]) -> dict[int, str]:
    """Titles of records of `target`, by id (one statement); an empty title is ""."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    statement = target.statement("titles", lambda: _select_titles(target))
    return {i: "" if t is None else str(t) for i, t in conn.execute(statement, {"ids": wanted})}


def _ids(value: Any) -> list[int]:
    if value is None:
        return []
    return [v for v in (value if isinstance(value, list) else [value]) if v is not None]


def names_for(
    conn: Connection,
    et: EntityTables,
    rows: Sequence[Mapping[str, Any]],
    registry: Registry,
    keys: Iterable[str] | None = None,
) -> Names:
    """Every name the given rows' fields (`keys`; all fields when None) refer to, one
    statement per kind. `registry` gives the tables of referenced entities."""
    entity = et.entity
    wanted = set(keys) if keys is not None else {f.key for f in entity.fields}
    user_keys = [k for k in SYSTEM_USER_KEYS if k in wanted]
    # by value type: a lookup of a user or a record names one as well
    user_keys += [f.key for f in entity.fields if f.value_type == "user" and f.key in wanted]
    ref_keys = [(f.key, f.to) for f in entity.fields if f.value_type == "reference" and f.to and f.key in wanted]
    file_keys = [f.key for f in entity.fields if f.type == "attachment" and f.key in wanted]
    user_ids: set[int] = set()
    refs: dict[str, set[int]] = {}
    files: set[int] = set()
    for row in rows:
        for key in user_keys:
            user_ids.update(_ids(row.get(key)))
        for key, target in ref_keys:
            refs.setdefault(target, set()).update(_ids(row.get(key)))
        for key in file_keys:
            files.update(_ids(row.get(key)))
    names = Names(users=user_names(conn, user_ids), files=file_names(conn, files))
    for target, ids in refs.items():
        titles = record_titles(conn, registry.entity(entity.app, target), ids)
        names.refs.update({(target, i): title for i, title in titles.items()})
    return names
