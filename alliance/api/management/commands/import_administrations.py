"""``manage.py import_administrations AGENCY FILE [--commit]``: bulk import (dry run by default)."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from alliance.accounts.models import Agency, User
from alliance.api import fhir, imports


class Command(BaseCommand):
    help = (
        "Import historical administrations into an agency from an administrations-table CSV or a "
        "FHIR Bundle (.json). Without --commit only validates and prints the report."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("agency", help="the agency's name")
        parser.add_argument("file", help="CSV (administrations table) or FHIR Bundle JSON")
        parser.add_argument("--commit", action="store_true", help="write (all or nothing)")
        parser.add_argument("--actor", help="username recorded in the audit trail")
        parser.add_argument(
            "--therapist", help="FHIR only: username for responses without an author"
        )
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args, **options) -> None:
        agency = Agency.objects.filter(name=options["agency"]).first()
        if agency is None:
            raise CommandError(f"no agency named {options['agency']!r}")
        actor = None
        if options["actor"]:
            actor = User.objects.filter(username=options["actor"]).first()
            if actor is None:
                raise CommandError(f"no user {options['actor']!r}")
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"file not found: {path}")
        dry_run = not options["commit"]
        try:
            if path.suffix.lower() == ".json":
                therapist = options["therapist"] or (actor.username if actor else "")
                report = fhir.import_bundle(
                    actor,
                    agency,
                    json.loads(path.read_text()),
                    therapist=therapist,
                    dry_run=dry_run,
                )
            else:
                frame = imports.read_csv(path.read_bytes())
                report = imports.import_table(actor, agency, frame, dry_run=dry_run)
        except (imports.ImportFormatError, fhir.FhirImportError, json.JSONDecodeError) as error:
            raise CommandError(str(error)) from None
        data = report.to_dict()
        if options["json"]:
            self.stdout.write(json.dumps(data, indent=2))
        else:
            created = data["created"]
            self.stdout.write(
                f"{report.rows} rows: {created['administrations']} administrations, "
                f"{created['sessions']} sessions, {created['episodes']} episodes, "
                f"{created['clients']} clients to create; {report.unchanged} unchanged; "
                f"{report.error_count} error(s)."
            )
            for problem in report.errors[:50]:
                self.stdout.write(f"  row {problem.row}, {problem.column}: {problem.message}")
            if report.error_count > 50:
                self.stdout.write(f"  ... and {report.error_count - 50} more")
            if report.committed:
                self.stdout.write("Committed.")
            elif dry_run:
                self.stdout.write("Dry run: nothing written (add --commit).")
        if report.error_count and not dry_run:
            raise CommandError("nothing was imported")
