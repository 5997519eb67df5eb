"""Notification mail over SMTP, against a real SMTP server on loopback."""

import socket

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from flowdeck.engine import notifications, users
from flowdeck.engine.notifications import SmtpSettings


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


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield inbox, SmtpSettings(host="127.0.0.1", port=controller.port, sender="flowdeck@example.test")
    controller.stop()


def test_pending_notifications_are_mailed_once(db, smtp_server):
    """Is each notification mailed once to its user's address, and never twice?"""
    inbox, smtp = smtp_server

    def setup(conn):
        uid = users.create_user(conn, "lin", password="password123", display_name="林", email="lin@example.test")
        users.create_user(conn, "nomail", password="password123")
        notifications.notify(
            conn,
            [uid],
            kind="approval",
            message="Approval needed: 立项 of “仓储系统”",
            app="project",
            entity="project",
            record_id=7,
            dedupe="x",
        )
        return uid

    db.run(setup)
    sent = db.run(lambda conn: notifications.send_pending_mail(conn, smtp, base_url="http://flowdeck.test"))
    assert sent == 1
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert message["To"] == "lin@example.test"
    assert "Approval needed" in message["Subject"]
    body = message.get_payload(decode=True).decode()
    assert "http://flowdeck.test/a/project/project/7" in body and "仓储系统" in body
    assert db.run(lambda conn: notifications.send_pending_mail(conn, smtp)) == 0
    assert len(inbox.messages) == 1


def test_a_rolled_back_notification_is_never_mailed(db, smtp_server):
    """Does an action that rolls back send no mail?"""
    inbox, smtp = smtp_server
    uid = db.run(lambda conn: users.create_user(conn, "lin", password="password123", email="lin@example.test"))

    def fail(conn):
        notifications.notify(conn, [uid], kind="approval", message="never")
        raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        db.run(fail)
    assert db.run(lambda conn: notifications.send_pending_mail(conn, smtp)) == 0
    assert inbox.messages == []
