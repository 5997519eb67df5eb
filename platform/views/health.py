"""Health for load balancers and orchestrators; neither needs a session.

- `GET /healthz` (liveness): the process answers. Never touches the database, so a slow
  database does not get healthy app processes restarted.
- `GET /readyz` (readiness): may this process take traffic? The database answers, its
  system migrations are current (else `flowdeck upgrade` is due) and the app catalog loads.
  503 with the reason otherwise.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from flowdeck.engine.errors import DatabaseUnavailable
from flowdeck.engine.system import pending_migrations
from flowdeck.views.state import engine

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    return jsonify(status="ok", database=engine().db.dialect), 200


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    state = engine()
    db = state.db
    try:
        db.check()
    except DatabaseUnavailable:
        return jsonify(status="unavailable", database="unreachable", reason="the database cannot be reached"), 503
    pending = db.read(pending_migrations)
    if pending:
        reason = f"system migrations pending: {', '.join(pending)}; run flowdeck upgrade"
        return jsonify(status="unavailable", database=db.dialect, pending_migrations=pending, reason=reason), 503
    try:
        registry = state.catalog.current()
    except Exception as exc:  # a stored document that no longer loads: say so, do not take traffic
        return jsonify(status="unavailable", database=db.dialect, reason=f"the app catalog does not load: {type(exc).__name__}"), 503
    return jsonify(status="ok", database=db.dialect, apps=sorted(registry.apps), schema_generation=registry.generation), 200
