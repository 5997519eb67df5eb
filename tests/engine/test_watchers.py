"""Following records: the creator follows from the start, commenters start following,
anyone who may read can follow or stop, and watchers (never the actor) are told of
transitions and comments, in the app and by mail unless they turned mail off."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from flowdeck.catalogs import say
from flowdeck.engine import approvals, comments, models, notifications, records, users, watchers, workflow
from flowdeck.engine.errors import Forbidden
from tests.support.documents import effects_app


@pytest.fixture
def task(install):
    return install(effects_app()).entity("demo", "task")


def _notices(db, user):
    return db.read(lambda c: notifications.list_notifications(c, user.user_id))


def _mail_jobs(db):
    return db.read(
        lambda c: c.execute(sa.select(sa.func.count()).select_from(models.jobs).where(models.jobs.c.kind == "mail.notification")).scalar()
    )


def test_the_creator_follows_and_hears_of_a_transition_by_someone_else(db, task, make_user):
    """Does the creator follow without doing anything, and hear when someone else moves the record?"""
    mo = make_user("mo", {"demo": ["member"]})
    lea = make_user("lea", {"demo": ["member"]})
    rec = db.run(lambda c: records.create_record(c, task, {"title": "Fix the pump"}, actor=mo))
    assert db.read(lambda c: watchers.watcher_ids(c, "demo", "task", rec.id, mo.user_id)) == [mo.user_id]
    db.run(lambda c: workflow.transition_record(c, task, rec.id, "start", actor=lea))
    [notice] = _notices(db, mo)
    assert say(notice.message, "en") == "“Fix the pump” moved to Doing"
    assert say(notice.message, "zh") == "“Fix the pump”已转到 Doing", "worded in the reader's language (the state has no zh label here)"
    assert _notices(db, lea) == [], "the actor is not told of their own change"


def test_a_commenter_starts_following_and_others_hear_the_comment(db, task, make_user):
    """Does commenting make a follower, and are the other followers told what was said?"""
    mo = make_user("mo", {"demo": ["member"]})
    lea = make_user("lea", {"demo": ["member"]})
    rec = db.run(lambda c: records.create_record(c, task, {"title": "Fix the pump"}, actor=mo))
    db.run(lambda c: comments.add_comment(c, task, rec.id, "Parts ordered", actor=lea))
    assert sorted(db.read(lambda c: watchers.watcher_ids(c, "demo", "task", rec.id, mo.user_id))) == sorted([mo.user_id, lea.user_id])
    [notice] = _notices(db, mo)
    assert say(notice.message, "en") == "New comment on “Fix the pump”: Parts ordered"
    db.run(lambda c: comments.add_comment(c, task, rec.id, "Thanks", actor=mo))
    assert [say(n.message, "en") for n in _notices(db, lea)] == ["New comment on “Fix the pump”: Thanks"]


def test_stopping_to_follow_is_kept_even_for_the_creator(db, task, make_user):
    """Does someone who stopped following (the creator included) hear nothing, even after commenting again?"""
    mo = make_user("mo", {"demo": ["member"]})
    lea = make_user("lea", {"demo": ["member"]})
    rec = db.run(lambda c: records.create_record(c, task, {"title": "t"}, actor=mo))
    assert db.run(lambda c: watchers.set_following(c, task, rec.id, actor=mo, following=False)) == []
    db.run(lambda c: comments.add_comment(c, task, rec.id, "me again", actor=mo))
    db.run(lambda c: workflow.transition_record(c, task, rec.id, "start", actor=lea))
    assert _notices(db, mo) == []
    assert db.run(lambda c: watchers.set_following(c, task, rec.id, actor=mo, following=True)) == [mo.user_id]


def test_only_someone_who_may_read_the_record_can_follow_it(db, task, make_user):
    """Is following refused to a user without read access to the entity?"""
    mo = make_user("mo", {"demo": ["member"]})
    stranger = make_user("xu", {})
    rec = db.run(lambda c: records.create_record(c, task, {"title": "t"}, actor=mo))
    with pytest.raises(Forbidden):
        db.run(lambda c: watchers.set_following(c, task, rec.id, actor=stranger, following=True))


def test_mail_follows_the_users_choice(db, task, make_user):
    """Is a notification mailed only to watchers who left mail on (in-app either way)?"""
    mo = make_user("mo", {"demo": ["member"]})
    lea = make_user("lea", {"demo": ["member"]})
    db.run(lambda c: c.execute(models.users.update().values(email=models.users.c.username + "@example.com")))
    rec = db.run(lambda c: records.create_record(c, task, {"title": "t"}, actor=mo))
    db.run(lambda c: workflow.transition_record(c, task, rec.id, "start", actor=lea))
    assert _mail_jobs(db) == 1
    db.run(lambda c: users.set_mail_notifications(c, mo.user_id, False))
    db.run(lambda c: comments.add_comment(c, task, rec.id, "any news?", actor=lea))
    assert len(_notices(db, mo)) == 2 and _mail_jobs(db) == 1


def test_an_approved_transition_tells_other_watchers_but_not_its_requester_twice(db, task, make_user):
    """Does the requester get only the approval's own notice, while another watcher hears the record moved?"""
    mo = make_user("mo", {"demo": ["member"]})
    sam = make_user("sam", {"demo": ["member"]})
    lead = make_user("lea", {"demo": ["lead"]})
    rec = db.run(lambda c: records.create_record(c, task, {"title": "Big job", "estimate": "200"}, actor=mo))
    db.run(lambda c: watchers.set_following(c, task, rec.id, actor=sam, following=True))
    outcome = db.run(lambda c: approvals.request_approval(c, task, rec.id, "approve", actor=mo))
    db.run(lambda c: approvals.decide(c, task, outcome.request_id, actor=lead, approve=True))
    assert [say(n.message, "en").split(":")[0] for n in _notices(db, mo)] == ["Approved"]
    assert [say(n.message, "en") for n in _notices(db, sam)] == ["“Big job” moved to Done"]
