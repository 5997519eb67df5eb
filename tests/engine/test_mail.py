"""Notification mail over SMTP, against a real SMTP server on loopback, each in its recipient's language."""

import re
import socket
from email.header import decode_header, make_header

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from flowdeck.catalogs import say, translator
from flowdeck.engine import models, notifications, users
from flowdeck.engine.jobs.runner import Runner
from flowdeck.engine.messages import M
from flowdeck.engine.notifications import SmtpSettings
from flowdeck.engine.schema.label import Label


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


def _subject(message) -> str:
    """The Subject header as a reader sees it: unfolded, encoded words decoded."""
    return str(make_header(decode_header(re.sub(r"\r?\n(?=[ \t])", "", message["Subject"])))).strip()


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


def test_each_mail_is_in_its_recipients_language(db, smtp_server):
    """Is a notification mailed to a Chinese user in Chinese, to an English one in English, to one with no language in the instance's?"""
    inbox, smtp = smtp_server
    submit, finance = Label({"en": "Submit", "zh": "提交"}), Label({"en": "Finance review", "zh": "财务审核"})
    said = M("Approval needed: %(transition)s of “%(title)s” (%(step)s)", transition=submit, title="仓储系统", step=finance)

    def setup(conn):
        lin = users.create_user(conn, "lin", password="password123", email="lin@example.test", locale="zh")
        ann = users.create_user(conn, "ann", password="password123", email="ann@example.test", locale="en")
        kai = users.create_user(conn, "kai", password="password123", email="kai@example.test")
        notifications.notify(conn, [lin, ann, kai], kind="approval", message=said, app="project", entity="project", record_id=7)

    db.run(setup)
    assert db.run(lambda conn: notifications.send_pending_mail(conn, smtp, translator=translator, language="zh")) == 3
    mails = {m["To"]: (_subject(m), m.get_payload(decode=True).decode()) for m in inbox.messages}
    chinese = say(said, "zh")
    assert "财务审核" in chinese and "Approval needed" not in chinese
    assert mails["lin@example.test"][0] == f"[Flowdeck] {chinese}" and chinese in mails["lin@example.test"][1]
    assert mails["kai@example.test"][0] == f"[Flowdeck] {chinese}"
    english = "Approval needed: Submit of “仓储系统” (Finance review)"
    assert mails["ann@example.test"][0] == f"[Flowdeck] {english}" and english in mails["ann@example.test"][1]


def test_mail_is_english_without_catalogs(db, smtp_server):
    """Without a translator factory (the engine alone), is a Chinese user's mail the English text rather than nothing?"""
    inbox, smtp = smtp_server
    said = M("Withdrawn: the approval request for record #%(id)s no longer needs you", id=7)

    def setup(conn):
        uid = users.create_user(conn, "lin", password="password123", email="lin@example.test", locale="zh")
        notifications.notify(conn, [uid], kind="approval_done", message=said)

    db.run(setup)
    assert db.run(lambda conn: notifications.send_pending_mail(conn, smtp)) == 1
    assert _subject(inbox.messages[0]) == "[Flowdeck] Withdrawn: the approval request for record #7 no longer needs you"


def test_the_mail_job_sends_once_and_retries_while_the_server_is_down(db, smtp_server):
    """Does a notification enqueue its mail job in its own transaction; while the mail server
    is down, is the job queued again with the error (the notification not marked mailed), and
    once it is up, is the mail sent once, in the recipient's language, with the link?"""
    inbox, smtp = smtp_server
    said = M("Withdrawn: the approval request for record #%(id)s no longer needs you", id=7)

    def setup(conn):
        uid = users.create_user(conn, "lin", password="password123", email="lin@example.test", locale="zh")
        nomail = users.create_user(conn, "nomail", password="password123")
        notifications.notify(conn, [uid, nomail], kind="approval_done", message=said, app="project", entity="project", record_id=7)

    db.run(setup)
    jobs = db.read(lambda conn: conn.execute(sa.select(models.jobs.c.kind, models.jobs.c.status)).all())
    assert jobs == [("mail.notification", "queued")]  # only the user with an address gets one
    down = SmtpSettings(host="127.0.0.1", port=_free_port(), sender="flowdeck@example.test", timeout=2)
    settings = {"FLOWDECK_SMTP": down, "FLOWDECK_BASE_URL": "https://flowdeck.example.com"}
    assert Runner(db, settings=settings, translator=translator).run_one() == "queued"
    job = db.read(lambda conn: conn.execute(sa.select(models.jobs)).one())
    assert job.attempts == 1 and "ConnectionRefusedError" in job.last_error
    assert db.read(lambda conn: conn.execute(sa.select(models.notifications.c.emailed_at)).scalars().all()) == [None, None]
    later = Runner(db, settings={**settings, "FLOWDECK_SMTP": smtp}, translator=translator, clock=lambda: job.run_at)
    assert later.run_due() == {"done": 1}
    assert len(inbox.messages) == 1 and _subject(inbox.messages[0]) == f"[Flowdeck] {say(said, 'zh')}"
    assert "https://flowdeck.example.com/a/project/project/7" in inbox.messages[0].get_payload(decode=True).decode()
    assert db.run(lambda conn: notifications.send_pending_mail(conn, smtp)) == 0  # marked mailed by the job
