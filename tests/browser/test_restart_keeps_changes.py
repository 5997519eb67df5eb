"""Restarting never undoes an admin's work (issue 11): on an instance made by `flowdeck init`
and served by `flowdeck run` (real processes, as `make run` does), an admin adds a field to
the bundled project app in the builder; after the app process is stopped, `flowdeck init`
run again and the app started again, the field is still on the task form."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ADMIN_PASSWORD = "restart-admin-pw"
FLOWDECK = [sys.executable, "-c", "from flowdeck.cli import main; main()"]


def _env(url: str, instance: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWDECK_")}
    env.update({"FLOWDECK_DATABASE_URL": url, "FLOWDECK_INSTANCE": str(instance), "FLOWDECK_ADMIN_PASSWORD": ADMIN_PASSWORD})
    return env


def _flowdeck(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([*FLOWDECK, *args], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def _serving(env: dict[str, str], log: Path) -> Iterator[str]:
    """`flowdeck run` in a process of its own, until it answers /readyz."""
    port = _free_port()
    with log.open("w") as out:
        process = subprocess.Popen([*FLOWDECK, "run", "--port", str(port), "--workers", "1"], env=env, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail(f"flowdeck run did not become ready: {log.read_text()[-2000:]}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _sign_in(browser: Any, url: str) -> Any:
    context = browser.new_context(base_url=url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/login")
    page.fill("#username", "admin")
    page.fill("#password", ADMIN_PASSWORD)
    with page.expect_navigation():
        page.click("form.login button[type=submit]")
    page.locator("form.userbox .who").wait_for()
    return context, page


def test_a_field_added_in_the_builder_survives_a_restart_and_init(browser: Any, databases: Any, tmp_path: Path) -> None:
    """After adding a field in the builder, stopping the app, running flowdeck init and starting the app, is the field on the form?"""
    db = databases.blank()
    env = _env(db.url, tmp_path / "instance")
    try:
        assert "app project: installed as version 1" in _flowdeck(env, "init")
        with _serving(env, tmp_path / "first.log") as url:
            context, page = _sign_in(browser, url)
            page.goto("/admin/apps/project/edit?entity=task")
            add = page.locator("#add-field")
            add.locator("input[name='add_field:key']").fill("site_notes")
            add.locator("select[name='add_field:type']").select_option("text")
            add.locator("input[name='add_field:label_en']").fill("Site notes")
            add.locator("input[name='add_field:label_zh']").fill("现场备注")
            add.locator("button[value='add_field']").click()
            expect(page.locator("#bf-site_notes")).to_be_visible()
            page.locator("#review-button").click()
            page.fill("#message", "site notes on tasks")
            page.locator("#apply-button").click()
            expect(page.locator(".alert.ok")).to_contain_text("Applied as version 2")
            context.close()

        again = _flowdeck(env, "init")  # what `make run` does on every start
        assert "app project: version 2 (installed; left as it is)" in again

        with _serving(env, tmp_path / "second.log") as url:
            context, page = _sign_in(browser, url)
            page.goto("/a/project/task/new")
            field = page.locator("[data-field='site_notes']")
            expect(field).to_be_visible()
            expect(field.locator("label")).to_contain_text("Site notes")
            context.close()
    finally:
        databases.drop(db)
