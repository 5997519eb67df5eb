"""The Flask application factory: it only wires. No schema sync, network or sleeps here;
installing apps is `flowdeck init` / `flowdeck apply`, system migrations `flowdeck upgrade`.

Every setting is checked first (`config.settings`): a wrong one raises `config.ConfigError`
with one line, so the app never starts half-configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from flowdeck import config
from flowdeck.views import register_blueprints, state


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__, template_folder="views/templates", static_folder="views/static")
    app.config.update(config.settings())
    if overrides:
        app.config.update(overrides)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = config.instance_secret(Path(app.config["FLOWDECK_INSTANCE"]))
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", app.config.get("FLOWDECK_TIMEZONE") or config.DEFAULT_TIMEZONE)
    state.init_app(app)
    register_blueprints(app)
    return app
