"""Migration plans: what applying a document will do to the tables, in plain words.

The planner compares the document being applied with the one applied before and with the
tables as they are. It adds tables, columns and indexes, renames fields the document marks
with `was`, archives (never drops) what the document no longer has, and restores archived
fields that come back.

Where a change would move or lose data, the plan asks a **question** instead of refusing,
with counts and samples from the real data, and applies nothing until every question has
an answer (`choices`, question id -> value):

- `state:<entity>:<state>`: a removed state that records are in; the answer is the state
  they move to (each moved record gets a history entry).
- `type:<entity>:<field>`: a type change with values that cannot be converted exactly;
  the answer is `stop`, `clear`, or keeping the approximation (`round`, `date`, `first`).
  The old values of the whole field are always archived first (the old column is renamed
  to `<field>__v<version>`, a many-valued field's link table likewise) and recorded in
  `fd_archived`; changing the type back restores the values not changed since.
- `option:<entity>:<field>:<option>`: a removed option that records use; the answer is
  another option or `clear`.

What still cannot be done without losing data is refused: conversions between kinds of
values that have no meaning (see `storage/convert.py`), table fields changing type, a new
unique constraint over duplicate values.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import approval_core, models
from flowdeck.engine.fieldtypes import FIELD_TYPES, is_many, scale_of, to_json_scalar
from flowdeck.engine.records import recompute_entity
from flowdeck.engine.schema.model import App, Entity, Field
from flowdeck.engine.storage import convert
from flowdeck.engine.storage.tables import AppTables, EntityTables, index_name, side_table_name, sql_name, table_name

MAX_SAMPLES = 20
_BATCH = 500


@dataclass
class Step:
    """One change; `run` performs it inside the apply transaction."""

    description: str
    run: Callable[[Connection], None] = field(repr=False)
    kind: str = "ddl"


@dataclass(frozen=True)
class Question:
    """A choice the admin must make before the plan can be applied.

    `choices` are (value, label) pairs; `count` is how many records or values the question
    is about; `samples` lists the first of them (record id and value) in plain words.
    """

    id: str
    text: str
    choices: list[tuple[str, str]]
    count: int
    samples: list[str]

    def values(self) -> list[str]:
        return [value for value, _ in self.choices]

    def describe(self) -> str:
        return f"{self.id}: {self.text} (choices: {', '.join(self.values())})"


@dataclass
class Plan:
    app: str
    version: int
    steps: list[Step] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Nothing is refused (questions may still need answers)."""
        return not self.refusals

    @property
    def unanswered(self) -> list[Question]:
        return [q for q in self.questions if q.id not in self.answers]

    @property
    def ready(self) -> bool:
        """Can be applied as it is: nothing refused, every question answered."""
        return self.ok and not self.unanswered

    def describe(self) -> list[str]:
        lines = [step.description for step in self.steps]
        for question in self.questions:
            answer = self.answers.get(question.id)
            status = f"answer: {answer}" if answer is not None else "needs an answer"
            lines.append(f"QUESTION {question.describe()}; {status}")
        lines += [f"REFUSED: {reason}" for reason in self.refusals]
        return lines or ["no changes to the tables"]


def signature(field: Field) -> tuple[Any, ...]:
    """What must stay equal for a field's stored data to keep its meaning."""
    value_type = field.value_type
    scale = field.scale if value_type in ("decimal", "money", "percent") else None
    if value_type in ("decimal", "money", "percent") and scale is None:
        scale = 2
    return (value_type, is_many(field), field.to, scale)


def _spec_signature(spec: Mapping[str, Any]) -> tuple[Any, ...]:
    """`signature` of a field as written in a document (an archived definition)."""
    value_type = (spec.get("result") or "decimal") if spec.get("type") == "computed" else spec.get("type")
    scale = spec.get("scale", 2) if value_type in ("decimal", "money", "percent") else None
    return (value_type, bool(spec.get("many")) or spec.get("type") == "multiselect", spec.get("to"), scale)


def _spec_type(spec: Mapping[str, Any]) -> str:
    value_type, many, to, _ = _spec_signature(spec)
    return f"{'many ' if many and spec.get('type') != 'multiselect' else ''}{value_type}{f' to {to}' if to else ''}"


def describe_type(field: Field) -> str:
    base = field.value_type
    if field.many:
        base = f"many {base}"
    if field.to:
        base = f"{base} to {field.to}"
    return base


def _count(conn: Connection, statement: sa.Select[Any]) -> int:
    return int(conn.execute(statement).scalar() or 0)


class _Planner:
    def __init__(
        self,
        conn: Connection,
        old: App | None,
        new: AppTables,
        version: int,
        archived: dict[tuple[str, str], dict[str, Any]],
        choices: Mapping[str, str] | None = None,
        actor_id: int | None = None,
    ) -> None:
        self.conn = conn
        self.old = old
        self.new = new
        self.app = new.app
        self.plan = Plan(app=new.app.key, version=version)
        self.inspector = sa.inspect(conn)
        self.tables = set(self.inspector.get_table_names())
        self.archived = archived
        self.choices = dict(choices or {})
        self.actor_id = actor_id
        # Tables renamed by this plan: new name -> the name the inspector still knows.
        self.renamed: dict[str, str] = {}
        self.deferred: list[Step] = []
        # Index and table names that a type change drops, moves or creates itself.
        self.handled_indexes: set[str] = set()
        self.handled_tables: set[str] = set()
        # Entities whose stored values a data move changes: their formulas are computed again.
        self.data_changed: set[str] = set()
        # Transitions whose pending approval requests are withdrawn: entity -> keys.
        self.withdrawn: dict[str, set[str]] = {}

    def step(self, description: str, run: Callable[[Connection], None], kind: str = "ddl") -> None:
        self.plan.steps.append(Step(description, run, kind))

    def refuse(self, reason: str) -> None:
        self.plan.refusals.append(reason)

    def columns(self, table: str) -> dict[str, dict[str, Any]]:
        if table not in self.tables:
            return {}
        return {c["name"]: c for c in self.inspector.get_columns(self.renamed.get(table, table))}

    def index_names(self, table: str) -> set[str]:
        if table not in self.tables:
            return set()
        return {ix["name"] for ix in self.inspector.get_indexes(self.renamed.get(table, table)) if ix.get("name")}

    def run(self) -> Plan:
        created: list[sa.Table] = []
        for et in self.new.entities.values():
            old_entity = self.old.entity(et.entity.key) if self.old else None
            if et.table.name not in self.tables:
                created.append(et.table)
            else:
                self.entity_changes(et, old_entity)
            for key, link in et.links.items():
                self.side_table(et, key, link, created)
            for key, child in et.children.items():
                self.side_table(et, key, child, created)
                if child.name in self.tables:
                    self.child_columns(et, key, child, old_entity)
        if created:
            self.create_tables(created)
        self.plan.steps.extend(self.deferred)
        self.archive_removed()
        asked = {q.id for q in self.plan.questions}
        for question_id in sorted(set(self.choices) - asked):
            listing = f" (questions: {', '.join(sorted(asked))})" if asked else " (this plan asks nothing)"
            self.refuse(f"there is no question {question_id} in this plan{listing}")
        return self.plan

    def ask(self, question: Question) -> str | None:
        """Add `question` to the plan; its valid answer, or None (unanswered or not a choice)."""
        self.plan.questions.append(question)
        answer = self.choices.get(question.id)
        if answer is None:
            return None
        if answer not in question.values():
            self.refuse(f'"{answer}" is not a choice for {question.id} (choices: {", ".join(question.values())})')
            return None
        self.plan.answers[question.id] = answer
        return answer

    def record_samples(self, entity: Entity | None, table: str, ids: list[int]) -> list[str]:
        """`#12 "Fix the login"`: the first records of `ids` with their titles as stored now."""
        shown = ids[:MAX_SAMPLES]
        titles: dict[int, Any] = {}
        title = entity.title if entity is not None else None
        if title and shown and title in self.columns(table):
            t = sa.table(table, sa.column("id"), sa.column(title))
            titles = dict(self.conn.execute(sa.select(t.c.id, t.c[title]).where(t.c.id.in_(shown))).all())
        return [f"#{rid} {convert.show(titles[rid])}" if titles.get(rid) is not None else f"#{rid}" for rid in shown]

    # -- tables ----------------------------------------------------------------------

    def create_tables(self, tables: list[sa.Table]) -> None:
        names = ", ".join(t.name for t in tables)

        def create(conn: Connection) -> None:
            self.new.metadata.create_all(conn, tables=tables)

        for table in tables:
            owner = next((et for et in self.new.entities.values() if et.table is table), None)
            if owner is not None:
                restored = self.archived.get((owner.entity.key, ""))
                verb = "restores" if restored else "adds"
                self.step(f"{verb} entity {owner.entity.key} (table {table.name})", lambda conn: None, "note")
        self.step(f"creates tables: {names}", create)

    def side_table(self, et: EntityTables, key: str, table: sa.Table, created: list[sa.Table]) -> None:
        if table.name in self.tables or table.name in self.handled_tables:
            return
        fld = et.entity.get_field(key)
        if fld.was:
            old_name = side_table_name(self.app.key, et.entity.key, fld.was)
            if old_name in self.tables:
                self.rename_table(old_name, table.name, f"renames field {fld.was} to {key} in {et.entity.key} (data kept)")
                self.tables.add(table.name)
                self.renamed[table.name] = old_name
                return
        if et.table.name in self.tables:
            created.append(table)
            what = "link table" if key in et.links else "line-item table"
            self.step(f"adds field {key} to {et.entity.key} ({what} {table.name})", lambda conn: None, "note")
        else:
            created.append(table)

    def rename_table(self, old: str, new: str, description: str) -> None:
        def rename(conn: Connection) -> None:
            preparer = conn.dialect.identifier_preparer
            conn.exec_driver_sql(f"ALTER TABLE {preparer.quote(old)} RENAME TO {preparer.quote(new)}")

        self.step(description, rename)

    # -- columns ---------------------------------------------------------------------

    def entity_changes(self, et: EntityTables, old_entity: Entity | None) -> None:
        entity, table = et.entity, et.table
        live = self.columns(table.name)
        renamed_from: dict[str, str] = {}
        for fld in entity.stored_fields():
            if fld.key not in live and fld.was and fld.was in live:
                renamed_from[fld.was] = fld.key
                self.rename_column(table.name, fld.was, fld.key, f"renames field {fld.was} to {fld.key} in {entity.key} (data kept)")
        # Every field, wherever it is stored: a change between a column, a link table and
        # line items is a type change too.
        retyped = {}
        for fld in entity.fields:
            before = _before(old_entity, fld)
            if before is not None and signature(before) != signature(fld):
                retyped[fld.key] = before
        for column in table.columns:
            name = column.name
            if name in live or name in renamed_from.values() or name in retyped:
                continue
            fld = entity.field(name)
            self.add_column(table, column, entity, fld)
        for fld in entity.fields:
            if fld.key in retyped:
                before = retyped[fld.key]
                renamed = before.key != fld.key and renamed_from.get(before.key) == fld.key
                TypeChange(self, et, old_entity, before, fld, live, renamed).plan()
            else:
                self.compare_field(et, fld, old_entity)
            if old_entity is None or old_entity.field(fld.was or fld.key) is None:
                self.compare_archived(et, fld)
        self.sync_indexes(table)
        if entity.workflow is not None and "state" in live:
            self.fill_missing_states(et)
        if old_entity is not None:
            self.approval_changes(et, old_entity)
            self.workflow_changes(et, old_entity)
            self.option_changes(et, old_entity)
        self.formula_changes(et, old_entity)

    def compare_field(self, et: EntityTables, fld: Field, old_entity: Entity | None) -> None:
        before = _before(old_entity, fld)
        if before is not None and fld.unique and not before.unique:
            self.check_unique(et, fld, before.key)

    def count_filled(self, entity_key: str, before: Field) -> int:
        """Records holding a value of `before`, read where it is stored now (its old key)."""
        quote = self.conn.dialect.identifier_preparer.quote
        if before.is_table or is_many(before):
            side = side_table_name(self.app.key, entity_key, before.key)
            owner = "parent_id" if before.is_table else "record_id"
            if side not in self.tables:
                return 0
            return _count(self.conn, sa.text(f"SELECT count(DISTINCT {owner}) FROM {quote(side)}"))
        return self.count_values(table_name(self.app.key, entity_key), before.key)

    def compare_archived(self, et: EntityTables, fld: Field) -> None:
        """A field coming back from the archive must keep the type its kept data has."""
        entity_key = et.entity.key
        spec = None
        for key in (fld.key, fld.was):
            if key is None:
                continue
            row = self.archived.get((entity_key, key)) or self.archived.get((entity_key, ""))
            if row is not None:
                definition = row["definition"] or {}
                spec = definition.get("fields", {}).get(key) if row["field"] == "" else definition
            if spec:
                break
        if not spec or _spec_signature(spec) == signature(fld):
            return
        self.refuse(
            f"re-adds field {fld.key} of {entity_key} as {describe_type(fld)}, but its archived values are {_spec_type(spec)}: "
            f"type changes are not supported yet; give the new field another key"
        )

    def check_unique(self, et: EntityTables, fld: Field, live_name: str) -> None:
        column = sa.table(et.table.name, sa.column(live_name)).c[live_name]
        dupes = sa.select(column).where(column.is_not(None)).group_by(column).having(sa.func.count() > 1).subquery()
        count = _count(self.conn, sa.select(sa.func.count()).select_from(dupes))
        if count:
            self.refuse(f"makes field {fld.key} of {et.entity.key} unique, but {count} values appear more than once; fix them first")

    def rename_column(self, table: str, old: str, new: str, description: str) -> None:
        def rename(conn: Connection) -> None:
            preparer = conn.dialect.identifier_preparer
            conn.exec_driver_sql(f"ALTER TABLE {preparer.quote(table)} RENAME COLUMN {preparer.quote(old)} TO {preparer.quote(new)}")

        self.step(description, rename)

    def add_column(self, table: sa.Table, column: sa.Column[Any], entity: Entity, fld: Field | None) -> None:
        archived = self.archived.get((entity.key, column.name))
        if fld is not None:
            verb = "adds"
            description = f"{verb} field {column.name} to {entity.key}"
        else:
            description = f"adds column {column.name} to {entity.key}"

        filled = None if archived is not None or fld is None else default_in_ddl(self.conn, column, fld)

        def add(conn: Connection) -> None:
            add_column_ddl(conn, table, column, default=filled)

        if archived is not None:
            description = f"restores field {column.name} of {entity.key} from the archive"
        self.step(description, add)
        if fld is not None and literal_default(fld) is not None:
            self.fill_default(table, column, entity, fld, done_by_ddl=filled is not None)
        if column.name == "state" and entity.workflow is not None:
            initial = entity.workflow.initial

            def fill_state(conn: Connection) -> None:
                conn.execute(table.update().where(table.c.state.is_(None)).values(state=initial))

            count = _count(self.conn, sa.select(sa.func.count()).select_from(table))
            self.step(f"puts the {count} existing {entity.key} records in state {initial}", fill_state, "data")

    def fill_default(self, table: sa.Table, column: sa.Column[Any], entity: Entity, fld: Field, *, done_by_ddl: bool = False) -> None:
        value = literal_default(fld)
        count = _count(self.conn, sa.select(sa.func.count()).select_from(table))
        if not count:
            return
        if fld.unique and count > 1:
            self.refuse(
                f"adds field {fld.key} to {entity.key} as unique with a default, but its {count} existing records would all "
                f"get the same value; add it without a default"
            )
            return

        def fill(conn: Connection) -> None:
            if not done_by_ddl:
                conn.execute(table.update().where(column.is_(None)).values({column.name: value}))

        self.step(f"fills field {fld.key} of the {count} existing {entity.key} records with its default", fill, "data")

    def child_columns(self, et: EntityTables, key: str, child: sa.Table, old_entity: Entity | None) -> None:
        live = self.columns(child.name)
        fld = et.entity.get_field(key)
        old_table = old_entity.field(fld.was or key) if old_entity else None
        for child_field in fld.fields:
            if child_field.key in live:
                before = old_table.child(child_field.key) if old_table and any(c.key == child_field.key for c in old_table.fields) else None
                if before is not None and signature(before) != signature(child_field):
                    self.refuse(
                        f"changes column {child_field.key} of {et.entity.key}.{key} from {describe_type(before)} to "
                        f"{describe_type(child_field)}: type changes are not supported yet"
                    )
                continue
            if child_field.was and child_field.was in live:
                self.rename_column(
                    child.name,
                    child_field.was,
                    child_field.key,
                    f"renames column {child_field.was} to {child_field.key} of {et.entity.key}.{key} (data kept)",
                )
                continue
            column = child.c[child_field.key]
            self.step(f"adds column {child_field.key} to {et.entity.key}.{key}", lambda conn, c=column: add_column_ddl(conn, child, c))
        self.sync_indexes(child)

    def sync_indexes(self, table: sa.Table) -> None:
        existing = self.index_names(table.name)
        wanted = {ix.name: ix for ix in table.indexes}
        for name, index in wanted.items():
            if name in existing or name in self.handled_indexes:
                continue
            self.step(f"adds index {name}", lambda conn, ix=index: ix.create(conn))
        for name in sorted(existing - set(wanted) - self.handled_indexes):
            if name.startswith(("ix__", "ux__")):

                def drop(conn: Connection, n: str = name) -> None:
                    conn.exec_driver_sql(f"DROP INDEX {conn.dialect.identifier_preparer.quote(n)}")

                self.step(f"drops index {name} (no longer indexed or unique; no data is lost)", drop)

    # -- workflow and options ----------------------------------------------------------

    def fill_missing_states(self, et: EntityTables) -> None:
        """A workflow that comes back (or is added over a kept state column) puts records
        created without one into its initial state, so none is left stateless."""
        assert et.entity.workflow is not None
        table, initial = et.table, et.entity.workflow.initial
        count = _count(self.conn, sa.select(sa.func.count()).where(table.c.state.is_(None)))
        if not count:
            return

        def fill(conn: Connection) -> None:
            conn.execute(table.update().where(table.c.state.is_(None)).values(state=initial))

        self.step(f"puts the {count} {et.entity.key} records that have no state in state {initial}", fill, "data")

    def approval_changes(self, et: EntityTables, old_entity: Entity) -> None:
        """Pending approval requests of a transition that is removed, or no longer asks for
        approval, could never be decided: they are withdrawn."""
        old_wf, new_wf = old_entity.workflow, et.entity.workflow
        if old_wf is None:
            return
        ekey = et.entity.key
        for transition in old_wf.transitions:
            if transition.approval is None:
                continue
            now_t = new_wf.transition(transition.key) if new_wf is not None else None
            if now_t is not None and now_t.approval is not None:
                continue
            R = approval_core.R
            where = (R.c.transition == transition.key,)
            count = len(self.pending_requests(ekey, where))
            self.withdrawn.setdefault(ekey, set()).add(transition.key)
            if not count:
                continue
            why = "it is removed" if now_t is None else "it no longer asks for approval"

            def withdraw(conn: Connection, w: tuple[Any, ...] = where) -> None:
                _withdraw(conn, self.app.key, ekey, w, self.actor_id, "withdrawn by schema change")

            self.step(f"withdraws the {count} pending approval requests of transition {transition.key} of {ekey} ({why})", withdraw, "data")

    def pending_requests(self, ekey: str, where: Iterable[Any]) -> list[int]:
        R = approval_core.R
        query = sa.select(R.c.id).where(R.c.app == self.app.key, R.c.entity == ekey, R.c.status == approval_core.PENDING, *where)
        return [row[0] for row in self.conn.execute(query)]

    def workflow_changes(self, et: EntityTables, old_entity: Entity) -> None:
        old_wf, new_wf = old_entity.workflow, et.entity.workflow
        if old_wf is None or new_wf is None or "state" not in et.table.c or "state" not in self.columns(et.table.name):
            return
        ekey = et.entity.key
        stored = sa.table(et.table.name, sa.column("id"), sa.column("state"))
        for state in old_wf.state_keys():
            if new_wf.state(state) is not None:
                continue
            ids = [row[0] for row in self.conn.execute(sa.select(stored.c.id).where(stored.c.state == state).order_by(stored.c.id))]
            if not ids:
                self.step(f"removes state {state} of {ekey} (no records are in it)", lambda conn: None, "note")
                continue
            count = len(ids)
            question = Question(
                id=f"state:{ekey}:{state}",
                text=f"removes state {state} of {ekey}, but {count} records are in it: choose the state they move to",
                choices=[(s.key, f"move them to {s.key} ({s.label.get('en')})") for s in new_wf.states],
                count=count,
                samples=self.record_samples(old_entity, et.table.name, ids),
            )
            answer = self.ask(question)
            if answer is None:
                continue
            R = approval_core.R
            skip = self.withdrawn.get(ekey, set())
            pending = len(self.pending_requests(ekey, (R.c.record_id.in_(ids), R.c.transition.not_in(skip))))
            description = f"moves the {count} {ekey} records in state {state} to {answer}; each gets a history entry"
            if pending:
                description += f"; the {pending} pending approval requests of these records are withdrawn"
            self.step(description, lambda conn, s=state, a=answer: self.move_state(conn, et, s, a), "data")
            self.data_changed.add(ekey)

    def move_state(self, conn: Connection, et: EntityTables, state: str, target: str) -> None:
        table, ekey, now = et.table, et.entity.key, _now()
        ids = [row[0] for row in conn.execute(sa.select(table.c.id).where(table.c.state == state).order_by(table.c.id))]
        if not ids:
            return
        conn.execute(
            table.update()
            .where(table.c.state == state)
            .values(state=target, version=table.c.version + 1, updated_at=now, updated_by=self.actor_id)
        )
        change = [{"field": "state", "old": state, "new": target}]
        _log(conn, self.app.key, ekey, [(rid, change) for rid in ids], self.actor_id, "state migrated by schema change", now)
        for chunk in _chunks(ids):
            _withdraw(conn, self.app.key, ekey, (approval_core.R.c.record_id.in_(chunk),), self.actor_id, "withdrawn by schema change")

    def option_changes(self, et: EntityTables, old_entity: Entity) -> None:
        ekey = et.entity.key
        for fld in et.entity.fields:
            if fld.type not in ("select", "multiselect"):
                continue
            before = old_entity.field(fld.was or fld.key)
            if before is None or before.type != fld.type:
                continue
            removed = [o for o in before.option_keys() if fld.option(o) is None]
            if not removed:
                continue
            unused = []
            for option in removed:
                ids = self.option_users(et, before, option)
                if not ids:
                    unused.append(option)
                    continue
                count = len(ids)
                question = Question(
                    id=f"option:{ekey}:{fld.key}:{option}",
                    text=f"removes option {option} of {ekey}.{fld.key}, but {count} records use it: choose a replacement, or clear it",
                    choices=[(o.key, f"replace it with {o.key} ({o.label.get('en')})") for o in fld.options] + [("clear", "clear it")],
                    count=count,
                    samples=self.record_samples(old_entity, et.table.name, ids),
                )
                answer = self.ask(question)
                if answer is None:
                    continue
                if answer == "clear":
                    description = f"clears option {option} of {ekey}.{fld.key} in {count} records; each gets a history entry"
                else:
                    description = (
                        f"replaces option {option} of {ekey}.{fld.key} with {answer} in {count} records; each gets a history entry"
                    )
                self.step(description, lambda conn, b=before, f=fld, o=option, a=answer: self.move_option(conn, et, b, f, o, a), "data")
                self.data_changed.add(ekey)
            if unused:
                self.step(f"removes option {', '.join(unused)} of {ekey}.{fld.key} (no records use it)", lambda conn: None, "note")

    def option_users(self, et: EntityTables, before: Field, option: str) -> list[int]:
        """Records holding `option` of `before`, read where it is stored now."""
        if is_many(before):
            name = side_table_name(self.app.key, et.entity.key, before.key)
            if name not in self.tables:
                return []
            link = sa.table(name, sa.column("record_id"), sa.column("value"))
            query = sa.select(link.c.record_id).where(link.c.value == option).distinct().order_by(link.c.record_id)
        else:
            if before.key not in self.columns(et.table.name):
                return []
            stored = sa.table(et.table.name, sa.column("id"), sa.column(before.key))
            query = sa.select(stored.c.id).where(stored.c[before.key] == option).order_by(stored.c.id)
        return [row[0] for row in self.conn.execute(query)]

    def move_option(self, conn: Connection, et: EntityTables, before: Field, fld: Field, option: str, answer: str) -> None:
        ekey, now = et.entity.key, _now()
        replacement = None if answer == "clear" else answer
        if is_many(fld):
            # Link tables are renamed (`was`) after this step: the rows are still under the old name.
            link = sa.table(side_table_name(self.app.key, ekey, before.key), sa.column("record_id"), sa.column("value"))
            ids = [row[0] for row in conn.execute(sa.select(link.c.record_id).where(link.c.value == option).distinct())]
            if replacement is not None:
                holders = sa.select(link.c.record_id).where(link.c.value == replacement).scalar_subquery()
                conn.execute(link.delete().where((link.c.value == option) & link.c.record_id.in_(holders)))
                conn.execute(link.update().where(link.c.value == option).values(value=replacement))
            else:
                conn.execute(link.delete().where(link.c.value == option))
        else:
            stored = sa.table(et.table.name, sa.column("id"), sa.column(fld.key))
            ids = [row[0] for row in conn.execute(sa.select(stored.c.id).where(stored.c[fld.key] == option))]
            conn.execute(stored.update().where(stored.c[fld.key] == option).values({fld.key: replacement}))
        ids.sort()
        _touch(conn, et.table, ids, self.actor_id, now)
        change = [{"field": fld.key, "old": option, "new": replacement}]
        comment = "option migrated by schema change" if replacement is not None else "option cleared by schema change"
        _log(conn, self.app.key, ekey, [(rid, change) for rid in ids], self.actor_id, comment, now)

    def formula_changes(self, et: EntityTables, old_entity: Entity | None) -> None:
        from_old = {f.key: f for f in old_entity.fields} if old_entity else {}
        changed = []
        for fld in et.entity.fields:
            before = from_old.get(fld.was or fld.key)
            if fld.formula is not None and (before is None or before.formula is None or before.formula.source != fld.formula.source):
                changed.append(fld.key)
            for child in fld.fields:
                old_child = next((c for c in before.fields if c.key == child.key), None) if before is not None else None
                if child.formula is not None and (
                    old_child is None or old_child.formula is None or old_child.formula.source != child.formula.source
                ):
                    changed.append(f"{fld.key}.{child.key}")
        if et.entity.key in self.data_changed:
            # Values that formulas read were moved or converted: compute every formula again.
            for fld in et.entity.fields:
                if fld.formula is not None and fld.key not in changed:
                    changed.append(fld.key)
                for child in fld.fields:
                    if child.formula is not None and f"{fld.key}.{child.key}" not in changed:
                        changed.append(f"{fld.key}.{child.key}")
        if not changed:
            return
        count = _count(self.conn, sa.select(sa.func.count()).select_from(et.table)) if et.table.name in self.tables else 0
        if not count:
            return
        entity_key = et.entity.key

        def recompute(conn: Connection) -> None:
            recompute_entity(conn, self.new.get(entity_key))

        # Recomputing reads every table of the entity, so it waits until new tables exist.
        self.deferred.append(Step(f"recomputes {', '.join(changed)} for the {count} existing {entity_key} records", recompute, "data"))

    # -- archive ---------------------------------------------------------------------

    def archive_removed(self) -> None:
        if self.old is None:
            return
        for old_entity in self.old.entities:
            new_entity = self.app.entity(old_entity.key)
            if new_entity is None:
                name = table_name(self.app.key, old_entity.key)
                count = (
                    _count(self.conn, sa.text(f"SELECT count(*) FROM {self.conn.dialect.identifier_preparer.quote(name)}"))
                    if name in self.tables
                    else 0
                )
                self.archive(
                    old_entity.key,
                    "",
                    name,
                    f"removes entity {old_entity.key}: its {count} records are archived, not deleted; re-adding it restores them",
                )
                continue
            new_keys = {f.key for f in new_entity.fields} | {f.was for f in new_entity.fields if f.was}
            for fld in old_entity.fields:
                if fld.key in new_keys:
                    continue
                storage = table_name(self.app.key, old_entity.key)
                if fld.is_table or is_many(fld):
                    storage = side_table_name(self.app.key, old_entity.key, fld.key)
                    count = self.count_rows(storage)
                    what = "rows" if fld.is_table else "values"
                else:
                    count = self.count_values(storage, fld.key)
                    what = "values"
                self.archive(
                    old_entity.key,
                    fld.key,
                    storage,
                    f"removes field {fld.key} of {old_entity.key}: its {count} {what} are archived, not deleted; "
                    f"re-adding {fld.key} restores them",
                )

    def count_rows(self, table: str) -> int:
        if table not in self.tables:
            return 0
        quote = self.conn.dialect.identifier_preparer.quote
        return _count(self.conn, sa.text(f"SELECT count(*) FROM {quote(table)}"))

    def count_values(self, table: str, column: str) -> int:
        if table not in self.tables or column not in self.columns(table):
            return 0
        quote = self.conn.dialect.identifier_preparer.quote
        return _count(self.conn, sa.text(f"SELECT count(*) FROM {quote(table)} WHERE {quote(column)} IS NOT NULL"))

    def archive(self, entity: str, field_key: str, storage: str, description: str) -> None:
        doc = _definition(self.old.document if self.old else {}, entity, field_key)
        version = self.plan.version

        def record(conn: Connection) -> None:
            conn.execute(
                models.archived.delete().where(
                    (models.archived.c.app == self.app.key) & (models.archived.c.entity == entity) & (models.archived.c.field == field_key)
                )
            )
            conn.execute(
                models.archived.insert().values(
                    app=self.app.key, entity=entity, field=field_key, storage=storage, definition=doc, archived_in_version=version
                )
            )

        self.step(description, record, "archive")


def add_column_ddl(conn: Connection, table: sa.Table, column: sa.Column[Any], *, default: str | None = None) -> None:
    """ALTER TABLE ADD COLUMN, with its foreign key inline (SQLite cannot add one later).

    With `default` (PostgreSQL only, from `default_in_ddl`): the column is added with that
    default, which PostgreSQL keeps in the catalog for the rows already there instead of
    rewriting them, and the default is dropped again at once (also catalog-only), so the
    table's definition stays the model's. Adding a field with a default to a million
    records takes milliseconds instead of an UPDATE of every row."""
    preparer = conn.dialect.identifier_preparer
    spec = str(sa.schema.CreateColumn(column).compile(dialect=conn.dialect))
    for fk in column.foreign_keys:
        target = fk.column
        spec += f" REFERENCES {preparer.quote(target.table.name)} ({preparer.quote(target.name)})"
        if fk.ondelete:
            spec += f" ON DELETE {fk.ondelete}"
    name = preparer.quote(table.name)
    if default is None:
        conn.exec_driver_sql(f"ALTER TABLE {name} ADD COLUMN {spec}")
        return
    conn.exec_driver_sql(f"ALTER TABLE {name} ADD COLUMN {spec} DEFAULT {default}")
    conn.exec_driver_sql(f"ALTER TABLE {name} ALTER COLUMN {preparer.quote(column.name)} DROP DEFAULT")


def default_in_ddl(conn: Connection, column: sa.Column[Any], fld: Field) -> str | None:
    """A new field's default as an SQL literal for `add_column_ddl` (PostgreSQL), or None
    where existing records get it by an UPDATE instead: SQLite (which cannot drop a column
    default again), defaults that differ per record, unique fields, and values the
    column's type cannot render as a literal."""
    value = literal_default(fld)
    if conn.dialect.name != "postgresql" or value is None or fld.unique:
        return None
    try:
        literal = sa.literal(value, type_=column.type).compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    except (sa.exc.SQLAlchemyError, NotImplementedError, TypeError, ValueError):
        return None
    return str(literal)


def archived_fields(conn: Connection, app: str) -> dict[tuple[str, str], dict[str, Any]]:
    rows = conn.execute(sa.select(models.archived).where(models.archived.c.app == app)).mappings()
    return {(row["entity"], row["field"]): dict(row) for row in rows}


def make_plan(
    conn: Connection,
    old: App | None,
    new: AppTables,
    version: int,
    choices: Mapping[str, str] | None = None,
    *,
    actor_id: int | None = None,
) -> Plan:
    """The plan to go from `old` (None on first install) to `new`, given the live tables
    and the data in them. `choices` answers the plan's questions (question id -> value);
    `actor_id` is recorded in the history entries of records a data move changes."""
    if old is not None:
        new = _with_undone_renames(new, old)
    planner = _Planner(conn, old, new, version, archived_fields(conn, new.app.key), choices, actor_id)
    plan = planner.run()
    restored = [
        (entity, fld)
        for (entity, fld) in planner.archived
        if new.app.entity(entity) is not None and (fld == "" or new.app.get_entity(entity).field(fld) is not None)
    ]
    for entity, fld in restored:

        def unarchive(conn: Connection, e: str = entity, f: str = fld) -> None:
            conn.execute(
                models.archived.delete().where(
                    (models.archived.c.app == new.app.key) & (models.archived.c.entity == e) & (models.archived.c.field == f)
                )
            )

        plan.steps.append(Step(f"takes {entity}{'.' + fld if fld else ''} out of the archive", unarchive, "archive"))
    return plan


def _with_undone_renames(new: AppTables, old: App) -> AppTables:
    """Going back to a document from before a rename (a rollback): a field `F` that the
    previous document renamed to `G` (`G` has `was: F`) and that comes back under its old
    key is renamed back, so its data goes with it instead of into the archive."""
    entities = dict(new.entities)
    changed = False
    for key, et in new.entities.items():
        old_entity = old.entity(key)
        if old_entity is None:
            continue
        keys = {f.key for f in et.entity.fields}
        back = {
            f.was: f.key for f in old_entity.fields if f.was and f.key not in keys and f.was in keys and old_entity.field(f.was) is None
        }
        if not back:
            continue
        fields = tuple(
            replace(f, was=back[f.key]) if f.key in back and (f.was is None or old_entity.field(f.was) is None) else f
            for f in et.entity.fields
        )
        entities[key] = replace(et, entity=replace(et.entity, fields=fields))
        changed = True
    if not changed:
        return new
    app = replace(new.app, entities=tuple(entities[e.key].entity for e in new.app.entities))
    return replace(new, app=app, entities=entities)


def literal_default(fld: Field) -> Any:
    """A default that is the same for every record (not `me`, `now` or `today`), else None."""
    value = fld.default
    if value is None or isinstance(value, list):
        return None
    if isinstance(value, str) and (value in ("me", "now") or value.startswith("today")) and fld.type in ("user", "date", "datetime"):
        return None
    return value


def _definition(document: Any, entity: str, field_key: str) -> Any:
    spec = document.get("entities", {}).get(entity, {})
    return spec.get("fields", {}).get(field_key, {}) if field_key else spec


def _before(old_entity: Entity | None, fld: Field) -> Field | None:
    """The field `fld` was in the previous document (by `was`, else by its key)."""
    if old_entity is None:
        return None
    return old_entity.field(fld.was or fld.key) or old_entity.field(fld.key)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _chunks(items: list[Any], size: int = _BATCH) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _column_type(fld: Field) -> Any:
    kind = FIELD_TYPES[fld.type]
    assert kind.column is not None
    return kind.column(fld)


def _read_column(conn: Connection, table: str, column: str, fld: Field) -> dict[int, Any]:
    """Record id -> stored value of a single-valued field (no empty values)."""
    t = sa.table(table, sa.column("id"), sa.column(column, _column_type(fld)))
    rows = conn.execute(sa.select(t.c.id, t.c[column]).where(t.c[column].is_not(None)).order_by(t.c.id))
    return {rid: value for rid, value in rows}


def _read_links(conn: Connection, table: str, fld: Field) -> dict[int, list[Any]]:
    """Record id -> the values of a many-valued field, in order."""
    t = sa.table(table, sa.column("record_id"), sa.column("value", _column_type(fld)), sa.column("position"))
    out: dict[int, list[Any]] = {}
    for rid, value in conn.execute(sa.select(t.c.record_id, t.c.value).order_by(t.c.record_id, t.c.position)):
        out.setdefault(rid, []).append(value)
    return out


def _log(
    conn: Connection,
    app: str,
    entity: str,
    rows: list[tuple[int, list[dict[str, Any]]]],
    actor_id: int | None,
    comment: str,
    now: dt.datetime,
) -> None:
    """One history entry ("migrated") per record changed by a data move."""
    for chunk in _chunks(rows):
        conn.execute(
            models.history.insert(),
            [
                {
                    "app": app,
                    "entity": entity,
                    "record_id": rid,
                    "actor_id": actor_id,
                    "at": now,
                    "action": "migrated",
                    "transition": None,
                    "changes": changes,
                    "comment": comment,
                }
                for rid, changes in chunk
            ],
        )


def _touch(conn: Connection, table: sa.Table, ids: list[int], actor_id: int | None, now: dt.datetime) -> None:
    """A record changed by a data move gets a new version, so forms opened before it see a conflict."""
    for chunk in _chunks(ids):
        conn.execute(table.update().where(table.c.id.in_(chunk)).values(version=table.c.version + 1, updated_at=now, updated_by=actor_id))


def _withdraw(conn: Connection, app: str, entity: str, where: Iterable[Any], actor_id: int | None, comment: str) -> None:
    R, now = approval_core.R, _now()
    rows = conn.execute(
        sa.select(R.c.id, R.c.record_id, R.c.transition).where(
            R.c.app == app, R.c.entity == entity, R.c.status == approval_core.PENDING, *where
        )
    ).all()
    for request_id, record_id, transition in rows:
        approval_core.close_round(conn, request_id, approval_core.WITHDRAWN, now)
        conn.execute(
            models.history.insert().values(
                app=app, entity=entity, record_id=record_id, actor_id=actor_id, at=now, action="withdrawn",
                transition=transition, changes=[], comment=comment,
            )
        )  # fmt: skip


def _type_words(fld: Field, other: Field) -> str:
    """`decimal`, or `decimal with 4 decimal places` when the scale is what changes."""
    words = describe_type(fld)
    numeric = ("decimal", "money", "percent")
    if fld.value_type in numeric and other.value_type in numeric and scale_of(fld) != scale_of(other):
        words += f" with {scale_of(fld)} decimal places"
    return words


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


class TypeChange:
    """A field whose kind of values changes: convert every value, ask about the ones that
    cannot be converted exactly, archive the old values, restore archived ones that fit."""

    def __init__(
        self,
        planner: _Planner,
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
        self.words = f"changes field {fld.key} of {self.ekey} from {_type_words(before, fld)} to {_type_words(fld, before)}"

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
            return _read_links(self.p.conn, self.source_table, self.before)
        return _read_column(self.p.conn, self.table, self.before.key, self.before)

    def find_restore(self) -> _Restore | None:
        """The newest archived copy of this field whose type is the new type and which was
        archived when the field became what it is now."""
        pattern = re.compile(rf"{re.escape(self.fld.key)}__v(\d+)")
        rows = [r for (e, f), r in self.p.archived.items() if e == self.ekey and pattern.fullmatch(f)]
        for row in sorted(rows, key=lambda r: r["archived_in_version"], reverse=True):
            spec = row["definition"] or {}
            if _spec_signature(spec) != signature(self.fld):
                continue
            later = _version_document(self.p.conn, self.app, row["archived_in_version"])
            to_spec = later.get("entities", {}).get(self.ekey, {}).get("fields", {}).get(self.fld.key) if later else None
            if not to_spec or _spec_signature(to_spec) != signature(self.before):
                return None
            archived = convert.field_from_spec(self.fld.key, spec)
            if archived.is_many:
                if row["storage"] not in self.p.tables:
                    return None
                values: dict[int, Any] = _read_links(self.p.conn, row["storage"], archived)
            else:
                if row["field"] not in self.p.columns(row["storage"]):
                    return None
                values = _read_column(self.p.conn, row["storage"], row["field"], archived)
            return _Restore(dict(row), archived, convert.field_from_spec(self.fld.key, to_spec), values)
        return None

    # -- planning --------------------------------------------------------------------------

    def plan(self) -> None:
        before, fld, p = self.before, self.fld, self.p
        self.claim_names()
        if before.is_table or fld.is_table:
            filled = p.count_filled(self.ekey, before)
            p.refuse(f"{self.words}: a table field cannot change its type ({filled} records have a value); add a new field instead")
            return
        if self.fld.is_many and self.fld_table() in p.tables:
            p.refuse(f"{self.words}: a table named {self.fld_table()} is already there; give the field another key")
            return
        if not fld.is_many and before.is_many and fld.key in self.live:
            p.refuse(f"{self.words}: a column named {fld.key} is already there; give the field another key")
            return
        if self.archive_name in self.live or self.archive_table in p.tables:
            p.refuse(f"{self.words}: the archive name {self.archive_name} is taken; apply the change again as a new version")
            return
        values = self.read_source()
        if values and not convert.supported(before, fld):
            p.refuse(
                f"{self.words}: {describe_type(before)} values cannot be converted to {describe_type(fld)} "
                f"({len(values)} records have a value); add a new field instead"
            )
            return
        self.values = values
        if fld.is_computed:
            self.final: dict[int, Any] = {}
            self.cleared: list[tuple[int, Any]] = []
            self.kept_lossy: list[tuple[int, Any, Any]] = []
            kept = f"; the {len(values)} old values are kept in {self.archive_place()}" if values else ""
            self.add_step(f"{self.words}: its values are computed again for every record{kept}")
            p.data_changed.add(self.ekey)
            return
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
                p.refuse(f"stopped by the answer to type:{self.ekey}:{fld.key}: {self.words}")
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
                p.refuse(f"{self.words}: {dupes} converted values would appear more than once, but the field is unique; fix them first")
                return
        parts = []
        if restored:
            archived_in = restore.row["archived_in_version"] if restore else "?"
            parts.append(f"{restored} values come back from {restore.row['field'] if restore else ''} (archived in version {archived_in})")
        if converted:
            parts.append(f"{converted} values are converted")
        if self.kept_lossy:
            verb = {"round": "rounded", "date": "cut to their date", "first": "cut to their first value"}[answer or "round"]
            parts.append(f"{len(self.kept_lossy)} are {verb}")
        if self.cleared:
            parts.append(f"{len(self.cleared)} are cleared (each record gets a history entry)")
        if not values and not restored:
            description = f"{self.words} (no values to convert)"
        else:
            description = f"{self.words}: {', '.join(parts) or 'no values to convert'}"
            if values:
                description += f"; the old values are kept in {self.archive_place()}"
        self.add_step(description)
        if values or restored:
            p.data_changed.add(self.ekey)

    def archive_place(self) -> str:
        return f"table {self.archive_table}" if self.before.is_many else f"column {self.archive_name} of {self.table}"

    def fld_table(self) -> str:
        return side_table_name(self.app, self.ekey, self.fld.key)

    def ask(self, converted: int, lossy: list[Any], failed: list[Any]) -> str | None:
        losses = sorted({outcome.loss for _, _, outcome in lossy})
        clears_rest = " and clear the ones that cannot be converted" if failed else ""
        choices = [("stop", "stop: apply nothing")]
        choices += [(loss, convert.LOSS_CHOICES[loss] + clears_rest) for loss in losses]
        choices.append(("clear", "clear them (the old values are archived and can be restored)"))
        parts = []
        if failed:
            parts.append(f"{len(failed)} values cannot be converted")
        for loss in losses:
            n = sum(1 for _, _, o in lossy if o.loss == loss)
            what = {
                "round": f"{n} values would be rounded",
                "date": f"{n} values would lose their time of day",
                "first": f"{n} records have more than one value",
            }[loss]
            parts.append(what)
        verbs = ", ".join(["stop"] + [convert.LOSS_CHOICES[loss] for loss in losses])
        text = (
            f"{self.words}: {converted} values are converted, {' and '.join(parts)} (listed): "
            f"choose to {verbs}, or clear them; the old values are archived"
        )
        samples = []
        for rid, old_value, outcome in sorted(failed + lossy, key=lambda item: item[0])[:MAX_SAMPLES]:
            if outcome.kind == "failed":
                samples.append(f"#{rid}: {convert.show(old_value)} ({outcome.reason})")
            else:
                samples.append(f"#{rid}: {convert.show(old_value)} -> {convert.show(outcome.value)}")
        question = Question(f"type:{self.ekey}:{self.fld.key}", text, choices, len(failed) + len(lossy), samples)
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

    def add_step(self, description: str) -> None:
        p, before, fld = self.p, self.before, self.fld
        drop_indexes, move_indexes, pk_name, create_indexes = self.drop_indexes, self.move_indexes, self.pk_name, self.create_indexes
        exists = self.source_exists()
        definition = _definition(p.old.document if p.old else {}, self.ekey, before.key)

        def run(conn: Connection) -> None:
            quote = conn.dialect.identifier_preparer.quote
            now = _now()
            if exists and before.is_many:
                conn.exec_driver_sql(f"ALTER TABLE {quote(self.source_table)} RENAME TO {quote(self.archive_table)}")
                for old_ix, new_ix, columns in move_indexes:
                    if conn.dialect.name == "postgresql":
                        conn.exec_driver_sql(f"ALTER INDEX {quote(old_ix)} RENAME TO {quote(new_ix)}")
                    else:
                        conn.exec_driver_sql(f"DROP INDEX {quote(old_ix)}")
                        cols = ", ".join(quote(c) for c in columns)
                        conn.exec_driver_sql(f"CREATE INDEX {quote(new_ix)} ON {quote(self.archive_table)} ({cols})")
                if pk_name and conn.dialect.name == "postgresql":
                    new_pk = sql_name("pk", self.archive_table)
                    conn.exec_driver_sql(f"ALTER TABLE {quote(self.archive_table)} RENAME CONSTRAINT {quote(pk_name)} TO {quote(new_pk)}")
            elif exists:
                for name in drop_indexes:
                    conn.exec_driver_sql(f"DROP INDEX {quote(name)}")
                current = fld.key if self.renamed else before.key
                conn.exec_driver_sql(f"ALTER TABLE {quote(self.table)} RENAME COLUMN {quote(current)} TO {quote(self.archive_name)}")
            if fld.is_many:
                link = self.et.links[fld.key]
                link.create(conn)
                rows = [
                    {"record_id": rid, "value": value, "position": position}
                    for rid, values in sorted(self.final.items())
                    for position, value in enumerate(values)
                ]
                for chunk in _chunks(rows):
                    conn.execute(link.insert(), chunk)
            else:
                add_column_ddl(conn, self.et.table, self.et.table.c[fld.key])
                column = self.et.table.c[fld.key]
                statement = (
                    self.et.table.update()
                    .where(self.et.table.c.id == sa.bindparam("b__id"))
                    .values({fld.key: sa.bindparam("b__value", type_=column.type)})
                )
                rows = [{"b__id": rid, "b__value": value} for rid, value in sorted(self.final.items())]
                for chunk in _chunks(rows):
                    conn.execute(statement, chunk)
                for index in create_indexes:
                    index.create(conn)
            changed = [(rid, old, new) for rid, old, new in self.kept_lossy] + [(rid, old, None) for rid, old in self.cleared]
            changed.sort(key=lambda item: item[0])
            if changed:
                _touch(conn, self.et.table, [rid for rid, _, _ in changed], p.actor_id, now)
                entries = [(rid, [{"field": fld.key, "old": to_json_scalar(old), "new": to_json_scalar(new)}]) for rid, old, new in changed]
                rounded = {rid for rid, _, _ in self.kept_lossy}
                _log(
                    conn, self.app, self.ekey, [e for e in entries if e[0] in rounded], p.actor_id, "value converted by schema change", now
                )
                _log(
                    conn,
                    self.app,
                    self.ekey,
                    [e for e in entries if e[0] not in rounded],
                    p.actor_id,
                    "value cleared by schema change",
                    now,
                )
            if exists:
                conn.execute(
                    models.archived.insert().values(
                        app=self.app,
                        entity=self.ekey,
                        field=self.archive_name,
                        storage=self.archive_table if before.is_many else self.table,
                        definition=definition,
                        archived_in_version=p.plan.version,
                    )
                )

        p.step(description, run, "data")


def _version_document(conn: Connection, app: str, version: int) -> dict[str, Any] | None:
    v = models.app_versions
    return conn.execute(sa.select(v.c.document).where((v.c.app == app) & (v.c.version == version))).scalar()
