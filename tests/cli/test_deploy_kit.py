"""The deployment kit stays true: the container image's own command serves the app (no
Docker engine is needed to check that), compose runs two app servers on one PostgreSQL
behind the proxy, and docs/deploy.md names every setting."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from flowdeck import config
from flowdeck.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def _image_env() -> dict[str, str]:
    """The ENV of the Dockerfile's final stage."""
    final = DOCKERFILE.rsplit("\nFROM ", 1)[1].replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in final.splitlines():
        if line.startswith("ENV "):
            for item in shlex.split(line[4:]):
                key, _, value = item.partition("=")
                env[key] = value
    return env


def _image_cmd() -> list[str]:
    return json.loads(re.search(r"^CMD (\[.*\])$", DOCKERFILE, re.MULTILINE).group(1))


def test_the_image_is_slim_non_root_and_pinned():
    """Is the image a slim Python installed from constraints.txt, with CJK fonts, a /readyz check and a user that is not root?"""
    assert re.search(r"^FROM python:3\.11-slim", DOCKERFILE, re.MULTILINE)
    assert "-c constraints.txt" in DOCKERFILE and "fonts-noto-cjk" in DOCKERFILE
    assert re.search(r"^USER flowdeck$", DOCKERFILE, re.MULTILINE)
    assert "/readyz" in DOCKERFILE.split("HEALTHCHECK", 1)[1].splitlines()[0]
    assert _image_cmd() == ["flowdeck", "run"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.mark.slow
def test_the_image_command_serves_the_app_and_its_static_files(db, monkeypatch, tmp_path):
    """Run as the image runs it (its CMD with its ENV, gunicorn on 0.0.0.0): are /readyz, a page and the static files served?"""
    monkeypatch.setenv("FLOWDECK_DATABASE_URL", db.url)
    monkeypatch.setenv("FLOWDECK_INSTANCE", str(tmp_path / "instance"))
    assert CliRunner().invoke(main, ["init", "--no-apps"]).exit_code == 0
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWDECK_")}
    env.update(_image_env())
    env.update({"FLOWDECK_DATABASE_URL": db.url, "FLOWDECK_INSTANCE": str(tmp_path / "instance"), "FLOWDECK_PORT": str(port)})
    command = [str(Path(sys.executable).with_name(_image_cmd()[0])), *_image_cmd()[1:]]
    with (tmp_path / "server.log").open("w") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if _get(base + "/readyz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail((tmp_path / "server.log").read_text()[-2000:])
        assert _get(base + "/healthz")[0] == 200
        status, page = _get(base + "/login")
        assert status == 200 and b"flowdeck" in page.lower()
        static = re.findall(rb'(?:href|src)="(/static/[^"]+)"', page)
        assert len(static) >= 3
        for path in static:
            assert _get(base + path.decode().replace("&amp;", "&"))[0] == 200
        assert "0.0.0.0:" + str(port) in (tmp_path / "server.log").read_text()  # bound as in the container
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_compose_runs_two_app_servers_on_one_postgresql_behind_the_proxy():
    """Does compose run migrations once, then two app servers sharing database and secret key behind nginx (one trusted hop)?"""
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert services["postgres"]["image"].startswith("postgres:")
    assert "flowdeck upgrade && flowdeck init" in " ".join(services["migrate"]["command"])
    for name in ("app1", "app2"):
        app = services[name]
        assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert (
            app["environment"]["FLOWDECK_DATABASE_URL"].startswith("postgresql://")
            and "@postgres:5432/" in app["environment"]["FLOWDECK_DATABASE_URL"]
        )
        assert "FLOWDECK_SECRET_KEY" in app["environment"]["FLOWDECK_SECRET_KEY"]
        assert app["environment"]["FLOWDECK_PROXY_HOPS"] == "1"
        assert app["environment"]["FLOWDECK_EMBEDDED_WORKER"] == "off"  # the worker service runs the jobs
    worker = services["worker"]
    assert (
        worker["command"] == ["flowdeck", "worker"]
        and worker["environment"]["FLOWDECK_DATABASE_URL"] == services["app1"]["environment"]["FLOWDECK_DATABASE_URL"]
    )
    nginx = (ROOT / "deploy" / "nginx-compose.conf").read_text(encoding="utf-8")
    assert "server app1:8000" in nginx and "server app2:8000" in nginx and "X-Forwarded-For $remote_addr" in nginx


def test_the_systemd_unit_runs_flowdeck_as_its_own_user():
    """Does the systemd unit run `flowdeck run` as a dedicated user with the settings in an environment file?"""
    unit = (ROOT / "deploy" / "flowdeck.service").read_text(encoding="utf-8")
    assert re.search(r"^User=flowdeck$", unit, re.MULTILINE)
    assert re.search(r"^ExecStart=\S+/flowdeck run ", unit, re.MULTILINE)
    assert "EnvironmentFile=/etc/flowdeck/flowdeck.env" in unit
    worker = (ROOT / "deploy" / "flowdeck-worker.service").read_text(encoding="utf-8")
    assert re.search(r"^ExecStart=\S+/flowdeck worker$", worker, re.MULTILINE) and re.search(r"^User=flowdeck$", worker, re.MULTILINE)


def test_deploy_guide_names_every_setting_with_its_default():
    """Does docs/deploy.md list every FLOWDECK_* variable the code reads, with its default?"""
    read = set()
    for path in (ROOT / "platform").rglob("*.py"):
        read |= set(re.findall(r"\b(FLOWDECK_[A-Z_]+[A-Z])\b", path.read_text(encoding="utf-8")))
    internal = {"FLOWDECK_SMTP"}  # the parsed mail settings in app.config, not a variable
    assert read - internal <= set(config.DOCUMENTED), sorted(read - internal - set(config.DOCUMENTED))
    guide = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    for name, default in config.DOCUMENTED.items():
        row = re.search(rf"^\| `{name}` \|([^|]*)\|", guide, re.MULTILINE)
        assert row is not None, f"docs/deploy.md has no row for {name}"
        assert default in row.group(1), f"{name}: the default {default!r} is not in its row"
