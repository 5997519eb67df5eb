"""Per-application engine state, kept on `app.extensions` (never a module global)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from flowdeck.engine.db import Database
from flowdeck.engine.registry import Catalog


@dataclass(frozen=True)
class EngineState:
    db: Database
    catalog: Catalog


def init_app(app: Flask) -> None:
    db = Database(app.config["FLOWDECK_DATABASE_URL"])
    app.extensions["flowdeck"] = EngineState(db=db, catalog=Catalog(db))


def engine() -> EngineState:
    return current_app.extensions["flowdeck"]
