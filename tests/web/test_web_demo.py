"""`alliance demo --no-serve` on a temporary SQLite database under ./var/."""

from __future__ import annotations

import datetime
import os
import sqlite3
import subprocess
import sys
from pathlib import Path


def run_alliance(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DATABASE_URL",
            "ALLIANCE_DATA_DIR",
            "SECRET_KEY",
            "DEBUG",
            "DJANGO_SETTINGS_MODULE",
        }
    }
    return subprocess.run(
        [sys.executable, "-m", "alliance", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_demo_no_serve_creates_the_data_once_and_prints_the_logins(tmp_path):
    first = run_alliance("demo", "--no-serve", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Demo data created: 60 clients." in first.stdout
    assert "therapist1" in first.stdout and "http://127.0.0.1:8000/" in first.stdout
    database = tmp_path / "var" / "alliance.sqlite3"
    secret = tmp_path / "var" / "secret_key"
    assert database.exists() and len(secret.read_text()) >= 50

    with sqlite3.connect(database) as db:
        users = {row[0] for row in db.execute("select username from accounts_user")}
        zones = {
            row[0] for row in db.execute("select zone from care_episode where end_date is null")
        }
        last_session = db.execute("select max(last_session_date) from care_episode").fetchone()[0]
        teams = db.execute("select count(*) from accounts_team").fetchone()[0]
        hashes = {row[0].split("$")[0] for row in db.execute("select password from accounts_user")}
    assert users == {"admin", "supervisor", "therapist1", "therapist2", "therapist3", "therapist4"}
    assert {"red", "orange", "green", "grey"} <= zones
    assert teams == 2 and hashes == {"argon2"}
    days_ago = (datetime.date.today() - datetime.date.fromisoformat(last_session)).days
    assert 0 <= days_ago <= 1

    second = run_alliance("demo", "--no-serve", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "already present (60 clients)" in second.stdout
    with sqlite3.connect(database) as db:
        assert db.execute("select count(*) from care_client").fetchone()[0] == 60


def test_demo_rejects_a_port_out_of_range_with_exit_status_2(tmp_path):
    result = run_alliance("demo", "--no-serve", "--port", "70000", cwd=tmp_path)
    assert result.returncode == 2
    assert "port must be between 1 and 65535" in result.stderr
    assert not (tmp_path / "var").exists()
