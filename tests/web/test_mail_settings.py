"""Mail settings reach the app from config.py: the mail the web server sends links to the
record under FLOWDECK_BASE_URL, over plain SMTP, STARTTLS or implicit TLS (port 465) with
the server's certificate checked."""

from __future__ import annotations

import socket
import ssl
import time
from pathlib import Path

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from flowdeck import config
from flowdeck.app import create_app
from flowdeck.engine import notifications, users
from flowdeck.engine.notifications import SmtpSettings

BACKGROUND = Path(__file__).resolve().parents[2] / "platform" / "views" / "background.py"


class Inbox(Message):
    def __init__(self):
        super().__init__()
        self.messages = []

    def handle_message(self, message):
        self.messages.append(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _notify(db) -> None:
    def work(conn):
        uid = users.create_user(conn, "lin", password="password123", email="lin@example.test")
        notifications.notify(conn, [uid], kind="approval", message="Approval needed", app="project", entity="project", record_id=7)

    db.run(work)


@pytest.fixture
def plain_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


def test_the_background_worker_reads_no_environment():
    """Does views/background.py (which runs the mail jobs) take its settings from the app config only (never os.environ)?"""
    source = BACKGROUND.read_text(encoding="utf-8")
    assert "environ" not in source and "getenv" not in source


def test_mail_sent_by_the_web_server_links_to_the_record(db, tmp_path, plain_server):
    """With FLOWDECK_SMTP_* and FLOWDECK_BASE_URL set, does the web server's embedded job worker send mail with the record's link?"""
    inbox, port = plain_server
    env = {
        "FLOWDECK_SMTP_HOST": "127.0.0.1",
        "FLOWDECK_SMTP_PORT": str(port),
        "FLOWDECK_SMTP_FROM": "flowdeck@example.test",
        "FLOWDECK_BASE_URL": "https://flowdeck.example.com/",
    }
    checked = config.settings(env)
    assert checked["FLOWDECK_BASE_URL"] == "https://flowdeck.example.com"
    _notify(db)
    app = create_app(
        {
            "FLOWDECK_DATABASE_URL": db.url,
            "FLOWDECK_INSTANCE": str(tmp_path),
            "SECRET_KEY": "test-secret-test-secret",
            "FLOWDECK_SMTP": checked["FLOWDECK_SMTP"],
            "FLOWDECK_BASE_URL": checked["FLOWDECK_BASE_URL"],
        }
    )
    try:
        app.test_client().get("/login")  # the first request of a worker starts its job worker thread
        for _ in range(100):
            if inbox.messages:
                break
            time.sleep(0.05)
        assert len(inbox.messages) == 1
        body = inbox.messages[0].get_payload(decode=True).decode()
        assert "https://flowdeck.example.com/a/project/project/7" in body
    finally:
        app.extensions["flowdeck_jobs_stop"].set()
        app.extensions["flowdeck"].db.dispose()


@pytest.fixture
def tls_server(tmp_path):
    """An SMTP server speaking TLS from the first byte (port 465 style), on a test CA's certificate."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port(), ssl_context=context)
    controller.start()
    yield inbox, controller.port, str(cafile)
    controller.stop()


def test_implicit_tls_sends_mail_and_checks_the_certificate(db, tls_server):
    """Does FLOWDECK_SMTP_SSL send over implicit TLS with the configured CA, and refuse a server whose certificate it cannot verify?"""
    inbox, port, cafile = tls_server
    env = {"FLOWDECK_SMTP_HOST": "127.0.0.1", "FLOWDECK_SMTP_PORT": str(port), "FLOWDECK_SMTP_SSL": "1", "FLOWDECK_SMTP_CAFILE": cafile}
    smtp = config.smtp_settings(env)
    assert smtp.ssl and smtp.port == port
    _notify(db)
    with pytest.raises(ssl.SSLError):
        db.run(lambda conn: notifications.send_pending_mail(conn, SmtpSettings(host="127.0.0.1", port=port, ssl=True)))
    sent = db.run(lambda conn: notifications.send_pending_mail(conn, smtp, base_url="https://flowdeck.example.com"))
    assert sent == 1 and len(inbox.messages) == 1


def test_port_465_is_the_default_with_implicit_tls():
    """Is the port 465 when FLOWDECK_SMTP_SSL is on and no port is given?"""
    smtp = config.smtp_settings({"FLOWDECK_SMTP_HOST": "mail.example.com", "FLOWDECK_SMTP_SSL": "yes"})
    assert smtp.port == 465 and smtp.ssl and not smtp.starttls
