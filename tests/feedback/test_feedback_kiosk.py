"""Kiosk / waiting-room mode: a code and PIN open one form; PIN attempts are limited."""

from __future__ import annotations

import re

from django.test import Client as Browser
from django.urls import reverse

from alliance.care.models import Administration
from alliance.feedback import services
from alliance.feedback.models import FeedbackLink

SRS_ITEMS = {
    "srs-relationship": "9.5",
    "srs-goals_topics": "9.0",
    "srs-approach": "8.5",
    "srs-overall": "9.0",
}  # total 36.0


def kiosk_url(personas) -> str:
    return reverse("feedback:kiosk", kwargs={"agency_id": personas.riverside.public_id})


def test_a_code_and_pin_open_the_one_form_and_the_rating_lands_in_the_session(
    personas, tara_session
):
    new = services.create_kiosk_pass(personas.tara, tara_session, instrument="srs")
    assert re.fullmatch(r"[A-Z2-9]{6}", new.code) and re.fullmatch(r"\d{4}", new.pin)
    assert new.pin not in FeedbackLink.objects.values_list("pin_hash", flat=True).get()
    tablet = Browser()
    entry = tablet.get(kiosk_url(personas)).content.decode()
    assert "Caseload" not in entry and "R-TARA-1" not in entry
    opened = tablet.post(kiosk_url(personas), {"code": new.code.lower(), "pin": new.pin})
    assert opened.status_code == 302
    form = tablet.get(opened["Location"]).content.decode()
    assert "Session Rating Scale" in form
    # Nothing on the page names the client or any other client.
    for code in ("R-TARA-1", "R-THEO-1", "R-THEO-2"):
        assert code not in form
    key = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', form).group(1)
    done = tablet.post(opened["Location"], {**SRS_ITEMS, "confirmed": "1", "idempotency_key": key})
    # The tablet goes straight back to the code entry, thanking this client once.
    assert done.status_code == 302 and done["Location"] == kiosk_url(personas)
    entry = tablet.get(done["Location"]).content.decode()
    assert "Thank you" in entry and 'name="code"' in entry and "R-TARA-1" not in entry
    assert "Thank you" not in tablet.get(kiosk_url(personas)).content.decode()
    stored = Administration.objects.get()
    assert stored.session == tara_session and stored.instrument == "srs" and stored.total == 36.0
    # The pass is spent and the tablet is back at the code entry.
    assert tablet.get(opened["Location"]).status_code == 302
    again = tablet.post(kiosk_url(personas), {"code": new.code, "pin": new.pin})
    assert again.status_code == 410


def test_five_wrong_pins_lock_the_code_even_with_the_right_pin_afterwards(personas, tara_session):
    new = services.create_kiosk_pass(personas.tara, tara_session, instrument="ors")
    wrong = "0000" if new.pin != "0000" else "1111"
    statuses = []
    for _attempt in range(5):
        tablet = Browser()  # a fresh device each time: the limit is on the code itself
        statuses.append(
            tablet.post(kiosk_url(personas), {"code": new.code, "pin": wrong}).status_code
        )
    assert statuses == [400, 400, 400, 400, 403]
    locked = Browser().post(kiosk_url(personas), {"code": new.code, "pin": new.pin})
    assert locked.status_code == 403 and "Too many attempts" in locked.content.decode()
    assert FeedbackLink.objects.get().failed_attempts == 5
    assert not Administration.objects.exists()


def test_wrong_codes_lock_the_pass_being_guessed_and_not_the_tablet(personas, tara_session):
    guessed = services.create_kiosk_pass(personas.tara, tara_session, instrument="ors")
    other = services.create_kiosk_pass(personas.tara, tara_session, instrument="srs")
    wrong = "0000" if guessed.pin != "0000" else "1111"
    tablet = Browser()  # one tablet for everything
    for index in range(12):
        tablet.post(kiosk_url(personas), {"code": f"NOPE{index:02d}", "pin": "1234"})
    for _attempt in range(5):
        tablet.post(kiosk_url(personas), {"code": guessed.code, "pin": wrong})
    locked = tablet.post(kiosk_url(personas), {"code": guessed.code, "pin": guessed.pin})
    assert locked.status_code == 403 and 'data-testid="kiosk-again"' in locked.content.decode()
    # The next client on the same tablet opens their own form.
    opened = tablet.post(kiosk_url(personas), {"code": other.code, "pin": other.pin})
    assert (
        opened.status_code == 302
        and "Session Rating Scale" in tablet.get(opened["Location"]).content.decode()
    )
    assert FeedbackLink.objects.get(pk=other.link.pk).failed_attempts == 0


def test_a_kiosk_pass_for_a_form_already_given_says_so_and_goes_back_to_code_entry(
    personas, tara_session
):
    first = services.create_kiosk_pass(personas.tara, tara_session, instrument="srs")
    second = services.create_kiosk_pass(personas.tara, tara_session, instrument="srs")
    tablet = Browser()
    opened = tablet.post(kiosk_url(personas), {"code": first.code, "pin": first.pin})
    form = tablet.get(opened["Location"]).content.decode()
    key = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', form).group(1)
    tablet.post(opened["Location"], {**SRS_ITEMS, "confirmed": "1", "idempotency_key": key})
    late = tablet.post(kiosk_url(personas), {"code": second.code, "pin": second.pin})
    assert late.status_code == 410 and 'data-testid="kiosk-again"' in late.content.decode()
    assert Administration.objects.count() == 1


def test_a_code_of_one_agency_does_not_open_at_another_agencys_kiosk(personas, tara_session):
    new = services.create_kiosk_pass(personas.tara, tara_session, instrument="ors")
    hillside = reverse("feedback:kiosk", kwargs={"agency_id": personas.hillside.public_id})
    response = Browser().post(hillside, {"code": new.code, "pin": new.pin})
    assert response.status_code == 400


def shown_pass(page: str) -> tuple[str, str]:
    code = re.search(r'data-testid="kiosk-code">([A-Z2-9]{6})<', page).group(1)
    pin = re.search(r'data-testid="kiosk-pin">(\d{4})<', page).group(1)
    return code, pin


def test_the_therapist_sees_the_code_and_pin_after_creating_a_pass(personas, tara_session):
    browser = Browser()
    browser.force_login(personas.tara)
    url = reverse("feedback:create_kiosk", kwargs={"session_id": tara_session.public_id})
    response = browser.post(url, {"instrument": "ors"})
    # Redirect after post: the address names the pass only, never its code or PIN.
    assert response.status_code == 302
    link = FeedbackLink.objects.get()
    assert response["Location"] == reverse("feedback:link_ready", args=[link.public_id])
    page = browser.get(response["Location"]).content.decode()
    code, pin = shown_pass(page)
    assert link.kiosk_code == code
    assert personas.riverside.public_id in page
    # The PIN shown is the one that opens the form on the tablet.
    tablet = Browser()
    opened = tablet.post(kiosk_url(personas), {"code": code, "pin": pin})
    assert opened.status_code == 302


def pass_made_by_tara(personas, tara_session) -> tuple[Browser, str]:
    """Tara's browser after creating a kiosk pass, and the address of its "ready" page."""
    browser = Browser()
    browser.force_login(personas.tara)
    url = reverse("feedback:create_kiosk", kwargs={"session_id": tara_session.public_id})
    return browser, browser.post(url, {"instrument": "ors"})["Location"]


def test_reloading_the_kiosk_ready_page_shows_the_same_pass_and_makes_no_other(
    personas, tara_session
):
    browser, ready = pass_made_by_tara(personas, tara_session)
    first = shown_pass(browser.get(ready).content.decode())
    assert shown_pass(browser.get(ready).content.decode()) == first
    assert FeedbackLink.objects.count() == 1


def test_the_kiosk_pin_is_not_shown_to_another_browser_or_after_the_pass_is_used(
    personas, tara_session
):
    browser, ready = pass_made_by_tara(personas, tara_session)
    other = Browser()
    other.force_login(personas.tara)
    page = other.get(ready).content.decode()
    assert 'data-testid="kiosk-not-shown"' in page and 'data-testid="kiosk-pin"' not in page
    link = FeedbackLink.objects.get()
    services.revoke_link(personas.tara, link)
    page = browser.get(ready).content.decode()
    assert 'data-testid="kiosk-not-shown"' in page and 'data-testid="kiosk-pin"' not in page
