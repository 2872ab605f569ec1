"""`alliance migrate`, `createadmin`, `check`, `collectstatic` and a production `serve`: what a
server needs without manage.py (alliance/cli/production.py, docs/deployment.md)."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a long and unusual passphrase"


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A server's environment: its own SQLite database and secret, no test settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "PYTEST", "ALLIANCE_", "SECURE_", "DEBUG"))
        and k not in {"DATABASE_URL", "SECRET_KEY"}
    }
    env.update(
        PYTHONPATH=str(ROOT),
        ALLIANCE_DATA_DIR=str(tmp_path / "var"),
        SECRET_KEY=secrets.token_urlsafe(50),
    )
    env.update(extra)
    return env


def alliance(
    tmp_path: Path, *args: str, stdin: str | None = None, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alliance", *args],
        cwd=tmp_path,
        env=environment(tmp_path, **extra),
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=180,
    )


def database(tmp_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(tmp_path / "var" / "alliance.sqlite3")


@pytest.fixture(scope="module")
def migrated_template(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("migrated")
    result = alliance(folder, "migrate")
    assert result.returncode == 0, result.stderr
    return folder / "var"


@pytest.fixture
def migrated(tmp_path, migrated_template) -> Path:
    """tmp_path with a migrated database under var/ (migrating once per module saves minutes)."""
    shutil.copytree(migrated_template, tmp_path / "var")
    return tmp_path


def test_migrate_creates_the_tables_and_check_tells_whether_any_migration_waits(tmp_path):
    waiting = alliance(tmp_path, "migrate", "--check")
    assert waiting.returncode == 1 and "migration(s) waiting" in waiting.stdout
    applied = alliance(tmp_path, "migrate")
    assert applied.returncode == 0, applied.stderr
    assert "Applying accounts.0001" in applied.stdout
    with database(tmp_path) as db:
        assert db.execute("select count(*) from accounts_agency").fetchone() == (0,)
        # The cache table every worker reads for the API rate limit (no Redis configured).
        assert db.execute("select count(*) from alliance_cache").fetchone() == (0,)
    done = alliance(tmp_path, "migrate", "--check")
    assert done.returncode == 0 and "Every migration is applied." in done.stdout
    again = alliance(tmp_path, "migrate")
    assert again.returncode == 0 and "No migrations to apply." in again.stdout


def test_createadmin_reads_the_password_from_standard_input(migrated):
    tmp_path = migrated
    result = alliance(
        tmp_path,
        "createadmin",
        "--agency",
        "Riverside Counselling",
        "--username",
        "ada",
        "--email",
        "ada@example.org",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert result.returncode == 0, result.stderr
    assert "Created the admin ada of the new agency 'Riverside Counselling'." in result.stdout
    assert PASSWORD not in result.stdout + result.stderr
    with database(tmp_path) as db:
        row = db.execute(
            "select u.is_staff, u.is_superuser, u.email, u.password, m.role, a.name "
            "from accounts_user u join accounts_membership m on m.user_id = u.id "
            "join accounts_agency a on a.id = m.agency_id where u.username = 'ada'"
        ).fetchone()
    is_staff, is_superuser, email, hashed, role, agency = row
    assert (is_staff, is_superuser, email, role) == (1, 0, "ada@example.org", "admin")
    assert agency == "Riverside Counselling" and hashed.startswith("argon2$")


def test_createadmin_takes_the_password_from_the_environment_and_joins_an_existing_agency(
    migrated,
):
    tmp_path = migrated
    first = alliance(
        tmp_path, "createadmin", "--agency", "Riverside", "--username", "ada", stdin=PASSWORD
    )
    assert first.returncode == 2 and "no password" in first.stderr
    first = alliance(
        tmp_path,
        "createadmin",
        "--agency",
        "Riverside",
        "--username",
        "ada",
        ALLIANCE_ADMIN_PASSWORD=PASSWORD,
    )
    assert first.returncode == 0, first.stderr
    second = alliance(
        tmp_path,
        "createadmin",
        "--agency",
        "Riverside",
        "--username",
        "bea",
        ALLIANCE_ADMIN_PASSWORD=PASSWORD,
    )
    assert second.returncode == 0 and "of the existing agency 'Riverside'" in second.stdout
    with database(tmp_path) as db:
        assert db.execute("select count(*) from accounts_agency").fetchone() == (1,)
        assert db.execute("select count(*) from accounts_membership").fetchone() == (2,)


def test_createadmin_refuses_a_taken_username_or_a_weak_password_and_creates_nothing(migrated):
    tmp_path = migrated
    alliance(
        tmp_path,
        "createadmin",
        "--agency",
        "Riverside",
        "--username",
        "ada",
        ALLIANCE_ADMIN_PASSWORD=PASSWORD,
    )
    taken = alliance(
        tmp_path,
        "createadmin",
        "--agency",
        "Hillside",
        "--username",
        "ada",
        ALLIANCE_ADMIN_PASSWORD=PASSWORD,
    )
    assert taken.returncode == 2 and "the username 'ada' is taken" in taken.stderr
    weak = alliance(
        tmp_path,
        "createadmin",
        "--agency",
        "Hillside",
        "--username",
        "bea",
        "--password-stdin",
        stdin="password\n",
    )
    assert weak.returncode == 2 and "the password is refused" in weak.stderr
    with database(tmp_path) as db:
        assert db.execute("select name from accounts_agency").fetchall() == [("Riverside",)]
        assert db.execute("select username from accounts_user").fetchall() == [("ada",)]


def test_createadmin_never_takes_a_password_argument_and_needs_names_without_a_terminal(
    tmp_path,
):
    argument = alliance(
        tmp_path, "createadmin", "--agency", "R", "--username", "ada", "--password", PASSWORD
    )
    assert argument.returncode == 2 and "unrecognized arguments" in argument.stderr
    unnamed = alliance(tmp_path, "createadmin", "--password-stdin", stdin=PASSWORD)
    assert unnamed.returncode == 2
    assert "--agency is required without a terminal or with --password-stdin" in unnamed.stderr


def documented_environment(tmp_path: Path) -> dict[str, str]:
    """deploy/alliance.env.example as an operator fills it in, on a SQLite file for the test."""
    values = dict(
        line.split("=", 1)
        for line in (ROOT / "deploy" / "alliance.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    values.update(
        SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL=f"sqlite:///{tmp_path / 'var' / 'alliance.sqlite3'}",
        ALLIANCE_DATA_DIR=str(tmp_path / "var"),
    )
    return values


def test_check_deploy_is_clean_with_the_documented_environment(migrated):
    tmp_path = migrated
    env = documented_environment(tmp_path)
    result = alliance(tmp_path, "check", "--deploy", **env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_without_https_settings_or_with_migrations_waiting(tmp_path):
    env = documented_environment(tmp_path)
    (tmp_path / "var").mkdir()
    waiting = alliance(tmp_path, "check", "--deploy", **env)
    assert waiting.returncode == 1 and "run `alliance migrate`" in waiting.stderr
    alliance(tmp_path, "migrate", **env)
    env.update(SECURE_SSL_REDIRECT="0", SECURE_HSTS_SECONDS="0", SECURE_COOKIES="0")
    result = alliance(tmp_path, "check", "--deploy", **env)
    assert result.returncode == 1
    for code in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert code in result.stderr
    plain = alliance(tmp_path, "check", **env)
    assert plain.returncode == 0 and "no issues" in plain.stdout


def test_collectstatic_copies_the_files_the_proxy_serves(tmp_path):
    result = alliance(tmp_path, "collectstatic")
    assert result.returncode == 0, result.stderr
    static = tmp_path / "var" / "static"
    assert any(static.rglob("*.css")) and any(static.rglob("*.js"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_marks_cookies_secure_and_logs_json_lines_without_query_strings(migrated):
    tmp_path = migrated
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "alliance", "serve", "--bind", f"127.0.0.1:{port}"]
        + ["--workers", "1"],
        cwd=tmp_path,
        env=environment(tmp_path, ALLIANCE_LOG_FORMAT="json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        health = None
        while health is None and time.monotonic() < deadline:
            try:
                health = urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz?probe=1")
            except OSError:
                time.sleep(0.25)
        assert health is not None and health.status == 200
        assert json.loads(health.read())["status"] == "ok"
        login = urllib.request.urlopen(f"http://127.0.0.1:{port}/login/?next=/clients/x/")
        cookies = login.headers.get_all("Set-Cookie")
        assert cookies and all(re.search(r";\s*Secure", cookie) for cookie in cookies)
    finally:
        server.terminate()
        out, err = server.communicate(timeout=30)
    assert "Cookies are not marked Secure" not in out
    lines = [json.loads(line) for line in err.splitlines()]  # gunicorn's lines too
    assert any(line["logger"] == "gunicorn.error" for line in lines)
    requests = [line for line in lines if line["logger"] == "alliance.request"]
    assert [(line["method"], line["path"], line["status"]) for line in requests] == [
        ("GET", "/healthz", 200),
        ("GET", "/login/", 200),
    ]
    assert all(len(line["request_id"]) == 32 for line in requests)
    assert "probe" not in err and "next=" not in err


def test_createadmin_asks_for_the_names_and_the_password_twice_on_a_terminal(migrated):
    import pty

    tmp_path = migrated
    pid, terminal = pty.fork()
    if pid == 0:  # the child: `alliance createadmin` on the pseudo-terminal
        os.chdir(tmp_path)
        os.execve(
            sys.executable, [sys.executable, "-m", "alliance", "createadmin"], environment(tmp_path)
        )
    transcript = b""
    answers = [
        (b"Agency name: ", b"Riverside\n"),
        (b"Admin username: ", b"ada\n"),
        (b"Password: ", PASSWORD.encode() + b"\n"),
        (b"Password (again): ", PASSWORD.encode() + b"\n"),
    ]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            chunk = os.read(terminal, 1024)
        except OSError:  # the child has exited
            break
        if not chunk:
            break
        transcript += chunk
        if answers and transcript.endswith(answers[0][0]):
            os.write(terminal, answers.pop(0)[1])
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, transcript.decode(errors="replace")
    assert answers == [] and PASSWORD.encode() not in transcript  # never echoed
    assert b"Created the admin ada of the new agency 'Riverside'." in transcript
    with database(tmp_path) as db:
        assert db.execute("select username from accounts_user").fetchall() == [("ada",)]


SEALED_VALUE = """
import sys
from alliance.cli.web import setup_django
setup_django()
from alliance.accounts.models import Agency
from alliance.api.models import WebhookEndpoint
if sys.argv[1] == "store":
    agency = Agency.objects.create(name="Riverside")
    WebhookEndpoint.objects.create(agency=agency, url="https://ehr.example.org/h", secret="whsec_x")
else:
    print(WebhookEndpoint.objects.get().secret)
"""


def python(folder: Path, action: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SEALED_VALUE, action],
        cwd=folder,
        env=environment(folder, **extra),
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_reseal_moves_the_sealed_secrets_to_a_rotated_key_and_refuses_an_unknown_one(migrated):
    old, new = secrets.token_urlsafe(50), secrets.token_urlsafe(50)
    assert python(migrated, "store", SECRET_KEY=old).returncode == 0
    checked = alliance(migrated, "check", SECRET_KEY=new)
    assert checked.returncode == 1
    assert "alliance.E001" in checked.stderr
    unknown = alliance(migrated, "reseal", SECRET_KEY=new)
    assert unknown.returncode == 2
    assert "SECRET_KEY_FALLBACKS" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    moved = alliance(migrated, "reseal", SECRET_KEY=new, SECRET_KEY_FALLBACKS=old)
    assert moved.returncode == 0, moved.stderr
    assert "api.WebhookEndpoint: 1 sealed under the current key" in moved.stdout
    read = python(migrated, "read", SECRET_KEY=new)
    assert read.returncode == 0, read.stderr
    assert read.stdout.strip() == "whsec_x"
    assert alliance(migrated, "check", SECRET_KEY=new).returncode == 0


def test_retention_runs_without_manage_py_and_a_dry_run_says_what_it_would_do(migrated):
    created = alliance(
        migrated, "createadmin", "--agency", "Riverside", "--username", "alice", "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    dry = alliance(migrated, "retention", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == [
        "Riverside: no retention period, nothing erased",
        "merges past their undo window: 0 would have their details removed",
    ]
    done = alliance(migrated, "retention")
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.splitlines()[-1] == "merges past their undo window: 0 had their details removed"
    )


def test_retention_never_migrates_by_itself_and_says_what_to_run(tmp_path):
    refused = alliance(tmp_path, "retention")
    assert refused.returncode == 2
    assert "migration(s) waiting: run `alliance migrate` first" in refused.stderr
    assert alliance(tmp_path, "migrate", "--check").returncode == 1  # still nothing applied
