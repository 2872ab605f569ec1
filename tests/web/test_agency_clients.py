"""Clients for the agency admin: reassign to another therapist, merge a duplicate code into the
client kept (no rating lost), and undo the merge within 24 hours."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client as Browser
from django.urls import reverse

from alliance.audit.models import AuditEvent
from alliance.care import services
from alliance.care.models import Administration, Client, ClientMerge, ClientShare, Episode, Session
from alliance.care.services import ServiceError
from alliance.care.visibility import visible_clients
from alliance.feedback import services as feedback
from tests.web.personas import START


def signed_in(user) -> Browser:
    browser = Browser()
    browser.force_login(user)
    return browser


def rate(therapist, client, on: datetime.date, ors: str = "20", srs: str = "36") -> Session:
    session = services.start_session(therapist, client, on=on)
    for code, total in (("ors", ors), ("srs", srs)):
        services.record_administration(
            therapist, session, instrument=code, idempotency_key=uuid.uuid4().hex, total=total
        )
    return session


def duplicate_of_tara(personas, code: str = "R-TARA-1-DUP") -> Client:
    """tara's client entered a second time, rated twice under the wrong code."""
    p = personas
    duplicate = services.create_client(
        p.tara, p.riverside, display_code=code, therapist=p.tara, start_date=START
    )
    rate(p.tara, duplicate, START + datetime.timedelta(days=1))
    rate(p.tara, duplicate, START + datetime.timedelta(days=8), ors="24")
    return duplicate


def merge_url(client: Client) -> str:
    return reverse("agency:client_merge", args=[client.public_id])


def merge(browser: Browser, duplicate: Client, kept_code: str):
    return browser.post(merge_url(duplicate), {"kept": kept_code, "confirm": "yes"})


# ---- reassign ----


def test_the_admin_reassigns_a_client_and_the_new_therapist_sees_it(personas):
    p = personas
    url = reverse("agency:client_reassign", args=[p.tara_client.public_id])
    browser = signed_in(p.alice)
    assert browser.get(url).status_code == 200
    response = browser.post(url, {"therapist": p.theo.public_id})
    assert response.status_code == 302
    p.tara_client.refresh_from_db()
    assert p.tara_client.therapist == p.theo
    assert visible_clients(p.theo).filter(pk=p.tara_client.pk).exists()
    assert not visible_clients(p.tara).filter(pk=p.tara_client.pk).exists()
    event = AuditEvent.objects.get(action="client.reassigned")
    assert event.detail["before"] == p.tara.public_id and event.detail["after"] == p.theo.public_id
    # The same form again changes nothing and is audited once.
    assert browser.post(url, {"therapist": p.theo.public_id}).status_code == 302
    assert AuditEvent.objects.filter(action="client.reassigned").count() == 1


def test_it_refuses_to_reassign_to_someone_of_another_agency(personas):
    p = personas
    url = reverse("agency:client_reassign", args=[p.tara_client.public_id])
    response = signed_in(p.alice).post(url, {"therapist": p.oscar.public_id})
    assert response.status_code == 400
    assert "Choose the therapist" in response.content.decode()
    p.tara_client.refresh_from_db()
    assert p.tara_client.therapist == p.tara
    with pytest.raises(ServiceError):
        services.reassign_client(p.alice, p.tara_client, p.oscar)


def test_only_an_admin_of_the_agency_may_reassign(personas):
    p = personas
    url = reverse("agency:client_reassign", args=[p.tara_client.public_id])
    for user in (p.tara, p.sam):
        assert signed_in(user).post(url, {"therapist": p.theo.public_id}).status_code == 403
    assert signed_in(p.olga).post(url, {"therapist": p.theo.public_id}).status_code == 404
    with pytest.raises(PermissionDenied):
        services.reassign_client(p.sam, p.tara_client, p.theo)
    with pytest.raises(PermissionDenied):
        services.reassign_client(p.olga, p.tara_client, p.theo)
    p.tara_client.refresh_from_db()
    assert p.tara_client.therapist == p.tara
    assert not AuditEvent.objects.filter(action="client.reassigned").exists()


# ---- merge ----


def test_a_merge_moves_every_rating_and_removes_the_duplicate_code(personas):
    p = personas
    duplicate = duplicate_of_tara(p)
    ratings = Administration.objects.filter(agency=p.riverside).count()
    moved = list(duplicate.episodes.values_list("public_id", flat=True))
    emptied = p.tara_client.episodes.get().public_id  # created with the client, no session yet
    browser = signed_in(p.alice)
    assert browser.get(merge_url(duplicate)).status_code == 200
    response = merge(browser, duplicate, "R-TARA-1")
    assert response.status_code == 302
    assert not Client.objects.filter(display_code="R-TARA-1-DUP").exists()
    assert Administration.objects.filter(agency=p.riverside).count() == ratings
    kept = p.tara_client
    assert set(kept.episodes.values_list("public_id", flat=True)) == set(moved)
    assert not Episode.objects.filter(public_id=emptied).exists()
    assert kept.current_episode.session_count == 2
    caseload = signed_in(p.tara).get(reverse("caseload")).content.decode()
    assert "R-TARA-1-DUP" not in caseload and "R-TARA-1" in caseload
    event = AuditEvent.objects.get(action="client.merged")
    assert event.detail["duplicate"] == duplicate.public_id
    assert event.detail["dropped_empty_episode"] == emptied


def test_a_merge_moves_links_shares_and_group_places_and_the_undo_brings_them_back(personas):
    p = personas
    duplicate = duplicate_of_tara(p)
    session = services.start_session(p.tara, duplicate, on=START + datetime.timedelta(days=15))
    link = feedback.create_link(p.tara, session, instrument="srs").link
    ClientShare.objects.create(agency=p.riverside, client=duplicate, user=p.theo)
    group = feedback.create_group(
        p.tara, p.riverside, name="Tuesday", leader=p.tara, members=[duplicate]
    )
    merged = services.merge_clients(p.alice, duplicate, p.tara_client)
    link.refresh_from_db()
    assert link.client == p.tara_client
    assert visible_clients(p.theo).filter(pk=p.tara_client.pk).exists()
    assert group.members.get().client == p.tara_client
    restored = services.undo_merge(p.alice, merged)
    link.refresh_from_db()
    assert link.client == restored
    assert restored.shares.get().user == p.theo
    assert group.members.get().client == restored
    assert not visible_clients(p.theo).filter(pk=p.tara_client.pk).exists()


def test_an_undo_within_a_day_restores_both_clients_as_they_were(personas):
    p = personas
    duplicate = duplicate_of_tara(p)
    before = {
        "duplicate": sorted(duplicate.episodes.values_list("public_id", flat=True)),
        "kept": sorted(p.tara_client.episodes.values_list("public_id", flat=True)),
    }
    browser = signed_in(p.alice)
    merge(browser, duplicate, "R-TARA-1")
    merged = ClientMerge.objects.get()
    url = reverse("agency:merge_undo", args=[merged.public_id])
    assert browser.get(url).status_code == 200  # asks for confirmation
    assert browser.post(url, {}).status_code == 400
    assert browser.post(url, {"confirm": "yes"}).status_code == 302
    restored = Client.objects.get(display_code="R-TARA-1-DUP")
    assert restored.public_id == duplicate.public_id
    assert sorted(restored.episodes.values_list("public_id", flat=True)) == before["duplicate"]
    kept = sorted(p.tara_client.episodes.values_list("public_id", flat=True))
    assert kept == before["kept"]
    assert Administration.objects.filter(episode__client=restored).count() == 4
    # A second undo (a resubmitted form) changes nothing more.
    assert browser.post(url, {"confirm": "yes"}).status_code == 302
    assert AuditEvent.objects.filter(action="client.merge_undone").count() == 1
    with pytest.raises(ServiceError, match="already undone"):
        services.undo_merge(p.alice, merged)


def test_it_refuses_an_undo_after_24_hours(personas):
    p = personas
    merged = services.merge_clients(p.alice, duplicate_of_tara(p), p.tara_client)
    ClientMerge.objects.filter(pk=merged.pk).update(
        merged_at=merged.merged_at - datetime.timedelta(hours=24, minutes=1)
    )
    url = reverse("agency:merge_undo", args=[merged.public_id])
    response = signed_in(p.alice).post(url, {"confirm": "yes"})
    assert response.status_code == 400
    assert "within 24 hours" in response.content.decode()
    assert not Client.objects.filter(display_code="R-TARA-1-DUP").exists()
    assert "too late" in signed_in(p.alice).get(reverse("agency:clients")).content.decode()


def test_it_refuses_an_undo_when_the_code_is_in_use_again(personas):
    p = personas
    merged = services.merge_clients(p.alice, duplicate_of_tara(p), p.tara_client)
    services.create_client(p.tara, p.riverside, display_code="R-TARA-1-DUP", therapist=p.tara)
    with pytest.raises(ServiceError, match="in use again"):
        services.undo_merge(p.alice, merged)


def test_a_resubmitted_merge_form_merges_once(personas):
    p = personas
    duplicate = duplicate_of_tara(p)
    browser = signed_in(p.alice)
    assert merge(browser, duplicate, "R-TARA-1").status_code == 302
    again = merge(browser, duplicate, "R-TARA-1")
    assert again.status_code == 302
    assert ClientMerge.objects.count() == 1
    assert AuditEvent.objects.filter(action="client.merged").count() == 1


def test_it_refuses_to_merge_clients_of_different_therapists_and_says_why(personas):
    p = personas
    response = merge(signed_in(p.alice), p.theo_client, "R-TARA-1")
    assert response.status_code == 400
    assert "different therapists" in response.content.decode()
    assert Client.objects.filter(pk=p.theo_client.pk).exists()


def test_it_refuses_to_merge_clients_of_different_age_bands_and_says_why(personas):
    p = personas
    child = services.create_client(
        p.tara, p.riverside, display_code="R-KID", therapist=p.tara, age_band="child"
    )
    response = merge(signed_in(p.alice), child, "R-TARA-1")
    assert response.status_code == 400
    assert "different age bands" in response.content.decode()
    assert Client.objects.filter(pk=child.pk).exists()


def test_it_refuses_to_merge_when_both_open_episodes_have_sessions(personas):
    p = personas
    duplicate = duplicate_of_tara(p)
    rate(p.tara, p.tara_client, START + datetime.timedelta(days=2))
    ratings = Administration.objects.count()
    response = merge(signed_in(p.alice), duplicate, "R-TARA-1")
    assert response.status_code == 400
    assert "Close one of the two episodes first" in response.content.decode()
    assert Administration.objects.count() == ratings
    assert Client.objects.filter(pk=duplicate.pk).exists()


@pytest.mark.parametrize("kept_code", ["", "NO-SUCH-CODE", "R-TARA-1-DUP"])
def test_it_refuses_a_merge_without_a_valid_client_to_keep(personas, kept_code):
    p = personas
    duplicate = duplicate_of_tara(p)
    response = merge(signed_in(p.alice), duplicate, kept_code)
    assert response.status_code == 400
    assert Client.objects.filter(pk=duplicate.pk).exists()
    assert not ClientMerge.objects.exists()


def test_it_refuses_a_merge_without_the_confirmation(personas):
    p = personas
    duplicate = duplicate_of_tara(p)
    response = signed_in(p.alice).post(merge_url(duplicate), {"kept": "R-TARA-1"})
    assert response.status_code == 400
    assert not ClientMerge.objects.exists()


def test_only_an_admin_of_the_agency_may_merge_or_undo(personas):
    p = personas
    duplicate = duplicate_of_tara(p)
    for user in (p.tara, p.sam):
        assert merge(signed_in(user), duplicate, "R-TARA-1").status_code == 403
    assert merge(signed_in(p.olga), duplicate, "R-TARA-1").status_code == 404
    with pytest.raises(PermissionDenied):
        services.merge_clients(p.olga, duplicate, p.tara_client)
    with pytest.raises(PermissionDenied):
        services.merge_clients(p.tara, duplicate, p.tara_client)
    assert not ClientMerge.objects.exists()
    merged = services.merge_clients(p.alice, duplicate, p.tara_client)
    url = reverse("agency:merge_undo", args=[merged.public_id])
    assert signed_in(p.tara).post(url, {"confirm": "yes"}).status_code == 403
    assert signed_in(p.olga).post(url, {"confirm": "yes"}).status_code == 404
    with pytest.raises(PermissionDenied):
        services.undo_merge(p.olga, merged)
    assert not Client.objects.filter(display_code="R-TARA-1-DUP").exists()


def test_an_admin_cannot_merge_into_a_client_of_another_agency(personas):
    p = personas
    hillside = services.create_client(
        p.olga, p.hillside, display_code="H-1", therapist=p.oscar, start_date=START
    )
    response = merge(signed_in(p.alice), p.tara_client, "H-1")
    assert response.status_code == 400
    with pytest.raises(PermissionDenied):
        services.merge_clients(p.alice, p.tara_client, hillside)
    assert Client.objects.filter(pk=p.tara_client.pk).exists()


def test_the_clients_page_finds_a_client_by_code(personas):
    page = signed_in(personas.alice).get(reverse("agency:clients"), {"code": "THEO"})
    text = page.content.decode()
    assert "R-THEO-1" in text and "R-TARA-1" not in text
    assert "H-" not in text


def test_an_undo_gives_the_duplicate_back_its_form_language(personas):
    p = personas
    duplicate = duplicate_of_tara(p)
    Client.objects.filter(pk=duplicate.pk).update(language="es")
    merged = services.merge_clients(p.alice, Client.objects.get(pk=duplicate.pk), p.tara_client)
    restored = services.undo_merge(p.alice, merged)
    assert Client.objects.get(pk=restored.pk).language == "es"


def test_an_undo_of_a_merge_recorded_before_the_language_was_kept_uses_the_default(personas):
    p = personas
    merged = services.merge_clients(p.alice, duplicate_of_tara(p), p.tara_client)
    merged.duplicate.pop("language")
    ClientMerge.objects.filter(pk=merged.pk).update(duplicate=merged.duplicate)
    restored = services.undo_merge(p.alice, ClientMerge.objects.get(pk=merged.pk))
    assert Client.objects.get(pk=restored.pk).language == ""


def _merge_with_details(p, hours_ago: float) -> ClientMerge:
    duplicate = duplicate_of_tara(p)
    Client.objects.filter(pk=duplicate.pk).update(name="Tara Example", birth_year=1990)
    merged = services.merge_clients(p.alice, Client.objects.get(pk=duplicate.pk), p.tara_client)
    ClientMerge.objects.filter(pk=merged.pk).update(
        merged_at=merged.merged_at - datetime.timedelta(hours=hours_ago)
    )
    return ClientMerge.objects.get(pk=merged.pk)


def test_the_duplicates_name_and_birth_year_are_forgotten_once_the_undo_window_has_passed(
    personas,
):
    merged = _merge_with_details(personas, hours_ago=24.1)
    assert merged.duplicate["name"] == "Tara Example"
    assert services.forget_merge_details() == 1
    kept = ClientMerge.objects.get(pk=merged.pk).duplicate
    assert "name" not in kept and "birth_year" not in kept
    assert kept["display_code"] == "R-TARA-1-DUP"  # the history stays readable
    event = AuditEvent.objects.get(action="client.merge_details_forgotten")
    assert event.target_id == merged.public_id
    assert "Tara" not in str(event.detail)
    # The next night finds nothing more to do.
    assert services.forget_merge_details() == 0
    assert AuditEvent.objects.filter(action="client.merge_details_forgotten").count() == 1


def test_a_merge_still_within_its_undo_window_keeps_the_details_its_undo_needs(personas):
    merged = _merge_with_details(personas, hours_ago=23)
    assert services.forget_merge_details() == 0
    assert ClientMerge.objects.get(pk=merged.pk).duplicate["name"] == "Tara Example"
    restored = services.undo_merge(personas.alice, merged)
    assert Client.objects.get(pk=restored.pk).name == "Tara Example"
