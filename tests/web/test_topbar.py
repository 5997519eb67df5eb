"""The top bar is rendered once and reused: what belongs to one request (the CSRF token, the
page's own address, the search words, the user's name) must still be that request's,
escaped, and the marks and counts must follow the page and the user."""

from __future__ import annotations

import re

from flowdeck.engine import notifications
from tests.support.web import login


def _bar(html: str) -> str:
    return html[html.index('<header class="topbar">') : html.index("</header>")]


def _token(bar: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', bar).group(1)


def test_each_user_sees_their_own_name_token_and_address(app, make_user):
    make_user("lea")
    make_user("kai")
    lea, kai = app.test_client(), app.test_client()
    login(lea, "lea")
    login(kai, "kai")
    lea_bar = _bar(lea.get("/my").get_data(as_text=True))
    kai_bar = _bar(kai.get("/approvals").get_data(as_text=True))
    assert ">Lea</a>" in lea_bar and ">Kai</a>" in kai_bar and "Lea" not in kai_bar
    assert _token(lea_bar) != _token(kai_bar)
    assert 'name="next" value="/my"' in lea_bar and 'name="next" value="/approvals"' in kai_bar
    assert re.search(r'href="/my" aria-current="page"', lea_bar) and not re.search(r'href="/my" aria-current', kai_bar)
    assert re.search(r'id="nav-approvals" href="/approvals" aria-current="page"', kai_bar)
    assert "\ue000" not in lea_bar + kai_bar


def test_the_search_words_and_the_address_are_escaped(app, make_user):
    make_user("lea")
    client = app.test_client()
    login(client, "lea")
    bar = _bar(client.get('/search?q=<img src=x onerror="alert(1)">').get_data(as_text=True))
    assert "<img" not in bar and 'value="&lt;img src=x onerror=&#34;alert(1)&#34;&gt;"' in bar
    assert 'name="q" value=""' in _bar(client.get("/my?q=<b>").get_data(as_text=True))


def test_the_badge_counts_follow_the_user(app, make_user, db):
    lea = make_user("lea")
    client = app.test_client()
    login(client, "lea")
    assert "badge-count" not in _bar(client.get("/my").get_data(as_text=True))
    db.run(lambda conn: notifications.notify(conn, [lea.user_id], kind="mention", message="ping"))
    assert 'aria-label="1 unread">1</span>' in _bar(client.get("/my").get_data(as_text=True))
