"""A field whose kind of values changes: every value is converted (`storage/convert.py`),
the values that convert only approximately or not at all are asked about, the old values
of the whole field are archived first (the old column becomes `<field>__v<version>`, a
many-valued field's link table likewise) and recorded in `fd_archived`, and archived values
from before an earlier change come back when the field changes back (unless the record's
value was changed since).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import models
from flowdeck.engine.fieldtypes import FIELD_TYPES
from flowdeck.engine.jsonvalues import to_json_scalar
from flowdeck.engine.messages import M, Message, plain
from flowdeck.engine.migrate.archive import definition_of
from flowdeck.engine.migrate.entries import chunks, log_moves, now, touch
from flowdeck.engine.migrate.fields import describe_type, signature, spec_signature, type_change_words
from flowdeck.engine.migrate.plan import MAX_SAMPLES, Question
from flowdeck.engine.phrases import Words, and_joined, comma_joined, sentences
from flowdeck.engine.schema.model import Entity, Field
from flowdeck.engine.storage import convert, ddl
from flowdeck.engine.storage.tables import EntityTables, index_name, side_table_name, sql_name

if TYPE_CHECKING:
    from flowdeck.engine.migrate.planner import Planner


def _column_type(fld: Field) -> Any:
    kind = FIELD_TYPES[fld.type]
    assert kind.column is not None
    return kind.column(fld)


def read_column(conn: Connection, table: str, column: str, fld: Field) -> dict[int, Any]:
    """Record id -> stored value of a single-valued field (no empty values)."""
    t = sa.table(table, sa.column("id"), sa.column(column, _column_type(fld)))
    rows = conn.execute(sa.select(t.c.id, t.c[column]).where(t.c[column].is_not(None)).order_by(t.c.id))
    return {rid: value for rid, value in rows}


def read_links(conn: Connection, table: str, fld: Field) -> dict[int, list[Any]]:
    """Record id -> the values of a many-valued field, in order."""
    t = sa.table(table, sa.column("record_id"), sa.column("value", _column_type(fld)), sa.column("position"))
    out: dict[int, list[Any]] = {}
    for rid, value in conn.execute(sa.select(t.c.record_id, t.c.value).order_by(t.c.record_id, t.c.position)):
        out.setdefault(rid, []).append(value)
    return out


def version_document(conn: Connection, app: str, version: int) -> dict[str, Any] | None:
    v = models.app_versions
    return conn.execute(sa.select(v.c.document).where((v.c.app == app) & (v.c.version == version))).scalar()


def _archive_index_name(name: str, new_table: str, columns: list[str]) -> str:
    if len(columns) == 1:
        return index_name(new_table, columns[0], unique=name.startswith("ux__"))
    return sql_name(name, "archived")


@dataclass
class _Restore:
    """An archived copy of a field's values in the type the field now goes back to."""

    row: dict[str, Any]
    field: Field  # the field as archived (its values have the new type)
    converted_to: Field  # the field they were converted to when archived
    values: dict[int, Any]

    def unchanged(self, record_id: int, current: Any) -> bool:
        """Is the record's current value still what archiving made of its archived value?"""
        outcome = convert.convert(self.values[record_id], self.field, self.converted_to)
        if outcome.kind == "ok":
            return current == outcome.value or (current in (None, []) and outcome.value in (None, []))
        if outcome.kind == "lossy":
            return current in (outcome.value, None, [])
        return current in (None, [])


_KEPT = {
    "round": lambda n: M("%(count)s are rounded", count=n),
    "date": lambda n: M("%(count)s are cut to their date", count=n),
    "first": lambda n: M("%(count)s are cut to their first value", count=n),
}
_LOSSES = {
    "round": lambda n: M("%(count)s values would be rounded", count=n),
    "date": lambda n: M("%(count)s values would lose their time of day", count=n),
    "first": lambda n: M("%(count)s records have more than one value", count=n),
}


class TypeChange:
    """A field whose kind of values changes: convert every value, ask about the ones that
    cannot be converted exactly, archive the old values, restore archived ones that fit."""

    def __init__(
        self,
        planner: Planner,
        et: EntityTables,
        old_entity: Entity | None,
        before: Field,
        fld: Field,
        live: Mapping[str, Any],
        renamed: bool,
    ) -> None:
        self.p = planner
        self.et = et
        self.old_entity = old_entity
        self.before = before
        self.fld = fld
        self.live = live
        self.renamed = renamed
        self.app = planner.app.key
        self.ekey = et.entity.key
        self.table = et.table.name
        version = planner.plan.version - 1
        self.archive_name = f"{fld.key}__v{version}"
        self.archive_table = sql_name(self.app, self.ekey, self.archive_name)
        self.question_id = f"type:{self.ekey}:{fld.key}"
        self.words = M(
            "changes field %(field)s of %(entity)s from %(old_type)s to %(new_type)s",
            field=fld.key,
            entity=self.ekey,
            old_type=type_change_words(before, fld),
            new_type=type_change_words(fld, before),
        )

    def refuse(self, detail: Message) -> None:
        self.p.refuse(M("%(change)s: %(detail)s", change=self.words, detail=detail))

    # -- where the values are -----------------------------------------------------------

    @property
    def source_table(self) -> str:
        return side_table_name(self.app, self.ekey, self.before.key)

    def source_exists(self) -> bool:
        if self.before.is_many:
            return self.source_table in self.p.tables
        return self.before.key in self.live

    def read_source(self) -> dict[int, Any]:
        if not self.source_exists():
            return {}
        if self.before.is_many:
            return read_links(self.p.conn, self.source_table, self.before)
        return read_column(self.p.conn, self.table, self.before.key, self.before)

    def find_restore(self) -> _Restore | None:
        """The newest archived copy of this field whose type is the new type and which was
        archived when the field became what it is now."""
        pattern = re.compile(rf"{re.escape(self.fld.key)}__v(\d+)")
        rows = [r for (e, f), r in self.p.archived.items() if e == self.ekey and pattern.fullmatch(f)]
        for row in sorted(rows, key=lambda r: r["archived_in_version"], reverse=True):
            spec = row["definition"] or {}
            if spec_signature(spec) != signature(self.fld):
                continue
            later = version_document(self.p.conn, self.app, row["archived_in_version"])
            to_spec = later.get("entities", {}).get(self.ekey, {}).get("fields", {}).get(self.fld.key) if later else None
            if not to_spec or spec_signature(to_spec) != signature(self.before):
                return None
            archived = convert.field_from_spec(self.fld.key, spec)
            if archived.is_many:
                if row["storage"] not in self.p.tables:
                    return None
                values: dict[int, Any] = read_links(self.p.conn, row["storage"], archived)
            else:
                if row["field"] not in self.p.columns(row["storage"]):
                    return None
                values = read_column(self.p.conn, row["storage"], row["field"], archived)
            return _Restore(dict(row), archived, convert.field_from_spec(self.fld.key, to_spec), values)
        return None

    # -- planning --------------------------------------------------------------------------

    def blocked(self) -> bool:
        """Refuse what cannot be converted at all (before reading a value)."""
        before, fld, p = self.before, self.fld, self.p
        if before.is_table or fld.is_table:
            filled = p.count_filled(self.ekey, before)
            self.refuse(M("a table field cannot change its type (%(count)s records have a value); add a new field instead", count=filled))
        elif fld.is_many and self.fld_table() in p.tables:
            self.refuse(M("a table named %(table)s is already there; give the field another key", table=self.fld_table()))
        elif not fld.is_many and before.is_many and fld.key in self.live:
            self.refuse(M("a column named %(column)s is already there; give the field another key", column=fld.key))
        elif self.archive_name in self.live or self.archive_table in p.tables:
            self.refuse(M("the archive name %(archive)s is taken; apply the change again as a new version", archive=self.archive_name))
        else:
            return False
        return True

    def plan(self) -> None:
        before, fld, p = self.before, self.fld, self.p
        self.claim_names()
        if self.blocked():
            return
        values = self.read_source()
        if values and not convert.supported(before, fld):
            self.refuse(
                M(
                    "%(old_type)s values cannot be converted to %(new_type)s (%(count)s records have a value); add a new field instead",
                    old_type=describe_type(before),
                    new_type=describe_type(fld),
                    count=len(values),
                )
            )
            return
        self.values = values
        if fld.derived:
            self.final: dict[int, Any] = {}
            self.cleared: list[tuple[int, Any]] = []
            self.kept_lossy: list[tuple[int, Any, Any]] = []
            if values:
                detail = M(
                    "its values are computed again for every record; the %(count)s old values are kept in %(place)s",
                    count=len(values),
                    place=self.archive_place(),
                )
            else:
                detail = M("its values are computed again for every record")
            self.add_step(M("%(change)s: %(detail)s", change=self.words, detail=detail))
            p.data_changed.add(self.ekey)
            return
        self.convert_values(values)

    def convert_values(self, values: dict[int, Any]) -> None:
        before, fld, p = self.before, self.fld, self.p
        restore = self.find_restore()
        final: dict[int, Any] = {}
        converted = restored = 0
        lossy: list[tuple[int, Any, convert.Outcome]] = []
        failed: list[tuple[int, Any, convert.Outcome]] = []
        ids = sorted(set(values) | (set(restore.values) if restore else set()))
        for rid in ids:
            current = values.get(rid)
            if restore is not None and rid in restore.values and restore.unchanged(rid, current):
                old_value = restore.values[rid]
                outcome = convert.convert(old_value, restore.field, fld)
                if outcome.ok:
                    if outcome.value not in (None, []):
                        final[rid] = outcome.value
                        restored += 1
                    continue
            else:
                if current in (None, []):
                    continue
                old_value = current
                outcome = convert.convert(current, before, fld)
            if outcome.ok:
                if outcome.value not in (None, []):
                    final[rid] = outcome.value
                converted += 1
            elif outcome.kind == "lossy":
                lossy.append((rid, old_value, outcome))
            else:
                failed.append((rid, old_value, outcome))
        self.final, self.cleared, self.kept_lossy = final, [], []
        answer = None
        if lossy or failed:
            answer = self.ask(converted + restored, lossy, failed)
            if answer is None:
                return
            if answer == "stop":
                p.refuse(M("stopped by the answer to %(question_id)s: %(change)s", question_id=self.question_id, change=self.words))
                return
            for rid, old_value, outcome in sorted(lossy + failed, key=lambda item: item[0]):
                if outcome.kind == "lossy" and outcome.loss == answer:
                    final[rid] = outcome.value
                    self.kept_lossy.append((rid, old_value, outcome.value))
                else:
                    self.cleared.append((rid, old_value))
        if (fld.unique or fld.type == "autonumber") and not fld.is_many:
            seen: dict[Any, int] = {}
            for value in final.values():
                seen[value] = seen.get(value, 0) + 1
            dupes = sum(1 for n in seen.values() if n > 1)
            if dupes:
                self.refuse(
                    M("%(count)s converted values would appear more than once, but the field is unique; fix them first", count=dupes)
                )
                return
        self.add_step(self.description(values, restore, restored, converted, answer))
        if values or restored:
            p.data_changed.add(self.ekey)

    def description(self, values: dict[int, Any], restore: _Restore | None, restored: int, converted: int, answer: str | None) -> Message:
        if not values and not restored:
            return M("%(change)s (no values to convert)", change=self.words)
        parts: list[Words] = []
        if restored and restore is not None:
            parts.append(
                M(
                    "%(count)s values come back from %(archive)s (archived in version %(version)s)",
                    count=restored,
                    archive=restore.row["field"],
                    version=restore.row["archived_in_version"],
                )
            )
        if converted:
            parts.append(M("%(count)s values are converted", count=converted))
        if self.kept_lossy:
            parts.append(_KEPT[answer or "round"](len(self.kept_lossy)))
        if self.cleared:
            parts.append(M("%(count)s are cleared (each record gets a history entry)", count=len(self.cleared)))
        detail: list[Words] = [comma_joined(parts) if parts else M("no values to convert")]
        if values:
            detail.append(M("the old values are kept in %(place)s", place=self.archive_place()))
        return M("%(change)s: %(detail)s", change=self.words, detail=sentences(detail))

    def archive_place(self) -> Message:
        if self.before.is_many:
            return M("table %(table)s", table=self.archive_table)
        return M("column %(column)s of %(table)s", column=self.archive_name, table=self.table)

    def fld_table(self) -> str:
        return side_table_name(self.app, self.ekey, self.fld.key)

    def ask(self, converted: int, lossy: list[Any], failed: list[Any]) -> str | None:
        losses = sorted({outcome.loss for _, _, outcome in lossy})
        choices: list[tuple[str, Message]] = [("stop", M("stop: apply nothing"))]
        for loss in losses:
            if failed:
                choices.append((loss, M("%(detail)s and clear the ones that cannot be converted", detail=convert.LOSS_CHOICES[loss])))
            else:
                choices.append((loss, convert.LOSS_CHOICES[loss]))
        choices.append(("clear", M("clear them (the old values are archived and can be restored)")))
        parts: list[Words] = []
        if failed:
            parts.append(M("%(count)s values cannot be converted", count=len(failed)))
        for loss in losses:
            parts.append(_LOSSES[loss](sum(1 for _, _, o in lossy if o.loss == loss)))
        stop = M("stop")  # not inside the call below: pybabel does not extract a message nested in another's parameters
        text = M(
            "%(change)s: %(count)s values are converted, %(losses)s (listed): choose to %(verbs)s, or clear them; "
            "the old values are archived",
            change=self.words,
            count=converted,
            losses=and_joined(parts),
            verbs=[stop, *(convert.LOSS_CHOICES[loss] for loss in losses)],
        )
        samples: list[Message] = []
        for rid, old_value, outcome in sorted(failed + lossy, key=lambda item: item[0])[:MAX_SAMPLES]:
            if outcome.kind == "failed":
                sample = f"#{rid}: {convert.show(old_value)}"
                samples.append(M("%(sample)s (%(reason)s)", sample=sample, reason=outcome.reason))
            else:
                samples.append(plain(f"#{rid}: {convert.show(old_value)} -> {convert.show(outcome.value)}"))
        question = Question(self.question_id, text, choices, len(failed) + len(lossy), samples)
        return self.p.ask(question)

    def claim_names(self) -> None:
        """The indexes and the link table this change drops, moves or creates itself, so the
        rest of the plan leaves them alone (also while a question is still open)."""
        p, before, fld = self.p, self.before, self.fld
        self.drop_indexes: list[str] = []
        self.move_indexes: list[tuple[str, str, list[str]]] = []
        self.pk_name: str | None = None
        if self.source_exists():
            if before.is_many:
                for ix in p.inspector.get_indexes(self.source_table):
                    name = ix.get("name")
                    if name:
                        columns = [c for c in ix["column_names"] if c]
                        self.move_indexes.append((name, _archive_index_name(name, self.archive_table, columns), columns))
                self.pk_name = (p.inspector.get_pk_constraint(self.source_table) or {}).get("name")
            else:
                self.drop_indexes = [
                    ix["name"] for ix in p.inspector.get_indexes(self.table) if ix["column_names"] == [before.key] and ix.get("name")
                ]
        self.create_indexes = [] if fld.is_many else [ix for ix in self.et.table.indexes if [c.name for c in ix.columns] == [fld.key]]
        p.handled_indexes.update(self.drop_indexes)
        p.handled_indexes.update(ix.name for ix in self.create_indexes if ix.name)
        if fld.is_many:
            p.handled_tables.add(self.fld_table())

    # -- applying ------------------------------------------------------------------------------

    def add_step(self, description: Message) -> None:
        p = self.p
        exists = self.source_exists()
        definition = definition_of(p.old.document if p.old else {}, self.ekey, self.before.key)

        def run(conn: Connection) -> None:
            at = now()
            if exists:
                self.archive_old_values(conn)
            self.write_new_values(conn)
            self.log_changed(conn, at)
            if exists:
                conn.execute(
                    models.archived.insert().values(
                        app=self.app,
                        entity=self.ekey,
                        field=self.archive_name,
                        storage=self.archive_table if self.before.is_many else self.table,
                        definition=definition,
                        archived_in_version=p.plan.version,
                    )
                )

        p.step(description, run, "data")

    def archive_old_values(self, conn: Connection) -> None:
        """The old column (or link table, with its indexes) moves to its archive name."""
        quote = conn.dialect.identifier_preparer.quote
        if self.before.is_many:
            ddl.rename_table(conn, self.source_table, self.archive_table)
            for old_ix, new_ix, columns in self.move_indexes:
                if conn.dialect.name == "postgresql":
                    conn.exec_driver_sql(f"ALTER INDEX {quote(old_ix)} RENAME TO {quote(new_ix)}")
                else:
                    ddl.drop_index(conn, old_ix)
                    cols = ", ".join(quote(c) for c in columns)
                    conn.exec_driver_sql(f"CREATE INDEX {quote(new_ix)} ON {quote(self.archive_table)} ({cols})")
            if self.pk_name and conn.dialect.name == "postgresql":
                new_pk = sql_name("pk", self.archive_table)
                conn.exec_driver_sql(f"ALTER TABLE {quote(self.archive_table)} RENAME CONSTRAINT {quote(self.pk_name)} TO {quote(new_pk)}")
            return
        for name in self.drop_indexes:
            ddl.drop_index(conn, name)
        current = self.fld.key if self.renamed else self.before.key
        ddl.rename_column(conn, self.table, current, self.archive_name)

    def write_new_values(self, conn: Connection) -> None:
        fld, et = self.fld, self.et
        if fld.is_many:
            link = et.links[fld.key]
            link.create(conn)
            rows = [
                {"record_id": rid, "value": value, "position": position}
                for rid, values in sorted(self.final.items())
                for position, value in enumerate(values)
            ]
            for chunk in chunks(rows):
                conn.execute(link.insert(), chunk)
            return
        ddl.add_column_ddl(conn, et.table, et.table.c[fld.key])
        column = et.table.c[fld.key]
        statement = (
            et.table.update().where(et.table.c.id == sa.bindparam("b__id")).values({fld.key: sa.bindparam("b__value", type_=column.type)})
        )
        rows = [{"b__id": rid, "b__value": value} for rid, value in sorted(self.final.items())]
        for chunk in chunks(rows):
            conn.execute(statement, chunk)
        for index in self.create_indexes:
            index.create(conn)

    def log_changed(self, conn: Connection, at: Any) -> None:
        """Records whose value was approximated or cleared get a new version and a history entry."""
        p, fld = self.p, self.fld
        changed = [(rid, old, new) for rid, old, new in self.kept_lossy] + [(rid, old, None) for rid, old in self.cleared]
        changed.sort(key=lambda item: item[0])
        if not changed:
            return
        touch(conn, self.et.table, [rid for rid, _, _ in changed], p.actor_id, at)
        entries = [(rid, [{"field": fld.key, "old": to_json_scalar(old), "new": to_json_scalar(new)}]) for rid, old, new in changed]
        rounded = {rid for rid, _, _ in self.kept_lossy}
        log_moves(conn, self.app, self.ekey, [e for e in entries if e[0] in rounded], p.actor_id, M("value converted by schema change"), at)
        log_moves(
            conn, self.app, self.ekey, [e for e in entries if e[0] not in rounded], p.actor_id, M("value cleared by schema change"), at
        )
