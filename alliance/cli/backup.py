"""`alliance backup -o FILE`, `alliance restore FILE` and `alliance audit verify`.

A backup is every table's rows as Django JSON fixtures (gzip-compressed when FILE ends in .gz),
with the primary keys kept, so the restored audit chain still verifies and every report comes
out the same. Restore only into an empty database (migrated, no agencies and no users).
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import sys
import tempfile
from pathlib import Path

from alliance.cli import CliError

# Rebuilt by `migrate` in the target database, or not worth keeping.
EXCLUDED = ["contenttypes", "auth.permission", "sessions", "admin.logentry"]


def register(subparsers) -> None:
    backup = subparsers.add_parser(
        "backup",
        help="write every record of the database to a file",
        description="Write every record (agencies, users, clients, scores, audit trail) to FILE "
        "as JSON; gzip-compressed when FILE ends in .gz. Uses DATABASE_URL like the server.",
    )
    backup.add_argument("-o", "--output", required=True, help="the backup file to write")
    backup.set_defaults(func=run_backup)

    restore = subparsers.add_parser(
        "restore",
        help="load a backup into an empty database",
        description="Create the tables in the database named by DATABASE_URL and load FILE into "
        "it; refuses a database that already holds agencies or users. Checks the audit chain.",
    )
    restore.add_argument("file", help="a file written by `alliance backup`")
    restore.set_defaults(func=run_restore)

    audit = subparsers.add_parser("audit", help="check the audit trail")
    audit_sub = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify = audit_sub.add_parser(
        "verify",
        help="check every lane's hash chain against its signed head; print every broken lane",
    )
    verify.set_defaults(func=run_verify)


def _django() -> None:
    from alliance.cli.web import setup_django

    setup_django()


def backup_to(path: Path) -> int:
    """Write the backup; returns the number of bytes written."""
    from django.core.management import call_command

    opener = gzip.open if path.suffix == ".gz" else open
    partial = path.with_name(path.name + ".partial")
    with opener(partial, "wt", encoding="utf-8") as stream:
        call_command(
            "dumpdata",
            exclude=EXCLUDED,
            natural_foreign=True,
            format="json",
            stdout=stream,
            verbosity=0,
        )
    os.replace(partial, path)
    path.chmod(0o600)  # health data
    return path.stat().st_size


def restore_from(path: Path) -> int:
    """Load the backup into an empty, migrated database; returns the number of objects."""
    from django.core.management import call_command

    from alliance.accounts.models import Agency, User

    if Agency.objects.exists() or User.objects.exists():
        raise CliError("the database is not empty: restore only into a new database")
    with open(path, "rb") as raw:
        magic = raw.read(2)
    with tempfile.TemporaryDirectory() as folder:
        fixture = Path(folder) / "backup.json"
        opener = gzip.open if magic == b"\x1f\x8b" else open
        with opener(path, "rb") as source, open(fixture, "wb") as target:
            shutil.copyfileobj(source, target)
        call_command("loaddata", str(fixture), verbosity=0)
    from alliance.audit.models import AuditEvent

    return AuditEvent.objects.count()


def run_backup(args: argparse.Namespace) -> int:
    path = Path(args.output)
    if not path.parent.is_dir():
        raise CliError(f"no such directory: {path.parent}")
    _django()
    size = backup_to(path)
    print(f"backup written to {path} ({size} bytes)")
    return 0


def run_restore(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"no such file: {path}")
    _django()
    restore_from(path)
    from alliance.audit.services import verify

    checked, broken = verify()
    for problem in broken:
        print(problem, file=sys.stderr)
    print(f"restored from {path}; audit trail: {checked} events, {len(broken)} broken chains")
    return 1 if broken else 0


def run_verify(args: argparse.Namespace) -> int:  # noqa: ARG001
    _django()
    from alliance.audit.services import EVIDENCE_HINT, verify

    checked, broken = verify()
    for problem in broken:
        print(problem, file=sys.stderr)
    if broken:
        print(
            f"audit trail broken: {len(broken)} lanes ({checked} events checked)", file=sys.stderr
        )
        print(EVIDENCE_HINT, file=sys.stderr)
        return 1
    print(f"audit trail intact: {checked} events checked")
    return 0
