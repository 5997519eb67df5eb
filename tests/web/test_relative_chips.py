"""The active-filter chips of the bundled views that read the clock ("Breaching within the
hour", "Ending in 30 days") say their relative moments in the reader's
language, not as the document writes them (`$now+1h`, `$today+30`)."""

from __future__ import annotations

import re

from flowdeck.engine.apps import bundled_documents, read_document
from tests.support.web import login


def _chips(client, url: str, lang: str) -> str:
    """The page's text, tags dropped."""
    page = client.get(url, headers={"Accept-Language": lang}).get_data(as_text=True)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_relative_moments_in_chips_are_words_in_both_languages(app, install, make_user):
    """Do "Breaching within the hour" and "Ending in 30 days" show their bounds as "1h from now"
    and "today + 30 d" (in Chinese 1小时后, 今天 + 30 天)? ("SLA breached" filters by the SLA's
    status now, which reads the clock itself.)"""
    for key in ("operations", "project"):
        install(read_document(next(p for p in bundled_documents() if p.stem == key)))
    make_user("desk", {"operations": ["service_desk"], "project": ["pmo"]})
    client = app.test_client()
    login(client, "desk")
    en = _chips(client, "/a/operations/ticket/v/due_soon", "en")
    assert "≤ 1h from now" in en and "now+1h" not in en
    assert "today + 30 d" in _chips(client, "/a/project/project/v/ending_soon", "en")
    zh = _chips(client, "/a/operations/ticket/v/due_soon", "zh")
    assert "≤ 1小时后" in zh and "now" not in zh
    assert "今天 + 30 天" in _chips(client, "/a/project/project/v/ending_soon", "zh")
