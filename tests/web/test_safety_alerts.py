"""PHQ-9 item 9: an immediate, never auto-dismissed safety alert, acknowledged with an audit trail."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone, translation

from alliance.audit.models import AuditEvent
from alliance.care import services
from alliance.care.models import Alert
from alliance.care.services import create_client
from alliance.feedback import services as feedback
from alliance.reports.services import supervisor_dashboard
from alliance.science.instruments import get_instrument
from alliance.science.signals import SAFETY_CODE
from tests.web.personas import START

PHQ9_QUIET = {
    "interest": 1,
    "down": 1,
    "sleep": 2,
    "tired": 2,
    "appetite": 0,
    "failure": 1,
    "concentrating": 1,
    "psychomotor": 0,
    "self_harm": 0,
}
MESSAGE = get_instrument("phq9").safety.message
MESSAGE_ES = get_instrument("phq9", "es").safety.message


def phq9_client(p, code: str = "R-PHQ-1", therapist=None):
    therapist = therapist or p.tara
    return create_client(
        p.alice,
        p.riverside,
        display_code=code,
        start_date=START,
        therapist=therapist,
        team=p.north,
        outcome_instrument="phq9",
    )


def rate_phq9(actor, client, day: int, self_harm: int, key: str):
    session = services.start_session(actor, client, on=START + datetime.timedelta(days=day))
    services.record_administration(
        actor,
        session,
        instrument="phq9",
        idempotency_key=key,
        items={**PHQ9_QUIET, "self_harm": self_harm},
    )
    return session


def safety(client) -> list[Alert]:
    return list(Alert.objects.filter(episode__client=client, code=SAFETY_CODE))


# -- raised at once, by every way a rating arrives ----------------------------------------------


def test_a_therapist_entered_phq9_with_item_9_above_0_stores_a_red_safety_alert(personas):
    client = phq9_client(personas)
    rate_phq9(personas.tara, client, 1, 1, "a")
    [alert] = safety(client)
    assert (alert.session_number, alert.severity, alert.acknowledged_at) == (1, "red", None)
    assert MESSAGE in alert.reason


def test_item_9_at_0_raises_no_safety_alert(personas):
    client = phq9_client(personas)
    rate_phq9(personas.tara, client, 1, 0, "a")
    assert safety(client) == []


def test_a_client_link_raises_it(personas):
    client = phq9_client(personas)
    session = services.start_session(personas.tara, client)
    new = feedback.create_link(personas.tara, session, instrument="phq9")
    feedback.submit_link(
        feedback.open_link(new.token), items={**PHQ9_QUIET, "self_harm": 2}, idempotency_key="l"
    )
    assert [a.session_number for a in safety(client)] == [session.number]


def test_the_kiosk_raises_it(personas):
    client = phq9_client(personas)
    session = services.start_session(personas.tara, client)
    new = feedback.create_kiosk_pass(personas.tara, session, instrument="phq9")
    link = feedback.open_kiosk(personas.riverside, new.code, new.pin)
    feedback.submit_link(link, items={**PHQ9_QUIET, "self_harm": 3}, idempotency_key="k")
    assert [a.session_number for a in safety(client)] == [session.number]


# -- never auto-dismissed -------------------------------------------------------------------------


def test_later_sessions_refreshes_and_refits_do_not_clear_it(personas):
    p = personas
    client = phq9_client(p)
    rate_phq9(p.tara, client, 1, 1, "a")
    rate_phq9(p.tara, client, 8, 0, "b")
    episode = client.episodes.get()
    services.refresh_episode_summary(episode)
    services.refresh_open_episodes.call(p.riverside.pk, "phq9")
    [alert] = safety(client)
    assert (alert.session_number, alert.acknowledged_at) == (1, None)


def test_undoing_the_rating_keeps_the_alert(personas):
    p = personas
    client = phq9_client(p)
    session = rate_phq9(p.tara, client, 1, 2, "a")
    services.undo_administration(p.tara, session.administrations.get())
    assert len(safety(client)) == 1


# -- acknowledged, audited, kept as history -------------------------------------------------------


def test_the_therapist_acknowledges_it_and_the_audit_trail_says_who_and_when(personas):
    p = personas
    client = phq9_client(p)
    rate_phq9(p.tara, client, 1, 1, "a")
    [alert] = safety(client)
    now = timezone.now()
    services.acknowledge_alert(p.tara, alert, ip="10.0.0.1", now=now)
    alert.refresh_from_db()
    assert (alert.acknowledged_by, alert.acknowledged_at) == (p.tara, now)
    event = AuditEvent.objects.get(action="alert.acknowledged")
    assert (event.actor, event.target_id) == (p.tara, client.episodes.get().public_id)
    assert event.detail["session"] == 1 and event.detail["code"] == SAFETY_CODE
    # A second acknowledgement keeps the first (no second event).
    services.acknowledge_alert(p.sam, alert)
    alert.refresh_from_db()
    assert alert.acknowledged_by == p.tara
    assert AuditEvent.objects.filter(action="alert.acknowledged").count() == 1


def test_a_supervisor_may_acknowledge_but_an_admin_or_a_colleague_may_not(personas):
    p = personas
    client = phq9_client(p, therapist=p.theo)
    rate_phq9(p.theo, client, 1, 1, "a")
    [alert] = safety(client)
    for outsider in (p.alice, p.tara):
        with pytest.raises(PermissionDenied):
            services.acknowledge_alert(outsider, alert)
    services.acknowledge_alert(p.sam, alert)
    alert.refresh_from_db()
    assert alert.acknowledged_by == p.sam


def test_an_acknowledged_alert_stays_acknowledged_after_a_later_session(personas):
    p = personas
    client = phq9_client(p)
    rate_phq9(p.tara, client, 1, 1, "a")
    services.acknowledge_alert(p.tara, safety(client)[0])
    rate_phq9(p.tara, client, 8, 0, "b")
    [alert] = safety(client)
    assert alert.acknowledged_by == p.tara


def test_acknowledging_through_the_page_redirects_back_and_shows_who(client, personas):
    p = personas
    phq = phq9_client(p)
    session = rate_phq9(p.tara, phq, 1, 1, "a")
    [alert] = safety(phq)
    client.force_login(p.tara)
    page_url = f"/clients/{phq.public_id}/sessions/{session.number}/"
    response = client.post(
        f"/clients/{phq.public_id}/alerts/{alert.pk}/acknowledge/", {"next": page_url}
    )
    assert (response.status_code, response["Location"]) == (302, page_url)
    history = client.get(f"/clients/{phq.public_id}/").content.decode()
    assert "Acknowledged by tara" in history
    assert 'class="safety-alert acknowledged"' in history


def test_the_acknowledge_form_never_redirects_off_site(client, personas):
    p = personas
    phq = phq9_client(p)
    rate_phq9(p.tara, phq, 1, 1, "a")
    client.force_login(p.tara)
    response = client.post(
        f"/clients/{phq.public_id}/alerts/{safety(phq)[0].pk}/acknowledge/",
        {"next": "https://example.org/"},
    )
    assert response["Location"] == f"/clients/{phq.public_id}/"


def test_an_alliance_alert_is_not_acknowledged_by_hand(client, personas):
    p = personas
    session = services.start_session(p.tara, p.tara_client)
    services.record_administration(p.tara, session, instrument="srs", idempotency_key="s", total=20)
    alert = Alert.objects.get(episode__client=p.tara_client, code="alliance_below_cutoff")
    client.force_login(p.tara)
    response = client.post(f"/clients/{p.tara_client.public_id}/alerts/{alert.pk}/acknowledge/")
    assert response.status_code == 400


# -- shown on the session page, the caseload and the at-risk list ---------------------------------


def test_the_session_page_shows_the_files_wording_with_an_acknowledge_button(client, personas):
    p = personas
    phq = phq9_client(p)
    session = rate_phq9(p.tara, phq, 1, 1, "a")
    client.force_login(p.tara)
    page = client.get(f"/clients/{phq.public_id}/sessions/{session.number}/").content.decode()
    assert 'data-testid="safety-alerts"' in page
    assert MESSAGE.replace("'", "&#x27;") in page
    assert "Acknowledge: the risk conversation is under way" in page


def test_a_later_session_page_still_shows_the_open_alert(client, personas):
    p = personas
    phq = phq9_client(p)
    rate_phq9(p.tara, phq, 1, 1, "a")
    later = rate_phq9(p.tara, phq, 8, 0, "b")
    client.force_login(p.tara)
    page = client.get(f"/clients/{phq.public_id}/sessions/{later.number}/").content.decode()
    assert 'class="safety-alert open"' in page


def test_the_wording_comes_in_spanish_from_the_spanish_file(client, personas):
    p = personas
    phq = phq9_client(p)
    session = rate_phq9(p.tara, phq, 1, 1, "a")
    client.force_login(p.tara)
    page = client.get(
        f"/clients/{phq.public_id}/sessions/{session.number}/", HTTP_ACCEPT_LANGUAGE="es"
    ).content.decode()
    assert MESSAGE_ES in page


def test_the_caseload_puts_an_open_safety_alert_first_with_a_badge(client, personas):
    p = personas
    phq = phq9_client(p)
    rate_phq9(p.tara, phq, 1, 1, "a")
    client.force_login(p.tara)
    page = client.get("/").content.decode()
    assert 'data-testid="safety-badge"' in page
    assert page.index("R-PHQ-1") < page.index("R-TARA-1")
    services.acknowledge_alert(p.tara, safety(phq)[0])
    assert 'data-testid="safety-badge"' not in client.get("/").content.decode()


def test_the_at_risk_list_puts_safety_first_with_its_wording(personas):
    p = personas
    # tara's ORS client deteriorates (red), the PHQ-9 client reports item 9 (safety) earlier.
    phq = phq9_client(p)
    rate_phq9(p.tara, phq, 1, 1, "a")
    for day, total, key in ((2, 20, "o1"), (9, 10, "o2")):
        session = services.start_session(
            p.tara, p.tara_client, on=START + datetime.timedelta(days=day)
        )
        services.record_administration(
            p.tara, session, instrument="ors", idempotency_key=key, total=total
        )
    with translation.override("en"):
        rows, _ = supervisor_dashboard(p.sam)
    assert [row.episode.client.display_code for row in rows] == ["R-PHQ-1", "R-TARA-1"]
    assert [row.priority_name for row in rows] == ["safety", "red"]
    assert rows[0].reasons[0] == f"Safety alert at session 1: {MESSAGE}"


def test_the_at_risk_list_keeps_an_older_safety_alert_after_later_alerts(personas):
    p = personas
    phq = phq9_client(p)
    rate_phq9(p.tara, phq, 1, 1, "a")
    session = services.start_session(p.tara, phq, on=START + datetime.timedelta(days=8))
    services.record_administration(p.tara, session, instrument="srs", idempotency_key="s", total=20)
    [row] = supervisor_dashboard(p.sam)[0]
    assert row.priority_name == "safety"
    assert any(reason.startswith("Safety alert at session 1") for reason in row.reasons)
    # The SRS keeps its own decimal beside a whole-number PHQ-9.
    assert any(reason.startswith("SRS 20.0 is below 36") for reason in row.reasons)


def test_the_at_risk_list_orders_by_severity_then_recency_one_row_per_client(personas):
    p = personas

    def srs(client, day: int, total: float, key: str) -> None:
        session = services.start_session(p.tara, client, on=START + datetime.timedelta(days=day))
        services.record_administration(
            p.tara, session, instrument="srs", idempotency_key=key, total=total
        )

    older = create_client(
        p.alice, p.riverside, display_code="R-OLD", start_date=START, therapist=p.tara
    )
    newer = create_client(
        p.alice, p.riverside, display_code="R-NEW", start_date=START, therapist=p.tara
    )
    srs(older, 1, 20, "o")
    srs(newer, 2, 20, "n")
    Alert.objects.filter(episode__client=older).update(
        created_at=timezone.now() - datetime.timedelta(days=3)
    )
    srs(older, 3, 18, "o2")  # a second low SRS for the same client: still one row
    Alert.objects.filter(episode__client=older).update(
        created_at=timezone.now() - datetime.timedelta(days=3)
    )
    rows, _ = supervisor_dashboard(p.sam)
    assert [row.episode.client.display_code for row in rows] == ["R-NEW", "R-OLD"]
    assert {row.priority_name for row in rows} == {"alliance"}


def test_a_low_srs_and_its_item_rule_are_one_stored_alert(personas):
    p = personas
    session = services.start_session(p.tara, p.tara_client)
    items = {"relationship": 7.0, "goals_topics": 8.0, "approach": 9.5, "overall": 5.5}
    services.record_administration(
        p.tara, session, instrument="srs", idempotency_key="s", items=items
    )
    stored = Alert.objects.filter(episode__client=p.tara_client, code__startswith="alliance_")
    assert [a.code for a in stored] == ["alliance_below_cutoff"]
    assert "Relationship rated 7.0" in stored[0].reason


# -- the caseload names the measure and explains its colours --------------------------------------


def test_the_caseload_names_each_clients_measure_and_has_a_legend(client, personas):
    p = personas
    phq = phq9_client(p)
    rate_phq9(p.tara, phq, 1, 0, "a")
    session = services.start_session(p.tara, p.tara_client)
    services.record_administration(p.tara, session, instrument="ors", idempotency_key="o", total=20)
    client.force_login(p.tara)
    page = client.get("/").content.decode()
    assert "Last ORS" not in page
    assert ">Last score<" in page
    assert '<span class="measure">PHQ-9</span> 8<' in page  # integers for a Likert scale
    assert '<span class="measure">ORS</span> 20.0<' in page
    assert 'data-testid="caseload-legend"' in page
    for label in ("Grey", "Green", "Orange", "Red", "Check alliance", "Safety"):
        assert f">{label}</span>" in page


def test_the_caseload_legend_is_translated(client, personas):
    client.force_login(personas.tara)
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "What the colours mean" not in page
    assert "Last score" not in page


def test_the_session_page_shows_a_low_srs_and_its_low_lines_as_one_prompt(client, personas):
    p = personas
    session = services.start_session(p.tara, p.tara_client)
    items = {"relationship": 7.0, "goals_topics": 8.0, "approach": 9.5, "overall": 5.5}
    services.record_administration(
        p.tara, session, instrument="srs", idempotency_key="s", items=items
    )
    client.force_login(p.tara)
    page = client.get(f"/clients/{p.tara_client.public_id}/sessions/{session.number}/")
    text = page.content.decode()
    assert text.count("is below 36") == 1
    assert "Lines worth asking about: Relationship 7.0, Goals and Topics 8.0, Overall 5.5." in text
    assert "worth asking about</p>" not in text  # no separate item prompt
