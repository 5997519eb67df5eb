"""Helpers of the version tests (engine and CLI)."""

from __future__ import annotations

import copy
from typing import Any

from flowdeck.engine import records
from flowdeck.engine.apps import apply_document
from flowdeck.engine.db import Database
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import Catalog
from tests.support.documents import minimal_app


def apply(db: Database, document: dict[str, Any], actor: Actor | None = None, **kwargs: Any) -> Any:
    return apply_document(db, copy.deepcopy(document), actor=actor or Actor.system(), **kwargs)


def create(db: Database, values: dict[str, Any]) -> records.Record:
    et = Catalog(db).current().entity("demo", "task")
    return db.run(lambda c: records.create_record(c, et, values, actor=Actor.system()))


def fetch(db: Database, record_id: int) -> records.Record:
    et = Catalog(db).current().entity("demo", "task")
    return db.read(lambda c: records.fetch_record(c, et, record_id))


def second_version() -> dict[str, Any]:
    """v2: adds `due`, renames `estimate` to `cost`, relabels `review`, removes `approve`."""
    doc = minimal_app()
    task = doc["entities"]["task"]
    fields = task["fields"]
    fields["due"] = {"type": "date"}
    fields["cost"] = {**fields.pop("estimate"), "was": "estimate"}
    task["workflow"]["states"]["review"]["label"] = {"en": "In review", "zh": "评审中"}
    task["workflow"]["transitions"] = [t for t in task["workflow"]["transitions"] if t["key"] != "approve"]
    return doc


def with_blocked() -> dict[str, Any]:
    doc = minimal_app()
    doc["entities"]["task"]["workflow"]["states"]["blocked"] = {"category": "doing"}
    doc["entities"]["task"]["workflow"]["transitions"].append({"key": "block", "from": "doing", "to": "blocked"})
    return doc
