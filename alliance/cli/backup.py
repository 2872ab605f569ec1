"""`alliance backup -o FILE`, `alliance restore FILE` and `alliance audit verify`.

A backup is a tar archive (gzip-compressed when FILE ends in .gz) of two members: ``data.json``,
every table's rows as Django JSON fixtures with the primary keys kept (so the restored audit
chain still verifies and every report comes out the same), and ``manifest.json``: the data's
size and SHA-256, signed with an HMAC keyed from settings (``ALLIANCE_AUDIT_KEY``, else derived
from ``SECRET_KEY``). Restore refuses a backup whose manifest or data was changed (or that has no
manifest), loads it only into an empty database (migrated, no agencies and no users), then checks
the audit chain and its signed heads. Restore with the same key as the server that wrote it.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import hmac
import json
import os
import sys
import tarfile
import tempfile
from pathlib import Path

from alliance.cli import CliError

# Rebuilt by `migrate` in the target database, or not worth keeping.
EXCLUDED = ["contenttypes", "auth.permission", "sessions", "admin.logentry"]
FORMAT = "alliance-backup/2"
DATA, MANIFEST = "data.json", "manifest.json"
CHUNK = 1 << 20


def register(subparsers) -> None:
    backup = subparsers.add_parser(
        "backup",
        help="write every record of the database to a file",
        description="Write every record (agencies, users, clients, scores, audit trail) to FILE "
        "as JSON in an archive with a signed manifest (HMAC of the data); gzip-compressed when "
        "FILE ends in .gz. Uses DATABASE_URL like the server.",
    )
    backup.add_argument("-o", "--output", required=True, help="the backup file to write")
    backup.set_defaults(func=run_backup)

    restore = subparsers.add_parser(
        "restore",
        help="load a backup into an empty database",
        description="Create the tables in the database named by DATABASE_URL and load FILE into "
        "it; refuses a modified backup and a database that already holds agencies or users. "
        "Checks the audit chain and its signed heads afterwards.",
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


def backup_key() -> bytes:
    """The manifest's HMAC key (Django settings must be loaded)."""
    from alliance.accounts.sealing import server_key_material

    return hashlib.sha256(b"alliance.backup:" + server_key_material().encode()).digest()


def _signature(manifest: dict) -> str:
    unsigned = {key: value for key, value in manifest.items() if key != "hmac"}
    text = json.dumps(unsigned, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(backup_key(), text, hashlib.sha256).hexdigest()


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def backup_to(path: Path) -> int:
    """Write the backup; returns the number of bytes written."""
    from django.core.management import call_command

    partial = path.with_name(path.name + ".partial")
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / DATA
        with open(data, "w", encoding="utf-8") as stream:
            call_command(
                "dumpdata",
                exclude=EXCLUDED,
                natural_foreign=True,
                format="json",
                stdout=stream,
                verbosity=0,
            )
        manifest = {
            "format": FORMAT,
            "created_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "data": {"name": DATA, "bytes": data.stat().st_size, "sha256": _digest(data)},
        }
        manifest["hmac"] = _signature(manifest)
        body = json.dumps(manifest, indent=2, sort_keys=True).encode()
        (Path(folder) / MANIFEST).write_bytes(body)
        # Health data: readable by its owner only, from the first byte.
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as raw:
            if path.suffix == ".gz":
                with tarfile.open(fileobj=raw, mode="w:gz") as archive:
                    _pack(archive, Path(folder))
            else:
                with tarfile.open(fileobj=raw, mode="w") as archive:
                    _pack(archive, Path(folder))
    os.replace(partial, path)
    path.chmod(0o600)
    return path.stat().st_size


def _pack(archive: tarfile.TarFile, folder: Path) -> None:
    archive.add(folder / MANIFEST, arcname=MANIFEST)  # first: a reader checks it before the data
    archive.add(folder / DATA, arcname=DATA)


def check_backup(path: Path, folder: Path) -> Path:
    """Unpack the backup's data into ``folder`` and check it against the signed manifest.

    Returns the data file; raises CliError for anything but an unmodified backup.
    """
    refused = f"{path} is not an unmodified backup written by `alliance backup`"
    try:
        with tarfile.open(path, mode="r:*") as archive:
            names = archive.getnames()
            if sorted(names) != sorted([DATA, MANIFEST]):
                raise CliError(f"{refused}: it has no manifest")
            manifest_file = archive.extractfile(MANIFEST)
            data_file = archive.extractfile(DATA)
            if manifest_file is None or data_file is None:
                raise CliError(f"{refused}: it has no manifest")
            manifest = json.loads(manifest_file.read(1 << 16))
            data = folder / DATA
            digest, size = hashlib.sha256(), 0
            with open(data, "wb") as target:
                while block := data_file.read(CHUNK):
                    digest.update(block)
                    size += len(block)
                    target.write(block)
    except (tarfile.TarError, OSError, EOFError, ValueError) as error:
        raise CliError(f"{refused}: {type(error).__name__}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CliError(f"{refused}: unknown manifest")
    if not hmac.compare_digest(str(manifest.get("hmac", "")), _signature(manifest)):
        raise CliError(
            f"{refused}: the manifest's signature does not match (modified, or written with "
            "another ALLIANCE_AUDIT_KEY / SECRET_KEY)"
        )
    expected = manifest.get("data") or {}
    if expected.get("sha256") != digest.hexdigest() or expected.get("bytes") != size:
        raise CliError(f"{refused}: its data was modified")
    return data


def restore_from(path: Path) -> int:
    """Check and load the backup into an empty, migrated database; returns the number of events."""
    from django.core.management import call_command

    from alliance.accounts.models import Agency, User

    with tempfile.TemporaryDirectory() as folder:
        fixture = check_backup(path, Path(folder))
        if Agency.objects.exists() or User.objects.exists():
            raise CliError("the database is not empty: restore only into a new database")
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
    print(f"restored from {path}; audit trail: {checked} events, {len(broken)} broken lanes")
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
