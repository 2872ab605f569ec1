"""The Django admin: agency admins see and change only their own agency's rows."""

from __future__ import annotations

from django.test import Client as Browser
from django.urls import reverse


def as_user(user) -> Browser:
    browser = Browser()
    browser.force_login(user)
    return browser


def test_an_agency_admin_lists_only_their_agencys_clients_and_users(personas):
    browser = as_user(personas.alice)
    clients = browser.get(reverse("admin:care_client_changelist")).content.decode()
    assert "R-TARA-1" in clients and "R-THEO-1" in clients and "H-OSCAR-1" not in clients
    users = browser.get(reverse("admin:accounts_user_changelist")).content.decode()
    assert ">tara<" in users and ">oscar<" not in users and ">olga<" not in users


def test_an_agency_admin_cannot_open_another_agencys_client(personas):
    browser = as_user(personas.alice)
    response = browser.get(reverse("admin:care_client_change", args=[personas.oscar_client.pk]))
    assert response.status_code == 302  # the admin redirects "does not exist" to its index
    assert "H-OSCAR-1" not in browser.get(response.url).content.decode()


def test_a_therapist_cannot_use_the_admin(personas):
    response = as_user(personas.tara).get(reverse("admin:index"))
    assert response.status_code == 302 and "/admin/login/" in response.url


def test_an_agency_admin_adding_a_team_gets_it_in_their_agency(personas):
    browser = as_user(personas.olga)
    response = browser.post(reverse("admin:accounts_team_add"), {"name": "West"})
    assert response.status_code == 302
    from alliance.accounts.models import Team

    assert Team.objects.get(name="West").agency == personas.hillside


def test_the_admin_neither_adds_nor_changes_nor_deletes_clinical_records(personas):
    """Clinical records are written through the services (audited, name policy), not the admin."""
    from alliance.care.models import Client

    browser = as_user(personas.alice)
    add = browser.post(
        reverse("admin:care_client_add"),
        {"display_code": "R-NEW-1", "age_band": "adult", "therapist": personas.tara.pk},
    )
    assert add.status_code == 403
    client = personas.tara_client
    change = browser.post(
        reverse("admin:care_client_change", args=[client.pk]),
        {"display_code": "R-CHANGED", "name": "Jane Doe", "age_band": "adult"},
    )
    assert change.status_code == 403
    delete = browser.post(reverse("admin:care_client_delete", args=[client.pk]), {"post": "yes"})
    assert delete.status_code == 403
    for name in ("episode", "clientshare"):
        assert browser.get(reverse(f"admin:care_{name}_add")).status_code == 403
    assert browser.get(reverse("admin:feedback_group_add")).status_code == 403
    client.refresh_from_db()
    assert (client.display_code, client.name) == ("R-TARA-1", "")
    assert not Client.objects.filter(display_code="R-NEW-1").exists()


def test_an_admin_view_of_clinical_records_is_audited(personas):
    from alliance.audit.models import AuditEvent

    browser = as_user(personas.alice)
    assert browser.get(reverse("admin:care_client_changelist")).status_code == 200
    listed = AuditEvent.objects.get(action="admin.listed")
    assert (listed.agency, listed.actor, listed.target_type) == (
        personas.riverside,
        personas.alice,
        "client",
    )
    client = personas.tara_client
    page = browser.get(reverse("admin:care_client_change", args=[client.pk]))
    assert page.status_code == 200 and "R-TARA-1" in page.content.decode()
    viewed = AuditEvent.objects.get(action="admin.viewed")
    assert (viewed.target_type, viewed.target_id) == ("client", client.public_id)
