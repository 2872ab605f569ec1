"""The client's language: chosen per client and stored, used for links and kiosk passes, shown
on the new-client form and the client page, in the API, and switchable on the form itself
without losing what the client already set (issue 13)."""

from __future__ import annotations

import re

import pytest
from django.test import Client as Browser
from django.urls import reverse
from django.utils import translation

from alliance.audit.models import AuditEvent
from alliance.care import services as care
from alliance.care.models import Administration, Client
from alliance.feedback import services
from alliance.feedback.models import FeedbackLink
from alliance.science.instruments import get_instrument


def logged_in(user, language: str = "en") -> Browser:
    browser = Browser(HTTP_ACCEPT_LANGUAGE=language)
    browser.force_login(user)
    return browser


def link_url(token: str) -> str:
    return reverse("feedback:link_form", kwargs={"token": token})


def kiosk_url(personas) -> str:
    return reverse("feedback:kiosk", kwargs={"agency_id": personas.riverside.public_id})


def key_of(page: str) -> str:
    found = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', page)
    assert found is not None
    return found.group(1)


def spanish_client(personas) -> Client:
    personas.tara_client.language = "es"
    personas.tara_client.save(update_fields=["language"])
    return personas.tara_client


# -- stored per client ---------------------------------------------------------------------------


def test_a_new_client_is_created_with_the_language_chosen_on_the_form(personas):
    browser = logged_in(personas.tara)
    page = browser.get(reverse("new_client")).content.decode()
    assert 'name="language"' in page and "Language of the client's forms" in page
    response = browser.post(
        reverse("new_client"), {"display_code": "ES-NEW-1", "age_band": "adult", "language": "es"}
    )
    assert response.status_code == 302
    assert Client.objects.get(display_code="ES-NEW-1").language == "es"


def test_a_new_client_without_a_choice_follows_the_staff_members_language(personas):
    response = logged_in(personas.tara).post(
        reverse("new_client"), {"display_code": "ES-NEW-2", "age_band": "adult"}
    )
    assert response.status_code == 302
    assert Client.objects.get(display_code="ES-NEW-2").language == ""


def test_an_unknown_language_is_refused_and_nothing_is_created(personas):
    response = logged_in(personas.tara).post(
        reverse("new_client"), {"display_code": "ES-NEW-3", "age_band": "adult", "language": "xx"}
    )
    assert response.status_code == 400
    assert "Choose a language from the list." in response.content.decode()
    assert not Client.objects.filter(display_code="ES-NEW-3").exists()


def test_the_client_page_changes_the_language_and_the_change_is_audited(personas):
    browser = logged_in(personas.tara)
    client = personas.tara_client
    page = browser.get(reverse("client", args=[client.public_id])).content.decode()
    assert 'id="client-language"' in page and "Save language" in page
    url = reverse("set_client_language", args=[client.public_id])
    assert browser.post(url, {"language": "es"}).status_code == 302
    client.refresh_from_db()
    assert client.language == "es"
    event = AuditEvent.objects.filter(action="client.updated").latest("pk")
    assert event.detail["fields"] == ["language"]
    page = browser.get(reverse("client", args=[client.public_id])).content.decode()
    assert '<option value="es" lang="es" selected>' in page
    refused = browser.post(url, {"language": "klingon"})
    client.refresh_from_db()
    assert refused.status_code == 400 and client.language == "es"


def test_another_therapist_cannot_change_the_language_of_a_client_they_do_not_see(personas):
    url = reverse("set_client_language", args=[personas.tara_client.public_id])
    assert logged_in(personas.theo).post(url, {"language": "es"}).status_code == 404
    personas.tara_client.refresh_from_db()
    assert personas.tara_client.language == ""


def test_the_api_reads_and_writes_the_clients_language(personas):
    from alliance.api.services import create_token

    token = create_token(personas.tara, name="lang", scope="write").secret
    api = Browser(HTTP_AUTHORIZATION=f"Bearer {token}")
    created = api.post(
        "/api/v1/clients",
        {"display_code": "API-ES-1", "language": "es"},
        content_type="application/json",
    )
    assert created.status_code == 201 and created.json()["language"] == "es"
    client_id = created.json()["id"]
    patched = api.patch(
        f"/api/v1/clients/{client_id}", {"language": ""}, content_type="application/json"
    )
    assert patched.status_code == 200 and patched.json()["language"] == ""
    refused = api.patch(
        f"/api/v1/clients/{client_id}", {"language": "xx"}, content_type="application/json"
    )
    assert refused.status_code == 422
    assert api.get(f"/api/v1/clients/{client_id}").json()["language"] == ""
    schema = api.get("/api/v1/openapi.json").json()["components"]["schemas"]
    assert "language" in schema["ClientOut"]["properties"]


# -- used for links and kiosk passes -------------------------------------------------------------


def test_a_link_opens_in_the_clients_language_whatever_the_staff_or_the_browser_speak(
    personas, tara_session
):
    spanish_client(personas)
    with translation.override("en"):
        new = services.create_link(personas.tara, tara_session, instrument="ors")
    assert new.link.language == "es"
    page = Browser(HTTP_ACCEPT_LANGUAGE="en").get(link_url(new.token)).content.decode()
    assert '<html lang="es">' in page and "Individualmente" in page and "Enviar" in page


def test_without_a_client_language_a_link_takes_the_staff_members_language(personas, tara_session):
    with translation.override("es"):
        spanish = services.create_link(personas.tara, tara_session, instrument="ors")
    with translation.override("en"):
        english = services.create_link(personas.tara, tara_session, instrument="srs")
    assert (spanish.link.language, english.link.language) == ("es", "en")


def test_the_session_page_offers_the_clients_language_for_links_and_kiosk(personas, tara_session):
    spanish_client(personas)
    browser = logged_in(personas.tara)
    url = reverse("session", args=[personas.tara_client.public_id, tara_session.number])
    page = browser.get(url).content.decode()
    assert page.count('<option value="es" lang="es" selected>') >= 2
    assert 'id="link-language"' in page and 'id="kiosk-language"' in page
    # The therapist may still choose another language for one link.
    browser.post(
        reverse("feedback:create_link", args=[tara_session.public_id]),
        {"instrument": "ors", "channel": "show", "language": "en"},
    )
    browser.post(
        reverse("feedback:create_kiosk", args=[tara_session.public_id]),
        {"instrument": "srs", "language": ""},
    )
    languages = dict(FeedbackLink.objects.values_list("instrument", "language"))
    assert languages == {"ors": "en", "srs": "es"}
    refused = browser.post(
        reverse("feedback:create_link", args=[tara_session.public_id]),
        {"instrument": "ors", "channel": "show", "language": "xx"},
    )
    assert refused.status_code == 400 and FeedbackLink.objects.count() == 2


def test_a_kiosk_pass_opens_in_the_clients_language_on_an_english_tablet(personas, tara_session):
    spanish_client(personas)
    new = services.create_kiosk_pass(personas.tara, tara_session, instrument="srs")
    tablet = Browser(HTTP_ACCEPT_LANGUAGE="en")
    assert "Enter the code and PIN" in tablet.get(kiosk_url(personas)).content.decode()
    tablet.post(kiosk_url(personas), {"code": new.code, "pin": new.pin})
    form = tablet.get(reverse("feedback:kiosk_form", args=[personas.riverside.public_id]))
    page = form.content.decode()
    assert '<html lang="es">' in page and "Relación" in page and "Enviar" in page


# -- switching on the form itself ----------------------------------------------------------------


def test_switching_the_language_on_the_form_keeps_the_lines_set_and_stores_nothing(
    personas, tara_session
):
    new = services.create_link(personas.tara, tara_session, instrument="ors", language="en")
    browser = Browser()
    page = browser.get(link_url(new.token)).content.decode()
    assert 'form="client-form"' in page and 'id="client-form"' in page
    key = key_of(page)
    # Two lines set, two not yet (the script leaves unmoved lines out of a switch).
    switched = browser.post(
        link_url(new.token),
        {
            "ors-individually": "6.3",
            "ors-socially": "2.0",
            "idempotency_key": key,
            "language": "es",
            "switch_language": "1",
        },
    )
    page = switched.content.decode()
    assert switched.status_code == 200 and '<html lang="es">' in page
    assert "Individualmente" in page and "Individually" not in page
    assert 'value="6.3"' in page and 'value="2.0"' in page
    assert page.count("aún sin valorar") >= 2  # the two lines not set yet stay unset
    assert key_of(page) == key
    assert not Administration.objects.exists()
    new.link.refresh_from_db()
    assert new.link.language == "es" and new.link.used_at is None
    # A reload stays Spanish; the rating then goes through once, with the first key.
    assert "Individualmente" in browser.get(link_url(new.token)).content.decode()
    items = {
        "ors-individually": "6.3",
        "ors-interpersonally": "5.0",
        "ors-socially": "2.0",
        "ors-overall": "4.0",
    }
    for _attempt in range(2):
        browser.post(link_url(new.token), {**items, "confirmed": "1", "idempotency_key": key})
    assert Administration.objects.get().total == pytest.approx(17.3)


def test_a_send_with_the_language_select_in_the_form_is_a_send_not_a_switch(personas, tara_session):
    new = services.create_link(personas.tara, tara_session, instrument="ors", language="en")
    browser = Browser()
    key = key_of(browser.get(link_url(new.token)).content.decode())
    items = {f"ors-{k}": "5.0" for k in get_instrument("ors").item_keys}
    sent = browser.post(
        link_url(new.token), {**items, "confirmed": "1", "idempotency_key": key, "language": "es"}
    )
    assert "Thank you" in sent.content.decode()
    assert Administration.objects.get().total == pytest.approx(20.0)


def test_a_switch_to_an_unknown_language_changes_nothing(personas, tara_session):
    new = services.create_link(personas.tara, tara_session, instrument="ors", language="en")
    response = Browser().post(
        link_url(new.token),
        {"ors-overall": "3.0", "language": "tlh", "switch_language": "1"},
    )
    assert response.status_code == 400
    assert "Choose a language from the list." in response.content.decode()
    new.link.refresh_from_db()
    assert new.link.language == "en" and not Administration.objects.exists()


def test_a_switch_on_a_used_link_says_the_form_was_sent(personas, tara_session):
    new = services.create_link(personas.tara, tara_session, instrument="ors", language="en")
    items = dict.fromkeys(get_instrument("ors").item_keys, 5.0)
    services.submit_link(new.link, items=items, idempotency_key="k" * 32)
    response = Browser().post(link_url(new.token), {"language": "es", "switch_language": "1"})
    assert response.status_code == 410
    new.link.refresh_from_db()
    assert new.link.language == "en"


def test_switching_on_the_kiosk_form_keeps_the_pass_and_the_lines(personas, tara_session):
    new = services.create_kiosk_pass(personas.tara, tara_session, instrument="srs", language="es")
    tablet = Browser()
    tablet.post(kiosk_url(personas), {"code": new.code, "pin": new.pin})
    url = reverse("feedback:kiosk_form", args=[personas.riverside.public_id])
    page = tablet.get(url).content.decode()
    assert "Relación" in page
    switched = tablet.post(
        url,
        {
            "srs-relationship": "9.1",
            "idempotency_key": key_of(page),
            "language": "en",
            "switch_language": "1",
        },
    )
    page = switched.content.decode()
    assert switched.status_code == 200 and "Relationship" in page and 'value="9.1"' in page
    assert not Administration.objects.exists()
    assert "Relationship" in tablet.get(url).content.decode()  # still this client's pass


def test_care_refuses_an_unknown_language_for_a_client(personas):
    with pytest.raises(care.ServiceError):
        care.update_client(personas.tara, personas.tara_client, language="xx")
