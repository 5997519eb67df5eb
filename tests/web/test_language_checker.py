"""The zh/en completeness checker bites (issue 10): a page rendered with one msgid dropped
from the Chinese catalog is caught, and the same page with the whole catalog is not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from flowdeck.engine.db import Database
from tests.support.language import ZH_PO, foreign_texts, html_texts
from tests.support.web import login

DROPPED = ("Skip to content", "Password", "My work")
"""On the sign-in page or the start page: two runs of Latin words and a whole one-word msgid."""


def _catalog_without(folder: Path, dropped: tuple[str, ...]) -> Path:
    """The translations folder with the Chinese catalog less the `dropped` msgids."""
    with ZH_PO.open("rb") as f:
        catalog = read_po(f, locale="zh")
    for msgid in dropped:
        assert msgid in catalog, msgid
        del catalog[msgid]
    target = folder / "zh" / "LC_MESSAGES"
    target.mkdir(parents=True)
    with (target / "messages.mo").open("wb") as f:
        write_mo(f, catalog)
    return folder


def _app(db: Database, instance: Path, translations: Path | None) -> Any:
    from flowdeck.app import create_app

    config = {"FLOWDECK_DATABASE_URL": db.url, "FLOWDECK_INSTANCE": str(instance), "SECRET_KEY": "test-secret"}
    if translations is not None:
        config["BABEL_TRANSLATION_DIRECTORIES"] = str(translations)
    application = create_app(config)
    application.config["TESTING"] = True
    return application


def _found(application: Any, lang: str) -> list[str]:
    """What the checker finds on the sign-in page and on a signed-in user's start page."""
    client = application.test_client()
    headers = {"Accept-Language": "zh-CN" if lang == "zh" else "en"}
    texts = html_texts(client.get("/login", headers=headers).get_data(as_text=True))
    assert login(client, "lea").status_code == 302
    texts += html_texts(client.get("/", headers=headers).get_data(as_text=True))
    return foreign_texts(texts, lang, {"lea"})


@pytest.mark.parametrize("dropped", [False, True], ids=["whole catalog", "msgids dropped"])
def test_a_msgid_missing_from_the_catalog_is_caught(dropped: bool, db: Database, make_user: Any, tmp_path: Path) -> None:
    """Does the checker find msgids dropped from the Chinese catalog on a Chinese page, and nothing with the whole catalog?"""
    make_user("lea")
    translations = _catalog_without(tmp_path / "translations", DROPPED) if dropped else None
    application = _app(db, tmp_path / "instance", translations)
    try:
        found = _found(application, "zh")
    finally:
        application.extensions["flowdeck"].db.dispose()
    assert found == (list(DROPPED) if dropped else []), found


def test_chinese_outside_the_data_is_caught_on_an_english_page() -> None:
    """Is a Chinese UI word on an English page caught, while a Chinese record value, a person's name and the language switcher are not?"""
    texts = ["Tasks", "保存", "ERP 接口开发 ERP interface", "Assigned to 王芳", "中文", "已批准 by 王芳"]
    data = {"ERP 接口开发 ERP interface", "王芳"}
    assert foreign_texts(texts, "en", data) == ["保存", "已批准 by"]


def test_english_outside_the_data_is_caught_on_a_chinese_page() -> None:
    """Is an English UI phrase or word on a Chinese page caught, while English record values, names, codes and product words are not?"""
    texts = [
        "任务",
        "Skip to content",
        "保存",
        "Alice Chen 批准了",
        "ERP interface upgrade",
        "CSV",
        "Flowdeck",
        "Cancel",
        "详见 Review changes",
        "all",
        "Mark all as read",
        "bob 已批准",
    ]
    data = {"Alice Chen", "ERP interface upgrade", "all", "bob"}  # a view key and a username: data only as a whole piece
    found = foreign_texts(texts, "zh", data)
    assert found == ["Skip to content", "Cancel", "Review changes", "Mark all as read"], found
