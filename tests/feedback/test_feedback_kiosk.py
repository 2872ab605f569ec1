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
    assert done.status_code == 200 and "Thank you" in done.content.decode()
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


def test_one_device_is_stopped_after_ten_failed_codes(personas, tara_session):
    tablet = Browser()
    for index in range(10):
        tablet.post(kiosk_url(personas), {"code": f"NOPE{index:02d}", "pin": "1234"})
    new = services.create_kiosk_pass(personas.tara, tara_session, instrument="ors")
    blocked = tablet.post(kiosk_url(personas), {"code": new.code, "pin": new.pin})
    assert blocked.status_code == 403


def test_a_code_of_one_agency_does_not_open_at_another_agencys_kiosk(personas, tara_session):
    new = services.create_kiosk_pass(personas.tara, tara_session, instrument="ors")
    hillside = reverse("feedback:kiosk", kwargs={"agency_id": personas.hillside.public_id})
    response = Browser().post(hillside, {"code": new.code, "pin": new.pin})
    assert response.status_code == 400


def test_the_therapist_sees_the_code_and_pin_once_after_creating_a_pass(personas, tara_session):
    browser = Browser()
    browser.force_login(personas.tara)
    url = reverse("feedback:create_kiosk", kwargs={"session_id": tara_session.public_id})
    page = browser.post(url, {"instrument": "ors"}).content.decode()
    code = re.search(r'data-testid="kiosk-code">([A-Z2-9]{6})<', page).group(1)
    assert FeedbackLink.objects.get().kiosk_code == code
    assert personas.riverside.public_id in page
