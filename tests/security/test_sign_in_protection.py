"""Issue 11, authentication: two-factor counted on its own, lockout behind a proxy and a clinic's
one address, the admin's unlock, recovery codes (docs/security.md, "Authentication")."""

from __future__ import annotations

import datetime
import re

import pyotp
import pytest
from axes.models import AccessAttempt
from django.db.models import F
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone

from alliance.accounts.models import RecoveryCode, TwoFactorDevice
from alliance.accounts.security import (
    TwoFactorLocked,
    check_code,
    new_recovery_codes,
    start_enrolment,
)
from alliance.audit.models import AuditEvent
from tests.security.conftest import logged_in
from tests.web.personas import PASSWORD

CLINIC = "203.0.113.40"  # the clinic's one public address, seen behind our TLS proxy
PROXY = "127.0.0.1"


def sign_in(browser: Browser, username: str, password: str, ip: str = CLINIC):
    """A sign-in through the TLS proxy: the peer is the proxy, the client is in the header."""
    return browser.post(
        reverse("login"),
        {"username": username, "password": password},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=ip,
    )


def enrolled(user) -> TwoFactorDevice:
    device = start_enrolment(user)
    assert check_code(device, pyotp.TOTP(device.secret).now())
    TwoFactorDevice.objects.filter(pk=device.pk).update(last_step=0)
    device.refresh_from_db()
    return device


def code_of(device: TwoFactorDevice) -> str:
    return pyotp.TOTP(device.secret).now()


def verify(browser: Browser, code: str):
    return browser.post(
        reverse("two_factor_verify"), {"code": code}, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=CLINIC
    )


@pytest.fixture(autouse=True)
def behind_one_proxy(settings):
    settings.TRUSTED_PROXIES = 1


# --- two-factor counted and locked on its own ------------------------------------------------


def test_a_correct_password_never_clears_two_factor_failures(personas):
    device = enrolled(personas.tara)
    browser = Browser()
    assert sign_in(browser, "tara", PASSWORD).status_code == 302
    for _ in range(3):
        assert verify(browser, "000000").status_code == 400
    browser.post(reverse("logout"))
    assert sign_in(browser, "tara", PASSWORD).status_code == 302  # the password is right
    assert verify(browser, "000000").status_code == 400
    locked = verify(browser, "000000")  # the fifth wrong code, across two sign-ins
    assert locked.status_code == 302 and locked.url == reverse("login")
    event = AuditEvent.objects.get(action="login.locked")
    assert event.target_id == personas.tara.public_id and event.ip_address == CLINIC
    # Whatever happens to the password counter, the right code is refused while locked.
    assert sign_in(browser, "tara", PASSWORD).status_code == 302
    refused = verify(browser, code_of(device))
    assert refused.status_code == 302 and refused.url == reverse("login")
    assert browser.get(reverse("caseload")).status_code == 302
    assert AuditEvent.objects.filter(action="login.locked").count() == 1


def test_codes_tried_while_two_factor_is_locked_do_not_extend_the_lock(personas):
    device = enrolled(personas.tara)
    totp = pyotp.TOTP(device.secret)
    start = timezone.now()
    for second in range(5):
        assert not check_code(device, "000000", at=start + datetime.timedelta(seconds=second))
    for minutes in (1, 10, 14):
        with pytest.raises(TwoFactorLocked):
            check_code(device, "000000", at=start + datetime.timedelta(minutes=minutes))
    later = start + datetime.timedelta(minutes=15, seconds=5)
    assert check_code(device, totp.at(later), at=later)


# --- lockout behind the proxy, at a clinic's address ----------------------------------------


def test_one_persons_typos_at_the_clinic_do_not_lock_out_colleagues(personas):
    typist = Browser()
    for attempt in range(30):
        sign_in(typist, "tara", f"typo-{attempt}")
    for attempt in range(10):
        sign_in(typist, f"nobody-{attempt}", "guess")
    assert sign_in(Browser(), "theo", PASSWORD).status_code == 302  # same address, signed in
    assert sign_in(Browser(), "tara", PASSWORD).status_code == 429  # tara herself is locked


def test_the_lock_is_per_user_and_the_address_comes_from_the_trusted_proxy(personas):
    for attempt in range(5):
        sign_in(Browser(), "tara", f"wrong-{attempt}", ip=f"198.51.100.{attempt + 1}")
    assert sign_in(Browser(), "tara", PASSWORD, ip="198.51.100.99").status_code == 429
    attempts = AccessAttempt.objects.filter(username="tara")
    assert {attempt.ip_address for attempt in attempts} == {
        f"198.51.100.{n}" for n in range(1, 6)
    }  # the clients' addresses, never the proxy's
    event = AuditEvent.objects.get(action="login.locked")
    assert event.ip_address == "198.51.100.5"


def test_attempts_made_while_locked_do_not_extend_the_lock(personas):
    browser = Browser()
    for attempt in range(5):
        sign_in(browser, "tara", f"wrong-{attempt}")
    AccessAttempt.objects.update(attempt_time=timezone.now() - datetime.timedelta(minutes=10))
    for attempt in range(5):
        assert sign_in(browser, "tara", f"still-wrong-{attempt}").status_code == 429
    assert sign_in(browser, "tara", PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - datetime.timedelta(minutes=6))
    assert sign_in(browser, "tara", PASSWORD).status_code == 302
    assert AuditEvent.objects.filter(action="login.locked").count() == 1


# --- the agency admin lifts a lock -----------------------------------------------------------


def test_an_agency_admin_sees_and_lifts_a_lock_and_it_is_audited(personas):
    device = enrolled(personas.tara)
    for attempt in range(5):
        sign_in(Browser(), "tara", f"wrong-{attempt}")
    for _ in range(5):
        check_code(device, "000000")
    alice = logged_in(personas.alice)
    page = alice.get(reverse("locked_accounts")).content.decode()
    assert "tara" in page and "wrong passwords" in page and "wrong two-factor codes" in page
    assert CLINIC not in page
    olga = logged_in(personas.olga)
    assert "tara" not in olga.get(reverse("locked_accounts")).content.decode()
    unlock = reverse("unlock_account", kwargs={"public_id": personas.tara.public_id})
    assert olga.post(unlock).status_code == 404
    assert logged_in(personas.theo).post(unlock).status_code == 403
    assert alice.post(unlock).status_code == 302
    event = AuditEvent.objects.get(action="login.unlocked")
    assert event.actor == personas.alice and event.target_id == personas.tara.public_id
    assert "tara" not in alice.get(reverse("locked_accounts")).content.decode()
    browser = Browser()
    assert sign_in(browser, "tara", PASSWORD).status_code == 302
    assert verify(browser, code_of(device)).status_code == 302
    assert browser.get(reverse("caseload")).status_code == 200


# --- recovery codes --------------------------------------------------------------------------


def test_a_recovery_code_signs_in_once_in_place_of_a_code(personas):
    enrolled(personas.tara)
    codes = new_recovery_codes(personas.tara)
    assert len(codes) == 10 and len(set(codes)) == 10
    stored = list(
        RecoveryCode.objects.filter(user=personas.tara).values_list("code_hash", flat=True)
    )
    assert not any(code in stored or code.replace("-", "") in stored for code in codes)
    browser = Browser()
    sign_in(browser, "tara", PASSWORD)
    assert verify(browser, codes[3].upper()).status_code == 302
    assert browser.get(reverse("caseload")).status_code == 200
    assert AuditEvent.objects.filter(action="two_factor.recovery_code_used").count() == 1
    again = Browser()
    sign_in(again, "tara", PASSWORD)
    assert verify(again, codes[3]).status_code == 400  # single use
    assert verify(again, codes[4]).status_code == 302


def test_new_recovery_codes_replace_the_old_ones_and_are_audited(personas):
    enrolled(personas.tara)
    old = new_recovery_codes(personas.tara)
    browser = Browser()
    sign_in(browser, "tara", PASSWORD)
    verify(browser, old[0])
    page = browser.get(reverse("recovery_codes")).content.decode()
    assert "9 unused recovery codes" in page
    response = browser.post(reverse("recovery_codes"))
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    new = re.findall(r"<code>([a-z0-9-]{19})</code>", response.content.decode())
    assert len(new) == 10 and not set(new) & set(old)
    assert AuditEvent.objects.filter(
        action="two_factor.recovery_codes_created", actor=personas.tara
    ).exists()
    later = Browser()
    sign_in(later, "tara", PASSWORD)
    assert verify(later, old[1]).status_code == 400
    assert verify(later, new[0]).status_code == 302


def test_recovery_codes_are_only_offered_after_two_factor_is_confirmed(personas):
    start_enrolment(personas.tara)
    browser = logged_in(personas.tara)
    assert browser.post(reverse("recovery_codes")).status_code == 302
    assert not RecoveryCode.objects.exists()


def test_the_django_admin_shows_no_sign_in_attempts_of_other_agencies():
    from django.contrib import admin

    assert not [model for model in admin.site._registry if model._meta.app_label == "axes"]
