"""Roll-up fields kept up to date in the transaction of the write that moves them.

A write of a record (create, update, transition, delete) asks `after_write` which parents'
roll-ups it moves: for a reverse reference (`task.project`) the parents it pointed at before
and after the write (so moving a task updates the old and the new project), for child rows
the record itself, for a tree (`over: "tree"`) every ancestor up to the root. A write that
changes no field a roll-up reads (its field, weight, reference or filter) issues no roll-up
statement at all. Per level and parent table, one UPDATE sets the parents' roll-ups to their
aggregates (each computed once per parent in a derived table the UPDATE joins, never the
children loaded into Python) where one differs, and returns the rows that moved if anything
reads them: those are written records for the next level up (task -> parent task ->
milestone -> project), until nothing moves, so a level whose values stayed stops the
cascade. On PostgreSQL the parents' rows (with a tree's ancestors) are locked first, every
table of a level by one statement (`SELECT ... FOR UPDATE` by id, tables in name order);
SQLite's `BEGIN IMMEDIATE` already serializes writers. The new values are a MATERIALIZED
CTE: as a plain derived table both databases pulled it up into the UPDATE and computed
each aggregate twice (for SET and for the "did it move" test).

Locking before the aggregate makes it exact under concurrency: two transactions changing
two children of one parent queue on the parent's row lock, and the second's aggregate (a
new statement, so a new snapshot under READ COMMITTED) sees the first's committed child.

On PostgreSQL a level's lock and its UPDATEs go in one psycopg pipeline (`db.pipelined`),
and with them the level above when it can be named without their results (`_ahead`): a
save moving three levels (milestone and tree, then project) waits for one answer more
than without roll-ups, where it waited for five (it still sends five more statements).
This keeps the guarantee above: the server runs the pipeline's statements in order, and
a statement's snapshot is taken when the server starts it, after the lock before it was
granted. So no statement can use an earlier one's result: a tree's UPDATE finds the
ancestors again itself (the recursive CTE its lock used, read as an array by the primary
key); the level above names its parents through the reference of the rows below (`project
IN (SELECT project FROM milestone WHERE id = :id)`), read by its lock after the milestone
is locked, so it is the reference as it is now, which nobody can change before the commit
(a writer moving the milestone locks it first). Where the level above depends on what an
UPDATE returns (a formula reading a roll-up, a tree roll-up above, the tree's moved
ancestors) the levels go one round trip each, with RETURNING, the UPDATEs read last so
one sync answers the level. The price of the level ahead: its parents are locked and
recomputed even when nothing below moved (their UPDATE changes no row), where the
level-by-level path (and SQLite) stops the cascade. Decided against: locking the whole
chain in the first statement (a reference read there may be older than the lock on the
row holding it, so it would need a check and a fallback); server-side prepared statements
by hand (psycopg prepares a statement after its fifth execution on a connection,
`prepare_threshold`, which the roll-up statements reach at once).

A recompute is not an edit: it neither bumps the parent's `version` (a form open on the
parent does not conflict because a child changed) nor writes a history entry (the child's
own entry records the cause), as Jira and Jiandaoyun do with their computed roll-ups.
Formulas of the parent that read a roll-up are computed again with it.

`rebuild_statement` is the set-based form the migration plan runs when a roll-up is added
or changed: one `UPDATE target SET col = (SELECT aggregate ... WHERE via = target.id)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from flowdeck.engine.computed import compute_values
from flowdeck.engine.db import pipelined
from flowdeck.engine.rollup_sql import aggregate, condition
from flowdeck.engine.schema.model import App, Entity, Field
from flowdeck.engine.storage.tables import AppTables, EntityTables

MAX_LEVELS = 64  # the schema refuses cycles; this only bounds a damaged database


def empty_values(entity: Entity) -> dict[str, Any]:
    """The roll-ups of a new record over other records (none can point at it yet): 0 for
    `sum` and `count`, true for `all`, false for `any`, empty for the rest."""
    empty = {"sum": 0, "count": 0, "all": True, "any": False}
    return {f.key: empty.get(f.rollup.aggregate) for f in entity.fields if f.rollup is not None and f.rollup.kind != "rows"}


def source_table(app_tables: AppTables, target: EntityTables, fld: Field) -> sa.Table:
    """The table whose rows a roll-up aggregates."""
    assert fld.rollup is not None
    if fld.rollup.kind == "rows":
        return target.children[fld.rollup.source]
    return app_tables.get(fld.rollup.source).table


def aggregate_of(fld: Field, target_type: Any, source: sa.Table, parent: ColumnElement[Any], dialect: str) -> Any:
    """The scalar SELECT of `fld`'s aggregate over the source rows of the parent `parent`
    (a bound id, or the outer UPDATE's id column in a rebuild)."""
    rollup = fld.rollup
    assert rollup is not None
    src = source.alias("rollup_src")
    if rollup.kind == "tree":
        step = source.alias("rollup_top")
        anchor = sa.select(step.c.id).where(step.c[rollup.via] == parent)
        if isinstance(parent, sa.Column) and parent.table is not None:
            anchor = anchor.correlate(parent.table)  # the outer UPDATE's row, not a join with its table
        tree = anchor.cte("rollup_tree", recursive=True, nesting=True)
        down = source.alias("rollup_down")
        tree = tree.union(sa.select(down.c.id).where(down.c[rollup.via] == tree.c.id))
        scope: ColumnElement[bool] = src.c.id.in_(sa.select(tree.c.id))
    else:
        scope = src.c[rollup.via] == parent
    columns = {c.key: c for c in src.c}
    conditions = [scope]
    if rollup.where is not None:
        conditions.append(condition(rollup.where, columns))
    value = src.c[rollup.field] if rollup.field else None
    weight = src.c[rollup.weight] if rollup.weight else None
    test = value.is_(sa.true()) if value is not None else None
    if rollup.condition is not None:
        test = condition(rollup.condition, columns)
    expression = aggregate(rollup.aggregate, value, weight, test, target_type, dialect)
    return sa.select(expression).where(*conditions).scalar_subquery()


def rebuild_statement(app_tables: AppTables, target: EntityTables, fld: Field, dialect: str) -> sa.Update:
    """One set-based UPDATE that gives every record of `target` its roll-up `fld`."""
    column = target.table.c[fld.key]
    computed = aggregate_of(fld, column.type, source_table(app_tables, target, fld), target.table.c.id, dialect)
    return target.table.update().values({fld.key: computed})


def levels(app: App) -> list[list[tuple[str, str]]]:
    """The roll-ups of `app` by level: a roll-up comes after those it reads (directly, or
    through a formula of its source), so rebuilding level by level reads finished values."""
    depth: dict[tuple[str, str], int] = {}

    def level(entity_key: str, key: str, seen: frozenset[tuple[str, str]]) -> int:
        node = (entity_key, key)
        if node in depth:
            return depth[node]
        fld = app.get_entity(entity_key).field(key)
        if fld is None or node in seen:
            return 0
        if fld.formula is not None:
            return max((level(entity_key, n, seen | {node}) for n in fld.formula.names), default=0)
        if fld.rollup is None or fld.rollup.kind == "rows":
            return 1 if fld.rollup is not None else 0
        reads = fld.rollup.reads - {fld.rollup.via}
        found = 1 + max((level(fld.rollup.source, n, seen | {node}) for n in reads), default=0)
        depth[node] = found
        return found

    for entity in app.entities:
        for fld in entity.fields:
            if fld.rollup is not None:
                depth[(entity.key, fld.key)] = level(entity.key, fld.key, frozenset())
    out: dict[int, list[tuple[str, str]]] = {}
    for node, n in depth.items():
        out.setdefault(n, []).append(node)
    return [sorted(out[n]) for n in sorted(out)]


# -- keeping them up to date ---------------------------------------------------------------

Sources = dict[str, sa.Table]  # roll-up key -> the table it aggregates
Pending = dict[str, tuple[EntityTables, dict[int, Sources]]]  # target table -> parent id -> its roll-ups
Written = tuple[int, Mapping[str, Any] | None, Mapping[str, Any] | None]  # (id, before, after)
Parents = list[int] | tuple["Through", ...]  # parent ids, or the parents the rows below point at
Group = tuple[EntityTables, tuple[str, ...], Parents, Sources]  # target, roll-up keys, parents, sources
Stage = tuple[list[Group], list[bool]]  # a level's groups, and whether each one's moved rows are read


@dataclass(frozen=True)
class Through:
    """Parents named by a reference of the rows below them: `SELECT via FROM below WHERE
    id IN (ids)`, read by the statement that locks or updates them (PostgreSQL's level ahead)."""

    below: EntityTables
    via: str
    ids: tuple[int, ...]


def after_write(
    conn: Connection,
    et: EntityTables,
    record_id: int,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    changed: set[str] | None,
) -> dict[str, Any]:
    """Recompute every roll-up the write of record `record_id` moves, level by level up.
    `before`/`after` are its values (None for a create/delete); `changed` the fields that
    changed (with `state`), None for all. Returns the record's own roll-ups that moved."""
    if not et.dependents:
        return {}
    own: dict[str, Any] = {}
    pending = _affected(conn, et, [(record_id, before, after)], changed)
    for _ in range(MAX_LEVELS):
        if not pending:
            break
        groups: list[Group] = []
        for name in sorted(pending):
            target, parents = pending[name]
            by_keys: dict[tuple[str, ...], list[int]] = {}
            for parent_id, sources in parents.items():
                by_keys.setdefault(tuple(sorted(sources)), []).append(parent_id)
            for keys, ids in sorted(by_keys.items()):
                groups.append((target, keys, sorted(ids), {k: parents[ids[0]][k] for k in keys}))
        mine = [target is et and isinstance(ids, list) and record_id in ids for target, _, ids, _ in groups]
        read = [_read_above(target, keys) for target, keys, _, _ in groups]
        ahead = _ahead(groups, read) if conn.dialect.name == "postgresql" else None
        stages: list[Stage] = [(groups, [m or r for m, r in zip(mine, read, strict=True)])]
        if ahead is not None:  # the level above goes in the same round trip: nothing reads these rows
            stages = [(groups, mine), (ahead, [_read_above(target, keys) for target, keys, _, _ in ahead])]
        following: Pending = {}
        for number, ((stage, _), found) in enumerate(zip(stages, _run_levels(conn, stages), strict=True)):
            for (target, keys, ids, _), rows in zip(stage, found, strict=True):
                formulas = _formulas_moved(conn, target, keys, rows)
                if target is et and isinstance(ids, list) and record_id in ids:
                    own.update(next(({k: r[k] for k in (*keys, *formulas)} for r in rows if r["id"] == record_id), {}))
                if number < len(stages) - 1:
                    continue  # the next stage is the level these rows move
                written: list[Written] = [(r["id"], r, r) for r in rows]
                for table_name, (up, more) in _affected(conn, target, written, set(keys) | formulas).items():
                    for parent_id, more_sources in more.items():
                        following.setdefault(table_name, (up, {}))[1].setdefault(parent_id, {}).update(more_sources)
        pending = following
    return own


def _read_above(target: EntityTables, keys: tuple[str, ...]) -> bool:
    """Whether anything reads the roll-ups `keys` of `target` once they moved: a formula of
    the parent, or a roll-up one level up. If nothing does, the UPDATE returns no rows (the
    top level of a cascade, a tree's roll-up nobody rolls up further). Kept with the
    table's statements: it depends on the schema generation only."""
    found = target.statements.get(("rollup", "read_above", keys))
    if found is None:
        names = set(keys)
        found = any(f.formula is not None and f.formula.names & names for f in target.entity.fields) or any(
            fld.rollup is not None and fld.rollup.kind != "rows" and fld.rollup.reads & names for fld, _ in target.dependents
        )
        target.statements[("rollup", "read_above", keys)] = found
    return bool(found)


def _ahead(groups: list[Group], read: list[bool]) -> list[Group] | None:
    """PostgreSQL: the level above `groups`, named without their UPDATEs' results, so that
    it goes in the same pipeline: each parent through the reference of the rows below
    (`project IN (SELECT project FROM milestone WHERE id = :id)`), read by a statement that
    runs after the rows below were locked, so it names the parents they point at now. None
    where the level above depends on what the UPDATEs return: a formula reading a roll-up
    that moved, a tree (its UPDATE moves ancestors it finds itself, or a tree roll-up above).
    The price: the level above is locked and recomputed even where nothing below moved (its
    UPDATE then changes no row), where the level-by-level path stops the cascade."""
    above: dict[str, tuple[EntityTables, dict[str, sa.Table], list[Through]]] = {}
    for (target, keys, ids, _), reads in zip(groups, read, strict=True):
        if not reads:
            continue
        names = set(keys)
        if (
            not isinstance(ids, list)
            or _is_tree(target, keys)
            or any(f.formula is not None and f.formula.names & names for f in target.entity.fields)
        ):
            return None
        for fld, up in target.dependents:
            rollup = fld.rollup
            assert rollup is not None
            if rollup.kind == "rows" or not rollup.reads & names:
                continue
            if rollup.kind == "tree":
                return None
            entry = above.setdefault(up.table.name, (up, {}, []))
            entry[1][fld.key] = target.table
            through = Through(target, rollup.via, tuple(ids))
            if through not in entry[2]:
                entry[2].append(through)
    return [(up, tuple(sorted(sources)), tuple(throughs), sources) for _, (up, sources, throughs) in sorted(above.items())] or None


def _affected(conn: Connection, et: EntityTables, written: list[Written], changed: set[str] | None) -> Pending:
    """The parents whose roll-ups the writes of `et`'s records move, with the roll-ups to
    recompute and the table each aggregates: for a reverse reference the parents before and
    after (a moved child leaves one and joins another), for a tree every ancestor."""
    out: Pending = {}
    for fld, target in et.dependents:
        rollup = fld.rollup
        assert rollup is not None
        if rollup.kind == "rows":
            if changed is not None and rollup.source not in changed:
                continue
            parents = {rid for rid, _, after in written if after is not None}
            source = target.children[rollup.source]
        else:
            if changed is not None and not changed & rollup.reads:
                continue
            # For a tree these are the parents; their ancestors are found by the UPDATE itself.
            parents = {v for _, before, after in written for v in ((before or {}).get(rollup.via), (after or {}).get(rollup.via)) if v}
            source = et.table
        for parent_id in parents:
            out.setdefault(target.table.name, (target, {}))[1].setdefault(parent_id, {})[fld.key] = source
    return out


def _listed(table: sa.Table | Any, single: bool, n: str = "") -> ColumnElement[bool]:
    """`table.id` is the bound id (`one`), or one of the bound ids (`ids`); `n` tells apart
    the groups of one lock statement. One parent is the common case: a plain parameter
    keeps the compiled SQL as it is, where an expanding list makes SQLAlchemy render the
    statement again for every execution."""
    return table.c.id == sa.bindparam(f"one{n}") if single else table.c.id.in_(sa.bindparam(f"ids{n}", expanding=True))


def _bound(parents: Parents, n: str = "") -> dict[str, Any]:
    """The parameters `_where` binds for `parents`."""
    if isinstance(parents, list):
        return {f"one{n}": parents[0]} if len(parents) == 1 else {f"ids{n}": parents}
    params: dict[str, Any] = {}
    for k, through in enumerate(parents):
        params.update(_bound(list(through.ids), f"{n}v{k}"))
    return params


def _shape(parents: Parents) -> tuple[Any, ...]:
    """What of `parents` the SQL of a statement depends on (its cache key)."""
    if isinstance(parents, list):
        return (len(parents) == 1,)
    return tuple((t.below.table.name, t.via, len(t.ids) == 1) for t in parents)


def _where(table: sa.Table | Any, parents: Parents, n: str = "") -> ColumnElement[bool]:
    """`table.id` is one of `parents`: a bound id or ids (`_listed`), or what the rows below
    point at (`Through`)."""
    if isinstance(parents, list):
        return _listed(table, len(parents) == 1, n)
    return sa.or_(
        *(
            table.c.id.in_(sa.select(t.below.table.c[t.via]).where(_listed(t.below.table, len(t.ids) == 1, f"{n}v{k}")))
            for k, t in enumerate(parents)
        )
    )


def _is_tree(target: EntityTables, keys: tuple[str, ...]) -> bool:
    """Whether one of the roll-ups `keys` is over the tree: its UPDATE moves every ancestor
    of the parents too. Kept with the table's statements (a fact of the schema generation)."""
    found = target.statements.get(("rollup", "tree", keys))
    if found is None:
        found = target.statements[("rollup", "tree", keys)] = any(target.entity.get_field(k).rollup.kind == "tree" for k in keys)  # type: ignore[union-attr]
    return bool(found)


def _ancestors(et: EntityTables, single: bool, n: str = "") -> Any:
    """The bound ids and every record above them in the entity's tree."""
    via = et.entity.tree
    assert via is not None
    table = et.table
    found = sa.select(table.c.id).where(_listed(table, single, n)).cte(f"rollup_up{n}", recursive=True)
    up = table.alias("rollup_parent")
    found = found.union(sa.select(up.c[via]).where((up.c.id == found.c.id) & up.c[via].is_not(None)))
    return sa.select(found.c.id)


def _lock(target: EntityTables, tree: bool, parents: Parents, n: str = "") -> Any:
    """PostgreSQL: lock the parents' rows (for a tree, with every ancestor) in id order, and
    return their ids. The ancestors come as `id = ANY(ARRAY(recursive CTE))`: an array the
    planner reads by the primary key, where `id IN (recursive CTE)` made it scan the table
    (about a second a save at 100,000 tasks)."""
    table = target.table
    if not tree:
        return sa.select(table.c.id).where(_where(table, parents, n)).order_by(table.c.id).with_for_update()
    assert isinstance(parents, list)
    above = sa.func.array(_ancestors(target, len(parents) == 1, n).scalar_subquery())
    return sa.select(table.c.id).where(table.c.id == sa.any_(above)).order_by(table.c.id).with_for_update()


def _lock_level(groups: list[Group]) -> tuple[Any, dict[str, Any]]:
    """PostgreSQL: the statement that locks the parents of every group of a level (for a
    tree, with every ancestor), and its parameters. The groups' locks are the branches of a
    `UNION ALL`, which PostgreSQL runs in their order: the lock order is the one a
    statement per group had (tables by name, then ids), one statement for the level."""
    shape = tuple((target.table.name, _is_tree(target, keys), _shape(ids)) for target, keys, ids, _ in groups)
    if len(groups) == 1:
        target, keys, ids, _ = groups[0]
        tree = _is_tree(target, keys)
        return target.statement(("rollup", "lock", tree, _shape(ids)), lambda: _lock(target, tree, ids)), _bound(ids)

    def build() -> Any:
        branches = []
        for n, (target, keys, ids, _) in enumerate(groups):
            locked = _lock(target, _is_tree(target, keys), ids, str(n)).subquery(f"rollup_lock{n}")
            branches.append(sa.select(sa.literal(n).label("n"), locked.c.id))
        return sa.union_all(*branches)

    params: dict[str, Any] = {}
    for n, (_, _, ids, _) in enumerate(groups):
        params.update(_bound(ids, str(n)))
    return groups[0][0].statement(("rollup", "lock_level", shape), build), params


def _run_levels(conn: Connection, stages: list[Stage]) -> list[list[list[dict[str, Any]]]]:
    """Send the statements of `stages` (a level, and on PostgreSQL perhaps the level above
    it, see `_ahead`) and return, for each stage and group, the rows its UPDATE moved (none
    unless they are read). SQLite: the UPDATEs one by one (`BEGIN IMMEDIATE` already
    serializes writers). PostgreSQL: each stage's lock, then its UPDATEs, all in one
    pipeline: the server runs them in order, each with its own snapshot taken when it
    starts, so every UPDATE still sees each child committed before the lock was granted,
    for one round trip instead of one a statement. In a stage the UPDATEs whose rows are
    read go last, so that the sync that brings them (or the pipeline's end) answers all."""
    dialect = conn.dialect.name
    statements = [[_statement(*group, dialect, want) for group, want in zip(groups, wanted, strict=True)] for groups, wanted in stages]
    if dialect != "postgresql":
        return [
            [_rows(conn.execute(*st), want) for st, want in zip(sts, wanted, strict=True)]
            for sts, (_, wanted) in zip(statements, stages, strict=True)
        ]
    found: list[list[list[dict[str, Any]]]] = [[[] for _ in groups] for groups, _ in stages]
    with pipelined(conn) as pipe:
        send = pipe.execute if pipe is not None else lambda s, p, **_: conn.execute(s, p)
        for number, (groups, wanted) in enumerate(stages):
            send(*_lock_level(groups))
            order = sorted(range(len(groups)), key=lambda n: wanted[n])
            for place, n in enumerate(order):
                last = number == len(stages) - 1 and place == len(order) - 1
                found[number][n] = _rows(send(*statements[number][n], read=wanted[n], last=last), wanted[n])
    return found


def _rows(result: Any, wanted: bool) -> list[dict[str, Any]]:
    """The moved rows an UPDATE returned, if they are read."""
    return [dict(r) for r in result.mappings()] if wanted else []


def _statement(
    target: EntityTables, keys: tuple[str, ...], parents: Parents, sources: Sources, dialect: str, returning: bool
) -> tuple[Any, dict[str, Any]]:
    """The UPDATE that recomputes the roll-ups `keys` of `parents` (for a tree with every
    ancestor, found by the statement), and its parameters."""
    tree = _is_tree(target, keys)
    statement = target.statement(
        ("rollup", keys, dialect, tree, _shape(parents), returning),
        lambda: _update(target, keys, sources, dialect, tree, parents, returning),
    )
    return statement, _bound(parents)


def _update(
    target: EntityTables, keys: tuple[str, ...], sources: Sources, dialect: str, tree: bool, parents: Parents, returning: bool
) -> Any:
    """One UPDATE of the parents whose roll-ups `keys` differ from their aggregates. The
    aggregates are computed once per parent, in a derived table the UPDATE joins (`UPDATE
    ... FROM`), not once for SET and again for the "did it move" test. Returns what the
    next level up needs of a row that moved (its roll-ups and its references), if `returning`."""
    table = target.table
    row = table.alias("rollup_parent_row")
    values = {k: aggregate_of(target.entity.get_field(k), table.c[k].type, sources[k], row.c.id, dialect).label(k) for k in keys}
    scope = _where(row, parents)
    if tree:
        assert isinstance(parents, list)
        found = _ancestors(target, len(parents) == 1)
        # PostgreSQL: an array read by the primary key (`IN (recursive CTE)` scanned the table)
        scope = row.c.id == sa.any_(sa.func.array(found.scalar_subquery())) if dialect == "postgresql" else row.c.id.in_(found)
    # MATERIALIZED: SQLite (and PostgreSQL) would otherwise pull a derived table up into the
    # UPDATE and compute each aggregate twice, once for SET and once for the test.
    new = sa.select(row.c.id, *values.values()).where(scope).cte("rollup_new").prefix_with("MATERIALIZED")
    moved = sa.or_(*(table.c[k].is_distinct_from(new.c[k]) for k in keys))
    statement = table.update().where(table.c.id == new.c.id, moved).values({k: new.c[k] for k in keys})
    if not returning:
        return statement
    vias = {fld.rollup.via for fld, _ in target.dependents if fld.rollup is not None and fld.rollup.kind != "rows"}
    returned = [table.c.id, *(table.c[k] for k in keys), *(table.c[v] for v in sorted(vias - set(keys)))]
    return statement.returning(*returned)


def _formulas_moved(conn: Connection, target: EntityTables, keys: tuple[str, ...], rows: list[dict[str, Any]]) -> set[str]:
    """Compute again the formulas of each moved row that read a roll-up that moved (after
    the level's pipeline: they read and write the row); the rows take their new values.
    Returns the formulas that moved."""
    formulas: set[str] = set()
    for row in rows:
        computed = _formulas_reading(conn, target, row["id"], set(keys))
        row.update(computed)
        formulas |= set(computed)
    return formulas


def _formulas_reading(conn: Connection, target: EntityTables, record_id: int, moved: set[str]) -> dict[str, Any]:
    """Formulas of the parent that read a roll-up that moved, computed again and written."""
    entity = target.entity
    reading = [k for k in entity.computed_order if entity.get_field(k).formula is not None]
    if not reading or not any(entity.get_field(k).formula.names & moved for k in reading):  # type: ignore[union-attr]
        return {}
    from flowdeck.engine.records import fetch_record  # records writes through this module

    record = fetch_record(conn, target, record_id)
    before = {k: record.values.get(k) for k in reading}
    compute_values(entity, record.values, record.system(None), log_problems=True)
    changed = {k: record.values[k] for k in reading if k in target.table.c and record.values[k] != before[k]}
    if changed:
        conn.execute(target.table.update().where(target.table.c.id == record_id).values(changed))
    return changed
