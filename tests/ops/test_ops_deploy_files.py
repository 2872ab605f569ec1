"""The files in deploy/: nginx accepts and runs the site config, the units start real commands,
and the environment file lists every variable the settings read."""

from __future__ import annotations

import http.server
import os
import re
import shlex
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from alliance.cli import COMMAND_MODULES
from tests.ops.nginx_site import (
    DEPLOY,
    ROOT,
    free_port,
    nginx,
    render_nginx,
    running_nginx,
    unverified_tls,
)


def test_nginx_accepts_the_site_config(tmp_path):
    render_nginx(tmp_path, http_port=free_port(), https_port=free_port(), app_port=8000)
    result = nginx(tmp_path, "-t")
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr


class Echo(http.server.BaseHTTPRequestHandler):
    """Stands in for gunicorn: records the headers nginx forwards."""

    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        Echo.seen.append(dict(self.headers))
        body = b"app"
        self.send_response(200)
        self.send_header("Strict-Transport-Security", "max-age=60")  # replaced by nginx's
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def proxy(tmp_path) -> Iterator[tuple[int, int, Path]]:
    app = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=app.serve_forever, daemon=True).start()
    http_port, https_port = free_port(), free_port()
    render_nginx(tmp_path, http_port=http_port, https_port=https_port, app_port=app.server_port)
    try:
        with running_nginx(tmp_path):
            yield http_port, https_port, tmp_path
    finally:
        app.shutdown()


def fetch(url: str, **headers: str):
    context = unverified_tls()
    request = urllib.request.Request(url, headers={"Host": "alliance.example.org", **headers})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), NoRedirect())
    try:
        return opener.open(request, timeout=10)
    except urllib.error.HTTPError as error:
        return error


def test_nginx_forwards_to_the_app_with_the_headers_the_settings_trust(proxy):
    _, https_port, folder = proxy
    Echo.seen.clear()
    response = fetch(
        f"https://127.0.0.1:{https_port}/f/secret-link-token/?q=Jane",
        **{"X-Forwarded-For": "6.6.6.6", "X-Request-ID": "forged"},
    )
    assert response.status == 200 and response.read() == b"app"
    assert response.headers.get_all("Strict-Transport-Security") == [
        "max-age=31536000; includeSubDomains; preload"
    ]
    [headers] = Echo.seen
    assert headers["X-Forwarded-For"] == "127.0.0.1"  # the client's own entry is dropped
    assert headers["X-Forwarded-Proto"] == "https"
    assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Request-ID"])
    assert headers["Host"] == "alliance.example.org"
    log = folder / "alliance.access.log"
    deadline = time.monotonic() + 10  # nginx writes the line once the response has gone out
    while time.monotonic() < deadline and "rid=" not in log.read_text():
        time.sleep(0.05)
    access = log.read_text()
    assert f"rid={headers['X-Request-ID']}" in access
    assert "secret-link-token" not in access and "Jane" not in access


def test_nginx_redirects_plain_http_and_serves_static_files_itself(proxy):
    http_port, https_port, _ = proxy
    Echo.seen.clear()
    redirect = fetch(f"http://127.0.0.1:{http_port}/clients/")
    assert redirect.status == 301
    assert redirect.headers["Location"] == "https://alliance.example.org/clients/"
    static = fetch(f"https://127.0.0.1:{https_port}/static/site.css")
    assert static.status == 200 and b"color: black" in static.read()
    assert static.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert Echo.seen == []


def test_nginx_refuses_a_body_over_the_limit(proxy):
    _, https_port, _ = proxy
    context = unverified_tls()
    request = urllib.request.Request(
        f"https://127.0.0.1:{https_port}/api/v1/imports",
        data=b"x" * (21 * 1024 * 1024),
        headers={"Host": "alliance.example.org"},
        method="POST",
    )
    try:
        urllib.request.urlopen(request, context=context, timeout=30)
        status = 200
    except urllib.error.HTTPError as error:
        status = error.code
    except (ConnectionError, urllib.error.URLError):
        status = 413  # nginx may close the connection while the body is still being sent
    assert status == 413


def unit_commands(text: str) -> list[list[str]]:
    commands = []
    for line in text.splitlines():
        if line.startswith("ExecStart="):
            words = line.removeprefix("ExecStart=").replace("'", " ").replace('"', " ").split()
            for index, word in enumerate(words):
                if word.endswith("/bin/alliance"):
                    commands.append(words[index + 1 :])
    return commands


def test_the_systemd_units_run_existing_alliance_commands_with_the_environment_file():
    expected = {
        "alliance.service": "serve",
        "alliance-worker.service": "worker",
        "alliance-backup.service": "backup",
        "alliance-retention.service": "retention",
    }
    for unit, command in expected.items():
        text = (DEPLOY / "systemd" / unit).read_text()
        [words] = unit_commands(text)
        assert words[0] == command and command in COMMAND_MODULES
        assert "EnvironmentFile=/etc/alliance/alliance.env" in text
        assert "User=alliance" in text
    assert "127.0.0.1:8000" in (DEPLOY / "systemd" / "alliance.service").read_text()
    backup = (DEPLOY / "systemd" / "alliance-backup.service").read_text()
    assert "-mtime +${KEEP_DAYS} -delete" in backup
    for timer in ("alliance-backup.timer", "alliance-retention.timer"):
        text = (DEPLOY / "systemd" / timer).read_text()
        assert "OnCalendar=" in text and "Persistent=true" in text


def settings_variables() -> set[str]:
    source = (ROOT / "alliance" / "settings.py").read_text()
    pattern = r'(?:os\.environ\.get\(|os\.environ\[|env_flag\()\s*"([A-Z0-9_]+)"'
    return set(re.findall(pattern, source))


def test_the_environment_file_lists_every_variable_the_settings_read():
    text = (DEPLOY / "alliance.env.example").read_text()
    listed = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))
    variables = settings_variables()
    assert {"SECRET_KEY", "DATABASE_URL", "ALLIANCE_TRUSTED_PROXIES", "REDIS_URL"} <= variables
    assert variables - listed == set()


def test_the_environment_file_keeps_production_safe_values():
    values = dict(
        line.split("=", 1)
        for line in (DEPLOY / "alliance.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert values["DEBUG"] == "0" and values["SECURE_COOKIES"] == "1"
    assert values["SECURE_SSL_REDIRECT"] == "1" and values["SECURE_PROXY_SSL_HEADER"] == "1"
    assert values["ALLIANCE_TRUSTED_PROXIES"] == "1"
    assert int(values["SECURE_HSTS_SECONDS"]) >= 31536000
    assert values["ALLIANCE_TASKS"] == "database"
    assert "ALLIANCE_INSECURE_DEV_KEY" not in values


SHELL_OPERATORS = {"|", "||", "&&", ";", ">", ">>", "<"}


def documented_invocations() -> tuple[list[list[str]], set[str]]:
    """The `alliance` command lines in docs/deployment.md's code blocks (as argument lists), and
    the subcommands its text names in `alliance NAME` quotes."""
    text = (ROOT / "docs" / "deployment.md").read_text()
    invocations = []
    shell_lines, fence = [], None
    for line in text.splitlines():
        if line.startswith("```"):
            fence = None if fence is not None else line[3:]
        elif fence in {"sh", ""}:
            shell_lines.append(line)
    for line in shell_lines:
        tokens = shlex.split(line, comments=True)
        for index, token in enumerate(tokens[:-1]):
            is_command = token == "alliance" or token.endswith("/.venv/bin/alliance")
            after_option = index > 0 and tokens[index - 1].startswith("-")
            if is_command and not after_option and re.fullmatch(r"[a-z-]+", tokens[index + 1]):
                words = tokens[index + 1 :]
                stop = next((i for i, w in enumerate(words) if w in SHELL_OPERATORS), None)
                invocations.append(words[:stop])
    named = set(re.findall(r"`alliance ([a-z-]+)", text))
    return invocations, named


def test_every_alliance_command_in_the_deployment_guide_exists_with_its_options():
    from alliance.cli import build_parser

    invocations, named = documented_invocations()
    assert len(invocations) >= 10
    assert {"migrate", "createadmin", "check", "collectstatic", "restore", "audit"} <= {
        words[0] for words in invocations
    }
    parser = build_parser()
    for words in invocations:
        try:
            parser.parse_args(words)
        except SystemExit:
            pytest.fail(f"docs/deployment.md runs `alliance {' '.join(words)}`, which fails")
    assert named - set(COMMAND_MODULES) == set()
    assert {"serve", "worker", "backup", "demo"} <= named


def test_the_operators_wrapper_reads_the_environment_file_unless_a_variable_is_set(tmp_path):
    home = tmp_path / "opt"
    (home / ".venv" / "bin").mkdir(parents=True)
    command = home / ".venv" / "bin" / "alliance"
    command.write_text(f'#!/bin/sh\nexec {sys.executable} -m alliance "$@"\n')
    command.chmod(0o755)
    data = tmp_path / "data"
    data.mkdir()
    env_file = tmp_path / "alliance.env"
    env_file.write_text(
        "# a comment\n\n"
        f"SECRET_KEY=not-a-real-key-but-long-enough-for-the-test-0123456789\n"
        f"ALLIANCE_DATA_DIR={data}\n"
        f"DATABASE_URL=sqlite:///{data}/main.sqlite3\n"
        "DEFAULT_FROM_EMAIL=Alliance <alliance@example.org>\n"
    )
    base = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT),
        "ALLIANCE_ENV_FILE": str(env_file),
        "ALLIANCE_HOME": str(home),
    }

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(DEPLOY / "bin" / "alliance"), *args],
            env={**base, **extra},
            capture_output=True,
            text=True,
            timeout=180,
        )

    assert run("migrate").returncode == 0
    assert (data / "main.sqlite3").exists()
    assert run("migrate", "--check").returncode == 0
    other = run("migrate", "--check", DATABASE_URL=f"sqlite:///{data}/drill.sqlite3")
    assert other.returncode == 1 and "waiting" in other.stdout
    missing = run("check", ALLIANCE_ENV_FILE=str(tmp_path / "absent.env"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
