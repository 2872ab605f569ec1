"""Privacy: erasure on request, retention per agency, pseudonymous codes, nothing clinical in logs."""

from __future__ import annotations

import datetime
import logging
import re

import pytest
from django.urls import reverse

from alliance.audit.models import AuditEvent
from alliance.audit.services import verify_agency
from alliance.care import services
from alliance.care.models import Administration, Client, Episode, Session
from alliance.reports.data import administrations_frame
from tests.security.conftest import logged_in


def score(user, session, key: str, total: float, instrument: str = "ors"):
    return services.record_administration(
        user, session, instrument=instrument, idempotency_key=key, total=total
    )


def test_erasing_a_client_removes_every_record_and_leaves_an_audit_event(personas, tara_session):
    score(personas.tara, tara_session, "k1", 18.5)
    client = personas.tara_client
    counts = services.erase_client(personas.alice, client, reason="request", ip="10.0.0.8")
    assert counts == {
        "episodes": 1,
        "sessions": 1,
        "administrations": 1,
        "audit_events_redacted": 4,  # created, session started, attended, rating recorded
        "link_messages_removed": 0,
        "queued_tasks": 0,
        "webhook_deliveries_redacted": 0,
        "webhook_deliveries_removed": 0,
    }
    assert not Client.objects.filter(pk=client.pk).exists()
    assert not Episode.objects.filter(client_id=client.pk).exists()
    assert not Session.objects.filter(pk=tara_session.pk).exists()
    assert not Administration.objects.filter(session_id=tara_session.pk).exists()
    event = AuditEvent.objects.get(action="client.erased")
    assert (event.actor, event.target_id, event.ip_address) == (
        personas.alice,
        client.public_id,
        "10.0.0.8",
    )
    assert event.detail == {**counts, "reason": "request"}
    assert verify_agency(personas.riverside.pk)[1] == []


def test_an_erased_client_is_gone_from_report_exports(personas, tara_session):
    score(personas.tara, tara_session, "k1", 18.5)
    theo_session = services.start_session(personas.theo, personas.theo_client)
    score(personas.theo, theo_session, "k2", 22.0)
    episodes = Episode.objects.filter(agency=personas.riverside)
    before = administrations_frame(episodes)
    assert sorted(before["total"]) == [18.5, 22.0]
    services.erase_client(personas.alice, personas.tara_client)
    after = administrations_frame(Episode.objects.filter(agency=personas.riverside))
    assert list(after["total"]) == [22.0]


def test_the_admin_erases_a_client_by_typing_its_code_twice(personas, tara_session):
    browser = logged_in(personas.alice)
    url = reverse("audit:erasure")
    assert browser.get(url).status_code == 200
    mismatch = browser.post(url, {"display_code": "R-TARA-1", "confirm_code": "R-TARA-2"})
    assert mismatch.status_code == 400 and Client.objects.filter(display_code="R-TARA-1").exists()
    done = browser.post(url, {"display_code": "R-TARA-1", "confirm_code": "R-TARA-1"})
    assert done.status_code == 200 and "The client was erased" in done.content.decode()
    assert not Client.objects.filter(display_code="R-TARA-1").exists()


def test_erasure_is_for_admins_and_never_reaches_another_agency(personas):
    assert logged_in(personas.tara).get(reverse("audit:erasure")).status_code == 403
    response = logged_in(personas.olga).post(
        reverse("audit:erasure"), {"display_code": "R-TARA-1", "confirm_code": "R-TARA-1"}
    )
    assert response.status_code == 404
    assert Client.objects.filter(display_code="R-TARA-1").exists()


def _close(client, ended: datetime.date) -> None:
    Episode.objects.filter(client=client).update(
        start_date=ended - datetime.timedelta(days=90), end_date=ended, ending="planned"
    )


def test_retention_erases_clients_whose_episodes_ended_before_the_period(personas):
    today = datetime.date(2026, 6, 1)
    personas.riverside.retention_years = 7
    personas.riverside.save()
    _close(personas.tara_client, datetime.date(2019, 5, 31))  # 7 years and a day
    _close(personas.theo_client, datetime.date(2019, 6, 1))  # exactly 7 years: kept
    # shared_client stays open: kept whatever its age.
    assert services.apply_retention(personas.riverside, on=today) == 1
    remaining = set(
        Client.objects.filter(agency=personas.riverside).values_list("display_code", flat=True)
    )
    assert remaining == {"R-THEO-1", "R-THEO-2"}
    assert AuditEvent.objects.get(action="client.erased").detail["reason"] == "retention"


def test_without_a_retention_period_nothing_is_erased(personas):
    _close(personas.oscar_client, datetime.date(2000, 1, 1))
    assert personas.hillside.retention_years is None
    assert services.apply_retention(personas.hillside, on=datetime.date(2026, 6, 1)) == 0
    assert Client.objects.filter(pk=personas.oscar_client.pk).exists()


def test_the_nightly_retention_run_erases_what_each_agencys_period_says(personas, monkeypatch):
    from alliance.cli.production import retention_lines

    monkeypatch.setattr(services, "today", lambda: datetime.date(2026, 6, 1))
    personas.riverside.retention_years = 7
    personas.riverside.save()
    _close(personas.tara_client, datetime.date(2019, 5, 31))
    _close(personas.oscar_client, datetime.date(2000, 1, 1))  # Hillside keeps: no period
    dry = retention_lines(dry_run=True)
    assert "Riverside: retention 7 years, 1 client would be erased" in dry
    assert "Hillside: no retention period, nothing erased" in dry
    assert Client.objects.filter(pk=personas.tara_client.pk).exists()  # a dry run erases nothing
    assert not AuditEvent.objects.filter(action="client.erased").exists()
    done = retention_lines()
    assert "Riverside: retention 7 years, 1 client erased" in done
    assert done[-1] == "merges past their undo window: 0 had their details removed"
    assert not Client.objects.filter(pk=personas.tara_client.pk).exists()
    assert Client.objects.filter(pk=personas.oscar_client.pk).exists()
    # Counts only: no code or name of a client in what the run prints (the journal keeps it).
    assert not any(personas.tara_client.display_code in line for line in dry + done)
    assert retention_lines()[0:2] == [
        "Hillside: no retention period, nothing erased",
        "Riverside: retention 7 years, 0 clients erased",
    ]


def test_new_clients_get_a_pseudonymous_code_and_no_name_by_default(personas):
    client = services.create_client(
        personas.tara, personas.riverside, display_code="", therapist=personas.tara
    )
    assert client.display_code.startswith("C-") and len(client.display_code) == 8
    assert client.name == ""
    with pytest.raises(services.ServiceError, match="pseudonymous"):
        services.create_client(
            personas.tara,
            personas.riverside,
            display_code="X-1",
            therapist=personas.tara,
            name="Jane Doe",
        )
    personas.riverside.allow_client_names = True
    personas.riverside.save()
    named = services.create_client(
        personas.tara, personas.riverside, display_code="X-2", therapist=personas.tara, name="Jo"
    )
    assert named.name == "Jo"


def test_no_clinical_data_reaches_the_application_logs(personas, tara_session, caplog):
    """A whole session, scores and all, with every logger at DEBUG: no score, code or name."""
    caplog.set_level(logging.DEBUG)
    personas.riverside.allow_client_names = True
    personas.riverside.save()
    Client.objects.filter(pk=personas.tara_client.pk).update(name="Marguerite Example")
    browser = logged_in(personas.tara)
    client = personas.tara_client
    url = reverse("session", kwargs={"public_id": client.public_id, "number": 1})
    html = browser.get(url).content.decode()
    key = html.split('name="instrument" value="ors"', 1)[1].split('name="idempotency_key" value="')[
        1
    ]
    key = key.split('"', 1)[0]
    posted = browser.post(
        url,
        {
            "instrument": "ors",
            "idempotency_key": key,
            "ors-individually": "3.7",
            "ors-interpersonally": "4.1",
            "ors-socially": "2.9",
            "ors-overall": "3.3",
            "confirmed": "1",
        },
    )
    assert posted.status_code == 302
    browser.post(url, {"instrument": "ors", "ors-individually": "11", "confirmed": "1"})  # invalid
    browser.get(reverse("client", kwargs={"public_id": client.public_id}))
    assert Administration.objects.get(session=tara_session).total == pytest.approx(14.0)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    # The request's own duration ("33.3ms") is not clinical data but can spell a score.
    logged = re.sub(r"\b\d+\.\dms\b", "<duration>", logged)
    for secret in ("Marguerite", "R-TARA-1", "14.0", "3.7", "4.1", "2.9", "3.3"):
        assert secret not in logged, f"{secret!r} appeared in the logs"
