"""CSV exports: identified for the agency, de-identified for research."""

from __future__ import annotations

import csv
import datetime
import io

import pandas as pd
import pytest

from alliance.accounts.models import User
from alliance.care.models import Client
from alliance.reports.data import ReportFilter
from alliance.reports.exports import Deidentifier
from alliance.reports.models import AgencySecret
from alliance.science.effectiveness import effectiveness
from alliance.science.table import read_administrations
from tests.reports.test_reports_data import assert_same


def download(client, user, kind: str, research: bool) -> str:
    client.force_login(user)
    response = client.post(f"/reports/exports/{kind}.csv", {"research": "1"} if research else {})
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode()


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_the_research_export_has_no_name_code_email_free_text_or_exact_date(client, history):
    p = history.personas
    User.objects.filter(pk=p.tara.pk).update(email="tara@riverside.example")
    Client.objects.filter(name="").update(name="Pat Persona")
    research = download(client, p.alice, "administrations", True)
    identified = download(client, p.alice, "administrations", False)
    for client_row in Client.objects.filter(agency=p.riverside):
        assert client_row.display_code not in research
        assert client_row.name not in research
    for user in User.objects.all():
        assert user.username not in research
    assert "@" not in research
    assert "Mum" not in research  # rater relationship: free text
    assert "Mum, lives with the client" in identified
    ours, theirs = rows(research), rows(identified)
    assert len(ours) == len(theirs) == len(history.frame)
    shifts: dict[str, set[int]] = {}
    for shifted, real in zip(ours, theirs, strict=True):
        delta = (
            datetime.date.fromisoformat(shifted["session_date"])
            - datetime.date.fromisoformat(real["session_date"])
        ).days
        assert delta != 0
        shifts.setdefault(shifted["client_id"], set()).add(delta)
    # One fixed shift per client, so intervals within a client stay exact.
    assert all(len(deltas) == 1 for deltas in shifts.values())
    assert len({d for deltas in shifts.values() for d in deltas}) > 1


def test_the_research_episodes_file_shifts_dates_and_hashes_ids(client, history):
    p = history.personas
    research = rows(download(client, p.alice, "episodes", True))
    identified = rows(download(client, p.alice, "episodes", False))
    assert len(research) == len(identified) == len(history.episodes) + 3  # + the personas
    assert "client_name" not in research[0] and "client_code" not in research[0]
    for shifted, real in zip(research, identified, strict=True):
        assert shifted["start_date"] != real["start_date"]
        assert shifted["episode_id"] != real["episode_id"]
        assert len(shifted["client_id"]) == 20


def test_the_research_file_reads_back_into_the_science_core_with_the_same_numbers(client, history):
    text = download(client, history.personas.alice, "administrations", True)
    table = read_administrations(io.StringIO(text))
    assert_same(effectiveness(table)["overall"], effectiveness(history.frame)["overall"])


def test_the_same_secret_gives_the_same_pseudonyms_and_another_does_not(history):
    a, b = Deidentifier("secret-a"), Deidentifier("secret-b")
    assert a.pseudonym("client", "abc") == Deidentifier("secret-a").pseudonym("client", "abc")
    assert a.pseudonym("client", "abc") != b.pseudonym("client", "abc")
    assert a.pseudonym("client", "abc") != a.pseudonym("episode", "abc")
    assert 1 <= abs(a.offset_days("abc")) <= 365
    assert AgencySecret.objects.count() == 0  # made on first research export only


def test_a_supervisor_exports_only_their_teams_and_never_the_research_file(client, history):
    p = history.personas
    identified = rows(download(client, p.sam, "administrations", False))
    assert {row["therapist"] for row in identified} == {"tara", "tess"}
    response = client.post("/reports/exports/administrations.csv", {"research": "1"})
    assert response.status_code == 403


@pytest.mark.parametrize("kind", ["administrations", "episodes"])
def test_another_agency_export_holds_none_of_riverside(client, history, kind):
    text = download(client, history.personas.olga, kind, False)
    frame = pd.read_csv(io.StringIO(text))
    assert len(frame) > 0
    assert not frame["client_code"].str.startswith("R-").any()
    assert (frame["therapist"] == "oscar").all()


def test_every_export_is_in_the_audit_trail_without_personal_data(client, history):
    from alliance.audit.models import AuditEvent

    p = history.personas
    download(client, p.alice, "administrations", True)
    download(client, p.alice, "episodes", False)
    events = list(AuditEvent.objects.filter(action="export.csv").order_by("pk"))
    assert [(e.detail["kind"], e.detail["research"]) for e in events] == [
        ("administrations", True),
        ("episodes", False),
    ]
    assert all(e.actor == p.alice and e.agency == p.riverside for e in events)


def test_an_export_of_many_rows_reads_them_in_chunks_and_never_holds_them_all(history):
    from django.db.models import QuerySet

    from alliance.reports.data import scoped_episodes
    from alliance.reports.exports import administration_rows

    p = history.personas
    episodes = scoped_episodes(p.alice, ReportFilter())
    real_iterator = QuerySet.iterator
    reads: list[dict] = []

    def counted(queryset, chunk_size=None):
        read = {"chunk_size": chunk_size, "rows": 0}
        reads.append(read)
        for row in real_iterator(queryset, chunk_size=chunk_size):
            read["rows"] += 1
            yield row

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(QuerySet, "iterator", counted)
        rows = administration_rows(episodes, p.riverside, research=False, chunk_size=50)
        header, first, second = next(rows), next(rows), next(rows)
        assert header[0] == "client_code" and first[0] and second[0]
        # Three rows out: the database was asked in chunks of 50 and only as far as needed.
        assert [read["chunk_size"] for read in reads] == [50]
        assert reads[0]["rows"] == 2
        remaining = sum(1 for _ in rows)
    assert remaining + 2 == len(history.frame) > 50
    assert reads[0]["rows"] == len(history.frame)
