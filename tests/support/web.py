"""What a browser does that tests repeat: sign in, find the CSRF token, read a page."""

from __future__ import annotations

import re
from typing import Any

CSRF_PATTERN = 'name="csrf_token" value="'


def csrf_token(client: Any, path: str = "/login") -> str:
    """The CSRF token a browser would find in the form at `path`."""
    html = client.get(path).get_data(as_text=True)
    start = html.index(CSRF_PATTERN) + len(CSRF_PATTERN)
    return html[start : html.index('"', start)]


def login(client: Any, username: str, password: str = "password123") -> Any:
    token = csrf_token(client)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


XSS_TITLE = "<img src=x onerror=alert(1)>"
XSS_TEXT = '<script>alert(1)</script> "><div hx-get="/logout" hx-trigger="load">x</div>'
HX = {"HX-Request": "true"}


def url(record_id: int | None = None, tail: str = "") -> str:
    base = "/a/demo/task"
    return f"{base}/{record_id}{tail}" if record_id is not None else base + tail


def text(response) -> str:
    return response.get_data(as_text=True)


def signed_in(client, username: str) -> str:
    """Sign in and return a CSRF token for this session."""
    assert login(client, username).status_code == 302
    return csrf_token(client, "/")


def value_of(html: str, name: str) -> str | None:
    """The value of the first input named `name` in `html`, whatever the attribute order."""
    tag = re.search(rf'<input[^>]*\bname="{re.escape(name)}"[^>]*>', html)
    if tag is None:
        return None
    value = re.search(r'\bvalue="([^"]*)"', tag.group(0))
    return value.group(1) if value else None


def field_block(html: str, key: str) -> str:
    """The HTML of one field wrapper (`data-field="key"`) of a form."""
    start = html.index(f'data-field="{key}"')
    end = html.find("data-field=", start + 12)
    return html[start : end if end != -1 else len(html)]
