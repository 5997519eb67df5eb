"""The site admin's chat channels: add a bot (address held to its platform's hosts, secret
never shown back), send a test message through the job and read it in the delivery log,
delete; CSRF on every change; nobody else gets in."""

from __future__ import annotations

import sqlalchemy as sa

from flowdeck.catalogs import translator
from flowdeck.engine import models
from flowdeck.engine.jobs.runner import Runner
from tests.support.chatbots import SECRET, fake_bots
from tests.support.web import csrf_token, login, text


def _admin(app, make_user):
    make_user("root", is_admin=True)
    client = app.test_client()
    login(client, "root")
    return client


def test_an_admin_adds_a_bot_tests_it_and_reads_the_log(app, db, make_user):
    """Can an admin add a signed DingTalk bot, send a test message and see it sent in the log, secret masked?"""
    client = _admin(app, make_user)
    with fake_bots() as bots:
        app.config["FLOWDECK_CHAT_HOSTS"] = (f"127.0.0.1:{bots.port}",)
        token = csrf_token(client, "/admin/chat/")
        form = {"csrf_token": token, "key": "ops-duty", "platform": "dingtalk", "url": bots.url("dingtalk"), "secret": SECRET}
        response = client.post("/admin/chat/", data={**form, "language": "zh", "per_minute": "20", "enabled": "1"})
        assert response.status_code == 303
        page = client.get(response.headers["Location"]).get_data(as_text=True)
        assert SECRET not in page and "ding-token-1234567890" not in page and "…7890" in page
        channel_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
        assert client.post(f"/admin/chat/{channel_id}/test", data={"csrf_token": token}).status_code == 303
        assert Runner(db, translator=translator).run_due() == {"done": 1}
        [got] = bots.received
        assert got["signed"] and "ops-duty" in got["body"]["markdown"]["text"] and "Flowdeck" in got["body"]["markdown"]["text"]
        log = text(client.get(f"/admin/chat/{channel_id}"))
        assert "Test message from Flowdeck" in log and "sent" in log and "errcode" in log
        assert "ops-duty" in text(client.get("/admin/chat/"))


def test_a_wrong_address_is_refused_next_to_the_field(app, db, make_user):
    """Is an address off the platform's hosts refused with the reason next to the field, nothing saved?"""
    client = _admin(app, make_user)
    token = csrf_token(client, "/admin/chat/")
    form = {"csrf_token": token, "key": "x", "platform": "wecom", "url": "https://10.0.0.5/hook", "language": "zh", "per_minute": "20"}
    response = client.post("/admin/chat/", data=form)
    assert response.status_code == 422
    assert "must be an address on qyapi.weixin.qq.com" in text(response)
    assert db.read(lambda c: c.execute(sa.select(sa.func.count()).select_from(models.chat_channels)).scalar()) == 0


def test_the_page_is_in_chinese(app, db, make_user):
    """Does a Chinese admin read the chat channels page in Chinese?"""
    client = _admin(app, make_user)
    client.post("/prefs/lang", data={"lang": "zh", "csrf_token": csrf_token(client, "/admin/chat/")})
    page = text(client.get("/admin/chat/"))
    assert "聊天频道" in page and "企业微信" in page and "钉钉" in page and "飞书" in page and "Chat channels" not in page


def test_changes_need_csrf_and_the_pages_are_for_admins_only(app, db, make_user):
    """Are the chat channel pages closed to non-admins, and every change refused without a CSRF token?"""
    client = _admin(app, make_user)
    token = csrf_token(client, "/admin/chat/")
    ok = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abcdefgh-1234"
    form = {"key": "w", "platform": "wecom", "url": ok, "language": "zh", "per_minute": "20", "enabled": "1"}
    assert client.post("/admin/chat/", data=form).status_code == 400
    location = client.post("/admin/chat/", data={**form, "csrf_token": token}).headers["Location"]
    channel_id = int(location.rstrip("/").rsplit("/", 1)[1])
    make_user("lea")
    other = app.test_client()
    login(other, "lea")
    other_token = csrf_token(other, "/account/password")
    assert other.get("/admin/chat/").status_code == 403
    assert other.get(f"/admin/chat/{channel_id}").status_code == 403
    assert other.post(f"/admin/chat/{channel_id}/delete", data={"csrf_token": other_token}).status_code == 403
    assert client.post(f"/admin/chat/{channel_id}/delete").status_code == 400
    assert client.post(f"/admin/chat/{channel_id}/delete", data={"csrf_token": token}).status_code == 303
    assert client.get(f"/admin/chat/{channel_id}").status_code == 404
