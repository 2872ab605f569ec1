"""Sign-in: lockout, two-factor (TOTP), idle expiry, password rules, CSRF, security headers."""

from __future__ import annotations

import datetime
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pyotp
import pytest
from axes.models import AccessAttempt
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone

from alliance.accounts.models import RecoveryCode, TwoFactorDevice, User
from alliance.accounts.security import SESSION_LAST_SEEN, check_code, start_enrolment
from alliance.audit.models import AuditEvent
from tests.security.conftest import logged_in
from tests.web.personas import PASSWORD

ROOT = Path(__file__).resolve().parents[2]


def sign_in(browser: Browser, username: str, password: str, ip: str = "10.0.0.1"):
    return browser.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip
    )


# --- lockout ---------------------------------------------------------------------------------


def test_five_wrong_passwords_lock_the_account_even_against_the_right_one(personas):
    browser = Browser()
    for attempt in range(4):
        page = sign_in(browser, "tara", f"wrong-{attempt}").content.decode()
        assert "Those details did not match" in page
    page = sign_in(browser, "tara", "wrong-4").content.decode()
    assert "Too many failed attempts" in page and "15 minutes" in page
    response = sign_in(browser, "tara", PASSWORD)
    assert response.status_code == 429 and "Too many failed attempts" in response.content.decode()
    locked = AuditEvent.objects.get(action="login.locked")
    assert locked.agency == personas.riverside and locked.target_id == personas.tara.public_id
    assert locked.ip_address == "10.0.0.1"
    # Someone else can still sign in from another address.
    assert sign_in(Browser(), "theo", PASSWORD, ip="10.0.0.2").status_code == 302


def test_the_lock_lifts_after_the_window(personas):
    browser = Browser()
    for attempt in range(5):
        sign_in(browser, "tara", f"wrong-{attempt}")
    assert sign_in(browser, "tara", PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - datetime.timedelta(minutes=16))
    assert sign_in(browser, "tara", PASSWORD).status_code == 302


def test_a_success_clears_the_earlier_failures(personas):
    browser = Browser()
    for attempt in range(4):
        sign_in(browser, "tara", f"wrong-{attempt}")
    assert sign_in(browser, "tara", PASSWORD).status_code == 302
    browser.logout()
    for attempt in range(4):
        sign_in(browser, "tara", f"wrong-again-{attempt}")
    assert sign_in(browser, "tara", PASSWORD).status_code == 302


# --- two-factor ------------------------------------------------------------------------------


def current_code(device: TwoFactorDevice) -> str:
    return pyotp.TOTP(device.secret).now()


def test_an_admin_must_enrol_when_the_agency_requires_two_factor(personas):
    personas.riverside.two_factor_admin = True
    personas.riverside.two_factor_supervisor = True
    personas.riverside.save()
    browser = Browser()
    assert sign_in(browser, "alice", PASSWORD).status_code == 302
    response = browser.get(reverse("caseload"))
    assert response.status_code == 302 and response.url.startswith(reverse("two_factor_setup"))
    page = browser.get(response.url).content.decode()
    assert "<svg" in page  # the QR code, drawn on the server
    device = TwoFactorDevice.objects.get(user=personas.alice)
    assert device.secret in page and not device.confirmed
    assert browser.post(reverse("two_factor_setup"), {"code": "000000"}).status_code == 200
    assert browser.get(reverse("caseload")).status_code == 302
    assert not RecoveryCode.objects.filter(user=personas.alice).exists()  # not on yet
    response = browser.post(
        reverse("two_factor_setup"), {"code": current_code(device), "next": "/"}
    )
    # Confirmed: the recovery codes are shown, once, and two-factor is on.
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    assert len(re.findall(r"<code>[a-z0-9-]{19}</code>", response.content.decode())) == 10
    assert browser.get(reverse("caseload")).status_code == 200
    assert AuditEvent.objects.filter(action="two_factor.enrolled", actor=personas.alice).exists()


def test_a_supervisor_is_held_too_but_a_therapist_is_not(personas):
    personas.riverside.two_factor_admin = True
    personas.riverside.two_factor_supervisor = True
    personas.riverside.save()
    sam, tara = Browser(), Browser()
    sign_in(sam, "sam", PASSWORD)
    sign_in(tara, "tara", PASSWORD, ip="10.0.0.3")
    assert sam.get(reverse("caseload")).status_code == 302
    assert tara.get(reverse("caseload")).status_code == 200


def test_nobody_is_held_when_the_policy_is_off_and_they_have_not_enrolled(personas):
    browser = Browser()
    sign_in(browser, "alice", PASSWORD)
    assert browser.get(reverse("caseload")).status_code == 200


def test_an_enrolled_user_must_give_a_code_after_the_password(personas):
    device = start_enrolment(personas.tara)
    assert check_code(device, current_code(device))  # confirms the device
    TwoFactorDevice.objects.filter(pk=device.pk).update(last_step=0)
    browser = Browser()
    sign_in(browser, "tara", PASSWORD)
    response = browser.get(reverse("client", kwargs={"public_id": personas.tara_client.public_id}))
    assert response.status_code == 302 and response.url.startswith(reverse("two_factor_verify"))
    assert not AuditEvent.objects.filter(action="client.viewed").exists()
    assert browser.post(reverse("two_factor_verify"), {"code": "123456"}).status_code == 400
    response = browser.post(reverse("two_factor_verify"), {"code": current_code(device)})
    assert response.status_code == 302
    assert browser.get(reverse("caseload")).status_code == 200


def test_a_code_is_accepted_once_and_only_near_its_time(personas):
    device = start_enrolment(personas.tara)
    now = timezone.now()
    totp = pyotp.TOTP(device.secret)
    code = totp.at(now)
    assert check_code(device, code, at=now)
    assert not check_code(device, code, at=now)  # replayed
    later = now + datetime.timedelta(minutes=5)
    assert not check_code(device, totp.at(now + datetime.timedelta(seconds=30)), at=later)
    assert check_code(device, totp.at(later), at=later)


def test_five_wrong_codes_lock_two_factor_and_sign_the_user_out(personas):
    device = start_enrolment(personas.tara)
    check_code(device, current_code(device))
    browser = Browser()
    sign_in(browser, "tara", PASSWORD)
    for _ in range(4):
        assert browser.post(reverse("two_factor_verify"), {"code": "000000"}).status_code == 400
    response = browser.post(reverse("two_factor_verify"), {"code": "000000"})
    assert response.status_code == 302 and response.url == reverse("login")
    assert browser.get(reverse("caseload")).status_code == 302  # signed out
    assert "Too many failed attempts" in browser.get(reverse("login")).content.decode()


# --- sessions, passwords, CSRF, headers ------------------------------------------------------


def test_an_idle_session_ends(personas):
    browser = logged_in(personas.tara)
    assert browser.get(reverse("caseload")).status_code == 200
    session = browser.session
    session[SESSION_LAST_SEEN] = int(time.time()) - 31 * 60
    session.save()
    response = browser.get(reverse("caseload"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    assert browser.get(reverse("caseload")).status_code == 302


def test_an_active_session_goes_on(personas):
    browser = logged_in(personas.tara)
    browser.get(reverse("caseload"))
    session = browser.session
    session[SESSION_LAST_SEEN] = int(time.time()) - 29 * 60
    session.save()
    assert browser.get(reverse("caseload")).status_code == 200


def test_sessions_end_with_the_browser_and_after_eight_hours_at_most(settings):
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE is True
    assert settings.SESSION_COOKIE_AGE == 8 * 3600 and settings.SESSION_COOKIE_HTTPONLY


@pytest.mark.parametrize("password", ["short-1", "password1234", "1234567890123", "qwertyuiop"])
def test_weak_passwords_are_refused(personas, password):
    browser = logged_in(personas.tara)
    response = browser.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": password, "new_password2": password},
    )
    assert response.status_code == 200  # the form again, with the reason
    personas.tara.refresh_from_db()
    assert personas.tara.check_password(PASSWORD)


def test_a_strong_password_is_accepted(personas):
    browser = logged_in(personas.tara)
    strong = "quiet-lantern-orchard-47"
    response = browser.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": strong, "new_password2": strong},
    )
    assert response.status_code == 302


def test_a_post_without_the_csrf_token_is_refused(personas, tara_session):
    browser = Browser(enforce_csrf_checks=True)
    browser.force_login(personas.tara)
    url = reverse("session", kwargs={"public_id": personas.tara_client.public_id, "number": 1})
    response = browser.post(url, {"instrument": "ors", "total": "20", "idempotency_key": "x"})
    assert response.status_code == 403


def test_every_page_carries_the_content_security_policy_and_security_headers(personas):
    response = logged_in(personas.tara).get(reverse("caseload"))
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    login = Browser().get(reverse("login"))
    assert "Content-Security-Policy" in login


def production_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))}
    env.update(
        DJANGO_SETTINGS_MODULE="alliance.settings",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="alliance.example.org",
        SECURE_SSL_REDIRECT="1",
        SECURE_HSTS_SECONDS="31536000",
        SECURE_PROXY_SSL_HEADER="1",
        DATABASE_URL="sqlite:///:memory:",
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
    )
    env.pop("SECURE_COOKIES", None)
    env.update(extra)
    return env


def test_check_deploy_is_clean_under_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_complains_when_https_is_left_out():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(SECURE_SSL_REDIRECT="0", SECURE_HSTS_SECONDS="0"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "security.W008" in result.stderr + result.stdout


def test_an_agency_admin_resets_a_lost_device_on_the_people_page_but_never_sees_its_key(
    personas,
):
    device = start_enrolment(personas.tara)
    check_code(device, current_code(device))
    other = start_enrolment(personas.oscar)
    browser = logged_in(personas.alice)
    page = browser.get(reverse("agency:person", args=[personas.tara.public_id])).content.decode()
    assert device.secret not in page and "Reset two-factor" in page
    reset = reverse("agency:reset_two_factor", args=[personas.oscar.public_id])
    assert browser.post(reset).status_code == 404  # another agency's person
    response = browser.post(reverse("agency:reset_two_factor", args=[personas.tara.public_id]))
    assert response.status_code == 302
    assert not TwoFactorDevice.objects.filter(pk=device.pk).exists()
    assert TwoFactorDevice.objects.filter(pk=other.pk).exists()
    assert AuditEvent.objects.filter(action="two_factor.reset", actor=personas.alice).exists()


def test_a_superuser_removing_a_device_in_the_django_admin_is_audited(personas):
    device = start_enrolment(personas.tara)
    root = User.objects.create_superuser("root", password="x" * 16)
    browser = logged_in(root)
    page = browser.get(f"/admin/accounts/twofactordevice/{device.pk}/change/").content.decode()
    assert device.secret not in page
    response = browser.post(f"/admin/accounts/twofactordevice/{device.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not TwoFactorDevice.objects.filter(pk=device.pk).exists()
    assert AuditEvent.objects.filter(action="two_factor.removed", actor=root).exists()
