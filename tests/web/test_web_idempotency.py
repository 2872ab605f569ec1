"""The session page's forms: a late resubmission of an older form never reverts a newer edit."""

from __future__ import annotations

from django.test import Client as Browser
from django.urls import reverse

from alliance.audit.models import AuditEvent
from alliance.care import services
from alliance.care.models import Administration


def test_a_late_resubmission_of_an_older_form_does_not_revert_the_newer_edit(personas):
    services.start_session(personas.tara, personas.tara_client)
    browser = Browser()
    browser.force_login(personas.tara)
    url = reverse("session", args=[personas.tara_client.public_id, 1])
    first = {"instrument": "ors", "idempotency_key": "form-1", "ors-total": "20"}
    assert browser.post(url, first).status_code == 302
    newer = {**first, "idempotency_key": "form-2", "ors-total": "31", "replace": "on"}
    assert browser.post(url, newer).status_code == 302  # an explicit replacement
    assert Administration.objects.get().total == 31.0
    edits = AuditEvent.objects.filter(action="administration.edited").count()
    # The browser resends the first form (back button, a retried request).
    assert browser.post(url, first).status_code == 302
    assert Administration.objects.get().total == 31.0
    assert AuditEvent.objects.filter(action="administration.edited").count() == edits
