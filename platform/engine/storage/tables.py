"""Real tables from entity definitions, built with SQLAlchemy Core.

Each entity gets `{app}__{entity}` with typed columns; a many-valued field gets a link table
`{app}__{entity}__{field}` (record_id, value, position) whose value column is indexed, and a
child-table field gets `{app}__{entity}__{field}` rows (id, parent_id, position, columns).
Names come only from validated keys (lowercase, no `__`); names longer than PostgreSQL's
63-byte limit are shortened with a hash so they stay unique and stable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

from flowdeck.engine import models
from flowdeck.engine.fieldtypes import FIELD_TYPES, is_many, types_in
from flowdeck.engine.schema.model import App, Entity, Field
from flowdeck.engine.sqltypes import UTCDateTime
from flowdeck.engine.storage.lookup_sql import attach_lookups
from flowdeck.engine.storage.sla_sql import attach_slas
from flowdeck.engine.viewtypes import view_type

MAX_NAME = 63
IdType = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def sql_name(*parts: str) -> str:
    """Join name parts with `__`; shorten with a stable hash when over 63 characters."""
    name = "__".join(parts)
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_NAME - 9]}_{digest}"


def table_name(app: str, entity: str) -> str:
    return sql_name(app, entity)


def side_table_name(app: str, entity: str, field_key: str) -> str:
    return sql_name(app, entity, field_key)


def index_name(table: str, column: str, *, unique: bool = False) -> str:
    return sql_name("ux" if unique else "ix", table, column)


@dataclass(frozen=True)
class EntityTables:
    """An entity with the tables that hold it."""

    entity: Entity
    table: sa.Table
    links: dict[str, sa.Table] = field(default_factory=dict)
    children: dict[str, sa.Table] = field(default_factory=dict)
    statements: dict[object, Any] = field(default_factory=dict, compare=False, repr=False)
    """Statements of a fixed shape on these tables, built once (`statement`), and facts of
    the schema the writes ask every time (whether a roll-up is read further up)."""
    dependents: list[tuple[Field, EntityTables]] = field(default_factory=list, compare=False, repr=False)
    """The roll-ups (field, the entity holding it) that aggregate this entity's records or
    its child rows, so a write here knows which parents to recompute (`engine.rollups`)."""
    lookups: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """Live lookups: field key -> the scalar subquery reading its value for a row of `table`
    (`storage/lookup_sql.py`); they have no column."""
    clauses: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """Filters a comparison of the column would get wrong: field key -> a function from
    (operator, value) to the WHERE clause (`storage/sla_sql.py`: an SLA's time left)."""
    orders: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """Sort keys of a field that sorts by more than its column (field key -> the keys)."""
    copy_reads: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """Copied lookups: field key -> the same subquery, to fill their columns in one UPDATE."""
    lookup_sources: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """Every lookup: field key -> a SELECT of its value from the first reference's id
    (the bind parameter `start`), used when a record is written."""

    def column(self, key: str) -> sa.ColumnElement[Any]:
        """What a list selects, filters and sorts by for `key`: its column, or a live lookup's subquery."""
        found = self.lookups.get(key)
        return found if found is not None else self.table.c[key]

    def has_column(self, key: str) -> bool:
        """Can `key` be selected, filtered and sorted by (a column or a live lookup)?"""
        return key in self.table.c or key in self.lookups

    def statement(self, key: object, build: Callable[[], sa.Executable]) -> Any:
        """The statement cached under `key`, built by `build()` the first time. These
        tables never change (a new schema generation builds new ones), so neither do the
        statements; SQLAlchemy reuses a kept statement's cache key and compiled form."""
        found = self.statements.get(key)
        if found is None:
            found = self.statements[key] = build()
        return found

    def all_tables(self) -> Iterator[sa.Table]:
        yield self.table
        yield from self.links.values()
        yield from self.children.values()


@dataclass(frozen=True)
class AppTables:
    app: App
    metadata: sa.MetaData
    entities: dict[str, EntityTables]

    def get(self, entity: str) -> EntityTables:
        return self.entities[entity]


def _value_column(field: Field, name: str, app: str, *, ondelete: str = "SET NULL") -> sa.Column[object]:
    """The column holding one value of `field` (in the entity table, a child row or a link table)."""
    kind = FIELD_TYPES[field.type]
    assert kind.column is not None
    args: list[object] = []
    if field.type == "user":
        args.append(sa.ForeignKey(models.users.c.id, ondelete=ondelete))
    elif field.type == "reference":
        assert field.to is not None
        args.append(sa.ForeignKey(f"{table_name(app, field.to)}.id", ondelete=ondelete))
    elif field.type == "attachment":
        args.append(sa.ForeignKey(models.attachments.c.id, ondelete=ondelete))
    return sa.Column(name, kind.column(field), *args, nullable=True)


def _needs_index(field: Field) -> bool:
    return field.indexed or field.type in types_in("user", "reference")


class Descending(sa.sql.expression.ColumnElement[object]):
    """A column of an index in the order of `ORDER BY column DESC NULLS LAST` (how
    boards sort on a descending key). PostgreSQL needs the NULLS LAST said (its DESC
    puts NULLs first); SQLite's DESC already puts them last and refuses the words."""

    inherit_cache = True

    def __init__(self, column: sa.Column[object]) -> None:
        self.column = column
        self.type = column.type


@compiles(Descending)
def _descending(element: Descending, compiler: SQLCompiler, **kw: object) -> str:
    return f"{compiler.process(element.column, **kw)} DESC"


@compiles(Descending, "postgresql")
def _descending_pg(element: Descending, compiler: SQLCompiler, **kw: object) -> str:
    return f"{compiler.process(element.column, **kw)} DESC NULLS LAST"


def _view_indexes(entity: Entity, table: sa.Table) -> None:
    """One composite index per view whose type reads in a fixed order (its `index_keys`,
    then id): for a board, (grouped column, the view's sort keys, id), so each column is
    one index range read up to its LIMIT instead of a sort of every record in it (on
    PostgreSQL with a million records: 1 ms instead of 200-350 ms per column). The same
    index counts a board column (capped, `boards.COUNT_LIMIT`) without touching the table.
    Named after its keys, so changing a board's sort replaces the index (the migration
    planner adds and drops `ix__` indexes by name)."""
    for view in entity.views:
        index_keys = view_type(view).index_keys(entity, view, table.c.keys())
        if not index_keys:
            continue
        parts = [f"{key}_desc" if descending else key for key, descending in index_keys]
        keys = [Descending(table.c[key]) if descending else table.c[key] for key, descending in index_keys]
        parts.append("id")
        keys.append(table.c.id)
        name = sql_name("ix", table.name, *parts)
        if not any(ix.name == name for ix in table.indexes):
            sa.Index(name, *keys)


def build_app_tables(app: App, metadata: sa.MetaData | None = None) -> AppTables:
    """The tables a document asks for. `metadata` may be shared so references resolve."""
    metadata = metadata if metadata is not None else sa.MetaData()
    for table in models.Base.metadata.sorted_tables:
        if table.name not in metadata.tables:
            table.to_metadata(metadata)
    entities = {entity.key: _entity_tables(app.key, entity, metadata) for entity in app.entities}
    for et in entities.values():
        for fld in et.entity.fields:
            if fld.rollup is not None:
                source = et if fld.rollup.kind == "rows" else entities[fld.rollup.source]
                source.dependents.append((fld, et))
    tables = AppTables(app=app, metadata=metadata, entities=entities)
    attach_lookups(tables)
    attach_slas(tables)
    return tables


def _entity_tables(app: str, entity: Entity, metadata: sa.MetaData) -> EntityTables:
    name = table_name(app, entity.key)
    columns: list[sa.Column[object]] = [
        sa.Column("id", IdType, primary_key=True, autoincrement=True),
        sa.Column("version", sa.Integer, nullable=False, default=1),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.ForeignKey(models.users.c.id, ondelete="SET NULL"), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.ForeignKey(models.users.c.id, ondelete="SET NULL"), nullable=True),
    ]
    if entity.workflow is not None:
        columns.insert(1, sa.Column("state", sa.String(40), nullable=True))
    for fld in entity.stored_fields():
        columns.append(_value_column(fld, fld.key, app))
    table = sa.Table(name, metadata, *columns)
    # An Index built on a table's columns attaches itself to that table.
    sa.Index(index_name(name, "created_by"), table.c.created_by)
    if entity.workflow is not None:
        sa.Index(index_name(name, "state"), table.c.state)
    for fld in entity.stored_fields():
        if fld.unique or fld.type == "autonumber":
            sa.Index(index_name(name, fld.key, unique=True), table.c[fld.key], unique=True)
        elif _needs_index(fld):
            sa.Index(index_name(name, fld.key), table.c[fld.key])
    _view_indexes(entity, table)

    links: dict[str, sa.Table] = {}
    children: dict[str, sa.Table] = {}
    for fld in entity.fields:
        side = side_table_name(app, entity.key, fld.key)
        if is_many(fld):
            # A link row to a deleted record, user or file goes with it (the value is NOT NULL).
            value = _value_column(fld, "value", app, ondelete="CASCADE")
            value.nullable = False
            link = sa.Table(
                side,
                metadata,
                sa.Column("record_id", sa.ForeignKey(table.c.id, ondelete="CASCADE"), nullable=False),
                value,
                sa.Column("position", sa.Integer, nullable=False, default=0),
                sa.PrimaryKeyConstraint("record_id", "value", name=sql_name("pk", side)),
            )
            sa.Index(index_name(side, "value"), link.c.value)
            links[fld.key] = link
        elif fld.is_table:
            child_columns: list[sa.Column[object]] = [
                sa.Column("id", IdType, primary_key=True, autoincrement=True),
                sa.Column("parent_id", sa.ForeignKey(table.c.id, ondelete="CASCADE"), nullable=False),
                sa.Column("position", sa.Integer, nullable=False, default=0),
            ]
            child_columns += [_value_column(child, child.key, app) for child in fld.fields]
            child = sa.Table(side, metadata, *child_columns)
            sa.Index(index_name(side, "parent_id"), child.c.parent_id)
            children[fld.key] = child
    return EntityTables(entity=entity, table=table, links=links, children=children)
