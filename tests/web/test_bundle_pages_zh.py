"""The bundle pages for a Chinese reader: what is wrong with an uploaded file, and the import
plan's own texts, in Chinese."""

from __future__ import annotations

import html
import io
import re
from typing import Any

import pytest

from flowdeck.catalogs import say
from flowdeck.engine import bundles
from flowdeck.engine.bundles.errors import lines
from flowdeck.engine.errors import MigrationRefused, RecordInvalid, SchemaInvalid
from flowdeck.engine.messages import M
from flowdeck.engine.schema.loader import check_document
from tests.support.documents import minimal_app
from tests.support.web import csrf_token, login

BASE = "/admin/apps"


@pytest.fixture
def admin_zh(client: Any, install: Any, make_user: Any) -> Any:
    install(minimal_app())
    make_user("boss", is_admin=True)
    login(client, "boss")
    client.post("/prefs/lang", data={"lang": "zh", "csrf_token": csrf_token(client, "/")})
    return client


def words(response: Any) -> str:
    body = response.get_data(as_text=True)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body[body.find("<main") :])))


def upload(client: Any, data: bytes, **fields: str) -> Any:
    token = csrf_token(client, f"{BASE}/")
    form = {"csrf_token": token, "bundle": (io.BytesIO(data), "bundle.flowdeck.zip"), **fields}
    return client.post(f"{BASE}/import", data=form, content_type="multipart/form-data")


def test_an_upload_that_is_no_bundle_is_refused_in_chinese(admin_zh):
    """Is a file that is no ZIP refused with the reason in Chinese?"""
    response = upload(admin_zh, b"hello")
    assert response.status_code == 422
    assert "不是 Flowdeck 配置包：该文件不是 ZIP 压缩包，或已被截断或损坏" in words(response)


def test_the_import_plan_says_its_refusal_in_chinese(admin_zh, db):
    """Is a copy under an invalid key planned with the refusal in Chinese?"""
    data = bundles.export_app(db, "demo")
    response = upload(admin_zh, data, as_key="Bad-Key")
    assert response.status_code == 303
    plan = admin_zh.get(response.headers["Location"])
    assert "'Bad-Key' 不是有效的应用键：最多 20 个字符，只能使用小写字母、数字和单个下划线" in words(plan)


def test_what_stops_an_import_is_listed_in_chinese(admin_zh, db, monkeypatch):
    """When the import itself stops (a record, the document, the migration or the bundle refused),
    does the plan page list each of the engine's messages on its own line in Chinese?"""
    response = upload(admin_zh, bundles.export_app(db, "demo"), as_key="copy")
    location = response.headers["Location"]
    broken = minimal_app()
    broken["entities"]["task"]["fields"]["estimate"]["type"] = "dec"
    (problem,) = check_document(broken)
    first, then = M("missing entry %(entry)s", entry="app.json"), M("unexpected entry %(entry)s: the manifest does not list it", entry="x")
    cases = [
        (RecordInvalid({"estimate": [M("must be a number")]}), ["estimate：必须是数字"]),
        (SchemaInvalid([problem]), [say(problem.with_path(), "zh")]),
        (MigrationRefused([M("no values to convert")]), [say(M("no values to convert"), "zh")]),
        (bundles.BundleError(lines([first, then])), [say(first, "zh"), say(then, "zh")]),
    ]
    for error, said in cases:

        def refuse(*args: Any, exc: Exception = error, **kwargs: Any) -> Any:
            raise exc

        monkeypatch.setattr(bundles, "import_bundle", refuse)
        page = admin_zh.post(location, data={"csrf_token": csrf_token(admin_zh, location), "as_key": "copy", "do": "import"})
        assert page.status_code == 422
        items = [html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", page.get_data(as_text=True).split('id="import-error"')[1])]
        assert items[: len(said)] == said, (type(error).__name__, items)
