"""The supervisor dashboard: at-risk clients (one row each), caseload summary, team limits."""

from __future__ import annotations

import datetime

from django.db import connection
from django.test.utils import CaptureQueriesContext

from alliance.care import services
from alliance.care.models import Alert
from alliance.care.services import create_client
from alliance.reports.services import supervisor_dashboard
from tests.web.personas import START

ORS_ITEMS = {"individually": 5.2, "interpersonally": 4.8, "socially": 6.1, "overall": 3.9}  # 20.0
HALF = {key: round(value / 2, 1) for key, value in ORS_ITEMS.items()}  # 10.0
DAY1 = START + datetime.timedelta(days=1)
DAY8 = DAY1 + datetime.timedelta(days=7)


def deteriorate(actor, client, key: str) -> None:
    """ORS 20 then 10: reliable deterioration (10 points > 5) and below the negative line."""
    for day, items, suffix in ((DAY1, ORS_ITEMS, "1"), (DAY8, HALF, "2")):
        session = services.start_session(actor, client, on=day)
        services.record_administration(
            actor, session, instrument="ors", idempotency_key=key + suffix, items=items
        )


def test_a_supervisor_sees_at_risk_clients_of_their_teams_only(personas):
    p = personas
    deteriorate(p.tara, p.tara_client, "t")
    deteriorate(p.theo, p.theo_client, "o")
    rows, caseload = supervisor_dashboard(p.sam, today=DAY8 + datetime.timedelta(days=5))
    assert [row.therapist.username for row in rows] == ["tara"]
    [at_risk] = rows
    assert at_risk.episode.client == p.tara_client
    assert at_risk.days_since == 5
    assert any("red zone" in reason for reason in at_risk.reasons)
    assert any("deterioration" in reason.lower() for reason in at_risk.reasons)
    assert [row.therapist.username for row in caseload] == ["tara"]
    assert (caseload[0].open_episodes, caseload[0].red) == (1, 1)


def test_an_admin_sees_every_therapist_of_the_agency(personas):
    p = personas
    deteriorate(p.tara, p.tara_client, "t")
    deteriorate(p.theo, p.theo_client, "o")
    rows, caseload = supervisor_dashboard(p.alice)
    assert sorted(row.therapist.username for row in rows) == ["tara", "theo"]
    rows = {row.therapist.username: row for row in caseload}
    assert rows["theo"].open_episodes == 2  # R-THEO-1 and R-THEO-2
    assert (rows["theo"].red, rows["tara"].red) == (1, 1)
    assert rows["theo"].mean_sessions == 1.0  # (2 + 0) / 2


def test_clients_without_a_signal_are_not_listed(personas):
    rows, caseload = supervisor_dashboard(personas.alice)
    assert rows == []
    assert sum(row.open_episodes for row in caseload) == 3


def test_the_dashboard_query_count_does_not_grow_with_the_caseload(personas):
    p = personas
    deteriorate(p.tara, p.tara_client, "t")
    with CaptureQueriesContext(connection) as few:
        supervisor_dashboard(p.alice)
    for n in range(3):
        extra = create_client(
            p.alice, p.riverside, display_code=f"R-X-{n}", start_date=START, therapist=p.theo
        )
        deteriorate(p.theo, extra, f"x{n}")
    with CaptureQueriesContext(connection) as many:
        rows, _ = supervisor_dashboard(p.alice)
    assert len(rows) == 4
    assert len(many) == len(few)


def test_the_dashboard_page_lists_reasons_and_days(client, personas):
    p = personas
    deteriorate(p.tara, p.tara_client, "t")
    client.force_login(p.sam)
    page = client.get("/reports/").content.decode()
    assert "R-TARA-1" in page and "R-THEO-1" not in page
    assert "Reliable deterioration" in page
    assert 'href="/reports/"' in page  # the nav link for supervisors


def test_therapists_have_no_supervision_link(client, personas):
    client.force_login(personas.tara)
    assert 'href="/reports/"' not in client.get("/").content.decode()


def flat_ors(actor, client, sessions: int, key: str) -> None:
    """ORS 20 at every session: no reliable change (5 points) in either direction."""
    for number in range(1, sessions + 1):
        session = services.start_session(actor, client, on=START + datetime.timedelta(days=number))
        services.record_administration(
            actor, session, instrument="ors", idempotency_key=f"{key}{number}", total=20
        )


def test_no_reliable_change_is_named_from_session_6_as_the_science_rule_says(personas):
    # The dashboard once restated this rule with session 4; the stored alerts are the one source.
    p = personas
    flat_ors(p.tara, p.tara_client, 5, "f")
    rows, _ = supervisor_dashboard(p.sam)
    reasons = [reason for row in rows for reason in row.reasons]
    assert not any(reason.startswith("No reliable change") for reason in reasons)
    flat_ors_session_6 = services.start_session(
        p.tara, p.tara_client, on=START + datetime.timedelta(days=6)
    )
    services.record_administration(
        p.tara, flat_ors_session_6, instrument="ors", idempotency_key="f6", total=20
    )
    rows, _ = supervisor_dashboard(p.sam)
    [at_risk] = rows
    stored = Alert.objects.get(episode=at_risk.episode, code="no_reliable_change")
    assert stored.session_number == 6
    assert stored.reason.startswith("No reliable change by session 6")
    assert [r for r in at_risk.reasons if r.startswith("No reliable change")] == [stored.reason]
