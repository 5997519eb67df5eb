"""The chat platforms, one registry entry each: the message format its group bot takes
(markdown), how it signs a request, which hosts its bots live on, and how its answer says
whether the message was taken.

The formats are the platforms' own documented ones: WeCom `msgtype: markdown` (no
signing; the key is in the address), DingTalk `msgtype: markdown` signed with
`timestamp` and `sign` query parameters (HMAC-SHA256 of "timestamp\\nsecret" keyed with the
secret, base64), Feishu `msg_type: interactive` cards signed in the body (HMAC-SHA256 with
"timestamp\\nsecret" as the key over an empty message, base64). Each answers HTTP 200 with
an error code in the JSON body, so success is read from the body, not the status.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flowdeck.engine.messages import Message, Mp


@dataclass(frozen=True)
class Outgoing:
    """What to send: the address (with query parameters a signature adds) and the JSON body."""

    url: str
    body: dict[str, Any]


@dataclass(frozen=True)
class Platform:
    key: str
    label: Message
    hosts: tuple[str, ...]
    """The hosts its bot addresses are on; any other host needs `FLOWDECK_CHAT_HOSTS`."""
    signs: bool
    """Whether a secret (签名密钥) can be set: the request is then signed with it."""
    build: Callable[[str, str, str | None], dict[str, Any]]
    """(title, markdown text, link) -> the JSON body."""
    sign: Callable[[str, dict[str, Any], str, int], Outgoing]
    """(url, body, secret, unix time in ms) -> what to send."""
    taken: Callable[[Mapping[str, Any]], bool]
    """Whether the platform's JSON answer says the message was taken."""


def _unsigned(url: str, body: dict[str, Any], secret: str, now_ms: int) -> Outgoing:
    return Outgoing(url, body)


def _errcode_zero(answer: Mapping[str, Any]) -> bool:
    return answer.get("errcode") == 0


def _with_link(text: str, link: str | None, open_label: str = "→") -> str:
    return f"{text}\n\n[{open_label}]({link})" if link else text


def _wecom(title: str, text: str, link: str | None) -> dict[str, Any]:
    return {"msgtype": "markdown", "markdown": {"content": _with_link(f"**{title}**\n{text}", link)}}


def _dingtalk(title: str, text: str, link: str | None) -> dict[str, Any]:
    return {"msgtype": "markdown", "markdown": {"title": title, "text": _with_link(f"### {title}\n{text}", link)}}


def dingtalk_signature(secret: str, timestamp_ms: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _dingtalk_sign(url: str, body: dict[str, Any], secret: str, now_ms: int) -> Outgoing:
    query = urllib.parse.urlencode({"timestamp": now_ms, "sign": dingtalk_signature(secret, now_ms)})
    return Outgoing(f"{url}{'&' if '?' in url else '?'}{query}", body)


def _feishu(title: str, text: str, link: str | None) -> dict[str, Any]:
    elements: list[dict[str, Any]] = [{"tag": "markdown", "content": text}]
    if link:
        button = dict(tag="button", text={"tag": "plain_text", "content": "Open"}, url=link, type="primary")  # Feishu's card button
        elements.append({"tag": "action", "actions": [button]})
    card = {"header": {"title": {"tag": "plain_text", "content": title}}, "elements": elements}
    return {"msg_type": "interactive", "card": card}


def feishu_signature(secret: str, timestamp_s: int) -> str:
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _feishu_sign(url: str, body: dict[str, Any], secret: str, now_ms: int) -> Outgoing:
    seconds = now_ms // 1000
    return Outgoing(url, {"timestamp": str(seconds), "sign": feishu_signature(secret, seconds), **body})


def _feishu_taken(answer: Mapping[str, Any]) -> bool:
    return answer.get("code", answer.get("StatusCode")) == 0


PLATFORMS: dict[str, Platform] = {
    p.key: p
    for p in (
        Platform("wecom", Mp("a chat platform", "WeCom"), ("qyapi.weixin.qq.com",), False, _wecom, _unsigned, _errcode_zero),
        Platform("dingtalk", Mp("a chat platform", "DingTalk"), ("oapi.dingtalk.com",), True, _dingtalk, _dingtalk_sign, _errcode_zero),
        Platform(
            "feishu", Mp("a chat platform", "Feishu"), ("open.feishu.cn", "open.larksuite.com"), True, _feishu, _feishu_sign, _feishu_taken
        ),
    )
}


def plain(text: str) -> str:
    """A value shown inside a bot's markdown: characters that would make a link, an image
    or HTML out of a record's title are replaced by their full-width forms, so a title
    cannot turn a notification into a link somewhere else."""
    return text.translate(str.maketrans({"[": "［", "]": "］", "<": "＜", ">": "＞", "(": "（", ")": "）", "!": "！", "`": "｀"}))
