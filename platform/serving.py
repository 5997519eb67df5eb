"""Gunicorn settings shared by `flowdeck run` and any gunicorn command line
(`gunicorn -c python:flowdeck.serving "flowdeck.app:create_app()"`).

A worker holds about 125,000 long-lived objects once the app is loaded (SQLAlchemy tables,
compiled templates, catalogs, schema registries). Python's full garbage collection walks
all of them every few thousand requests: a pause of about 0.1 s in the middle of some
request. `gc.freeze()` after the app is loaded moves them out of the collector's sight;
objects made while serving are collected as before.
"""

from __future__ import annotations

import gc
from typing import Any


def post_worker_init(worker: Any) -> None:
    """Gunicorn hook: the worker has loaded the app and is about to serve."""
    gc.freeze()
