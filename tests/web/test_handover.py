"""Hand-over: a server-side lock on the client's side of one session, one scale at a time, and
re-authentication (PIN or password, per agency) to take the device back."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.hashers import check_password
from django.test import Client as Browser
from django.urls import get_resolver, reverse

from alliance.accounts.models import HandoverReauth
from alliance.accounts.services import set_handover_pin
from alliance.audit.models import AuditEvent
from alliance.care import services
from alliance.care.models import Administration, Session
from tests.security.test_permission_matrix import api_operations, walk
from tests.web.personas import PASSWORD

ORS_ITEMS = {
    "ors-individually": "5.2",
    "ors-interpersonally": "4.8",
    "ors-socially": "6.1",
    "ors-overall": "3.9",
    "confirmed": "1",
}
SRS_ITEMS = {
    "srs-relationship": "9.0",
    "srs-goals_topics": "9.0",
    "srs-approach": "9.5",
    "srs-overall": "9.5",
    "confirmed": "1",
}
OPEN = {"handover", "handover_thanks", "handover_give_back", "set_language", "healthz"}


def logged_in(user) -> Browser:
    browser = Browser()
    browser.force_login(user)
    return browser


@pytest.fixture
def tara_session(personas):
    return services.start_session(personas.tara, personas.tara_client)


def start(browser: Browser, client, scales: str, number: int = 1):
    return browser.post(
        reverse("start_handover", kwargs={"public_id": client.public_id, "number": number}),
        {"scales": scales},
    )


def key_of(page: str) -> str:
    return re.search(r'name="idempotency_key" value="([0-9a-f]+)"', page).group(1)


def save(browser: Browser, instrument: str, items: dict[str, str]):
    page = browser.get(reverse("handover")).content.decode()
    data = {"instrument": instrument, "idempotency_key": key_of(page), **items}
    return browser.post(reverse("handover"), data)


def locked_paths() -> list[str]:
    """Every route of the site (admin and API included) with made-up arguments, except the
    hand-over's own pages: the lock answers before any view runs."""
    paths = []
    for route, name in walk(get_resolver().url_patterns):
        if name in OPEN:
            continue
        paths.append("/" + re.sub(r"<(?:\w+:)?(\w+)>", "1", route).replace("^", "").rstrip("$"))
    for operation in api_operations():
        paths.append(re.sub(r"\{\w+\}", "1", operation.split(" ", 1)[1]))
    return sorted(set(paths))


def test_starting_a_hand_over_is_an_audited_post_that_opens_the_clients_form(
    personas, tara_session
):
    browser = logged_in(personas.tara)
    assert browser.get(reverse("handover")).url == reverse("caseload")  # nothing handed over
    response = start(browser, personas.tara_client, "outcome")
    assert response.status_code == 302 and response.url == reverse("handover")
    event = AuditEvent.objects.get(action="handover.started")
    assert event.target_id == tara_session.public_id
    assert event.detail == {"instruments": ["ors"], "number": 1}
    assert event.actor == personas.tara


def test_every_other_page_redirects_to_the_clients_form_while_locked(personas, tara_session):
    browser = logged_in(personas.tara)
    start(browser, personas.tara_client, "outcome")
    paths = locked_paths()
    assert "/" in paths and "/admin/" in paths and "/api/v1/clients" in paths
    for path in paths:
        for method in (browser.get, browser.post):
            response = method(path)
            assert (response.status_code, response.get("Location")) == (
                302,
                reverse("handover"),
            ), path
    assert not Session.objects.filter(number=2).exists()  # nothing ran behind the lock


def test_after_the_last_scale_every_page_redirects_to_the_thank_you_page(personas, tara_session):
    browser = logged_in(personas.tara)
    start(browser, personas.tara_client, "outcome")
    response = save(browser, "ors", ORS_ITEMS)
    assert response.url == reverse("handover_thanks")
    assert browser.get(reverse("caseload")).url == reverse("handover_thanks")
    assert browser.get(reverse("handover")).url == reverse("handover_thanks")
    page = browser.get(reverse("handover_thanks")).content.decode()
    assert "Thank you, please hand the device back" in page
    assert "ORS saved. Thank you." in page  # said once, in the polite live region
    assert "ORS saved" not in browser.get(reverse("handover_thanks")).content.decode()
    stored = Administration.objects.get(session=tara_session)
    assert (stored.instrument, stored.rater, stored.total) == ("ors", "client", 20.0)


def test_the_clients_form_shows_one_scale_with_its_own_wording_and_nothing_of_the_therapist(
    personas, tara_session
):
    browser = logged_in(personas.tara)
    start(browser, personas.tara_client, "outcome")
    page = browser.get(reverse("handover")).content.decode()
    assert "Looking back over the last week, including today" in page
    assert "Personal well-being" in page and "Family, close relationships" in page
    assert 'name="ors-individually"' in page and 'name="srs-' not in page
    for therapist_only in (
        "site-header",
        "Caseload",
        "Log out",
        "Enter from paper or phone",
        'name="rater"',
        'name="entry_mode"',
        "Undo",
        "R-TARA-1",
        "R-THEO",
        "progress-graph",
        "Feedback",
    ):
        assert therapist_only not in page, therapist_only


def test_the_alliance_hand_over_shows_the_srs_alone(personas, tara_session):
    browser = logged_in(personas.tara)
    start(browser, personas.tara_client, "alliance")
    page = browser.get(reverse("handover")).content.decode()
    assert "Please rate today&#x27;s session" in page
    assert "I felt heard, understood and respected" in page
    assert 'name="ors-' not in page


def test_both_scales_come_one_after_the_other_with_an_announcement(personas, tara_session):
    browser = logged_in(personas.tara)
    start(browser, personas.tara_client, "both")
    first = browser.get(reverse("handover")).content.decode()
    assert "Form 1 of 2" in first and 'name="srs-' not in first
    assert save(browser, "ors", ORS_ITEMS).url == reverse("handover")
    second = browser.get(reverse("handover")).content.decode()
    assert "ORS saved. Next: SRS." in second and "Form 2 of 2" in second
    assert 'name="ors-' not in second
    assert save(browser, "srs", SRS_ITEMS).url == reverse("handover_thanks")
    assert Administration.objects.filter(session=tara_session, rater="client").count() == 2


def test_an_unrated_form_stays_on_the_scale_with_a_message(personas, tara_session):
    browser = logged_in(personas.tara)
    start(browser, personas.tara_client, "outcome")
    response = save(browser, "ors", {k: v for k, v in ORS_ITEMS.items() if k != "confirmed"})
    assert response.status_code == 400
    assert "Please move every line" in response.content.decode()
    assert not Administration.objects.exists()


def test_a_scale_already_filled_in_is_not_handed_over_again(personas, tara_session):
    services.record_administration(
        personas.tara, tara_session, instrument="ors", idempotency_key="k", total="20"
    )
    browser = logged_in(personas.tara)
    assert start(browser, personas.tara_client, "outcome").status_code == 400
    assert start(browser, personas.tara_client, "nonsense").status_code == 400
    assert browser.get(reverse("caseload")).status_code == 200  # not locked
    assert not AuditEvent.objects.filter(action="handover.started").exists()


def test_another_therapists_client_cannot_be_handed_over(personas):
    theo_session = services.start_session(personas.theo, personas.theo_client)
    browser = logged_in(personas.tara)
    assert start(browser, personas.theo_client, "outcome", theo_session.number).status_code == 404
    assert browser.get(reverse("caseload")).status_code == 200


def test_giving_back_with_the_password_unlocks_and_returns_to_the_session(personas, tara_session):
    browser = logged_in(personas.tara)
    start(browser, personas.tara_client, "outcome")
    page = browser.get(reverse("handover_give_back")).content.decode()
    assert "Your password" in page
    response = browser.post(reverse("handover_give_back"), {"secret": PASSWORD})
    assert response.url == reverse(
        "session", kwargs={"public_id": personas.tara_client.public_id, "number": 1}
    )
    assert browser.get(reverse("caseload")).status_code == 200
    event = AuditEvent.objects.get(action="handover.ended")
    assert event.detail == {"method": "password"} and event.target_id == tara_session.public_id


def test_a_wrong_pin_keeps_the_device_locked_and_the_right_one_unlocks(personas, tara_session):
    personas.riverside.handover_reauth = HandoverReauth.PIN
    personas.riverside.save()
    set_handover_pin(personas.tara, "4821")
    browser = logged_in(personas.tara)
    start(browser, personas.tara_client, "outcome")
    assert "Your hand-over PIN" in browser.get(reverse("handover_give_back")).content.decode()
    wrong = browser.post(reverse("handover_give_back"), {"secret": "1111"})
    assert wrong.status_code == 400
    text = wrong.content.decode()
    assert "That PIN is not right." in text and "Tries left before signing out: 4." in text
    # With PINs on, the password is not what unlocks
    assert browser.post(reverse("handover_give_back"), {"secret": PASSWORD}).status_code == 400
    assert browser.get(reverse("caseload")).url == reverse("handover")
    right = browser.post(reverse("handover_give_back"), {"secret": "4821"})
    assert right.status_code == 302 and "/sessions/1/" in right.url
    assert browser.get(reverse("caseload")).status_code == 200
    assert AuditEvent.objects.filter(action="handover.reauth_failed").count() == 2
    assert AuditEvent.objects.get(action="handover.ended").detail == {"method": "pin"}


def test_pin_mode_falls_back_to_the_password_for_a_therapist_without_a_pin(personas, tara_session):
    personas.riverside.handover_reauth = HandoverReauth.PIN
    personas.riverside.save()
    browser = logged_in(personas.tara)
    start(browser, personas.tara_client, "outcome")
    assert "Your password" in browser.get(reverse("handover_give_back")).content.decode()
    assert browser.post(reverse("handover_give_back"), {"secret": PASSWORD}).status_code == 302


def test_five_wrong_attempts_sign_the_therapist_out_completely(personas, tara_session):
    browser = logged_in(personas.tara)
    start(browser, personas.tara_client, "outcome")
    for _ in range(4):
        assert browser.post(reverse("handover_give_back"), {"secret": "nope"}).status_code == 400
    last = browser.post(reverse("handover_give_back"), {"secret": "nope"})
    assert last.url == reverse("login")
    assert browser.get(reverse("caseload")).url.startswith(reverse("login"))
    assert browser.get(reverse("handover")).url.startswith(reverse("login"))
    assert AuditEvent.objects.filter(action="handover.reauth_failed").count() == 5
    assert AuditEvent.objects.get(action="handover.signed_out").detail == {"failures": 5}


def test_a_childs_hand_over_shows_faces_and_no_clinician_notes(personas):
    young = services.create_client(
        personas.tara,
        personas.riverside,
        display_code="KID-9",
        therapist=personas.tara,
        age_band="young_child",
    )
    services.start_session(personas.tara, young)
    browser = logged_in(personas.tara)
    # the therapist's own view carries the note
    session_page = browser.get(
        reverse("session", kwargs={"public_id": young.public_id, "number": 1})
    ).content.decode()
    assert "not statistically validated" in session_page
    start(browser, young, "outcome")
    page = browser.get(reverse("handover")).content.decode()
    assert page.count('class="face"') == 8 and "Show us on each picture line" in page
    for note in ("not statistically validated", "licence", "copyright", "(c)"):
        assert note not in page.lower(), note


def test_the_hand_over_pin_is_set_on_the_account_page_hashed_and_audited(personas):
    browser = logged_in(personas.tara)
    assert browser.get(reverse("handover_pin")).status_code == 200
    refused = browser.post(
        reverse("handover_pin"), {"password": "wrong", "pin": "1234", "pin_again": "1234"}
    )
    assert refused.status_code == 400 and "That is not your password." in refused.content.decode()
    short = browser.post(
        reverse("handover_pin"), {"password": PASSWORD, "pin": "12", "pin_again": "12"}
    )
    assert short.status_code == 400 and "4 to 8 digits" in short.content.decode()
    done = browser.post(
        reverse("handover_pin"), {"password": PASSWORD, "pin": "246810", "pin_again": "246810"}
    )
    assert done.status_code == 200 and "Your hand-over PIN is set." in done.content.decode()
    personas.tara.refresh_from_db()
    assert personas.tara.handover_pin != "246810"
    assert check_password("246810", personas.tara.handover_pin)
    assert AuditEvent.objects.filter(action="account.handover_pin_set").count() == 1


def test_the_hand_over_pages_speak_spanish(personas, tara_session):
    browser = logged_in(personas.tara)
    browser.post(reverse("set_language"), {"language": "es", "next": "/"})
    page = browser.get(
        reverse("session", kwargs={"public_id": personas.tara_client.public_id, "number": 1})
    ).content.decode()
    assert "Pasar al cliente: ORS" in page
    start(browser, personas.tara_client, "outcome")
    assert save(browser, "ors", ORS_ITEMS).url == reverse("handover_thanks")
    thanks = browser.get(reverse("handover_thanks")).content.decode()
    assert "Gracias, devuelva el dispositivo, por favor" in thanks
    assert "ORS guardado. Gracias." in thanks
    give_back = browser.get(reverse("handover_give_back")).content.decode()
    assert "Recuperar el dispositivo" in give_back and "Su contraseña" in give_back
