"""The steps that change the tables' structure: new tables, columns, renames (a field's
`was`), indexes, a new field's default for the records already there, a workflow's initial
state for records without one, and the checks that refuse what the data does not allow
(a new unique constraint over duplicates).

For each entity whose table exists, `entity_changes` also hands its fields to the other
parts of the plan: type changes, state and option questions, approval withdrawals and
formulas computed again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine.messages import M
from flowdeck.engine.migrate import archive, formulas, questions, withdrawals
from flowdeck.engine.migrate.fields import before as _before
from flowdeck.engine.migrate.fields import describe_type, signature
from flowdeck.engine.migrate.typechange import TypeChange
from flowdeck.engine.schema.model import Entity, Field
from flowdeck.engine.storage import ddl
from flowdeck.engine.storage.tables import EntityTables, side_table_name

if TYPE_CHECKING:
    from flowdeck.engine.migrate.planner import Planner


# -- tables ----------------------------------------------------------------------------


def create_tables(p: Planner, tables: list[sa.Table]) -> None:
    def create(conn: Connection) -> None:
        p.new.metadata.create_all(conn, tables=tables)

    for table in tables:
        owner = next((et for et in p.new.entities.values() if et.table is table), None)
        if owner is not None:
            if p.archived.get((owner.entity.key, "")):
                p.note(M("restores entity %(entity)s (table %(table)s)", entity=owner.entity.key, table=table.name))
            else:
                p.note(M("adds entity %(entity)s (table %(table)s)", entity=owner.entity.key, table=table.name))
    p.step(M("creates tables: %(tables)s", tables=[t.name for t in tables]), create)


def side_table(p: Planner, et: EntityTables, key: str, table: sa.Table, created: list[sa.Table]) -> None:
    """The link table of a many-valued field or the line-item table of a table field."""
    if table.name in p.tables or table.name in p.handled_tables:
        return
    fld = et.entity.get_field(key)
    if fld.was:
        old_name = side_table_name(p.app.key, et.entity.key, fld.was)
        if old_name in p.tables:
            p.step(
                M("renames field %(old)s to %(new)s in %(entity)s (data kept)", old=fld.was, new=key, entity=et.entity.key),
                lambda conn: ddl.rename_table(conn, old_name, table.name),
            )
            p.tables.add(table.name)
            p.renamed[table.name] = old_name
            return
    created.append(table)
    if et.table.name not in p.tables:
        return
    if key in et.links:
        p.note(M("adds field %(field)s to %(entity)s (link table %(table)s)", field=key, entity=et.entity.key, table=table.name))
    else:
        p.note(M("adds field %(field)s to %(entity)s (line-item table %(table)s)", field=key, entity=et.entity.key, table=table.name))


# -- columns ---------------------------------------------------------------------------


def entity_changes(p: Planner, et: EntityTables, old_entity: Entity | None) -> None:
    entity, table = et.entity, et.table
    live = p.columns(table.name)
    renamed_from: dict[str, str] = {}
    for fld in entity.stored_fields():
        if fld.key not in live and fld.was and fld.was in live:
            renamed_from[fld.was] = fld.key
            p.step(
                M("renames field %(old)s to %(new)s in %(entity)s (data kept)", old=fld.was, new=fld.key, entity=entity.key),
                lambda conn, old=fld.was, new=fld.key: ddl.rename_column(conn, table.name, old, new),
            )
    # Every field, wherever it is stored: a change between a column, a link table and
    # line items is a type change too.
    retyped = {}
    for fld in entity.fields:
        was = _before(old_entity, fld)
        if was is not None and signature(was) != signature(fld):
            retyped[fld.key] = was
    for column in table.columns:
        name = column.name
        if name in live or name in renamed_from.values() or name in retyped:
            continue
        add_column(p, table, column, entity, entity.field(name))
    for fld in entity.fields:
        if fld.key in retyped:
            was = retyped[fld.key]
            renamed = was.key != fld.key and renamed_from.get(was.key) == fld.key
            TypeChange(p, et, old_entity, was, fld, live, renamed).plan()
        else:
            compare_field(p, et, fld, old_entity)
        if old_entity is None or old_entity.field(fld.was or fld.key) is None:
            archive.compare_archived(p, et, fld)
    sync_indexes(p, table)
    if entity.workflow is not None and "state" in live:
        fill_missing_states(p, et)
    if old_entity is not None:
        withdrawals.approval_changes(p, et, old_entity)
        questions.workflow_changes(p, et, old_entity)
        questions.option_changes(p, et, old_entity)
    formulas.formula_changes(p, et, old_entity)


def compare_field(p: Planner, et: EntityTables, fld: Field, old_entity: Entity | None) -> None:
    was = _before(old_entity, fld)
    if was is not None and fld.unique and not was.unique:
        check_unique(p, et, fld, was.key)


def check_unique(p: Planner, et: EntityTables, fld: Field, live_name: str) -> None:
    column = sa.table(et.table.name, sa.column(live_name)).c[live_name]
    dupes = sa.select(column).where(column.is_not(None)).group_by(column).having(sa.func.count() > 1).subquery()
    found = p.count(sa.select(sa.func.count()).select_from(dupes))
    if found:
        p.refuse(
            M(
                "makes field %(field)s of %(entity)s unique, but %(count)s values appear more than once; fix them first",
                field=fld.key,
                entity=et.entity.key,
                count=found,
            )
        )


def add_column(p: Planner, table: sa.Table, column: sa.Column[Any], entity: Entity, fld: Field | None) -> None:
    archived = p.archived.get((entity.key, column.name))
    if archived is not None:
        description = M("restores field %(field)s of %(entity)s from the archive", field=column.name, entity=entity.key)
    elif fld is not None:
        description = M("adds field %(field)s to %(entity)s", field=column.name, entity=entity.key)
    else:
        description = M("adds column %(column)s to %(owner)s", column=column.name, owner=entity.key)

    filled = None if archived is not None or fld is None else ddl.default_in_ddl(p.conn, column, fld)

    def add(conn: Connection) -> None:
        ddl.add_column_ddl(conn, table, column, default=filled)

    p.step(description, add)
    if fld is not None and ddl.literal_default(fld) is not None:
        fill_default(p, table, column, entity, fld, done_by_ddl=filled is not None)
    if column.name == "state" and entity.workflow is not None:
        initial = entity.workflow.initial

        def fill_state(conn: Connection) -> None:
            conn.execute(table.update().where(table.c.state.is_(None)).values(state=initial))

        records = p.count(sa.select(sa.func.count()).select_from(table))
        p.step(
            M("puts the %(count)s existing %(entity)s records in state %(state)s", count=records, entity=entity.key, state=initial),
            fill_state,
            "data",
        )


def fill_default(p: Planner, table: sa.Table, column: sa.Column[Any], entity: Entity, fld: Field, *, done_by_ddl: bool = False) -> None:
    value = ddl.literal_default(fld)
    records = p.count(sa.select(sa.func.count()).select_from(table))
    if not records:
        return
    if fld.unique and records > 1:
        p.refuse(
            M(
                "adds field %(field)s to %(entity)s as unique with a default, but its %(count)s existing records would all get the "
                "same value; add it without a default",
                field=fld.key,
                entity=entity.key,
                count=records,
            )
        )
        return

    def fill(conn: Connection) -> None:
        if not done_by_ddl:
            conn.execute(table.update().where(column.is_(None)).values({column.name: value}))

    p.step(
        M(
            "fills field %(field)s of the %(count)s existing %(entity)s records with its default",
            field=fld.key,
            count=records,
            entity=entity.key,
        ),
        fill,
        "data",
    )


def child_columns(p: Planner, et: EntityTables, key: str, child: sa.Table, old_entity: Entity | None) -> None:
    """The columns of a table field's line items."""
    live = p.columns(child.name)
    fld = et.entity.get_field(key)
    owner = f"{et.entity.key}.{key}"
    old_table = old_entity.field(fld.was or key) if old_entity else None
    for child_field in fld.fields:
        if child_field.key in live:
            was = old_table.child(child_field.key) if old_table and any(c.key == child_field.key for c in old_table.fields) else None
            if was is not None and signature(was) != signature(child_field):
                p.refuse(
                    M(
                        "changes column %(column)s of %(owner)s from %(old_type)s to %(new_type)s: type changes are not supported yet",
                        column=child_field.key,
                        owner=owner,
                        old_type=describe_type(was),
                        new_type=describe_type(child_field),
                    )
                )
            continue
        if child_field.was and child_field.was in live:
            p.step(
                M("renames column %(old)s to %(new)s of %(owner)s (data kept)", old=child_field.was, new=child_field.key, owner=owner),
                lambda conn, old=child_field.was, new=child_field.key: ddl.rename_column(conn, child.name, old, new),
            )
            continue
        column = child.c[child_field.key]
        p.step(
            M("adds column %(column)s to %(owner)s", column=child_field.key, owner=owner),
            lambda conn, c=column: ddl.add_column_ddl(conn, child, c),
        )
    sync_indexes(p, child)


def sync_indexes(p: Planner, table: sa.Table) -> None:
    existing = p.index_names(table.name)
    wanted = {ix.name: ix for ix in table.indexes}
    for name, index in wanted.items():
        if name in existing or name in p.handled_indexes:
            continue
        p.step(M("adds index %(index)s", index=name), lambda conn, ix=index: ix.create(conn))
    for name in sorted(existing - set(wanted) - p.handled_indexes):
        if name.startswith(("ix__", "ux__")):
            p.step(
                M("drops index %(index)s (no longer indexed or unique; no data is lost)", index=name),
                lambda conn, n=name: ddl.drop_index(conn, n),
            )


def fill_missing_states(p: Planner, et: EntityTables) -> None:
    """A workflow that comes back (or is added over a kept state column) puts records
    created without one into its initial state, so none is left stateless."""
    assert et.entity.workflow is not None
    table, initial = et.table, et.entity.workflow.initial
    records = p.count(sa.select(sa.func.count()).where(table.c.state.is_(None)))
    if not records:
        return

    def fill(conn: Connection) -> None:
        conn.execute(table.update().where(table.c.state.is_(None)).values(state=initial))

    p.step(
        M(
            "puts the %(count)s %(entity)s records that have no state in state %(state)s",
            count=records,
            entity=et.entity.key,
            state=initial,
        ),
        fill,
        "data",
    )
