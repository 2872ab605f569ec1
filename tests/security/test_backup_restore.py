"""`alliance backup` and `alliance restore` into an empty database reproduce identical reports.

Runs the real command line in subprocesses against scratch databases of the same kind as the
test run (SQLite files, or PostgreSQL databases created and dropped here).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
ALLIANCE = str(Path(sys.executable).with_name("alliance"))

POPULATE = """
from alliance.cli.web import setup_django
setup_django()
from django.contrib.auth.hashers import make_password
from alliance.accounts.models import Agency, Role
from alliance.accounts.services import create_member
from alliance.care import services
from alliance.api.imports import import_frame
from alliance.care.models import Client
from alliance.science.simulate import simulate
agency = Agency.objects.create(name="Backup test")
hashed = make_password("unused-password-1")
admin = create_member(agency, "admin", "", Role.ADMIN, password_hash=hashed)
frame = simulate(24, 3, seed=11)
therapists = {
    tid: create_member(agency, f"t{n}", "", Role.THERAPIST, password_hash=hashed)
    for n, tid in enumerate(sorted(frame["therapist_id"].unique()))
}
import_frame(admin, agency, frame, therapists=therapists, code_prefix="B-")
client = Client.objects.order_by("display_code").first()
services.start_session(admin, Client.objects.filter(episodes__end_date__isnull=True).first())
services.erase_client(admin, client, reason="request")
"""

REPORT = """
import json
from alliance.cli.web import setup_django
setup_django()
from alliance.accounts.models import Agency
from alliance.audit.models import AuditEvent
from alliance.audit.services import verify
from alliance.care.models import Administration, Client, Episode
from alliance.reports.data import administrations_frame
from alliance.science.effectiveness import effectiveness
agency = Agency.objects.get()
frame = administrations_frame(Episode.objects.filter(agency=agency))
checked, broken = verify()
print(json.dumps({
    "effectiveness": effectiveness(frame),
    "by_therapist": effectiveness(frame, by="therapist_id"),
    "clients": sorted(Client.objects.values_list("public_id", "display_code")),
    "administrations": Administration.objects.count(),
    "audit_events": AuditEvent.objects.count(),
    "audit_head": AuditEvent.objects.order_by("-seq", "-lane").values_list("hash", flat=True).first(),
    "audit_checked": checked,
    "audit_broken": len(broken),
}, sort_keys=True, default=str))
"""


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as db:
        db.execute(sql)


@pytest.fixture
def scratch_databases(tmp_path):
    """Two empty databases of the kind this run uses: (source URL, target URL)."""
    if connection.vendor == "postgresql":
        names = [f"alliance_backup_{secrets.token_hex(4)}" for _ in range(2)]
        for name in names:
            _pg_admin(f'CREATE DATABASE "{name}"')
        yield tuple(f"postgres://postgres@127.0.0.1:5432/{name}" for name in names)
        for name in names:
            _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        yield (
            f"sqlite:///{tmp_path / 'source.sqlite3'}",
            f"sqlite:///{tmp_path / 'target.sqlite3'}",
        )


def run(args: list[str], database_url: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))}
    env.update(DATABASE_URL=database_url, ALLIANCE_DATA_DIR=str(data_dir))
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def report(database_url: str, data_dir: Path) -> dict:
    result = run([sys.executable, "-c", REPORT], database_url, data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_restored_backup_gives_identical_reports_and_an_intact_audit_chain(
    scratch_databases, tmp_path
):
    source, target = scratch_databases
    populated = run([sys.executable, "-c", POPULATE], source, tmp_path)
    assert populated.returncode == 0, populated.stderr[-3000:]
    before = report(source, tmp_path)
    assert before["administrations"] > 50 and before["audit_events"] > 1
    assert before["effectiveness"]["overall"]["n_episodes"] > 10

    backup = tmp_path / "alliance-backup.json.gz"
    made = run([ALLIANCE, "backup", "-o", str(backup)], source, tmp_path)
    assert made.returncode == 0, made.stderr[-3000:]
    assert backup.stat().st_mode & 0o077 == 0  # readable by its owner only

    restored = run([ALLIANCE, "restore", str(backup)], target, tmp_path)
    assert restored.returncode == 0, restored.stdout + restored.stderr[-3000:]
    after = report(target, tmp_path)
    assert after == before
    assert after["audit_broken"] == 0 and after["audit_checked"] == after["audit_events"]

    again = run([ALLIANCE, "restore", str(backup)], target, tmp_path)
    assert again.returncode == 2 and "not empty" in again.stderr

    verified = run([ALLIANCE, "audit", "verify"], target, tmp_path)
    assert verified.returncode == 0 and "audit trail intact" in verified.stdout
