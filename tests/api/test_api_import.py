"""Bulk import: validation report per row, dry run, all-or-nothing commit, idempotency."""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.management import CommandError, call_command

from alliance.api.imports import import_table, read_csv
from alliance.api.models import ImportedEpisode
from alliance.audit.models import AuditEvent
from alliance.care.models import Administration, Alert, Client, Episode, Session

HEADER = (
    "client_id,episode_id,therapist_id,team_id,session_number,session_date,instrument,rater,"
    "total,item_1,item_2,item_3,item_4,age_band,ending\n"
)
# E-1: ORS items 5.2+4.8+6.1+3.9 = 20.0 at intake, 26.5 at session 2, closed (planned).
# E-2: open, ORS 12 then 14.
GOOD = HEADER + (
    "H-1,E-1,tara,North,1,2025-01-06,ors,client,,5.2,4.8,6.1,3.9,adult,planned\n"
    "H-1,E-1,tara,North,1,2025-01-06,srs,client,37,,,,,adult,planned\n"
    "H-1,E-1,tara,North,2,2025-01-13,ors,client,26.5,,,,,adult,planned\n"
    "H-2,E-2,theo,,1,2025-02-03,ors,client,12,,,,,adult,\n"
    "H-2,E-2,theo,,2,2025-02-10,ors,client,14,,,,,adult,\n"
)
BAD = HEADER + (
    "H-4,E-4,nobody,,1,2025-01-06,ors,client,20,,,,,adult,\n"  # line 2
    "H-3,E-3,tara,,2,06/01/2025,ors,client,20,,,,,adult,\n"  # line 3
    "H-3,E-3,tara,,3,2025-01-20,ors,client,45,,,,,adult,\n"  # line 4
    "H-3,E-3,tara,,4,2025-01-27,xyz,client,20,,,,,adult,\n"  # line 5
    "H-3,E-3,tara,,5,2025-02-03,ors,client,,5,5,,,adult,\n"  # line 6
    "H-3,E-3,tara,Nowhere,6,2025-02-10,ors,teacher's pet,20,,,,,teen,maybe\n"  # line 7
)


def run(personas, text: str, *, dry_run: bool):
    return import_table(personas.alice, personas.riverside, read_csv(text), dry_run=dry_run)


def counts() -> tuple[int, int, int, int]:
    return (
        Client.objects.count(),
        Episode.objects.count(),
        Session.objects.count(),
        Administration.objects.count(),
    )


def test_a_dry_run_reports_what_would_be_created_and_writes_nothing(personas):
    before = counts()
    report = run(personas, GOOD, dry_run=True)
    assert report.ok and not report.committed
    assert report.to_dict()["created"] == {
        "clients": 2,
        "episodes": 2,
        "sessions": 4,
        "administrations": 5,
    }
    assert counts() == before


def test_the_validation_report_names_row_column_and_problem(personas):
    report = run(personas, BAD, dry_run=True)
    found = {(e.row, e.column) for e in report.errors}
    assert found == {
        (2, "therapist_id"),
        (3, "session_date"),
        (4, "total"),
        (5, "instrument"),
        (6, "item_1"),
        (7, "team_id"),
        (7, "rater"),
        (7, "age_band"),
        (7, "ending"),
    }
    messages = {(e.row, e.column): e.message for e in report.errors}
    assert messages[(4, "total")] == "must be between 0 and 40"
    assert messages[(6, "item_1")] == "give all 4 items or none"
    assert messages[(5, "instrument")] == "unknown instrument 'xyz'"


def test_a_missing_column_is_reported_on_the_header_line(personas):
    report = run(personas, "client_id,episode_id\nA,B\n", dry_run=True)
    assert {(e.row, e.column) for e in report.errors} >= {(1, "total"), (1, "therapist_id")}


def test_a_commit_writes_everything_with_summaries(personas):
    before = counts()
    report = run(personas, GOOD, dry_run=False)
    assert report.committed, report.errors
    assert counts() == (before[0] + 2, before[1] + 2, before[2] + 4, before[3] + 5)
    closed = Episode.objects.get(client__display_code="H-1")
    assert (closed.ending, closed.end_date) == ("planned", datetime.date(2025, 1, 13))
    assert (closed.intake_total, closed.last_outcome_total, closed.session_count) == (
        20.0,
        26.5,
        2,
    )
    assert closed.last_alliance_total == 37.0
    assert closed.client.therapist == personas.tara and closed.client.team == personas.north
    intake = Administration.objects.get(episode=closed, session__number=1, instrument="ors")
    assert intake.items == {
        "individually": 5.2,
        "interpersonally": 4.8,
        "socially": 6.1,
        "overall": 3.9,
    }
    assert intake.entry_mode == "import" and not intake.total_only
    still_open = Episode.objects.get(client__display_code="H-2")
    assert still_open.is_open and still_open.last_outcome_total == 14.0
    assert AuditEvent.objects.filter(action="administrations.imported").count() == 1


def test_importing_the_same_file_twice_changes_nothing(personas):
    run(personas, GOOD, dry_run=False)
    snapshot = (counts(), Alert.objects.count(), ImportedEpisode.objects.count())
    again = run(personas, GOOD, dry_run=False)
    assert again.ok and not again.committed
    assert again.unchanged == 5
    assert again.to_dict()["created"] == dict.fromkeys(
        ("clients", "episodes", "sessions", "administrations"), 0
    )
    assert (counts(), Alert.objects.count(), ImportedEpisode.objects.count()) == snapshot
    assert AuditEvent.objects.filter(action="administrations.imported").count() == 1


def test_a_later_file_adds_only_the_new_rows_and_refuses_changed_totals(personas):
    run(personas, GOOD, dry_run=False)
    more = GOOD + "H-2,E-2,theo,,3,2025-02-17,ors,client,19,,,,,adult,\n"
    report = run(personas, more, dry_run=False)
    assert report.committed and report.unchanged == 5
    assert (report.sessions, report.administrations) == (1, 1)
    assert Episode.objects.get(client__display_code="H-2").last_outcome_total == 19.0
    changed = GOOD.replace("2025-01-13,ors,client,26.5", "2025-01-13,ors,client,27.5")
    conflict = run(personas, changed, dry_run=True)
    assert [(e.row, e.column, e.message) for e in conflict.errors] == [
        (4, "total", "already imported with total 26.5")
    ]


def test_one_bad_row_means_nothing_is_written(personas):
    before = counts()
    mixed = GOOD + "H-9,E-9,tara,,1,2025-03-03,ors,client,41,,,,,adult,\n"
    report = run(personas, mixed, dry_run=False)
    assert not report.committed and report.error_count == 1
    assert counts() == before


def test_a_simulated_table_imports_every_administration(personas):
    from alliance.science.simulate import simulate

    table = simulate(episodes=25, therapists=2, seed=3)
    table["therapist_id"] = table["therapist_id"].map({"T0001": "tara", "T0002": "theo"})
    table["team_id"] = ""
    buffer = io.StringIO()
    table.to_csv(buffer, index=False)
    before = counts()
    report = run(personas, buffer.getvalue(), dry_run=False)
    assert report.committed, report.errors[:5]
    assert report.administrations == len(table)
    assert counts()[3] - before[3] == len(table)
    assert counts()[1] - before[1] == table["episode_id"].nunique()
    imported = Administration.objects.filter(entry_mode="import")
    assert sum(a.total for a in imported) == pytest.approx(table["total"].sum())
    assert run(personas, buffer.getvalue(), dry_run=True).unchanged == len(table)


def test_the_api_upload_dry_runs_by_default_and_commits_all_or_nothing(personas, api_as):
    api = api_as(personas.alice)
    dry = api.upload("/imports", GOOD.encode())
    assert dry.status_code == 200
    assert dry.json()["dry_run"] is True and dry.json()["created"]["administrations"] == 5
    assert not Client.objects.filter(display_code="H-1").exists()
    refused = api.upload("/imports?dry_run=false", BAD.encode())
    assert refused.status_code == 422
    assert refused.json()["code"] == "import_invalid"
    assert {"row": 4, "column": "total", "message": "must be between 0 and 40"} in refused.json()[
        "errors"
    ]
    done = api.upload("/imports?dry_run=false", GOOD.encode())
    assert done.status_code == 201 and done.json()["committed"] is True
    assert api.upload("/imports?dry_run=false", GOOD.encode()).json()["unchanged"] == 5
    read_only = api_as(personas.alice, scope="read")
    assert read_only.upload("/imports", GOOD.encode()).status_code == 200  # a dry run reads
    assert read_only.upload("/imports?dry_run=false", GOOD.encode()).status_code == 403
    unreadable = api.upload("/imports", b"\xff\xfe\x00bad")
    assert (unreadable.status_code, unreadable.json()["code"]) == (422, "unreadable")


def test_the_management_command_imports_a_csv_file(personas, tmp_path):
    path = tmp_path / "history.csv"
    path.write_text(GOOD)
    out = io.StringIO()
    call_command("import_administrations", "Riverside", str(path), stdout=out)
    assert "Dry run" in out.getvalue() and not Client.objects.filter(display_code="H-1").exists()
    call_command("import_administrations", "Riverside", str(path), "--commit", stdout=out)
    assert Client.objects.filter(display_code="H-1").exists()
    path.write_text(BAD)
    with pytest.raises(CommandError):
        call_command("import_administrations", "Riverside", str(path), "--commit", stdout=out)


def _agency_export(personas) -> str:
    from alliance.reports.exports import administration_rows, csv_lines

    episodes = Episode.objects.filter(agency=personas.riverside)
    return "".join(csv_lines(administration_rows(episodes, personas.riverside, research=False)))


def test_the_agency_csv_export_reimports_without_changes_and_loads_elsewhere(personas):
    from alliance.care import services

    session = services.start_session(personas.tara, personas.tara_client, on=datetime.date.today())
    services.record_administration(
        personas.tara, session, instrument="ors", idempotency_key="x-1", total=18.5
    )
    services.record_administration(
        personas.tara, session, instrument="srs", idempotency_key="x-2", total=36.0
    )
    exported = _agency_export(personas)
    assert exported.startswith("client_code,client_name,episode_id,therapist")
    before = counts()
    same = run(personas, exported, dry_run=False)
    assert same.ok and same.unchanged == 2 and not same.committed
    assert counts() == before
    # Into a fresh setting: other client codes and episode keys, same therapists.
    moved = exported.replace("R-TARA-1", "M-TARA-1")
    episode_id = personas.tara_client.episodes.get().public_id
    moved = moved.replace(episode_id, "moved-episode-1")
    report = run(personas, moved, dry_run=False)
    assert report.committed, report.errors
    copy = Episode.objects.get(client__display_code="M-TARA-1")
    assert (copy.intake_total, copy.last_alliance_total) == (18.5, 36.0)


def test_an_open_episode_is_refused_for_a_client_with_an_open_episode(personas):
    # R-TARA-1 exists with an open episode (personas); H-5 gets two open episodes in the file.
    text = HEADER + (
        "R-TARA-1,E-OPEN,tara,,1,2025-01-06,ors,client,20,,,,,adult,\n"
        "R-TARA-1,E-DONE,tara,,1,2024-01-08,ors,client,20,,,,,adult,planned\n"
        "H-5,E-5A,tara,,1,2025-01-06,ors,client,20,,,,,adult,\n"
        "H-5,E-5B,tara,,1,2025-02-03,ors,client,22,,,,,adult,\n"
    )
    report = run(personas, text, dry_run=True)
    assert [(e.row, e.column, e.message) for e in report.errors] == [
        (2, "ending", "this client already has an open episode"),
        (4, "ending", "a client can have only one open episode"),
        (5, "ending", "a client can have only one open episode"),
    ]
