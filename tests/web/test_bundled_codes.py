"""The bundled apps' formulas that return codes (budget status, risk level, KPI status) reach
business users as translated labels: lists, boards, record pages and CSV never show a code."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from flowdeck.engine import records
from flowdeck.engine.apps import bundled_documents, read_document
from tests.support.web import csrf_token, login, text

CODES = ("within", "over", "under", "no_data", "green", "amber", "red", "high", "medium", "low")
RAW = re.compile(r">\s*(" + "|".join(CODES) + r")\s*<")
"""A code as the text of an element (a cell, a badge, a card value)."""
LABELS = {
    "en": ("Over budget", "No data yet", "On target", "Off target", "High risk"),
    "zh": ("超支", "暂无数据", "达标", "未达标", "高风险"),
}


@pytest.fixture
def filled(install, db, system, make_user):
    """Both bundled apps with an over-budget project, one without progress, a high risk and
    KPIs on and off target; returns a signed-in project and operations manager's client maker."""
    documents = {path.stem: read_document(path) for path in bundled_documents()}
    install(documents["project"])
    registry = install(documents["operations"])
    manager = make_user("pm", {"project": ["pmo"], "operations": ["ops_manager"]})
    project, risk, kpi = registry.entity("project", "project"), registry.entity("project", "risk"), registry.entity("operations", "kpi")
    base = {"project_type": "internal_it", "sponsor": manager.user_id, "manager": manager.user_id, "objective": "o", "health": "green"}

    def work(conn):
        over = records.create_record(
            conn, project, {**base, "name": "Over", "budget": 100000, "actual_cost": 60000, "percent_complete": 50}, actor=system
        )
        records.create_record(conn, project, {**base, "name": "Quiet"}, actor=system)
        risky = {
            "title": "Vendor",
            "project": over.id,
            "category": "technical",
            "probability": 4,
            "impact": 5,
            "owner": manager.user_id,
            "response_plan": "p",
        }
        records.create_record(conn, risk, risky, actor=system)
        for name, actual in (("Uptime", Decimal("99.9")), ("Response", Decimal("50"))):
            values = {"name": name, "category": "availability", "period": "2026-11", "direction": "higher", "target": 99, "actual": actual}
            records.create_record(conn, kpi, {**values, "owner": manager.user_id}, actor=system)

    db.run(work)
    return {"project": project, "risk": risk, "kpi": kpi}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_no_code_reaches_a_business_user(client, filled, lang):
    """Do lists, boards, record pages and exports of the bundled apps show labels, never codes?"""
    assert login(client, "pm").status_code == 302
    client.post("/prefs/lang", data={"lang": lang, "next": "/", "csrf_token": csrf_token(client, "/")})
    pages = [
        "/a/project/project/v/all",
        "/a/project/project/v/over_budget",
        "/a/project/risk/v/register",
        "/a/project/risk/v/board",
        "/a/operations/kpi/v/dashboard",
        "/a/operations/kpi/v/off_target",
        "/a/project/project/1",
        "/a/project/risk/1",
        "/a/operations/kpi/2",
    ]
    seen = ""
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        page = text(response)
        assert not RAW.findall(page), url
        seen += page
    for label in LABELS[lang]:
        assert label in seen
    exported = text(client.get("/a/operations/kpi/export.csv?view=dashboard"))
    assert LABELS[lang][2] in exported and LABELS[lang][3] in exported
    assert not re.search(r",(green|red|amber|no_data)(,|\r?$)", exported, re.M)
