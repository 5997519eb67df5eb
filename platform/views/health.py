"""`GET /healthz`: is the process up and can it reach its database?"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from flowdeck.engine.errors import DatabaseUnavailable
from flowdeck.engine.system import schema_generation
from flowdeck.views.state import engine

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    db = engine().db
    try:
        db.check()
        generation = db.read(schema_generation)
    except DatabaseUnavailable:
        return jsonify(status="error", database="unreachable"), 503
    return jsonify(status="ok", database=db.dialect, schema_generation=generation), 200
