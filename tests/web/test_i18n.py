"""The UI in Simplified Chinese and English: the catalog is complete and compiled, and the
pages (sign-in, list, board, record, form, errors) speak the browser's or the chosen
language, with schema labels, dates and numbers to match."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import tokenize
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from flask_babel import format_date, format_datetime, format_decimal

from flowdeck.catalogs import KEYWORDS
from flowdeck.engine import records
from flowdeck.engine.apps import bundled_documents, read_document
from flowdeck.views.i18n import TRANSLATIONS
from tests.support.web import csrf_token, login

ROOT = Path(__file__).resolve().parents[2]
PO = TRANSLATIONS / "zh" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}
EN = {"Accept-Language": "en-US,en;q=0.9"}
DUE = dt.date(2026, 11, 23)


def read_catalog(path: Path = PO):
    with path.open("rb") as handle:
        return read_po(handle, locale="zh")


def entries(catalog) -> dict:
    """msgid (with context) -> translation(s), for every message but the header."""

    def plain(value):
        return tuple(value) if isinstance(value, (list, tuple)) else value

    return {(m.context, plain(m.id)): plain(m.string) for m in catalog if m.id}


# -- the catalog ------------------------------------------------------------------------------------


def test_catalog_has_no_untranslated_or_fuzzy_entries():
    """Does every msgid of the Chinese catalog have a translation that is not fuzzy?"""
    catalog = read_catalog()
    assert not catalog.fuzzy
    assert len(entries(catalog)) > 400
    problems = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(s.strip() for s in strings):
            problems.append(message.id)
    assert problems == [], "translate these in messages.po, then `make translations`"


def test_catalog_placeholders_match():
    """Does every translation keep its msgid's %(name)s placeholders (Babel's own checks)?"""
    catalog = read_catalog()
    assert [(m.id, [str(e) for e in errors]) for m, errors in catalog.check()] == []


def test_catalog_covers_every_string_in_the_code():
    """Is every string marked for translation (views, templates, the engine's messages) in the catalog?"""
    with (TRANSLATIONS / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, **KEYWORDS}
    found = set()
    for _file, _line, message, _comments, context in extract_from_dir(str(ROOT), method_map, options_map, keywords=keywords):
        found.add((context, message))
    assert len(found) > 400
    known = {(context, msgid[0] if isinstance(msgid, tuple) else msgid) for context, msgid in entries(read_catalog())}
    missing = sorted(str(m) for m in {(c, m[0] if isinstance(m, tuple) else m) for c, m in found} - known)
    assert missing == [], "run `make translations` and translate the new entries of messages.po"


def test_no_translated_words_hidden_in_f_strings():
    """Is no `_()` call written inside an f-string, where pybabel (on Python 3.11) cannot see it?"""
    hidden = []
    for path in sorted((ROOT / "platform").rglob("*.py")):
        with path.open("rb") as handle:
            for token in tokenize.tokenize(handle.readline):
                prefix = token.string[:2].lower()
                if token.type == tokenize.STRING and "f" in prefix and re.search(r"\{[^}]*\b(?:_|gettext|ngettext)\(", token.string):
                    hidden.append(f"{path.relative_to(ROOT)}:{token.start[0]}")
    assert hidden == [], "call _() before the f-string and put the result in it"


def test_mo_is_compiled_from_the_current_po():
    """Does the committed messages.mo hold exactly the translations of messages.po?"""
    fresh = io.BytesIO()
    write_mo(fresh, read_catalog())
    fresh.seek(0)
    with MO.open("rb") as handle:
        committed = read_mo(handle)
    assert entries(committed) == entries(read_mo(fresh)), "run `make translations` (pybabel compile) and commit messages.mo"


# -- pages ----------------------------------------------------------------------------------------------


@pytest.fixture
def project(install, make_user, db):
    """The bundled project app, a project manager `lea` and one task due on 2026-11-23."""
    path = next(p for p in bundled_documents() if p.stem == "project")
    registry = install(read_document(path))
    lea = make_user("lea", {"project": ["project_manager"]})
    projects, tasks = registry.entity("project", "project"), registry.entity("project", "task")

    def work(conn):
        values = {"name": "ERP rollout", "sponsor": lea.user_id, "manager": lea.user_id, "objective": "Go live."}
        parent = records.create_record(conn, projects, values, actor=lea)
        task = {"name": "Data migration", "project": parent.id, "due_date": DUE.isoformat(), "estimate_hours": "1234.5"}
        return records.create_record(conn, tasks, task, actor=lea)

    return db.run(work)


def page(client, path, headers=ZH):
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def test_login_page_follows_the_browser(client):
    """Does a browser asking for zh-CN get the sign-in page in Chinese, and en-US in English?"""
    html = page(client, "/login")
    assert '<html lang="zh-CN">' in html
    assert "登录 Flowdeck" in html and "用户名" in html and "密码" in html
    english = page(client, "/login", EN)
    assert '<html lang="en">' in english and "Sign in to Flowdeck" in english and "登录" not in english


def test_list_page_in_chinese(client, project):
    """Is the list page Chinese: navigation, controls, schema labels, states, dates and numbers?"""
    login(client, "lea")
    html = page(client, "/a/project/task/")
    assert '<html lang="zh-CN">' in html
    for text in ("我的工作", "审批", "通知", "退出登录", "新建", "筛选", "列", "导出 CSV", "保存为我的视图"):
        assert text in html, text
    for label in ("项目管理", "任务", "WBS 分解", "任务名称", "截止日期", "预计工时", "状态", "待开始"):
        assert label in html, label
    assert "2026年11月23日" in html
    assert "1,234.5" in html
    assert "Export CSV" not in html and "Sign out" not in html


def test_board_in_chinese(client, project):
    """Is the board Chinese: its name, quick filters, column labels, card dates and the
    words board.js shows (moved, offline, errors)?"""
    login(client, "lea")
    html = page(client, "/a/project/task/v/board")
    for text in ("任务看板", "筛选卡片", "我的卡片", "待开始", "进行中", "已完成", "2026年11月23日"):
        assert text in html, text
    assert 'data-moved="已移到“{column}”。"' in html and 'data-menu-title="移动到…"' in html
    block = re.search(r'<script type="application/json" id="i18n">(.*?)</script>', html).group(1)
    words = json.loads(block)
    assert words["forbidden"] == "你无权执行此操作。" and "{status}" in words["error"] and "服务器" in words["network"]


def test_record_page_in_chinese(client, project):
    """Is the record page Chinese: actions, transitions, fields, history, comments?"""
    login(client, "lea")
    html = page(client, f"/a/project/task/{project.id}")
    for text in (
        "编辑",
        "删除",
        "下一步",
        "开始",
        "截止日期",
        "2026年11月23日",
        "评论",
        "添加评论",
        "历史记录",
        "创建了此记录",
        "创建时间",
    ):
        assert text in html, text
    assert "Next step" not in html and "History" not in html


def test_form_in_chinese(client, project):
    """Is the create form Chinese: heading, labels, choices, buttons, required marker?"""
    login(client, "lea")
    html = page(client, "/a/project/task/new")
    for text in ("新建任务", "任务名称", "所属项目", "— 请选择 —", "输入以搜索…", "创建", "取消", "必填"):
        assert text in html, text


def test_form_errors_in_chinese(client, project):
    """Does a refused form show the engine's errors in Chinese next to the Chinese labels?"""
    login(client, "lea")
    token = csrf_token(client, "/a/project/task/new")
    data = {"csrf_token": token, "name": "", "project": str(project.values["project"]), "estimate_hours": "many", "due_date": "soon"}
    response = client.post("/a/project/task/new", data=data, headers=ZH)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "记录未保存。请修正标出的字段。" in html
    assert "任务名称 为必填项" in html
    assert "预计工时 必须是数字" in html
    assert "截止日期 必须是日期（YYYY-MM-DD）" in html


def test_error_pages_in_chinese(client, project):
    """Are 404 pages and engine refusals in Chinese, as pages and as htmx toasts?"""
    login(client, "lea")
    response = client.get("/a/project/nope", headers=ZH)
    html = response.get_data(as_text=True)
    assert response.status_code == 404 and "未找到" in html and "应用“project”中没有“nope”" in html
    response = client.get("/a/project/task/999", headers={**ZH, "HX-Request": "true"})
    assert response.status_code == 404
    assert json.loads(response.headers["HX-Trigger"])["flowdeck:toast"]["message"] == "任务 #999 不存在"


def test_dates_and_numbers_follow_the_language(app):
    """Are dates, times and numbers formatted per locale (zh: 2026年11月23日; en: Nov 23, 2026)?"""
    moment = dt.datetime(2026, 11, 23, 6, 5, tzinfo=dt.UTC)
    with app.test_request_context("/", headers=ZH):
        assert format_date(DUE, "medium") == "2026年11月23日"
        assert format_date(DUE, "long") == "2026年11月23日"
        assert format_datetime(moment, "short") == "2026/11/23 14:05"
        assert format_decimal(Decimal("1234567.5")) == "1,234,567.5"
    with app.test_request_context("/", headers=EN):
        assert format_date(DUE, "medium") == "Nov 23, 2026"
        assert format_decimal(Decimal("1234567.5")) == "1,234,567.5"


def test_switching_to_english_sticks(client, project):
    """Does POST /prefs/lang switch a Chinese browser to English, and back?"""
    login(client, "lea")
    assert "退出登录" in page(client, "/a/project/task/")
    token = csrf_token(client, "/")
    response = client.post("/prefs/lang", data={"lang": "en", "next": "/a/project/task/", "csrf_token": token}, headers=ZH)
    assert response.status_code == 302 and response.headers["Location"].endswith("/a/project/task/")
    html = page(client, "/a/project/task/")
    assert '<html lang="en">' in html and "Sign out" in html and "Export CSV" in html and "Nov 23, 2026" in html
    assert "Tasks" in html and "Due date" in html and "退出登录" not in html
    client.post("/prefs/lang", data={"lang": "zh", "next": "/", "csrf_token": token}, headers=EN)
    assert "退出登录" in page(client, "/a/project/task/", EN)


def test_language_switch_needs_the_csrf_token(client):
    """Is a language switch without the CSRF token refused (400)?"""
    assert client.post("/prefs/lang", data={"lang": "en"}).status_code == 400


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Berlin", "America/New_York"])
def test_datetimes_read_as_flask_babel_writes_them(db, tmp_path, zone):
    """Does the `datetimeformat` filter (Babel called directly, kept per process) give what
    Flask-Babel's `format_datetime` gives, in both languages, each format and zone, for times
    with and without a zone (naive ones are UTC) or with microseconds, across daylight-saving
    changes (short and medium are put together from a day and a clock kept apart)?"""
    from flowdeck.app import create_app
    from flowdeck.views import i18n

    app = create_app({"FLOWDECK_DATABASE_URL": db.url, "FLOWDECK_INSTANCE": str(tmp_path / "i"), "BABEL_DEFAULT_TIMEZONE": zone})
    start = dt.datetime(2026, 3, 8, 0, 30)
    moments = [start + dt.timedelta(hours=7 * k) for k in range(0, 1200, 37)]
    moments += [m.replace(tzinfo=dt.UTC) for m in moments[::3]]
    moments += [m.replace(minute=59, second=59, microsecond=999_999) for m in moments[::5]]
    moments += [m.astimezone(dt.timezone(dt.timedelta(hours=-3, minutes=-30))) for m in moments[1::7]]
    for headers in (ZH, EN):
        with app.test_request_context("/", headers=headers):
            for fmt in ("short", "medium", "long", "full", "yyyy-MM-dd HH:mm"):
                for moment in moments:
                    assert i18n.datetimeformat(moment, fmt) == format_datetime(moment, fmt), (headers, fmt, moment)
