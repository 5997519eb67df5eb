"""The web layer: blueprints, templates and static files. Calls engine services only."""

from __future__ import annotations

from flask import Flask

from flowdeck.views import (
    account,
    admin,
    approvals,
    assets,
    audit_log,
    auth,
    automations,
    background,
    boards,
    bundled_admin,
    calendars_admin,
    chat_admin,
    errors,
    field_widgets,
    health,
    home,
    i18n,
    jobs_admin,
    lists,
    org,
    records,
    schedules_admin,
    security,
    sla_report,
    topbar,
    view_pages,  # noqa: F401 - its routes (showing a view of any type) join the lists blueprint
    watching,
    webhook_hooks,
    webhooks_admin,
)
from flowdeck.views.schema_admin import bp as schema_admin_bp


def register_blueprints(app: Flask) -> None:
    """Every blueprint (`view_pages` adds the view routes to the `lists` blueprint)."""
    security.init_app(app)
    assets.init_app(app)
    i18n.init_app(app)
    app.jinja_env.filters["unit_suffix"] = field_widgets.unit_suffix
    errors.init_app(app)
    auth.init_app(app)
    home.init_app(app)
    topbar.init_app(app)
    approvals.init_app(app)
    background.init_app(app)
    for module in (
        health,
        auth,
        account,
        home,
        lists,
        boards,
        records,
        approvals,
        admin,
        audit_log,
        jobs_admin,
        chat_admin,
        watching,
        calendars_admin,
        schedules_admin,
        automations,
        bundled_admin,
        org,
        sla_report,
    ):
        app.register_blueprint(module.bp)
    app.register_blueprint(webhooks_admin.bp)
    app.register_blueprint(webhook_hooks.bp)
    app.register_blueprint(webhook_hooks.receiver)
    app.register_blueprint(schema_admin_bp)
