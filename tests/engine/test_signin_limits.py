"""Failed sign-ins counted where every worker and server sees them (the database, or Redis):
the address budget refuses, the username budget slows down and never locks out."""

from __future__ import annotations

import datetime as dt

from flowdeck.engine import signin_limits
from flowdeck.engine.signin_limits import Budgets, DatabaseStore, RedisStore, Window, check, record_failure

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
BUDGETS = Budgets(address=(Window(10, 60),), username=(Window(3, 60),))


def _at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def _fail(store, seconds: float, *, address: str = "198.51.100.1", username: str = "lea") -> None:
    record_failure(store, BUDGETS, address=address, username=username, now=_at(seconds))


def _verdict(store, seconds: float, *, address: str = "198.51.100.2", username: str = "lea", known: bool = False):
    return check(store, BUDGETS, address=address, username=username, known=known, now=_at(seconds))


def _slows_down_and_never_locks(store) -> None:
    for n in range(3):
        _fail(store, n, address=f"198.51.100.{n}")
    assert _verdict(store, 2.5) == signin_limits.Verdict(False, 1, signin_limits.USERNAME)
    assert _verdict(store, 3.1).allowed  # a second after the last failure: the password is checked
    _fail(store, 3.1)
    assert _verdict(store, 4).retry_after == 2
    assert _verdict(store, 5.2).allowed
    assert _verdict(store, 3.5, known=True).allowed  # the owner's own browser is never slowed
    assert _verdict(store, 4, username="bob").allowed
    for n in range(30):  # however many failures, the wait stays at most the limit's period
        _fail(store, 100 + n)
    assert 55 <= _verdict(store, 130).retry_after <= 60


def _address_budget_refuses(store) -> None:
    for n in range(10):
        _fail(store, n, address="203.0.113.5", username=f"guess{n}")
    refused = _verdict(store, 20, address="203.0.113.5", username="someone")
    assert not refused.allowed and refused.budget == signin_limits.ADDRESS and refused.retry_after == 40
    assert _verdict(store, 20, address="203.0.113.6", username="someone").allowed
    assert _verdict(store, 61, address="203.0.113.5", username="someone").allowed  # the oldest failure aged out


def test_database_counts_slow_down_a_username_and_never_lock_it(db):
    """In the database, does each failure over the username limit double the wait (at most the period), never for the owner's browser?"""
    _slows_down_and_never_locks(DatabaseStore(db))


def test_database_counts_refuse_an_address_over_its_budget(db):
    """Is an address over its budget refused until its oldest failure leaves the window, other addresses untouched?"""
    _address_budget_refuses(DatabaseStore(db))


def test_two_stores_on_one_database_share_the_count(db):
    """Do two processes' stores (two workers) see each other's failures?"""
    first, second = DatabaseStore(db), DatabaseStore(db)
    for n in range(3):
        _fail(first if n % 2 else second, n)
    assert not _verdict(first, 2.5).allowed and not _verdict(second, 2.5).allowed


def test_redis_counts_behave_like_the_database(redis_url):
    """With FLOWDECK_RATELIMIT_STORAGE=redis://..., do the same budgets hold, shared by two clients?"""
    store = RedisStore(redis_url)
    store.client.flushdb()
    _slows_down_and_never_locks(store)
    store.client.flushdb()
    _address_budget_refuses(store)
    store.client.flushdb()
    other = RedisStore(redis_url)
    for n in range(3):
        _fail(store if n % 2 else other, n)
    assert not _verdict(other, 2.5).allowed
