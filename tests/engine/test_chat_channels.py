"""Chat channels: WeCom, DingTalk and Feishu bots sent their own message shapes, signed the
way each platform checks, at most `per_minute` a minute with the overflow folded into one
digest (nothing dropped), a refusal retried, and only the platforms' hosts accepted."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from flowdeck.catalogs import translator
from flowdeck.engine import models
from flowdeck.engine.channels import store
from flowdeck.engine.channels.platforms import plain
from flowdeck.engine.channels.store import mask
from flowdeck.engine.errors import RecordInvalid
from flowdeck.engine.jobs.runner import Runner
from flowdeck.engine.messages import M
from tests.support.chatbots import SECRET, fake_bots
from tests.support.clock import Clock


@pytest.fixture
def bots():
    with fake_bots() as bot:
        yield bot


def _channel(db, bot, platform, *, per_minute=20, secret=None, language="zh", key=None):
    extra = store.allowed_hosts(f"127.0.0.1:{bot.port}")
    return db.run(
        lambda c: store.save_channel(
            c, key=key or platform, platform=platform, url=bot.url(platform), secret=secret, language=language,
            per_minute=per_minute, extra_hosts=extra,
        )
    )  # fmt: skip


def _runner(db, clock):
    return Runner(db, clock=clock, translator=translator, settings={"FLOWDECK_BASE_URL": "https://fd.example.com"})


def _statuses(db):
    d = models.chat_deliveries
    return db.read(lambda c: [r.status for r in c.execute(sa.select(d.c.status).order_by(d.c.id))])


@pytest.mark.parametrize("platform", ["wecom", "dingtalk", "feishu"])
def test_each_platform_gets_its_own_signed_markdown_message(db, bots, platform):
    """Is a notification posted in the platform's own shape, in the channel's language, signed as it checks?"""
    secret = None if platform == "wecom" else SECRET
    _channel(db, bots, platform, secret=secret)
    title = M("Approved: %(transition)s of “%(title)s”", transition="Deploy", title="Server [room] upgrade")
    db.run(lambda c: store.post(c, platform, title, body=M("is required"), link="/a/ops/change/7"))
    clock = Clock()
    assert _runner(db, clock).run_due() == {"done": 1}
    [got] = bots.received
    assert got["signed"] is True and got["platform"] == platform
    body = got["body"]
    if platform == "wecom":
        assert body["msgtype"] == "markdown"
        content = body["markdown"]["content"]
    elif platform == "dingtalk":
        assert body["msgtype"] == "markdown" and {"timestamp", "sign"} <= set(got["query"])
        content = body["markdown"]["text"]
    else:
        assert body["msg_type"] == "interactive" and {"timestamp", "sign"} <= set(body)
        assert body["card"]["elements"][1]["actions"][0]["url"] == "https://fd.example.com/a/ops/change/7"
        content = body["card"]["elements"][0]["content"] + body["card"]["header"]["title"]["content"]
    assert "已通过" in content, content
    assert "Server ［room］ upgrade" in content, "a title cannot make a link"
    assert "必填" in content
    if platform != "feishu":
        assert "(https://fd.example.com/a/ops/change/7)" in content
    assert _statuses(db) == ["sent"]


def test_overflow_is_folded_into_one_digest_not_dropped(db, bots):
    """Past `per_minute` messages, are the rest folded into one digest sent when the bucket refills?"""
    _channel(db, bots, "wecom", per_minute=3)
    for n in range(8):
        db.run(lambda c, n=n: store.post(c, "wecom", M("Overdue approval: %(title)s", title=f"item {n}")))
    clock = Clock()
    runner = _runner(db, clock)
    runner.run_due()
    assert len(bots.received) == 3 and _statuses(db).count("folded") == 5
    clock.move(seconds=19)
    runner.run_due()
    assert len(bots.received) == 3, "no token yet: the digest waits"
    clock.move(seconds=2)
    runner.run_due()
    assert len(bots.received) == 4
    digest = bots.received[-1]["body"]["markdown"]["content"]
    assert "5" in digest and all(f"item {n}" in digest for n in range(3, 8))
    assert _statuses(db) == ["sent"] * 3 + ["digested"] * 5 + ["sent"]
    d = models.chat_deliveries
    digest_id = db.read(lambda c: c.execute(sa.select(sa.func.max(d.c.id))).scalar())
    assert db.read(lambda c: c.execute(sa.select(sa.func.count()).where(d.c.digest_id == digest_id)).scalar()) == 5


def test_a_refusal_is_retried_and_then_sent(db, bots):
    """Does a platform's refusal leave the delivery queued for a retry that sends it once?"""
    _channel(db, bots, "dingtalk", secret=SECRET)
    db.run(lambda c: store.post(c, "dingtalk", M("is required")))
    clock = Clock()
    runner = _runner(db, clock)
    bots.refuse = True
    assert runner.run_due() == {"queued": 1}
    assert _statuses(db) == ["queued"]
    bots.refuse = False
    clock.move(seconds=11)
    assert runner.run_due() == {"done": 1}
    assert _statuses(db) == ["sent"] and len(bots.received) == 2


def test_a_rolled_back_post_sends_nothing(db, bots):
    """Is a message posted in a transaction that rolls back never sent?"""
    _channel(db, bots, "wecom")

    def fail(conn):
        store.post(conn, "wecom", M("is required"))
        raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        db.run(fail)
    assert _runner(db, Clock()).run_due() == {} and bots.received == []


def test_only_the_platforms_hosts_are_accepted(db):
    """Is a bot address off its platform's hosts refused (no posting to internal services)?"""
    for url in ("http://qyapi.weixin.qq.com/x", "https://169.254.169.254/latest", "https://qyapi.weixin.qq.com.evil.example/x",
                "https://user:pw@qyapi.weixin.qq.com/x", "https://qyapi.weixin.qq.com:8443/x"):  # fmt: skip
        with pytest.raises(RecordInvalid) as refused:
            db.run(lambda c, url=url: store.save_channel(c, key="w", platform="wecom", url=url, secret=None, language="zh", per_minute=20))
        assert "url" in refused.value.errors, url
    with pytest.raises(RecordInvalid) as refused:
        db.run(lambda c: store.save_channel(c, key="Bad Key", platform="slack", url="x", secret=None, language="fr", per_minute=0))
    assert set(refused.value.errors) == {"key", "platform", "language", "per_minute"}
    ok = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
    db.run(lambda c: store.save_channel(c, key="w", platform="wecom", url=ok, secret=None, language="zh", per_minute=20))
    assert mask(ok) == "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…5aaa"


def test_posting_to_an_unknown_or_disabled_channel_does_nothing(db, bots):
    """Does a document naming a channel this instance lacks (or disabled) post nothing, without failing the change?"""
    channel_id = _channel(db, bots, "wecom")
    assert db.run(lambda c: store.post(c, "nope", M("is required"))) is None
    db.run(lambda c: c.execute(models.chat_channels.update().where(models.chat_channels.c.id == channel_id).values(enabled=False)))
    assert db.run(lambda c: store.post(c, "wecom", M("is required"))) is None


def test_plain_keeps_markdown_links_and_html_out():
    """Does a value shown in a bot's markdown lose what would make a link, an image or HTML?"""
    assert plain("![x](http://evil)<b>") == "！［x］（http://evil）＜b＞"
