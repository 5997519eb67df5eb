"""Time adding a field to the benchmark's `ticket` entity, as an admin applies it: one
`apply_document` (plan, version, ALTER TABLE, catalog generation) on the loaded data set.

    bash -c 'source bench/peer/flowdeck/env.sh && .venv/bin/python bench/add_field.py'

Issue 6's target: under a second at 1,000,000 records on PostgreSQL. The field is optional
with no default, so no row is rewritten: PostgreSQL and SQLite add such a column in the
catalog alone. A second run with a required field with a default shows the cost of the
same change when every row gets a value. Both are applied for real (new versions of the
benchmark app); setup.sh makes a fresh instance afterwards. Prints one JSON object.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from flowdeck import config
from flowdeck.engine.apps import apply_document
from flowdeck.engine.db import Database
from flowdeck.engine.permissions import Actor

HERE = Path(__file__).resolve().parent
APP = HERE / "peer" / "flowdeck" / "bench-app.json"


def _with_field(document: dict[str, Any], key: str, field: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    changed["entities"]["ticket"]["fields"][key] = field
    return changed


def _apply(db: Database, document: dict[str, Any], message: str) -> float:
    started = time.perf_counter()
    result = apply_document(db, document, actor=Actor.system(), message=message)
    elapsed = time.perf_counter() - started
    assert result.applied, message
    return elapsed


def main() -> None:
    db = Database(config.database_url())
    records = db.read(lambda conn: conn.execute(sa.text("SELECT count(*) FROM bench__ticket")).scalar_one())
    document = json.loads(APP.read_text())
    stamp = time.strftime("%H%M%S")
    optional = _with_field(document, f"note_{stamp}", {"type": "text", "label": "Note"})
    seconds_optional = _apply(db, optional, "bench: add an optional field")
    required = _with_field(optional, f"effort_{stamp}", {"type": "integer", "label": "Effort", "required": True, "default": 1})
    seconds_required = _apply(db, required, "bench: add a required field with a default")
    print(
        json.dumps(
            {
                "database": db.engine.dialect.name,
                "records": records,
                "add_optional_field_s": round(seconds_optional, 3),
                "add_required_field_with_default_s": round(seconds_required, 3),
            }
        )
    )
    db.dispose()


if __name__ == "__main__":
    main()
