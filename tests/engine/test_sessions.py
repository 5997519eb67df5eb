"""Sign-in sessions and the user directory in the engine: tokens, timeouts with a
controlled clock, ending sessions, user updates, role sets, the directory query."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
import sqlalchemy as sa

from flowdeck.engine import models, sessions, users
from flowdeck.engine.errors import NotFound, RecordInvalid
from tests.support.documents import minimal_app

T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)
LIMITS = sessions.Timeouts(idle=dt.timedelta(minutes=30), absolute=dt.timedelta(hours=8))


def _start(db, user_id, now=T0):
    return db.run(lambda c: sessions.start_session(c, user_id, ip="10.0.0.1", user_agent="pytest", now=now))


def _session_rows(db):
    return db.read(lambda c: c.execute(sa.select(models.login_sessions)).all())


def test_token_is_random_and_only_its_hash_is_stored(db, make_user):
    """Is the cookie token unguessable and absent from the sessions table?"""
    lea = make_user("lea")
    first, second = _start(db, lea.user_id), _start(db, lea.user_id)
    assert first != second and len(first) >= 40
    stored = {row.id for row in _session_rows(db)}
    assert first not in stored
    assert hashlib.sha256(first.encode()).hexdigest() in stored


def test_live_session_resumes_and_touches_at_most_once_a_minute(db, make_user):
    """Does a session in use stay live, refreshing its idle clock only after a minute?"""
    lea = make_user("lea")
    token = _start(db, lea.user_id)
    assert db.read(lambda c: sessions.check_session(c, token, LIMITS, T0 + dt.timedelta(seconds=30))) == sessions.SessionCheck(lea.user_id)
    later = T0 + dt.timedelta(minutes=20)
    check = db.read(lambda c: sessions.check_session(c, token, LIMITS, later))
    assert check.user_id == lea.user_id and check.needs_touch
    assert db.run(lambda c: sessions.resume_session(c, token, LIMITS, later)) == lea.user_id
    assert _session_rows(db)[0].last_seen_at == later
    # 20 + 20 minutes after sign-in, but only 20 idle: still live thanks to the touch.
    assert db.run(lambda c: sessions.resume_session(c, token, LIMITS, later + dt.timedelta(minutes=20))) == lea.user_id


def test_idle_session_is_ended(db, make_user):
    """Is a session unused for longer than the idle timeout ended?"""
    lea = make_user("lea")
    token = _start(db, lea.user_id)
    late = T0 + LIMITS.idle + dt.timedelta(seconds=1)
    assert db.read(lambda c: sessions.check_session(c, token, LIMITS, late)).expired
    assert db.run(lambda c: sessions.resume_session(c, token, LIMITS, late)) is None
    assert _session_rows(db) == []


def test_busy_session_ends_at_the_absolute_timeout(db, make_user):
    """Does a session end after the absolute timeout even when used every few minutes?"""
    lea = make_user("lea")
    token = _start(db, lea.user_id)
    now = T0
    while now - T0 < LIMITS.absolute - dt.timedelta(minutes=10):
        now += dt.timedelta(minutes=10)
        assert db.run(lambda c, now=now: sessions.resume_session(c, token, LIMITS, now)) == lea.user_id
    assert db.run(lambda c: sessions.resume_session(c, token, LIMITS, T0 + LIMITS.absolute + dt.timedelta(minutes=1))) is None


def test_unknown_token_is_no_session(db):
    """Is a made-up token simply not a session?"""
    assert db.read(lambda c: sessions.check_session(c, "made-up", LIMITS)) == sessions.SessionCheck(None)


def test_deactivated_user_session_is_ended(db, make_user, system):
    """Does a session of a user who was deactivated stop working at once?"""
    lea = make_user("lea")
    token = _start(db, lea.user_id, now=dt.datetime.now(dt.UTC))
    db.run(lambda c: c.execute(models.users.update().where(models.users.c.id == lea.user_id).values(is_active=False)))
    assert db.run(lambda c: sessions.resume_session(c, token, sessions.Timeouts())) is None


def test_end_user_sessions_can_keep_one(db, make_user):
    """Does ending a user's sessions end all of them, except the one asked to keep?"""
    lea, bob = make_user("lea"), make_user("bob")
    keep, other = _start(db, lea.user_id), _start(db, lea.user_id)
    bobs = _start(db, bob.user_id)
    db.run(lambda c: sessions.end_user_sessions(c, lea.user_id, keep=keep))
    now = T0 + dt.timedelta(minutes=1)
    assert db.read(lambda c: sessions.check_session(c, keep, LIMITS, now)).user_id == lea.user_id
    assert db.read(lambda c: sessions.check_session(c, other, LIMITS, now)).user_id is None
    assert db.read(lambda c: sessions.check_session(c, bobs, LIMITS, now)).user_id == bob.user_id
    db.run(lambda c: sessions.end_user_sessions(c, lea.user_id))
    assert db.read(lambda c: sessions.count_user_sessions(c, lea.user_id)) == 0


def test_purge_removes_only_expired_sessions(db, make_user):
    """Does the purge remove timed-out sessions and leave live ones?"""
    lea = make_user("lea")
    _start(db, lea.user_id, now=T0)
    live = _start(db, lea.user_id, now=T0 + dt.timedelta(hours=1))
    removed = db.run(lambda c: sessions.purge_expired(c, LIMITS, T0 + dt.timedelta(hours=1, minutes=5)))
    assert removed == 1
    assert db.read(lambda c: sessions.check_session(c, live, LIMITS, T0 + dt.timedelta(hours=1, minutes=5))).user_id == lea.user_id


def _update(db, user_id, actor, **changes):
    current = db.read(lambda c: users.get_user(c, user_id))
    values = {
        "display_name": current.display_name,
        "email": current.email,
        "is_active": current.is_active,
        "is_admin": current.is_admin,
        **changes,
    }
    return db.run(lambda c: users.update_user(c, user_id, actor=actor, **values))


def test_update_user_changes_profile(db, make_user):
    """Can an admin change a user's name, email and admin flag?"""
    admin, lea = make_user("root", is_admin=True), make_user("lea")
    updated = _update(db, lea.user_id, admin, display_name=" Lea Chen ", email="LEA@Example.com", is_admin=True)
    assert (updated.display_name, updated.email, updated.is_admin) == ("Lea Chen", "lea@example.com", True)


def test_update_user_reports_every_problem_at_once(db, make_user):
    """Are a missing name, a taken email and a short password refused together, with nothing written?"""
    admin, lea = make_user("root", is_admin=True), make_user("lea")
    _update(db, admin.user_id, admin, email="root@example.com")
    with pytest.raises(RecordInvalid) as caught:
        _update(db, lea.user_id, admin, display_name="  ", email="root@example.com", password="short")
    assert set(caught.value.errors) == {"display_name", "email", "password"}
    assert db.read(lambda c: users.get_user(c, lea.user_id)).display_name == "Lea"


def test_admin_cannot_deactivate_or_unadmin_themself(db, make_user):
    """Is an admin refused deactivating or un-admining their own account?"""
    admin = make_user("root", is_admin=True)
    with pytest.raises(RecordInvalid) as caught:
        _update(db, admin.user_id, admin, is_active=False, is_admin=False)
    assert set(caught.value.errors) == {"is_active", "is_admin"}
    me = db.read(lambda c: users.get_user(c, admin.user_id))
    assert me.is_active and me.is_admin


def test_deactivating_ends_sessions(db, make_user):
    """Does deactivating a user end all their sessions?"""
    admin, lea = make_user("root", is_admin=True), make_user("lea")
    _start(db, lea.user_id)
    _start(db, lea.user_id)
    _update(db, lea.user_id, admin, is_active=False)
    assert db.read(lambda c: sessions.count_user_sessions(c, lea.user_id)) == 0


def test_password_reset_ends_sessions_and_changes_the_password(db, make_user):
    """Does setting a password end the user's sessions and make the new one work?"""
    admin, lea = make_user("root", is_admin=True), make_user("lea")
    _start(db, lea.user_id)
    _update(db, lea.user_id, admin, password="a-new-password")
    assert db.read(lambda c: sessions.count_user_sessions(c, lea.user_id)) == 0
    assert db.run(lambda c: users.authenticate(c, "lea", "a-new-password")) is not None
    assert db.run(lambda c: users.authenticate(c, "lea", "password123")) is None


def test_own_password_change_keeps_the_current_browser(db, make_user):
    """Does an admin changing their own password keep the session they did it from?"""
    admin = make_user("root", is_admin=True)
    here, elsewhere = _start(db, admin.user_id), _start(db, admin.user_id)
    db.run(
        lambda c: users.update_user(
            c,
            admin.user_id,
            display_name="Root",
            email=None,
            is_active=True,
            is_admin=True,
            password="brand-new-pw",
            actor=admin,
            keep_session=here,
        )
    )
    keys = {row.id for row in _session_rows(db)}
    assert keys == {hashlib.sha256(here.encode()).hexdigest()}
    assert elsewhere


def test_update_of_unknown_user_is_not_found(db, make_user):
    """Is updating a user that does not exist a NotFound?"""
    admin = make_user("root", is_admin=True)
    with pytest.raises(NotFound):
        db.run(lambda c: users.update_user(c, 999, display_name="X", email=None, is_active=True, is_admin=False, actor=admin))


def test_create_user_validates_every_field(db):
    """Are a bad username, a bad email and a short password all reported at once?"""
    with pytest.raises(RecordInvalid) as caught:
        db.run(lambda c: users.create_user(c, "Not Valid!", password="short", email="nope"))
    assert set(caught.value.errors) == {"username", "email", "password"}


def test_set_roles_grants_and_revokes_to_match(db, install, make_user):
    """Does set_roles leave the user holding exactly the ticked roles?"""
    install(minimal_app())
    lea = make_user("lea", {"demo": ["lead", "member"]})
    defined = {"demo": ("lead", "member", "viewer")}
    changes = db.run(lambda c: users.set_roles(c, lea.user_id, {("demo", "member"), ("demo", "viewer")}, defined=defined))
    assert changes.granted == {("demo", "viewer")} and changes.revoked == {("demo", "lead")}
    assert db.read(lambda c: users.roles_of(c, lea.user_id)) == {"demo": frozenset({"member", "viewer"})}
    db.run(lambda c: users.set_roles(c, lea.user_id, set(), defined=defined))
    assert db.read(lambda c: users.roles_of(c, lea.user_id)) == {}


def test_set_roles_refuses_unknown_roles_before_writing(db, make_user):
    """Is an unknown app or role refused with a message, and nothing changed?"""
    lea = make_user("lea", {"demo": ["lead"]})
    defined = {"demo": ("lead", "member")}
    with pytest.raises(RecordInvalid) as caught:
        db.run(lambda c: users.set_roles(c, lea.user_id, {("demo", "member"), ("demo", "boss"), ("nope", "lead")}, defined=defined))
    assert caught.value.errors["roles"] == ['app "demo" has no role "boss"', 'there is no app "nope"']
    assert db.read(lambda c: users.roles_of(c, lea.user_id)) == {"demo": frozenset({"lead"})}


def test_set_roles_keeps_or_drops_grants_no_longer_defined(db, make_user):
    """Can a grant whose role left the app document be kept, then taken away?"""
    lea = make_user("lea", {"old": ["auditor"], "demo": ["lead"]})
    defined = {"demo": ("lead",)}
    db.run(lambda c: users.set_roles(c, lea.user_id, {("old", "auditor"), ("demo", "lead")}, defined=defined))
    assert db.read(lambda c: users.roles_of(c, lea.user_id))["old"] == {"auditor"}
    db.run(lambda c: users.set_roles(c, lea.user_id, {("demo", "lead")}, defined=defined))
    assert "old" not in db.read(lambda c: users.roles_of(c, lea.user_id))


def test_directory_lists_users_with_roles_in_one_query(db, make_user):
    """Does the directory bring users, roles and sessions in one query plus a count?"""
    made = [make_user(f"user{n:02d}", {"demo": ["member", "viewer"], "ops": ["agent"]} if n % 2 else {}) for n in range(12)]
    _start(db, made[5].user_id, now=dt.datetime.now(dt.UTC))
    _start(db, made[5].user_id, now=dt.datetime.now(dt.UTC))
    statements: list[str] = []
    sa.event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    page = db.read(lambda c: users.search_directory(c, per_page=5, page=2))
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 2
    assert page.total == 12 and page.pages == 3
    assert [e.user.username for e in page.entries] == ["user05", "user06", "user07", "user08", "user09"]
    assert page.entries[0].roles == {"demo": frozenset({"member", "viewer"}), "ops": frozenset({"agent"})}
    assert page.entries[1].roles == {}
    assert page.entries[0].sessions == 2 and page.entries[0].last_seen is not None
    assert page.entries[1].sessions == 0 and page.entries[1].last_seen is None


def test_directory_search_matches_name_username_and_email(db, make_user):
    """Does the directory search find users by username, display name or email, literally?"""
    make_user("lea")
    bob = make_user("bob")
    db.run(
        lambda c: c.execute(
            models.users.update().where(models.users.c.id == bob.user_id).values(display_name="Bob 100%", email="bob@corp.example")
        )
    )
    assert [e.user.username for e in db.read(lambda c: users.search_directory(c, text="LEA")).entries] == ["lea"]
    assert [e.user.username for e in db.read(lambda c: users.search_directory(c, text="corp.ex")).entries] == ["bob"]
    assert [e.user.username for e in db.read(lambda c: users.search_directory(c, text="100%")).entries] == ["bob"]
    assert db.read(lambda c: users.search_directory(c, text="%")).total == 1
    assert db.read(lambda c: users.search_directory(c, text="zzz")).entries == []
