"""Helpers of the automation tests: a rule in one line, the runs as stored, the job runner
drained once."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from flowdeck.engine import models
from flowdeck.engine.jobs.runner import Runner


def rule(key: str, trigger: dict[str, Any], *actions: dict[str, Any], entity: str = "ticket", **more: Any) -> dict[str, Any]:
    return {"key": key, "label": {"en": key.title(), "zh": key}, "entity": entity, "trigger": trigger, "actions": list(actions), **more}


def all_runs(db) -> list[Any]:
    return db.read(lambda c: c.execute(sa.select(models.automation_runs).order_by(models.automation_runs.c.id)).all())


def drain(db) -> dict[str, int]:
    return Runner(db).run_due()
