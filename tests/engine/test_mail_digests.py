"""Daily digests and quiet hours: one mail per user and day at their time (grouped by record,
in their language, nothing they can no longer read, nothing when empty, exactly once however
many runners race), and mail held through quiet hours released as one mail at their end.
Mail goes to a real SMTP server on loopback; the clock is held (`clock.set_now`)."""

from __future__ import annotations

import datetime as dt
import re
import socket
import threading
from email.header import decode_header, make_header
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message as Handler

from flowdeck.catalogs import say, translator
from flowdeck.engine import clock, mailprefs, models, notifications, records, users
from flowdeck.engine.db import Database
from flowdeck.engine.jobs.queue import enqueue
from flowdeck.engine.jobs.runner import Runner
from flowdeck.engine.mailprefs import MailPrefs
from flowdeck.engine.messages import M
from flowdeck.engine.notifications import SmtpSettings
from flowdeck.engine.schema.label import Label
from tests.support.documents import minimal_app

SHANGHAI = ZoneInfo("Asia/Shanghai")
SAID = M(
    "Approval needed: %(transition)s of “%(title)s” (%(step)s)",
    transition=Label({"en": "Submit", "zh": "提交"}),
    title="仓储系统",
    step=Label({"en": "Finance review", "zh": "财务审核"}),
)


class Inbox(Handler):
    def __init__(self):
        super().__init__()
        self.messages = []
        self.slow: tuple[threading.Event, threading.Event] | None = None

    def handle_message(self, message):
        self.messages.append(message)
        if self.slow is not None:  # a slow server: the sender's transaction stays open meanwhile
            entered, release = self.slow
            self.slow = None
            entered.set()
            release.wait(timeout=4)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def subject(message) -> str:
    return str(make_header(decode_header(re.sub(r"\r?\n(?=[ \t])", "", message["Subject"])))).strip()


def body(message) -> str:
    return message.get_payload(decode=True).decode()


def local(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A moment in December 2026, Shanghai time (7 December is a Monday)."""
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def inbox():
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    handler.smtp = SmtpSettings(host="127.0.0.1", port=controller.port, sender="flowdeck@example.test")
    yield handler
    controller.stop()


@pytest.fixture(autouse=True)
def held_clock():
    yield
    clock.set_now(None)


def runner(db: Database, inbox: Inbox) -> Runner:
    settings = {"FLOWDECK_SMTP": inbox.smtp, "FLOWDECK_BASE_URL": "http://fd.test"}
    return Runner(db, settings=settings, translator=translator, clock=clock.now)


def at(db: Database, inbox: Inbox, moment: dt.datetime) -> dict[str, int]:
    """Hold the clock at `moment` and run every due job."""
    clock.set_now(moment)
    return runner(db, inbox).run_due()


@pytest.fixture
def world(db, install):
    """The demo app, two tasks, and Lin (zh) and Ann (en), members with mail addresses."""
    registry = install(minimal_app())
    task = registry.entity("demo", "task")

    def setup(conn):
        lin = users.create_user(conn, "lin", password="password123", email="lin@example.test", locale="zh")
        ann = users.create_user(conn, "ann", password="password123", email="ann@example.test", locale="en")
        for uid in (lin, ann):
            users.grant_role(conn, uid, "demo", "member")
        system = users.actor_for(conn, lin)
        one = records.create_record(conn, task, {"title": "仓储系统"}, actor=system)
        two = records.create_record(conn, task, {"title": "Second"}, actor=system)
        return {"lin": lin, "ann": ann, "one": one.id, "two": two.id, "task": task}

    clock.set_now(local(8, 9))
    return db.run(setup)


def notify(db, user_id, record_id=None, *, app="demo", entity="task", message=SAID):
    return db.run(
        lambda c: notifications.notify(c, [user_id], kind="approval", message=message, app=app, entity=entity, record_id=record_id)
    )


def choose(db, user_id, **prefs):
    db.run(lambda c: mailprefs.save(c, user_id, MailPrefs(**{"time_zone": "Asia/Shanghai", **prefs}), now=clock.now()))


def digest_runs(db):
    return db.read(lambda c: c.execute(sa.select(models.digest_runs).order_by(models.digest_runs.c.id)).mappings().all())


def digest_jobs(db):
    query = sa.select(models.jobs.c.dedupe_key, models.jobs.c.status).where(models.jobs.c.kind == "mail.digest").order_by(models.jobs.c.id)
    return db.read(lambda c: c.execute(query).all())


def test_the_digest_lists_the_days_unread_notifications_grouped_in_chinese(db, inbox, world):
    """Does Lin get one Chinese mail at 18:00 grouping her unread notifications by record with
    links, leaving out what she read, what is gone and what she may no longer read?"""
    lin = world["lin"]
    choose(db, lin, delivery="digest", digest_at=18 * 60)
    notify(db, lin, world["one"])
    notify(db, lin, world["two"])
    notify(db, lin, world["one"], message=M("%(user)s commented on “%(title)s”", user="Ann", title="仓储系统"))
    read = notify(db, lin, world["two"], message=M("already seen"))
    assert read == 1
    seen = db.read(lambda c: notifications.list_notifications(c, lin)[0].id)
    db.run(lambda c: notifications.mark_read(c, lin, [seen]))
    gone = db.run(lambda c: records.create_record(c, world["task"], {"title": "Gone"}, actor=users.actor_for(c, lin)))
    notify(db, lin, gone.id, message=M("about a deleted record"))
    db.run(lambda c: c.execute(world["task"].table.delete().where(world["task"].table.c.id == gone.id)))
    notify(db, lin, 1, app="removed", entity="thing", message=M("about an app that is gone"))
    assert at(db, inbox, local(8, 17, 59)) == {}
    assert inbox.messages == []
    assert at(db, inbox, local(8, 18)) == {"done": 1}
    [mail] = inbox.messages
    assert mail["To"] == "lin@example.test"
    assert subject(mail) == "[Flowdeck] " + "每日摘要：3 条未读通知"
    text = body(mail)
    assert f"演示 · 任务 #{world['one']}" in text and f"演示 · 任务 #{world['two']}" in text
    assert text.index(f"任务 #{world['one']}") < text.index(f"任务 #{world['two']}")
    block_one = text.split(f"任务 #{world['one']}")[1].split(f"任务 #{world['two']}")[0]
    assert say(SAID, "zh") in block_one and "Ann" in block_one and f"http://fd.test/a/demo/task/{world['one']}" in block_one
    assert "财务审核" in text and "Finance review" not in text
    for left_out in ("already seen", "deleted record", "app that is gone"):
        assert left_out not in text
    assert [r["status"] for r in digest_runs(db)] == ["sent"] and digest_runs(db)[0]["notifications"] == 3
    assert (f"digest:{lin}:20261209T1000Z", "queued") in digest_jobs(db)
    assert at(db, inbox, local(9, 18)) == {"done": 1}
    assert len(inbox.messages) == 1, "an empty day sends nothing"
    assert [r["status"] for r in digest_runs(db)] == ["sent", "empty"]


def test_the_digest_is_english_for_an_english_reader(db, inbox, world):
    """Is Ann's digest worded in English, counted in the singular for one notification?"""
    ann = world["ann"]
    choose(db, ann, delivery="digest", digest_at=7 * 60 + 30)
    notify(db, ann, world["one"])
    at(db, inbox, local(9, 7, 30))
    [mail] = inbox.messages
    assert subject(mail) == "[Flowdeck] Your daily digest: 1 unread notification"
    text = body(mail)
    assert f"Demo · Task #{world['one']}" in text and "Approval needed: Submit of “仓储系统” (Finance review)" in text
    assert "http://fd.test/notifications" in text
    assert "\n  09:00  Approval needed" in text, "one day's notifications show their time only"


def test_two_runners_racing_send_one_digest(db, inbox, world):
    """Do two workers running three jobs of the same digest at once send exactly one mail?"""
    lin = world["lin"]
    choose(db, lin, delivery="digest", digest_at=18 * 60)
    notify(db, lin, world["one"])
    moment = local(8, 18).astimezone(dt.UTC)
    payload = {"user": lin, "at": moment.isoformat()}
    db.run(lambda c: [enqueue(c, "mail.digest", payload, run_at=moment) for _ in range(2)])
    clock.set_now(moment)
    start = threading.Barrier(2)
    results: list[dict[str, int]] = []

    def work():
        other = Database(db.url)
        try:
            start.wait()
            results.append(runner(other, inbox).run_due())
        finally:
            other.dispose()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.get("done", 0) for r in results) == 3
    assert len(inbox.messages) == 1
    assert [(r["status"], r["notifications"]) for r in digest_runs(db)] == [("sent", 1)]
    outcomes = db.read(lambda c: c.execute(sa.select(models.jobs.c.result).where(models.jobs.c.kind == "mail.digest")).scalars().all())
    assert sorted(("sent" in (r or {})) for r in outcomes) == [False, False, False, True], outcomes


def test_a_tick_after_downtime_sends_one_digest_and_arms_the_next(db, inbox, world):
    """After three days without a worker, does one tick send one digest with everything unread and arm the next one ahead?"""
    lin = world["lin"]
    choose(db, lin, delivery="digest", digest_at=18 * 60)
    notify(db, lin, world["one"])
    clock.set_now(local(10, 12))
    notify(db, lin, world["two"])
    assert at(db, inbox, local(11, 12)) == {"done": 2}, "the 8th's digest, and the 10th's the second notification armed"
    [mail] = inbox.messages
    assert f"任务 #{world['one']}" in body(mail) and f"任务 #{world['two']}" in body(mail)
    assert "  12月8日周二 09:00  " in body(mail) and "  12月10日周四 12:00  " in body(mail), "days apart: each line has its day"
    assert [r["status"] for r in digest_runs(db)] == ["sent", "empty"]
    assert (f"digest:{lin}:20261211T1000Z", "queued") in digest_jobs(db)
    assert at(db, inbox, local(11, 12, 5)) == {}


def test_a_changed_time_moves_the_digest(db, inbox, world):
    """When Lin moves her digest from 18:00 to 08:30, does the 18:00 job do nothing and 08:30 next day send it?"""
    lin = world["lin"]
    choose(db, lin, delivery="digest", digest_at=18 * 60)
    notify(db, lin, world["one"])
    clock.set_now(local(8, 10))
    choose(db, lin, delivery="digest", digest_at=8 * 60 + 30)
    assert at(db, inbox, local(8, 18)) == {"done": 1}
    assert inbox.messages == [] and digest_runs(db) == []
    assert at(db, inbox, local(9, 8, 30)) == {"done": 1}
    assert len(inbox.messages) == 1


def test_mail_off_or_immediate_arms_no_digest(db, inbox, world):
    """Does a user with mail off get nothing, and one with immediate mail get one mail per notification?"""
    choose(db, world["lin"], delivery="off")
    choose(db, world["ann"], delivery="immediate")
    notify(db, world["lin"], world["one"])
    notify(db, world["ann"], world["one"])
    notify(db, world["ann"], world["two"])
    at(db, inbox, local(8, 9, 1))
    assert [m["To"] for m in inbox.messages] == ["ann@example.test", "ann@example.test"]
    assert digest_jobs(db) == []
    assert db.read(lambda c: users.mail_notifications(c, world["lin"])) is False


def test_quiet_hours_hold_mail_and_release_one_mail_at_their_end(db, inbox, world):
    """With quiet hours 22:00-08:00, is mail sent at 21:50, held from 22:00 (the notification
    stored in the app at once), and released at 08:00 as one mail of what is still unread?"""
    ann = world["ann"]
    choose(db, ann, delivery="immediate", quiet_from=22 * 60, quiet_to=8 * 60)
    clock.set_now(local(8, 21, 50))
    notify(db, ann, world["one"])
    at(db, inbox, local(8, 21, 51))
    assert len(inbox.messages) == 1
    clock.set_now(local(8, 23))
    notify(db, ann, world["one"])
    notify(db, ann, world["two"], message=M("%(user)s commented on “%(title)s”", user="Lin", title="Second"))
    clock.set_now(local(9, 2))
    notify(db, ann, world["two"], message=M("read in the app before morning"))
    assert db.read(lambda c: notifications.unread_count(c, ann)) == 4
    seen = db.read(lambda c: notifications.list_notifications(c, ann)[0].id)
    db.run(lambda c: notifications.mark_read(c, ann, [seen]))
    assert at(db, inbox, local(9, 7, 59)) == {}
    assert len(inbox.messages) == 1
    held = db.read(lambda c: c.execute(sa.select(models.jobs.c.dedupe_key).where(models.jobs.c.kind == "mail.held")).scalars().all())
    assert held == [f"mailheld:{ann}:20261209T0000Z"]
    assert at(db, inbox, local(9, 8)) == {"done": 1}
    assert len(inbox.messages) == 2
    mail = inbox.messages[1]
    assert subject(mail) == "[Flowdeck] 2 notifications during your quiet hours"
    text = body(mail)
    assert "Approval needed: Submit" in text and "Lin commented on “Second”" in text and "read in the app" not in text
    assert f"http://fd.test/a/demo/task/{world['two']}" in text
    clock.set_now(local(9, 8, 1))
    notify(db, ann, world["one"])
    at(db, inbox, local(9, 8, 2))
    assert len(inbox.messages) == 3, "after quiet hours mail goes at once again"


def test_a_single_held_notification_is_mailed_as_itself_in_chinese(db, inbox, world):
    """Is one notification held overnight mailed at the end as its own mail, worded in Chinese?"""
    lin = world["lin"]
    choose(db, lin, delivery="immediate", quiet_from=22 * 60, quiet_to=8 * 60)
    clock.set_now(local(8, 23, 30))
    notify(db, lin, world["one"])
    at(db, inbox, local(9, 8))
    [mail] = inbox.messages
    assert subject(mail) == "[Flowdeck] " + say(SAID, "zh")


def test_weekend_quiet_hours_run_from_friday_night_to_monday_morning():
    """With quiet weekends and 22:00-08:00, does Friday 23:00 fall in one quiet period ending Monday 08:00?"""
    prefs = MailPrefs(quiet_from=22 * 60, quiet_to=8 * 60, quiet_weekends=True, time_zone="Asia/Shanghai")
    start, end = mailprefs.quiet_window(prefs, local(11, 23).astimezone(dt.UTC))
    assert (start, end) == (local(11, 22), local(14, 8))
    assert mailprefs.quiet_window(prefs, local(12, 13).astimezone(dt.UTC)) == (local(11, 22), local(14, 8))
    assert mailprefs.quiet_window(prefs, local(14, 8).astimezone(dt.UTC)) is None
    weekends_only = MailPrefs(quiet_weekends=True, time_zone="Asia/Shanghai")
    assert mailprefs.quiet_window(weekends_only, local(13, 23, 59).astimezone(dt.UTC)) == (local(12, 0), local(14, 0))
    assert mailprefs.quiet_window(MailPrefs(quiet_from=9 * 60, quiet_to=12 * 60), local(8, 13)) is None


def test_a_bad_choice_is_refused_with_messages():
    """Are half-set quiet hours, equal ends and an unknown zone refused, per field?"""
    assert set(mailprefs.check(MailPrefs(quiet_from=60))) == {"quiet_to"}
    assert set(mailprefs.check(MailPrefs(quiet_from=60, quiet_to=60))) == {"quiet_to"}
    assert set(mailprefs.check(MailPrefs(time_zone="Mars/Olympus"))) == {"time_zone"}
    assert set(mailprefs.check(MailPrefs(quiet_from=-1, quiet_to=24 * 60))) == {"quiet_from", "quiet_to"}
    assert set(mailprefs.check(MailPrefs(delivery="weekly"))) == {"delivery"}
    assert mailprefs.check(MailPrefs(delivery="digest", digest_at=0, quiet_from=0, quiet_to=1)) == {}


def test_nothing_is_sent_about_what_the_user_may_no_longer_read(db, inbox, world):
    """When Lin loses her role in the app, does her digest list nothing of it (and so send nothing)?"""
    lin = world["lin"]
    choose(db, lin, delivery="digest", digest_at=18 * 60)
    notify(db, lin, world["one"])
    db.run(lambda c: users.revoke_role(c, lin, "demo", "member"))
    assert at(db, inbox, local(8, 18)) == {"done": 1}
    assert inbox.messages == []
    assert [r["status"] for r in digest_runs(db)] == ["empty"]


def test_a_mail_server_down_to_the_last_attempt_still_arms_the_next_digest(db, inbox, world):
    """Is a digest the server refuses retried with backoff, recorded failed after the last
    attempt (the notifications left unmailed), and the next day's digest armed all the same?"""
    lin = world["lin"]
    choose(db, lin, delivery="digest", digest_at=18 * 60)
    notify(db, lin, world["one"])
    down = SmtpSettings(host="127.0.0.1", port=_free_port(), timeout=2)
    clock.set_now(local(8, 18))
    statuses = []
    for _ in range(12):
        statuses.append(Runner(db, settings={"FLOWDECK_SMTP": down}, translator=translator, clock=clock.now).run_one())
        clock.set_now(clock.now() + dt.timedelta(hours=1))
    assert statuses[:6] == ["queued"] * 5 + ["done"]
    assert [r["status"] for r in digest_runs(db)] == ["failed"]
    assert db.read(lambda c: c.execute(sa.select(models.notifications.c.emailed_at)).scalars().all()) == [None]
    assert (f"digest:{lin}:20261209T1000Z", "queued") in digest_jobs(db)
    assert inbox.messages == []
    clock.set_now(local(9, 10))
    notify(db, lin, world["two"])
    assert at(db, inbox, local(9, 18)) == {"done": 1}
    [mail] = inbox.messages
    assert subject(mail) == "[Flowdeck] " + "每日摘要：2 条未读通知", "the failed digest's notification is listed the next day"
    assert f"任务 #{world['one']}" in body(mail) and f"任务 #{world['two']}" in body(mail)


@pytest.fixture
def instance_zone(monkeypatch):
    """Change the instance's time zone (`FLOWDECK_TIMEZONE`) the way an admin's restart does."""

    def change(name: str) -> None:
        monkeypatch.setenv("FLOWDECK_TIMEZONE", name)
        clock.zone.cache_clear()

    yield change
    monkeypatch.undo()
    clock.zone.cache_clear()


def test_a_changed_instance_zone_arms_the_digest_at_its_new_moment(db, inbox, world, instance_zone):
    """When the admin moves the instance from Shanghai to Berlin, does the 18:00 Shanghai job of
    a user without a zone of her own arm 18:00 Berlin, and that digest go out?"""
    lin = world["lin"]
    db.run(lambda c: mailprefs.save(c, lin, MailPrefs(delivery="digest", digest_at=18 * 60), now=clock.now()))
    notify(db, lin, world["one"])
    instance_zone("Europe/Berlin")
    assert at(db, inbox, local(8, 18)) == {"done": 1}
    assert inbox.messages == []
    berlin = dt.datetime(2026, 12, 8, 18, tzinfo=ZoneInfo("Europe/Berlin"))
    assert (f"digest:{lin}:20261208T1700Z", "queued") in digest_jobs(db)
    assert at(db, inbox, berlin) == {"done": 1}
    [mail] = inbox.messages
    assert f"任务 #{world['one']}" in body(mail)


def test_a_notification_arms_a_lost_digest_again(db, inbox, world):
    """When a digest user's next digest is not armed (lost), does her next notification arm it?"""
    lin = world["lin"]
    choose(db, lin, delivery="digest", digest_at=18 * 60)
    db.run(lambda c: c.execute(models.jobs.delete().where(models.jobs.c.kind == "mail.digest")))
    notify(db, lin, world["one"])
    assert digest_jobs(db) == [(f"digest:{lin}:20261208T1000Z", "queued")]
    notify(db, lin, world["two"])
    assert len(digest_jobs(db)) == 1, "armed once"
    assert at(db, inbox, local(8, 18)) == {"done": 1}
    [mail] = inbox.messages
    assert subject(mail) == "[Flowdeck] " + "每日摘要：2 条未读通知"


def test_a_digest_failing_before_the_mail_at_its_last_attempt_still_arms_the_next(db, inbox, world):
    """When gathering the digest fails (a stored notification it cannot word) up to the last
    attempt, is the digest recorded failed and the next day's digest armed all the same?"""
    lin = world["lin"]
    choose(db, lin, delivery="digest", digest_at=18 * 60)
    notify(db, lin, world["one"])
    db.run(lambda c: c.execute(models.notifications.update().values(message_json={"params": {}})))
    clock.set_now(local(8, 18))
    statuses = []
    for _ in range(12):
        statuses.append(runner(db, inbox).run_one())
        clock.set_now(clock.now() + dt.timedelta(hours=1))
    assert statuses[:6] == ["queued"] * 5 + ["done"]
    assert [r["status"] for r in digest_runs(db)] == ["failed"]
    assert (f"digest:{lin}:20261209T1000Z", "queued") in digest_jobs(db)
    assert inbox.messages == []


def race(db, inbox, first: tuple[str, ...], second: tuple[str, ...]) -> None:
    """Run a job of kind `first` on one worker and, while its mail is being sent (its
    transaction open), a job of kind `second` on another."""
    entered, release = threading.Event(), threading.Event()
    inbox.slow = (entered, release)
    settings = {"FLOWDECK_SMTP": inbox.smtp, "FLOWDECK_BASE_URL": "http://fd.test"}

    def work():
        other = Database(db.url)
        try:
            Runner(other, settings=settings, translator=translator, clock=clock.now, kinds=first).run_one()
        finally:
            other.dispose()

    thread = threading.Thread(target=work)
    thread.start()
    try:
        assert entered.wait(timeout=10)
        assert Runner(db, settings=settings, translator=translator, clock=clock.now, kinds=second).run_one() == "done"
    finally:
        release.set()
        thread.join()


def test_a_digest_racing_the_notifications_own_mail_does_not_send_it_again(db, inbox, world):
    """When Ann switches to a digest while a notification's own mail job is still waiting, and
    the digest runs while that mail is being sent, is the notification mailed once?"""
    ann = world["ann"]
    choose(db, ann, delivery="immediate")
    notify(db, ann, world["one"])
    choose(db, ann, delivery="digest", digest_at=18 * 60)
    clock.set_now(local(8, 18))
    race(db, inbox, ("mail.notification",), ("mail.digest",))
    assert len(inbox.messages) == 1
    assert subject(inbox.messages[0]).startswith("[Flowdeck] Approval needed")
    assert [r["status"] for r in digest_runs(db)] == ["empty"]


def test_two_held_mails_racing_send_the_night_once(db, inbox, world):
    """When Ann moved her quiet hours' end in the night (two held mails armed, 07:30 and 08:00)
    and both run at once after a downtime, is the night mailed once?"""
    ann = world["ann"]
    choose(db, ann, delivery="immediate", quiet_from=22 * 60, quiet_to=8 * 60)
    clock.set_now(local(8, 23))
    notify(db, ann, world["one"])
    choose(db, ann, delivery="immediate", quiet_from=22 * 60, quiet_to=7 * 60 + 30)
    clock.set_now(local(8, 23, 30))
    notify(db, ann, world["two"])
    held = db.read(lambda c: c.execute(sa.select(models.jobs.c.dedupe_key).where(models.jobs.c.kind == "mail.held")).scalars().all())
    assert sorted(held) == [f"mailheld:{ann}:20261208T2330Z", f"mailheld:{ann}:20261209T0000Z"]
    clock.set_now(local(9, 8, 5))
    race(db, inbox, ("mail.held",), ("mail.held",))
    [mail] = inbox.messages
    assert subject(mail) == "[Flowdeck] 2 notifications during your quiet hours"
    assert db.read(lambda c: c.execute(sa.select(sa.func.count()).where(models.notifications.c.emailed_at.is_(None))).scalar()) == 0


@pytest.mark.parametrize(
    ("who", "friday", "saturday"),
    [("ann", "Fri, Dec 11 23:00", "Sat, Dec 12 10:15"), ("lin", "12月11日周五 23:00", "12月12日周六 10:15")],
)
def test_a_weekends_held_mail_shows_each_notifications_day(db, inbox, world, who, friday, saturday):
    """Does a mail held from Friday night to Monday show each notification's local day and
    time, worded in the reader's language?"""
    user = world[who]
    choose(db, user, delivery="immediate", quiet_from=22 * 60, quiet_to=8 * 60, quiet_weekends=True)
    clock.set_now(local(11, 23))
    notify(db, user, world["one"])
    clock.set_now(local(12, 10, 15))
    notify(db, user, world["two"])
    assert at(db, inbox, local(14, 8)) == {"done": 1}
    [mail] = inbox.messages
    text = body(mail)
    assert f"\n  {friday}  " in text and f"\n  {saturday}  " in text, text
