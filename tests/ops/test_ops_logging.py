"""Request ids and log lines (alliance.ops.middleware, alliance.ops.logging): JSON or plain, with
the request's id, and never a query string or a client link's token."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client as Browser
from django.test import override_settings

from alliance.feedback import services as feedback
from alliance.ops.logging import JsonFormatter, PlainFormatter, RequestContextFilter

ROOT = Path(__file__).resolve().parents[2]


class Captured:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def lines(self) -> list[str]:
        return [line for line in self.stream.getvalue().splitlines() if line.strip()]

    def records(self) -> list[dict]:
        return [json.loads(line) for line in self.lines()]

    def requests(self) -> list[dict]:
        return [entry for entry in self.records() if entry["logger"] == "alliance.request"]


def capture(formatter: logging.Formatter) -> Iterator[Captured]:
    """Everything logged, through the handler settings.LOGGING gives the console."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(RequestContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield Captured(stream)
    finally:
        root.removeHandler(handler)


@pytest.fixture
def json_log() -> Iterator[Captured]:
    yield from capture(JsonFormatter())


@pytest.fixture
def plain_log() -> Iterator[Captured]:
    yield from capture(PlainFormatter())


def test_a_request_writes_one_json_line_with_its_id_method_path_status_and_duration(
    personas, json_log
):
    browser = Browser()
    browser.force_login(personas.tara)
    response = browser.get(
        f"/clients/{personas.tara_client.public_id}/", {"q": "Jane Doe", "phq": "severe"}
    )
    assert response.status_code == 200
    [line] = json_log.requests()
    assert line["request_id"] == response["X-Request-ID"]
    assert line["method"] == "GET"
    assert line["path"] == f"/clients/{personas.tara_client.public_id}/"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["level"] == "INFO" and line["time"].endswith("+00:00")
    raw = json_log.stream.getvalue()
    assert "?" not in raw and "Jane" not in raw and "severe" not in raw


def test_every_line_written_while_serving_a_request_carries_its_id(personas, json_log):
    browser = Browser()
    browser.force_login(personas.theo)
    response = browser.get(f"/clients/{personas.tara_client.public_id}/")
    assert response.status_code == 404  # another team's client
    records = json_log.records()
    warning = next(entry for entry in records if entry["logger"] == "django.request")
    assert warning["level"] == "WARNING"
    assert {entry["request_id"] for entry in records} == {response["X-Request-ID"]}


def test_a_client_links_token_never_reaches_the_log(personas, json_log):
    from alliance.care import services

    session = services.start_session(personas.tara, personas.tara_client)
    token = feedback.create_link(personas.tara, session, instrument="srs").token
    assert Browser().get(f"/f/{token}/").status_code == 200
    unknown = Browser().get("/f/not-a-real-link-token/")
    assert unknown.status_code >= 400
    raw = json_log.stream.getvalue()
    assert token not in raw and "not-a-real-link-token" not in raw
    assert [entry["path"] for entry in json_log.requests()] == ["/f/<token>/", "/f/<token>/"]
    warning = next(entry for entry in json_log.records() if entry["logger"] == "django.request")
    assert warning["message"].endswith(": /f/<token>/")


def test_an_invitation_links_token_never_reaches_the_log(personas, json_log):
    from alliance.accounts import services as accounts

    tokens = []
    accounts.invite(
        personas.alice,
        personas.riverside,
        email="nina@example.org",
        role="therapist",
        url_for=lambda token: tokens.append(token) or f"http://testserver/agency/join/{token}/",
    )
    (token,) = tokens
    assert Browser().get(f"/agency/join/{token}/").status_code == 200
    assert Browser().get("/agency/join/not-a-real-invitation/").status_code == 404
    raw = json_log.stream.getvalue()
    assert token not in raw and "not-a-real-invitation" not in raw
    paths = [entry["path"] for entry in json_log.requests()]
    assert paths == ["/agency/join/<token>/", "/agency/join/<token>/"]


def test_each_request_gets_a_new_id_echoed_in_the_response(db):
    first, second = Browser().get("/healthz"), Browser().get("/healthz")
    assert len(first["X-Request-ID"]) == 32
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_a_request_id_sent_by_the_client_is_ignored_without_a_trusted_proxy(db, json_log):
    response = Browser().get("/healthz", headers={"X-Request-ID": "chosen-by-the-client"})
    assert response["X-Request-ID"] != "chosen-by-the-client"
    assert "chosen-by-the-client" not in json_log.stream.getvalue()


@override_settings(TRUSTED_PROXIES=1)
def test_the_proxys_request_id_is_kept_behind_a_trusted_proxy(db, json_log):
    proxy_id = "4f1c2a9e0b7d4e3f8a6b5c4d3e2f1a0b"
    response = Browser().get("/healthz", headers={"X-Request-ID": proxy_id})
    assert response["X-Request-ID"] == proxy_id
    assert json_log.requests()[0]["request_id"] == proxy_id


@override_settings(TRUSTED_PROXIES=1)
def test_a_malformed_request_id_is_replaced_even_behind_a_proxy(db, json_log):
    forged = 'x" level=ERROR\nfake line'
    response = Browser().get("/healthz", headers={"X-Request-ID": forged})
    assert response["X-Request-ID"] != forged and len(response["X-Request-ID"]) == 32
    assert "fake line" not in json_log.stream.getvalue()


def test_the_plain_format_is_one_readable_line_with_the_request_id(db, plain_log):
    response = Browser().get("/healthz", {"probe": "1"})
    [line] = [line for line in plain_log.lines() if "alliance.request" in line]
    assert f"INFO alliance.request [{response['X-Request-ID']}] GET /healthz 200 " in line
    assert line.endswith("ms") and "probe" not in line


def test_a_line_outside_any_request_has_no_request_id(json_log):
    logging.getLogger("alliance.worker").warning("queue is %s", "slow")
    [entry] = json_log.records()
    assert entry["message"] == "queue is slow" and entry["request_id"] is None


def test_an_exception_is_logged_as_one_json_line_with_its_traceback(json_log):
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("alliance.worker").exception("task failed")
    [line] = json_log.lines()
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and "RuntimeError: boom" in entry["exception"]


def settings_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))}
    env.update(
        DJANGO_SETTINGS_MODULE="alliance.settings",
        ALLIANCE_INSECURE_DEV_KEY="1",
        DATABASE_URL="sqlite:///:memory:",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


def test_the_settings_pick_the_json_formatter_only_when_asked():
    script = (
        "import django, logging; django.setup(); "
        "print(type(logging.getLogger().handlers[0].formatter).__name__)"
    )
    names = {}
    for value in ("json", None):
        env = settings_env()
        env.pop("ALLIANCE_LOG_FORMAT", None)
        if value:
            env["ALLIANCE_LOG_FORMAT"] = value
        result = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        names[value] = result.stdout.strip()
    assert names == {"json": "JsonFormatter", None: "PlainFormatter"}


def test_the_settings_refuse_an_unknown_log_format():
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=settings_env(ALLIANCE_LOG_FORMAT="xml"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "ALLIANCE_LOG_FORMAT must be plain or json" in result.stderr
