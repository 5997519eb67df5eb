"""Gunicorn settings: the workers of `flowdeck run` and of a plain gunicorn command line
freeze the loaded app's objects out of the garbage collector's full passes."""

from __future__ import annotations

import gc
import sys

import pytest
from click.testing import CliRunner
from gunicorn.app.base import BaseApplication
from gunicorn.app.wsgiapp import WSGIApplication

from flowdeck import serving
from flowdeck.cli import main


@pytest.fixture
def unfreeze():
    yield
    gc.unfreeze()


def test_the_worker_hook_freezes_what_is_loaded(unfreeze):
    """After the hook, are the objects that exist now out of the collector's reach?"""
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    serving.post_worker_init(None)
    assert gc.get_freeze_count() > 1000


def test_a_gunicorn_command_line_with_the_config_gets_the_hook(monkeypatch):
    """Does `gunicorn -c python:flowdeck.serving ...` (the benchmark's serve.sh) use the hook?"""
    monkeypatch.setattr(sys, "argv", ["gunicorn", "--config", "python:flowdeck.serving", "flowdeck.app:create_app()"])
    app = WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]")
    assert app.cfg.post_worker_init is serving.post_worker_init


def test_flowdeck_run_gives_its_workers_the_hook(db, monkeypatch, tmp_path):
    """Does `flowdeck run` configure gunicorn with the hook (and the address asked for)?"""
    monkeypatch.setenv("FLOWDECK_DATABASE_URL", db.url)
    monkeypatch.setenv("FLOWDECK_INSTANCE", str(tmp_path / "instance"))
    seen = {}
    monkeypatch.setattr(BaseApplication, "run", lambda self: seen.update(cfg=self.cfg))
    result = CliRunner().invoke(main, ["run", "--port", "5099", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert seen["cfg"].post_worker_init is serving.post_worker_init
    assert seen["cfg"].bind == ["127.0.0.1:5099"]
