"""A new record's form fills a date defaulting to today with the instance's day (Shanghai),
read from the engine clock: at 07:30 on 8 December in Shanghai it is still 7 December in UTC."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from flowdeck.engine import clock
from tests.support.documents import minimal_app
from tests.support.web import login, text


@pytest.fixture(autouse=True)
def early_morning() -> Iterator[None]:
    clock.set_now(dt.datetime(2026, 12, 7, 23, 30, tzinfo=dt.UTC))  # 8 December, 07:30 in Shanghai
    yield
    clock.set_now(None)


def test_the_new_form_defaults_a_date_to_the_local_day_on_the_engine_clock(client, install, make_user):
    """Does the new-record form put 8 December in a date field defaulting to today, as saving would?"""
    doc = minimal_app()
    doc["entities"]["task"]["fields"]["found_on"] = {"type": "date", "default": "today"}
    install(doc)
    make_user("lea", {"demo": ["lead"]})
    login(client, "lea")
    html = text(client.get("/a/demo/task/new"))
    assert 'name="found_on"' in html and 'value="2026-12-08"' in html
