"""Bulk import of administrations into one agency: THE writer of an administrations table.

The API (``POST /api/v1/imports``, FHIR bundles), ``manage.py import_administrations``, the demo,
the test loaders and the benchmarks all write tables through ``import_table``; its steps are
modules of this package: ``read`` (CSV or a typed table as text), ``validate`` (per-row checks),
``plan`` (what is new: the idempotency check) and ``commit`` (bulk inserts).

Input: the administrations table (``alliance.science.table``; CSV with the columns listed there).
``therapist_id`` is the username of a member of the agency, ``team_id`` a team name (optional),
``client_id`` becomes the client's display code and ``episode_id`` the episode's import key.

* Dry run: every row is checked and a report lists (row, column, message) for each problem;
  nothing is written. Row numbers are CSV line numbers (the header is line 1).
* Commit: all or nothing, in one transaction; refused when any row has an error.
* Idempotent: the natural key of a row is (episode key, session number, instrument, rater) within
  the agency (the client code is fixed per episode key). Rows already imported with the same total
  are counted as unchanged; with a different total they are an error (edit them in the app).
* Fast: set-based validation with pandas, bulk inserts, one science evaluation per episode for
  its summary and current alerts (``alert_history=True``, used by the demo, evaluates every
  session as it happened: too slow for 100,000 rows).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from alliance.accounts.models import Agency, Team, User
from alliance.audit.services import record as audit_record
from alliance.care.models import Episode
from alliance.science.table import REQUIRED_COLUMNS

from ..models import ImportedEpisode
from .commit import commit
from .plan import natural_key, plan
from .read import EXPORT_COLUMNS, PROBLEM_COLUMN, ROW_COLUMN, ImportFormatError, as_text, read_csv
from .report import Errors, ImportReport, RowError
from .validate import validate

__all__ = [
    "PROBLEM_COLUMN",
    "ROW_COLUMN",
    "ImportFormatError",
    "ImportRefused",
    "ImportReport",
    "RowError",
    "import_frame",
    "import_table",
    "imported_episodes",
    "natural_key",
    "read_csv",
]


def import_table(
    actor,
    agency: Agency,
    frame: pd.DataFrame,
    *,
    dry_run: bool = True,
    alert_history: bool = False,
) -> ImportReport:
    """Validate ``frame`` (text columns as read by ``read_csv``) and, unless a dry run, commit."""
    report = ImportReport(dry_run=dry_run, rows=len(frame))
    frame = frame.reset_index(drop=True).rename(columns=EXPORT_COLUMNS)
    row_numbers = None
    if ROW_COLUMN in frame.columns:  # e.g. FHIR: the bundle entry number instead of a CSV line
        row_numbers = [int(n) for n in frame[ROW_COLUMN]]
    errors = Errors(row_numbers)
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        for column in missing:
            errors.items.append(RowError(1, column, "required column is missing"))
        return report.finish(errors)
    if frame.empty:
        return report.finish(errors)
    clean = validate(agency, frame, errors)
    planned = plan(agency, clean, errors)
    report.clients, report.episodes = len(planned.new_clients), len(planned.new_episodes)
    report.sessions, report.administrations = planned.session_count, len(planned.new_rows)
    report.unchanged = planned.unchanged
    report.finish(errors)
    if dry_run or not report.ok or not planned.new_rows:
        return report
    with transaction.atomic():
        commit(actor, agency, clean, planned, alert_history=alert_history)
        audit_record(
            actor,
            agency,
            "administrations.imported",
            agency,
            None,
            {
                "rows": report.rows,
                "clients": report.clients,
                "episodes": report.episodes,
                "sessions": report.sessions,
                "administrations": report.administrations,
                "unchanged": report.unchanged,
            },
        )
    report.committed = True
    return report


class ImportRefused(ValueError):
    """A table given by code (not by a user) has invalid rows; nothing was written."""

    def __init__(self, report: ImportReport):
        first = "; ".join(
            _("row %(row)s %(column)s: %(message)s")
            % {"row": e.row, "column": e.column, "message": e.message}
            for e in report.errors[:5]
        )
        count = report.error_count
        summary = ngettext(
            "%(count)s problem(s) in the table: %(first)s",
            "%(count)s problem(s) in the table: %(first)s",
            count,
        )
        super().__init__(summary % {"count": count, "first": first})
        self.report = report


def import_frame(
    actor,
    agency: Agency,
    table: pd.DataFrame,
    *,
    therapists: Mapping[str, User],
    teams: Mapping[str, Team] | None = None,
    code_prefix: str = "",
    alert_history: bool = False,
) -> ImportReport:
    """Commit a typed administrations table (e.g. ``alliance.science.simulate`` output).

    ``therapists`` and ``teams`` map the table's therapist_id and team_id to users and teams of
    the agency; client codes get ``code_prefix``. Raises ``ImportRefused`` for invalid rows.
    """
    text = as_text(table)
    text["therapist_id"] = [therapists[t].username for t in table["therapist_id"]]
    team_names = {str(key): team.name for key, team in (teams or {}).items()}
    keys = text["team_id"] if "team_id" in text.columns else pd.Series("", index=text.index)
    text["team_id"] = [team_names.get(key, "") for key in keys]
    text["client_id"] = code_prefix + text["client_id"]
    report = import_table(actor, agency, text, dry_run=False, alert_history=alert_history)
    if not report.ok:
        raise ImportRefused(report)
    return report


def imported_episodes(agency: Agency, keys) -> dict[str, Episode]:
    """The episodes imported under the given episode keys, by key."""
    pks = dict(
        ImportedEpisode.objects.filter(agency=agency, source_key__in=list(keys)).values_list(
            "episode_id", "source_key"
        )
    )
    episodes = Episode.objects.filter(pk__in=pks).select_related("client")
    return {pks[episode.pk]: episode for episode in episodes}
