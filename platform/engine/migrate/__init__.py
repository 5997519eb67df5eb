"""Migrations: going from the document applied before to the one being applied.

The planner compares the two documents with the tables as they are. It adds tables,
columns and indexes, renames fields the document marks with `was`, archives (never drops)
what the document no longer has, and restores archived fields that come back.

Where a change would move or lose data, the plan asks a **question** instead of refusing,
with counts and samples from the real data, and applies nothing until every question has
an answer (`choices`, question id -> value): a removed state that records are in
(`state:<entity>:<state>`), a type change with values that cannot be converted exactly
(`type:<entity>:<field>`), a removed option that records use
(`option:<entity>:<field>:<option>`). What still cannot be done without losing data is
refused: conversions between kinds of values that have no meaning, table fields changing
type, a new unique constraint over duplicate values.

This package sits above `engine/storage/` (tables, DDL, value conversion), not inside it:
a plan moves records between states and options, writes their history, withdraws their
approval requests and computes their formulas again, which is the work of records and
approvals. Storage stays below them and imports neither.

| module | holds |
|---|---|
| `plan.py` | the plan object (`Plan`, `Step`, `Question`) and its text |
| `planner.py` | `make_plan` and the state every part of a plan shares |
| `structure.py` | DDL steps: tables, columns, renames, indexes, defaults for existing records |
| `typechange.py` | type changes: converting, asking, archiving and restoring values |
| `questions.py` | the state and option questions and the record moves that answer them |
| `withdrawals.py` | approval requests withdrawn by a change |
| `formulas.py` | formulas computed again |
| `constraints.py` | rules across records added or changed: the stored records that break them, counted in the plan |
| `archive.py` | archiving removed entities and fields, and bringing them back |
| `fields.py`, `entries.py` | a field's stored shape and type words; history entries of moved records |
"""

from flowdeck.engine.migrate.archive import archived_fields
from flowdeck.engine.migrate.fields import describe_type, signature
from flowdeck.engine.migrate.plan import MAX_SAMPLES, Plan, Question, Step
from flowdeck.engine.migrate.planner import make_plan
from flowdeck.engine.migrate.typechange import TypeChange

__all__ = ["MAX_SAMPLES", "Plan", "Question", "Step", "TypeChange", "archived_fields", "describe_type", "make_plan", "signature"]
