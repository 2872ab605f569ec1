"""The production configuration, started as a clinic's server runs it, walks a rating through.

deploy/alliance.env.example as an operator fills it in (DEBUG=0, HTTPS settings, the database task
queue), on its own PostgreSQL database and the Redis cache: `alliance migrate`, `createadmin`,
`check --deploy`, then `alliance serve` (gunicorn) and `alliance worker` as the systemd units start
them, behind nginx with deploy/nginx/alliance.conf (TLS, static files from collectstatic). A
client, two sessions and two ORS ratings go in through the API over HTTPS to nginx; the episode's
caseload zone is there at once, and the webhook delivery each rating announced waits until the
worker attempts it. Runs in every test run (SQLite and PostgreSQL alike): it makes its own
database.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.ops.nginx_site import HOST, free_port, render_nginx, running_nginx, unverified_tls

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a long and unusual passphrase"
SERVER = "postgres://postgres@127.0.0.1:5432"
FOLLOW_UP_DEADLINE = 90  # seconds: the worker polls, and a loaded CI machine is slow


def operator_environment(tmp_path: Path, database: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "PYTEST", "ALLIANCE_", "SECURE_", "DEBUG", "REDIS"))
        and k not in {"DATABASE_URL", "SECRET_KEY"}
    }
    for line in (ROOT / "deploy" / "alliance.env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, value = line.split("=", 1)
            env[key] = value
    env.update(
        PYTHONPATH=str(ROOT),
        SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL=f"{SERVER}/{database}",
        ALLIANCE_DATA_DIR=str(tmp_path / "var"),
        REDIS_URL="redis://127.0.0.1:6379/7",
        LOG_LEVEL="INFO",
        # The walk's webhook receiver is on this machine (the operator's opt-in for a local one).
        WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8",
    )
    return env


def alliance(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alliance", *args],
        cwd=cwd,
        env=env,
        input="",
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def database() -> Iterator[str]:
    name = f"alliance_walk_{secrets.token_hex(4)}"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Proxy:
    """The way in a clinic's users take: HTTPS to nginx (deploy/nginx/alliance.conf), which adds
    the original scheme, the client's address and a request id, and forwards to gunicorn."""

    def __init__(self, https_port: int, token: str) -> None:
        self.base = f"https://127.0.0.1:{https_port}"
        self.token = token

    def open(self, request: urllib.request.Request):
        return urllib.request.urlopen(request, timeout=30, context=unverified_tls())

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            self.base + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Host": HOST,
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
            },
        )
        with self.open(request) as response:
            return json.loads(response.read())


def wait_until_healthy(proxy: Proxy, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert server.poll() is None, "alliance serve exited"
        request = urllib.request.Request(proxy.base + "/healthz", headers={"Host": HOST})
        try:
            with proxy.open(request) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.HTTPError):
            time.sleep(0.5)
    pytest.fail("alliance serve did not answer /healthz within 120 s")


def test_the_production_configuration_walks_a_rating_through_to_the_caseload_zone(
    tmp_path, database
):
    env = operator_environment(tmp_path, database)
    migrated = alliance(env, tmp_path, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    admin = alliance(
        {**env, "ALLIANCE_ADMIN_PASSWORD": PASSWORD},
        tmp_path,
        "createadmin",
        "--agency",
        "Riverside",
        "--username",
        "ada",
    )
    assert admin.returncode == 0, admin.stderr
    checked = alliance(env, tmp_path, "check", "--deploy")
    assert checked.returncode == 0 and "no issues" in checked.stdout, (
        checked.stdout + checked.stderr
    )
    created = alliance(env, tmp_path, "token", "create", "--user", "ada", "--scope", "write")
    assert created.returncode == 0, created.stderr
    token = next(line for line in created.stdout.split() if line.startswith("alc_"))

    collected = alliance(env, tmp_path, "collectstatic")
    assert collected.returncode == 0, collected.stderr

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "alliance", "serve", "--bind", f"127.0.0.1:{port}"]
        + ["--workers", "2"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    site = tmp_path / "nginx"
    site.mkdir()
    https_port = free_port()
    render_nginx(
        site,
        http_port=free_port(),
        https_port=https_port,
        app_port=port,
        static=tmp_path / "var" / "static",
    )
    workers: list[subprocess.Popen] = []
    try:
        with running_nginx(site):
            proxy = Proxy(https_port, token)
            wait_until_healthy(proxy, server)
            walk_a_rating_through(proxy, env, tmp_path, workers)
            assert_static_files_come_from_nginx(proxy)
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=30)
        server.terminate()
        _, err = server.communicate(timeout=30)
        print(err)  # shown by pytest when anything above failed
    assert "Traceback" not in err, err


def walk_a_rating_through(
    proxy: Proxy, env: dict[str, str], cwd: Path, started: list[subprocess.Popen]
) -> None:
    """A client, two sessions and two ORS ratings through the API: the zone is there at once;
    the webhook deliveries the ratings announced wait for the worker, which attempts them (the
    worker is appended to ``started`` to be stopped)."""
    # A receiver that is not one (the server's own HTTPS port, whose certificate the delivery
    # does not trust): each attempt fails and is logged, which is all this walk needs to see.
    webhook = proxy.call(
        "POST",
        "/api/v1/webhooks",
        {"url": proxy.base + "/no-receiver-here", "events": ["administration.recorded"]},
    )
    client = proxy.call("POST", "/api/v1/clients", {"display_code": "W-1"})
    for number, (day, total) in enumerate([("2026-11-02", 17.0), ("2026-11-09", 31.0)], 1):
        session = proxy.call("POST", "/api/v1/sessions", {"client": client["id"], "date": day})
        proxy.call(
            "POST",
            "/api/v1/administrations",
            {
                "session": session["id"],
                "instrument": "ors",
                "idempotency_key": f"walk-{number}",
                "total": total,
            },
        )
    episode = proxy.call("GET", "/api/v1/episodes")["items"][0]
    assert episode["session_count"] == 2
    # The summary is written with each rating: no worker runs yet.
    assert episode["zone"] == "green", episode
    assert episode["last_outcome_total"] == 31.0
    deliveries = f"/api/v1/webhooks/{webhook['id']}/deliveries"
    assert [d["attempts"] for d in proxy.call("GET", deliveries)["items"]] == [0, 0]

    started.append(
        subprocess.Popen(
            [sys.executable, "-m", "alliance", "worker"],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    deadline = time.monotonic() + FOLLOW_UP_DEADLINE
    while time.monotonic() < deadline:
        # An attempt is counted when it starts and its error written when it ends: wait for both.
        attempted = [
            d for d in proxy.call("GET", deliveries)["items"] if d["attempts"] and d["last_error"]
        ]
        if len(attempted) == 2:
            break
        time.sleep(0.5)
    assert len(attempted) == 2, attempted
    assert all(d["status"] == "pending" for d in attempted), attempted


def assert_static_files_come_from_nginx(proxy: Proxy) -> None:
    """collectstatic's output is what nginx serves, with its cache header (gunicorn is not asked)."""
    request = urllib.request.Request(
        proxy.base + "/static/alliance/alliance.css", headers={"Host": HOST}
    )
    with proxy.open(request) as response:
        assert response.status == 200
        assert response.headers["Server"] == "nginx"  # gunicorn would name itself
        assert "public" in response.headers.get_all("Cache-Control")
        assert b"{" in response.read()
