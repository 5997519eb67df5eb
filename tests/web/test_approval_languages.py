"""A purchase request's approval, read in either language: the record page's history and
approval panel, the inbox and the notifications say everything (steps, notes, what the
system did) in the reader's language, whatever language the people who acted used; only
what people typed stays as they typed it."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa

from flowdeck.engine import approvals, org, records, users
from flowdeck.engine.apps import bundled_documents, read_document
from tests.support.web import login

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept-Language": "en-US,en;q=0.9"}
PEOPLE = {  # username: (display name, operations roles)
    "wang": ("王芳", ["requester"]),
    "li": ("李强", ["requester", "finance"]),  # heads the department and is in finance too
    "zhao": ("赵敏", ["finance"]),
    "chen": ("陈刚", ["general_manager"]),
}
STEP_NAMES = {"en": ("Department head", "Finance review", "General manager"), "zh": ("部门负责人审批", "财务审核", "总经理审批")}


@pytest.fixture
def purchase(install, db) -> dict[str, Any]:
    """A ¥20,000 purchase request of Wang's: Li approves as department head ("同意"), and
    his approval of the finance step is taken automatically; the general manager's step is
    not needed."""
    path = next(p for p in bundled_documents() if p.name == "operations.json")
    et = install(read_document(path)).entity("operations", "purchase_request")

    def setup(conn: sa.Connection) -> dict[str, int]:
        ids = {}
        for name, (display, roles) in PEOPLE.items():
            ids[name] = users.create_user(conn, name, password="password123", display_name=display)
            for role in roles:
                users.grant_role(conn, ids[name], "operations", role)
        ops = org.create_department(conn, "ops", "Operations", name_zh="运维部", head_id=ids["li"])
        org.place_user(conn, ids["wang"], department_id=ops, manager_id=None)
        return ids

    ids = db.run(setup)
    actor = {name: db.read(lambda c, i=uid: users.actor_for(c, i)) for name, uid in ids.items()}
    items = [{"item": "服务器内存", "quantity": "10", "unit_price": "2000.00"}]
    made = db.run(
        lambda c: records.create_record(c, et, {"title": "扩容服务器", "category": "hardware", "items": items}, actor=actor["wang"])
    )
    asked = db.run(lambda c: approvals.request_approval(c, et, made.id, "submit", actor=actor["wang"], comment="请尽快"))
    done = db.run(lambda c: approvals.decide(c, et, asked.request_id, actor=actor["li"], approve=True, comment="同意"))
    assert done.status == "approved"
    return {"url": f"/a/operations/purchase_request/{made.id}", "ids": ids}


def _section(html: str, start: str) -> str:
    """The text of the section whose opening tag contains `start` (tags removed)."""
    begin = html.rindex("<", 0, html.index(start))
    end = html.index("</section>", begin)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html[begin:end]))


def _page(client: Any, url: str, headers: dict[str, str]) -> tuple[str, str]:
    html = client.get(url, headers=headers).get_data(as_text=True)
    return _section(html, 'class="panel history"'), _section(html, 'class="panel approvals-panel')


def test_history_and_approval_panel_read_entirely_in_chinese(client, purchase):
    """For a Chinese reader, do history and approval panel hold no English (no step names, no "approved automatically")?"""
    login(client, "wang")
    history, panel = _page(client, purchase["url"], ZH)
    for text in (history, panel):
        leftover = set(re.findall(r"[A-Za-z]{2,}", text)) - {"PR"}  # the request number's prefix (PR-2026-0001)
        assert leftover == set(), leftover
    assert "无需审批的步骤：总经理审批" in history and "步骤“部门负责人审批”" in history and "同意" in history
    assert "步骤“财务审核”：本轮已审批过步骤“部门负责人审批”" in history and "请尽快" in history
    assert "部门负责人审批" in panel and "财务审核" in panel and "同意" in panel
    assert "自动通过：本轮已审批过步骤“部门负责人审批”" in panel


def test_history_and_approval_panel_read_in_english(client, purchase):
    """For an English reader, do the same history and panel say it all in English (no Chinese step names), with the comments as typed?"""
    login(client, "wang")
    history, panel = _page(client, purchase["url"], EN)
    for name in STEP_NAMES["zh"]:
        assert name not in history and name not in panel, name
    assert "steps not needed: General manager" in history and "step “Department head”" in history and "同意" in history
    assert "step “Finance review”: already approved step “Department head” in this round" in history and "请尽快" in history
    assert "approved automatically: already approved step “Department head” in this round" in panel
    assert "Department head" in panel and "Finance review" in panel


def test_inbox_and_notifications_follow_the_reader(client, purchase):
    """Do the requester's notification and inbox read in Chinese for a Chinese reader and in English for an English one?"""
    login(client, "wang")
    zh = client.get("/notifications", headers=ZH).get_data(as_text=True)
    en = client.get("/notifications", headers=EN).get_data(as_text=True)
    assert "已通过：“扩容服务器”的提交审批" in zh and "Submit for approval" not in zh
    assert "Approved: Submit for approval of “扩容服务器”" in en and "提交审批" not in en
    mine_zh = client.get("/approvals?tab=mine", headers=ZH).get_data(as_text=True)
    mine_en = client.get("/approvals?tab=mine", headers=EN).get_data(as_text=True)
    assert "提交审批" in mine_zh and "Submit for approval" not in mine_zh
    assert "Submit for approval" in mine_en and "提交审批" not in mine_en
