"""Fixtures of the web tests: the tracker app (every field type) with files and people."""

from __future__ import annotations

import pytest

from flowdeck.engine.permissions import Actor
from flowdeck.engine.storage.tables import EntityTables
from tests.support.documents import tracker_app


@pytest.fixture
def files_dir(app, tmp_path):
    folder = tmp_path / "files"
    app.config["FLOWDECK_FILES_DIR"] = str(folder)
    return folder


@pytest.fixture
def task(install, files_dir) -> EntityTables:
    return install(tracker_app()).entity("demo", "task")


@pytest.fixture
def people(make_user) -> dict[str, Actor]:
    return {
        "lead": make_user("lea", {"demo": ["lead"]}),
        "member": make_user("mo", {"demo": ["member"]}),
        "viewer": make_user("vic", {"demo": ["viewer"]}),
        "outsider": make_user("otto"),
    }
