"""The Django admin is the platform superusers' tool: agency admins (staff) are refused and do
their work in the Agency pages; the admin's index says so."""

from __future__ import annotations

import pytest
from django.test import Client as Browser
from django.urls import reverse

from alliance.accounts.models import User


def as_user(user) -> Browser:
    browser = Browser()
    browser.force_login(user)
    return browser


@pytest.fixture
def root(db) -> User:
    return User.objects.create_superuser("root", password="x" * 16)


@pytest.mark.parametrize("name", ["alice", "sam", "tara", "olga"])
def test_no_agency_member_can_use_the_admin_not_even_an_agency_admin(personas, name):
    user = getattr(personas, name)
    assert user.is_staff == (name in ("alice", "olga"))
    browser = as_user(user)
    for url in (
        reverse("admin:index"),
        reverse("admin:care_client_changelist"),
        reverse("admin:accounts_user_changelist"),
    ):
        response = browser.get(url)
        assert response.status_code == 302 and "/admin/login/" in response.url


def test_an_agency_admin_cannot_add_a_team_through_the_admin(personas):
    from alliance.accounts.models import Team

    response = as_user(personas.olga).post(reverse("admin:accounts_team_add"), {"name": "West"})
    assert response.status_code == 302 and "/admin/login/" in response.url
    assert not Team.objects.filter(name="West").exists()


def test_a_superuser_uses_the_admin_and_its_index_points_to_the_agency_pages(personas, root):
    page = as_user(root).get(reverse("admin:index"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "superusers only" in html and reverse("agency:home") in html
    clients = as_user(root).get(reverse("admin:care_client_changelist")).content.decode()
    assert "R-TARA-1" in clients and "H-OSCAR-1" in clients


def test_an_inactive_superuser_cannot_use_the_admin(root):
    root.is_active = False
    root.save()
    browser = Browser()
    browser.force_login(root)
    assert browser.get(reverse("admin:index")).status_code == 302


def test_the_admin_link_in_the_header_is_for_superusers_only(personas, root):
    admin_link = f'href="{reverse("admin:index")}"'
    assert (
        admin_link not in as_user(personas.alice).get(reverse("password_change")).content.decode()
    )
    assert admin_link in as_user(root).get(reverse("password_change")).content.decode()


def test_the_admin_neither_adds_nor_changes_nor_deletes_clinical_records(personas, root):
    """Clinical records are written through the services (audited, name policy), not the admin."""
    from alliance.care.models import Client

    browser = as_user(root)
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


def test_an_admin_view_of_clinical_records_is_audited(personas, root):
    from alliance.audit.models import AuditEvent

    browser = as_user(root)
    assert browser.get(reverse("admin:care_client_changelist")).status_code == 200
    listed = AuditEvent.objects.get(action="admin.listed", agency=personas.riverside)
    assert (listed.agency, listed.actor, listed.target_type) == (
        personas.riverside,
        root,
        "client",
    )
    client = personas.tara_client
    page = browser.get(reverse("admin:care_client_change", args=[client.pk]))
    assert page.status_code == 200 and "R-TARA-1" in page.content.decode()
    viewed = AuditEvent.objects.get(action="admin.viewed")
    assert (viewed.target_type, viewed.target_id) == ("client", client.public_id)
