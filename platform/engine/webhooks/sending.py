"""Sending one webhook request: the Standard Webhooks headers (signed with the reference
`standardwebhooks` package) and a POST to the checked address of its URL, with timeouts.

The request goes through the standard library's `http.client`, connected by hand to the
address `addresses.check_url` checked (TLS still verifies the certificate of the host name):
the one thing httpx or requests cannot do without replacing their transport, and neither is
a dependency yet. Redirects are not followed (a 3xx is a failed delivery): a redirect could
lead to an address that was never checked.
"""

from __future__ import annotations

import datetime as dt
import http.client
import socket
import ssl
import time
from dataclasses import dataclass

from standardwebhooks.webhooks import Webhook

from flowdeck.engine.webhooks.addresses import Target

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
RESPONSE_LIMIT = 4096
USER_AGENT = "Flowdeck-Webhooks/1"


@dataclass(frozen=True)
class Sent:
    """What came back: the status, headers and the first bytes of the body, how long it took."""

    status: int
    headers: dict[str, str]
    body: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class SendFailed(Exception):
    """No answer: the connection failed or timed out (`str` says how), after `duration_ms`."""

    def __init__(self, text: str, duration_ms: int) -> None:
        super().__init__(text)
        self.duration_ms = duration_ms


def signed_headers(secret: str, message_id: str, at: dt.datetime, body: bytes) -> dict[str, str]:
    """The headers of one attempt: the same `webhook-id` every time, this attempt's time and
    the signature of `id.timestamp.body`."""
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body),
    }


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self.address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), CONNECT_TIMEOUT)
        self.sock.settimeout(self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        self.tls = ssl.create_default_context()
        super().__init__(target.host, target.port, timeout=timeout, context=self.tls)
        self.address = target.address

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), CONNECT_TIMEOUT)
        raw.settimeout(self.timeout)
        self.sock = self.tls.wrap_socket(raw, server_hostname=self.host)


def post(target: Target, body: bytes, headers: dict[str, str], *, timeout: float = READ_TIMEOUT) -> Sent:
    """POST `body` to the checked target; SendFailed when no HTTP answer came."""
    connection = (_PinnedHTTPS if target.scheme == "https" else _PinnedHTTP)(target, timeout)
    started = time.monotonic()
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read(RESPONSE_LIMIT)
        answer = Sent(
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            data.decode("utf-8", "replace"),
            int((time.monotonic() - started) * 1000),
        )
    except (OSError, http.client.HTTPException) as exc:
        raise SendFailed(f"{type(exc).__name__}: {exc}", int((time.monotonic() - started) * 1000)) from None
    finally:
        connection.close()
    return answer
