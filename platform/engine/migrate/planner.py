"""The planner: compares the document being applied with the one applied before and with the
tables as they are, and collects the plan's steps, questions and refusals.

`Planner` holds what every part of the comparison shares (the connection, the live tables
as inspected, the archive, the answers given, the names a type change claims); the parts
themselves are functions of the planner in the modules named after them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine.fieldtypes import is_many
from flowdeck.engine.messages import M, Message, plain
from flowdeck.engine.migrate import archive, constraints, rollups, structure
from flowdeck.engine.migrate.plan import MAX_SAMPLES, Plan, Question, Step
from flowdeck.engine.migrate.slas import sla_notes
from flowdeck.engine.migrate.timing import timing_notes
from flowdeck.engine.schema.model import App, Entity, Field
from flowdeck.engine.storage import convert
from flowdeck.engine.storage.tables import AppTables, side_table_name, table_name


def count(conn: Connection, statement: sa.Executable) -> int:
    return int(conn.execute(statement).scalar() or 0)


class Planner:
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

    def step(self, description: Message, run: Callable[[Connection], None], kind: str = "ddl") -> None:
        self.plan.steps.append(Step(description, run, kind))

    def note(self, description: Message) -> None:
        """A step that only tells what another step does."""
        self.step(description, lambda conn: None, "note")

    def refuse(self, reason: Message) -> None:
        self.plan.refusals.append(reason)

    def columns(self, table: str) -> dict[str, dict[str, Any]]:
        if table not in self.tables:
            return {}
        return {c["name"]: c for c in self.inspector.get_columns(self.renamed.get(table, table))}

    def index_names(self, table: str) -> set[str]:
        if table not in self.tables:
            return set()
        return {ix["name"] for ix in self.inspector.get_indexes(self.renamed.get(table, table)) if ix.get("name")}

    def count(self, statement: sa.Executable) -> int:
        return count(self.conn, statement)

    def count_rows(self, table: str) -> int:
        if table not in self.tables:
            return 0
        quote = self.conn.dialect.identifier_preparer.quote
        return self.count(sa.text(f"SELECT count(*) FROM {quote(table)}"))

    def count_values(self, table: str, column: str) -> int:
        if table not in self.tables or column not in self.columns(table):
            return 0
        quote = self.conn.dialect.identifier_preparer.quote
        return self.count(sa.text(f"SELECT count(*) FROM {quote(table)} WHERE {quote(column)} IS NOT NULL"))

    def count_filled(self, entity_key: str, before: Field) -> int:
        """Records holding a value of `before`, read where it is stored now (its old key)."""
        quote = self.conn.dialect.identifier_preparer.quote
        if before.is_table or is_many(before):
            side = side_table_name(self.app.key, entity_key, before.key)
            owner = "parent_id" if before.is_table else "record_id"
            if side not in self.tables:
                return 0
            return self.count(sa.text(f"SELECT count(DISTINCT {owner}) FROM {quote(side)}"))
        return self.count_values(table_name(self.app.key, entity_key), before.key)

    def run(self) -> Plan:
        created: list[sa.Table] = []
        for et in self.new.entities.values():
            old_entity = self.old.entity(et.entity.key) if self.old else None
            if et.table.name not in self.tables:
                created.append(et.table)
            else:
                structure.entity_changes(self, et, old_entity)
                constraints.constraint_changes(self, et, old_entity)
            for key, link in et.links.items():
                structure.side_table(self, et, key, link, created)
            for key, child in et.children.items():
                structure.side_table(self, et, key, child, created)
                if child.name in self.tables:
                    structure.child_columns(self, et, key, child, old_entity)
        if created:
            structure.create_tables(self, created)
        self.plan.steps.extend(self.deferred)
        rollups.rollup_changes(self)
        archive.archive_removed(self)
        asked = sorted(q.id for q in self.plan.questions)
        unasked = sorted(set(self.choices) - set(asked))
        if not asked and not self.plan.steps:
            # nothing left to apply (a re-run of an apply that committed): the answers
            # given then are to questions this plan no longer asks, not mistakes
            self.plan.ignored = unasked
            return self.plan
        for question_id in unasked:
            if asked:
                self.refuse(
                    M(
                        "there is no question %(question_id)s in this plan (questions: %(questions)s)",
                        question_id=question_id,
                        questions=asked,
                    )
                )
            else:
                self.refuse(M("there is no question %(question_id)s in this plan (this plan asks nothing)", question_id=question_id))
        return self.plan

    def ask(self, question: Question) -> str | None:
        """Add `question` to the plan; its valid answer, or None (unanswered or not a choice)."""
        self.plan.questions.append(question)
        answer = self.choices.get(question.id)
        if answer is None:
            return None
        if answer not in question.values():
            self.refuse(
                M(
                    "“%(answer)s” is not a choice for %(question_id)s (choices: %(choices)s)",
                    answer=answer,
                    question_id=question.id,
                    choices=question.values(),
                )
            )
            return None
        self.plan.answers[question.id] = answer
        return answer

    def record_samples(self, entity: Entity | None, table: str, ids: list[int]) -> list[Message]:
        """`#12 "Fix the login"`: the first records of `ids` with their titles as stored now."""
        shown = ids[:MAX_SAMPLES]
        titles: dict[int, Any] = {}
        title = entity.title if entity is not None else None
        if title and shown and title in self.columns(table):
            t = sa.table(table, sa.column("id"), sa.column(title))
            titles = dict(self.conn.execute(sa.select(t.c.id, t.c[title]).where(t.c.id.in_(shown))).all())
        return [plain(f"#{rid} {convert.show(titles[rid])}" if titles.get(rid) is not None else f"#{rid}") for rid in shown]


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
    planner = Planner(conn, old, new, version, archive.archived_fields(conn, new.app.key), choices, actor_id)
    plan = planner.run()
    archive.take_out_restored(planner)
    plan.steps.extend(timing_notes(old.document if old is not None else None, new.app))
    plan.steps.extend(sla_notes(conn, old, new.app))
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
