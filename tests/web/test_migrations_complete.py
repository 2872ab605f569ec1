"""Every model change has its migration: several people add fields at once, and a missing
migration only shows on a server that runs `alliance migrate`."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_the_models_and_the_migrations_agree():
    out = io.StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exited:  # --check exits 1 when a migration is missing
        pytest.fail(
            f"makemigrations would write a migration (exit {exited.code}):\n{out.getvalue()}"
        )
