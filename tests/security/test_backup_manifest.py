"""A backup carries a signed manifest; restore refuses a modified backup (issue 11, section 3)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from alliance.accounts.models import Agency
from alliance.cli import CliError
from alliance.cli.backup import backup_to, check_backup, restore_from


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:*") as archive:
        return {name: archive.extractfile(name).read() for name in archive.getnames()}


def _write(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as archive:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))


@pytest.fixture
def backup(personas, tmp_path) -> Path:
    path = tmp_path / "backup.tar.gz"
    backup_to(path)
    return path


def test_a_backup_carries_a_manifest_with_a_keyed_hash_of_its_data(backup, tmp_path):
    members = _members(backup)
    manifest = json.loads(members["manifest.json"])
    assert manifest["data"]["bytes"] == len(members["data.json"])
    assert len(manifest["hmac"]) == 64
    assert check_backup(backup, tmp_path).read_bytes() == members["data.json"]


def test_restore_refuses_a_backup_whose_data_was_changed(backup, tmp_path):
    members = _members(backup)
    members["data.json"] = members["data.json"].replace(b'"R-TARA-1"', b'"R-TARA-X"')
    _write(backup, members)
    with pytest.raises(CliError, match="data was modified"):
        check_backup(backup, tmp_path)


def test_restore_refuses_a_manifest_resigned_without_the_key(backup, tmp_path):
    import hashlib

    members = _members(backup)
    members["data.json"] += b" "
    manifest = json.loads(members["manifest.json"])
    manifest["data"].update(
        bytes=len(members["data.json"]), sha256=hashlib.sha256(members["data.json"]).hexdigest()
    )
    members["manifest.json"] = json.dumps(manifest).encode()
    _write(backup, members)
    with pytest.raises(CliError, match="signature does not match"):
        check_backup(backup, tmp_path)


def test_restore_refuses_a_backup_without_a_manifest_before_touching_the_database(db, tmp_path):
    plain = tmp_path / "old.json"
    plain.write_text("[]")
    with pytest.raises(CliError, match="not an unmodified backup"):
        restore_from(plain)
    assert not Agency.objects.exists()
