"""Secure links: the token, its lifetime, single use, revocation, tampering, and sending."""

from __future__ import annotations

import datetime
import re

import pytest
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone

from alliance.audit.models import AuditEvent
from alliance.care.models import Administration, EntryMode
from alliance.care.rating_form import live_stamp
from alliance.feedback import services
from alliance.feedback.models import FeedbackLink, FeedbackSettings

ORS_ITEMS = {
    "ors-individually": "6.0",
    "ors-interpersonally": "5.5",
    "ors-socially": "7.0",
    "ors-overall": "4.5",
}  # total 23.0


def link_url(token: str) -> str:
    return reverse("feedback:link_form", kwargs={"token": token})


def new_link(personas, session, **kwargs):
    return services.create_link(personas.tara, session, instrument="ors", **kwargs)


def submit(browser: Browser, token: str, **extra) -> object:
    page = browser.get(link_url(token)).content.decode()
    key = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', page).group(1)
    return browser.post(
        link_url(token), {**ORS_ITEMS, "confirmed": "1", "idempotency_key": key, **extra}
    )


def test_a_link_token_has_at_least_128_bits_and_only_its_hash_is_stored(personas, tara_session):
    new = new_link(personas, tara_session)
    # token_urlsafe(32): 32 random bytes = 256 bits, 43 URL-safe characters.
    assert len(new.token) >= 43
    stored = FeedbackLink.objects.get()
    assert new.token not in {stored.token_hash, stored.public_id}
    assert stored.token_hash == services.hash_token(new.token)
    assert len(stored.token_hash) == 64


def test_a_link_expires_after_24_hours_by_default_and_the_agency_policy_changes_it(
    personas, tara_session, settings
):
    before = timezone.now()
    first = new_link(personas, tara_session).link
    assert datetime.timedelta(hours=23, minutes=59) < first.expires_at - before
    assert first.expires_at - before <= datetime.timedelta(hours=24, seconds=5)
    agency = tara_session.episode.agency
    agency.link_hours = 2
    agency.save()
    second = new_link(personas, tara_session).link
    assert second.expires_at - second.created_at < datetime.timedelta(hours=2, seconds=5)


def test_the_link_hours_setting_is_the_lifetime_a_new_agency_starts_with(settings):
    from alliance.accounts.models import Agency

    settings.ALLIANCE_LINK_HOURS = 6
    assert Agency(name="New").link_hours == 6


def test_a_valid_link_stores_the_rating_in_its_session_once(personas, tara_session):
    new = new_link(personas, tara_session)
    browser = Browser()
    page = browser.get(link_url(new.token))
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    response = submit(browser, new.token)
    assert response.status_code == 200
    assert "Thank you" in response.content.decode()
    stored = Administration.objects.get()
    assert stored.session == tara_session and stored.instrument == "ors"
    assert stored.total == pytest.approx(23.0)
    assert stored.entry_mode == EntryMode.LINK and stored.entered_by is None
    new.link.refresh_from_db()
    assert new.link.used_at is not None


def test_a_reused_link_gets_a_clear_page_and_stores_nothing_more(personas, tara_session):
    new = new_link(personas, tara_session)
    browser = Browser()
    submit(browser, new.token)
    again = browser.get(link_url(new.token))
    assert again.status_code == 410
    assert "already sent" in again.content.decode()
    replay = browser.post(
        link_url(new.token), {**ORS_ITEMS, "confirmed": "1", "idempotency_key": "other"}
    )
    assert replay.status_code == 410
    assert Administration.objects.count() == 1


def test_a_completed_link_expires_the_other_open_links_of_the_same_form_and_rater(
    personas, tara_session
):
    from alliance.care import services as care

    care.set_raters(personas.tara, tara_session.episode, ["parent"])
    tara_session.episode.refresh_from_db()
    first, second = new_link(personas, tara_session), new_link(personas, tara_session)
    kiosk = services.create_kiosk_pass(personas.tara, tara_session, instrument="ors")
    srs = services.create_link(personas.tara, tara_session, instrument="srs")
    parent = services.create_link(personas.tara, tara_session, instrument="ors", rater="parent")
    assert submit(Browser(), first.token).status_code == 200
    states = {
        n: FeedbackLink.objects.get(pk=x.link.pk).state()
        for n, x in enumerate((first, second, kiosk, srs, parent))
    }
    assert states == {0: "used", 1: "expired", 2: "expired", 3: "open", 4: "open"}
    event = AuditEvent.objects.get(action="feedback.link_used")
    assert sorted(event.detail["expired_links"]) == sorted(
        [second.link.public_id, kiosk.link.public_id]
    )


def test_a_second_link_cannot_replace_a_completed_rating_and_says_it_was_given(
    personas, tara_session
):
    first, second = new_link(personas, tara_session), new_link(personas, tara_session)
    browser = Browser()
    page = browser.get(link_url(second.token)).content.decode()  # opened before the first is done
    key = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', page).group(1)
    submit(Browser(), first.token)
    late = browser.post(
        link_url(second.token),
        {**dict.fromkeys(ORS_ITEMS, "1.0"), "confirmed": "1", "idempotency_key": key},
    )
    assert late.status_code == 410
    assert "This form was already filled in" in late.content.decode()
    assert Administration.objects.get().total == pytest.approx(23.0)
    assert not AuditEvent.objects.filter(action="administration.edited").exists()


def test_a_link_for_a_form_the_therapist_entered_meanwhile_says_it_was_given(
    personas, tara_session
):
    new = new_link(personas, tara_session)
    from alliance.care import services as care

    care.record_administration(
        personas.tara,
        tara_session,
        instrument="ors",
        idempotency_key="paper",
        total=30,
        entry_mode="paper",
    )
    page = Browser().get(link_url(new.token))
    assert page.status_code == 410
    assert 'data-reason="rated"' in page.content.decode()
    assert "This form was already filled in" in page.content.decode()
    with pytest.raises(services.LinkError) as raised:
        services.submit_link(new.link, items={"individually": 1}, idempotency_key="x")
    assert raised.value.reason == services.ALREADY_RATED
    assert Administration.objects.get().total == 30


def test_an_expired_link_gets_a_clear_page_and_stores_nothing(personas, tara_session):
    new = new_link(personas, tara_session)
    FeedbackLink.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    browser = Browser()
    page = browser.get(link_url(new.token))
    assert page.status_code == 410 and "expired" in page.content.decode()
    post = browser.post(
        link_url(new.token), {**ORS_ITEMS, "confirmed": "1", "idempotency_key": "k"}
    )
    assert post.status_code == 410
    assert not Administration.objects.exists()


def test_a_revoked_link_gets_a_clear_page_and_stores_nothing(personas, tara_session):
    new = new_link(personas, tara_session)
    therapist = Browser()
    therapist.force_login(personas.tara)
    revoke = reverse("feedback:revoke_link", kwargs={"link_id": new.link.public_id})
    assert therapist.post(revoke).status_code == 302
    browser = Browser()
    page = browser.get(link_url(new.token))
    assert page.status_code == 410 and "withdrew" in page.content.decode()
    browser.post(link_url(new.token), {**ORS_ITEMS, "confirmed": "1", "idempotency_key": "k"})
    assert not Administration.objects.exists()


def test_a_tampered_link_gets_a_clear_page_and_stores_nothing(personas, tara_session):
    new = new_link(personas, tara_session)
    tampered = new.token[:-1] + ("A" if new.token[-1] != "A" else "B")
    browser = Browser()
    page = browser.get(link_url(tampered))
    assert page.status_code == 404 and "not valid" in page.content.decode()
    post = browser.post(link_url(tampered), {**ORS_ITEMS, "confirmed": "1", "idempotency_key": "k"})
    assert post.status_code == 404
    assert not Administration.objects.exists()
    new.link.refresh_from_db()
    assert new.link.used_at is None


def test_an_untouched_form_is_not_stored_as_a_rating(personas, tara_session):
    new = new_link(personas, tara_session)
    browser = Browser()
    page = browser.get(link_url(new.token)).content.decode()
    # The sliders start "not yet rated"; the form does not pretend a 5.0 was chosen.
    assert page.count("not yet rated") >= 4 and 'name="confirmed"' in page and "required" in page
    response = browser.post(link_url(new.token), {**ORS_ITEMS, "idempotency_key": "k"})
    assert response.status_code == 400
    assert "move every line" in response.content.decode()
    # The refused form keeps what was sent, so only the confirmation is missing.
    assert 'value="6.0"' in response.content.decode()
    assert response.content.decode().count("not yet rated") == 0
    assert not Administration.objects.exists()
    new.link.refresh_from_db()
    assert new.link.used_at is None


def test_another_therapist_cannot_revoke_or_create_links_for_an_invisible_client(
    personas, tara_session
):
    new = new_link(personas, tara_session)
    for outsider in (personas.theo, personas.oscar):
        browser = Browser()
        browser.force_login(outsider)
        revoke = reverse("feedback:revoke_link", kwargs={"link_id": new.link.public_id})
        assert browser.post(revoke).status_code == 404
        create = reverse("feedback:create_link", kwargs={"session_id": tara_session.public_id})
        assert browser.post(create, {"instrument": "ors"}).status_code == 404
    new.link.refresh_from_db()
    assert new.link.revoked_at is None and FeedbackLink.objects.count() == 1


def test_the_link_page_shows_a_first_name_only_where_the_agency_allows_it(personas, tara_session):
    client = personas.tara_client
    client.name = "Maria Lopez"
    client.save()
    page = Browser().get(link_url(new_link(personas, tara_session).token)).content.decode()
    assert "Maria" not in page and "Lopez" not in page and client.display_code not in page
    FeedbackSettings.objects.create(agency=personas.riverside, show_first_name=True)
    page = Browser().get(link_url(new_link(personas, tara_session).token)).content.decode()
    assert "Hello Maria" in page and "Lopez" not in page and client.display_code not in page
    assert "Caseload" not in page and "Log out" not in page


def test_the_therapist_creates_a_link_with_a_qr_code_and_sees_it_once(personas, tara_session):
    browser = Browser()
    browser.force_login(personas.tara)
    url = reverse("feedback:create_link", kwargs={"session_id": tara_session.public_id})
    created = browser.post(url, {"instrument": "srs", "channel": "show"})
    link = FeedbackLink.objects.get()
    # Redirect after post to the link's own page: its id in the address, never the token.
    assert created.status_code == 302
    assert created["Location"] == f"/f/links/{link.public_id}/"
    page = browser.get(created["Location"]).content.decode()
    token_url = re.search(r'value="(http://testserver/f/[^"]+)"', page).group(1)
    assert "<svg" in page and 'aria-label="QR code of the link"' in page
    token = token_url.rstrip("/").rsplit("/", 1)[1]
    assert FeedbackLink.objects.get().token_hash == services.hash_token(token)
    assert FeedbackLink.objects.get().instrument == "srs"


def test_a_link_sent_by_sms_goes_through_the_backend_and_the_number_is_not_stored(
    personas, tara_session, sms_outbox
):
    browser = Browser()
    browser.force_login(personas.tara)
    url = reverse("feedback:create_link", kwargs={"session_id": tara_session.public_id})
    response = browser.post(url, {"instrument": "ors", "channel": "sms", "address": "+34600111222"})
    assert response.status_code == 302 and "34600111222" not in response["Location"]
    assert "sent by text message" in browser.get(response["Location"]).content.decode()
    assert len(sms_outbox) == 1
    number, text = sms_outbox[0]
    assert number == "+34600111222" and "http://testserver/f/" in text and "24 hours" in text
    from alliance.audit.models import AuditEvent

    assert not any("+34600111222" in str(e.detail) for e in AuditEvent.objects.all())
    assert not any("+34600111222" in str(v) for v in FeedbackLink.objects.values().get().values())


def test_a_link_sent_by_email_uses_the_mail_backend(personas, tara_session, mailoutbox):
    browser = Browser()
    browser.force_login(personas.tara)
    url = reverse("feedback:create_link", kwargs={"session_id": tara_session.public_id})
    browser.post(url, {"instrument": "ors", "channel": "email", "address": "client@example.org"})
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["client@example.org"]
    assert "http://testserver/f/" in mailoutbox[0].body


def test_the_live_stamp_changes_when_a_link_submission_arrives(personas, tara_session):
    therapist = Browser()
    therapist.force_login(personas.tara)
    live = reverse("feedback:live", kwargs={"session_id": tara_session.public_id})
    before = therapist.get(live).json()["stamp"]
    new = new_link(personas, tara_session)
    session_page = reverse(
        "session", kwargs={"public_id": personas.tara_client.public_id, "number": 1}
    )
    assert "data-live-poll" in therapist.get(session_page).content.decode()
    submit(Browser(), new.token)
    after = therapist.get(live).json()["stamp"]
    assert before == live_stamp(tara_session) or after == live_stamp(tara_session)
    assert before != after and after.startswith("1-")
    outsider = Browser()
    outsider.force_login(personas.oscar)
    assert outsider.get(live).status_code == 404


def test_reloading_the_link_ready_page_shows_the_same_link_and_makes_no_other(
    personas, tara_session
):
    browser = Browser()
    browser.force_login(personas.tara)
    url = reverse("feedback:create_link", kwargs={"session_id": tara_session.public_id})
    ready = browser.post(url, {"instrument": "ors", "channel": "show"})["Location"]
    first, again = browser.get(ready), browser.get(ready)
    assert first.status_code == again.status_code == 200
    pattern = r'value="(http://testserver/f/[^"]+)"'
    assert re.search(pattern, first.content.decode()).group(1) == re.search(
        pattern, again.content.decode()
    ).group(1)
    assert FeedbackLink.objects.count() == 1
    # Another browser (or colleague) of the agency does not get the token from this page.
    other = Browser()
    other.force_login(personas.tara)
    page = other.get(ready).content.decode()
    assert 'data-testid="link-not-shown"' in page and "testserver/f/" not in page
    # The token waits sealed in the session: a copy of the session table opens no form.
    token = re.search(pattern, first.content.decode()).group(1).rstrip("/").rsplit("/", 1)[-1]
    assert token not in str(dict(browser.session.items()))


@pytest.mark.parametrize(
    ("channel", "address", "message"),
    [
        ("email", "not-an-address", "This is not an e-mail address."),
        ("email", "client@", "This is not an e-mail address."),
        ("sms", "call me", "This is not a phone number."),
        ("sms", "12345", "This is not a phone number."),
        ("sms", "client@example.org", "This is not a phone number."),
    ],
)
def test_a_link_to_a_malformed_address_is_refused_in_the_form_and_nothing_is_sent_or_stored(
    personas, tara_session, sms_outbox, mailoutbox, channel, address, message
):
    browser = Browser()
    browser.force_login(personas.tara)
    url = reverse("feedback:create_link", kwargs={"session_id": tara_session.public_id})
    response = browser.post(url, {"instrument": "ors", "channel": channel, "address": address})
    assert response.status_code == 302 and address not in response["Location"]
    page = browser.get(response["Location"]).content.decode()
    assert message in page and 'aria-invalid="true"' in page
    assert address not in page  # the address typed is not kept anywhere
    assert not FeedbackLink.objects.exists() and sms_outbox == [] and mailoutbox == []
    assert not AuditEvent.objects.filter(action__startswith="feedback.").exists()
    # The message is shown once; the next visit of the page has a clean form.
    assert message not in browser.get(response["Location"]).content.decode()


def test_a_phone_number_with_spaces_and_dashes_is_sent_to_its_digits(
    personas, tara_session, sms_outbox
):
    browser = Browser()
    browser.force_login(personas.tara)
    url = reverse("feedback:create_link", kwargs={"session_id": tara_session.public_id})
    browser.post(url, {"instrument": "ors", "channel": "sms", "address": "+34 600-111 (222)"})
    assert [number for number, _text in sms_outbox] == ["+34600111222"]
