"""Fake WeCom, DingTalk and Feishu group bots on 127.0.0.1: each checks the signature its
platform would check and answers in its platform's JSON, keeping what it was sent."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SECRET = "SEC0123456789abcdef"


@dataclass
class Bot:
    """What the fake bots were sent (path, query, body) and how they answer."""

    received: list[dict[str, Any]] = field(default_factory=list)
    refuse: bool = False
    port: int = 0

    def url(self, platform: str) -> str:
        paths = {
            "wecom": "/cgi-bin/webhook/send?key=wecom-key-1234567890",
            "dingtalk": "/robot/send?access_token=ding-token-1234567890",
            "feishu": "/open-apis/bot/v2/hook/feishu-hook-1234567890",
        }
        return f"http://127.0.0.1:{self.port}{paths[platform]}"


def _signature_ok(platform: str, query: dict[str, str], body: dict[str, Any]) -> bool:
    if platform == "dingtalk":
        digest = hmac.new(SECRET.encode(), f"{query.get('timestamp')}\n{SECRET}".encode(), hashlib.sha256).digest()
        return "sign" not in query or query["sign"] == base64.b64encode(digest).decode()
    if platform == "feishu" and "sign" in body:
        digest = hmac.new(f"{body.get('timestamp')}\n{SECRET}".encode(), b"", hashlib.sha256).digest()
        return body["sign"] == base64.b64encode(digest).decode()
    return True


def _platform(path: str) -> str:
    return "wecom" if path.startswith("/cgi-bin") else "dingtalk" if path.startswith("/robot") else "feishu"


@contextmanager
def fake_bots() -> Iterator[Bot]:
    bot = Bot()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(parts.query))
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            platform = _platform(parts.path)
            signed = _signature_ok(platform, query, body)
            bot.received.append({"platform": platform, "path": parts.path, "query": query, "body": body, "signed": signed})
            ok = signed and not bot.refuse
            if platform == "feishu":
                answer = (
                    {"code": 0, "msg": "success"} if ok else {"code": 19021, "msg": "sign match fail or timestamp is not within one hour"}
                )
            else:
                answer = {"errcode": 0, "errmsg": "ok"} if ok else {"errcode": 310000, "errmsg": "sign not match"}
            data = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    bot.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield bot
    finally:
        server.shutdown()
        server.server_close()
