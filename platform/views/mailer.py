"""Mail for notifications, when SMTP is configured (`FLOWDECK_SMTP_HOST`; the settings are
read and checked by `config.py` into `app.config["FLOWDECK_SMTP"]`, and every mail links
to its record under `FLOWDECK_BASE_URL`).

A daemon thread per worker process sends pending notification mail every few seconds,
outside any request, so a slow mail server never slows a page. Rows are claimed with
`FOR UPDATE SKIP LOCKED` (PostgreSQL) or the write lock (SQLite), so two workers never
send the same notification twice.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask

from flowdeck.catalogs import translator
from flowdeck.engine.db import Database
from flowdeck.engine.notifications import SmtpSettings, send_pending_mail

log = logging.getLogger(__name__)


def send_once(db: Database, smtp: SmtpSettings, base_url: str = "") -> int:
    return db.run(lambda conn: send_pending_mail(conn, smtp, base_url=base_url, translator=translator))


def _loop(db: Database, smtp: SmtpSettings, base_url: str, interval: float) -> None:
    while True:
        try:
            send_once(db, smtp, base_url)
        except Exception:
            log.exception("sending notification mail failed")
        time.sleep(interval)


def init_app(app: Flask) -> None:
    smtp = app.config.get("FLOWDECK_SMTP")
    if smtp is None or app.config.get("TESTING"):
        return
    state: dict[str, bool] = {"started": False}
    lock = threading.Lock()

    @app.before_request
    def start_sender() -> None:
        # Started on the first request of each worker (after gunicorn forks), not at import.
        if state["started"]:
            return
        with lock:
            if not state["started"]:
                db = app.extensions["flowdeck"].db
                base_url = app.config.get("FLOWDECK_BASE_URL", "")
                threading.Thread(target=_loop, args=(db, smtp, base_url, 10.0), daemon=True, name="flowdeck-mail").start()
                state["started"] = True
