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


def test_the_team_choices_of_an_agency_admin_are_their_agencys_teams(personas):
    page = as_user(personas.olga).get(reverse("admin:care_client_add")).content.decode()
    assert ">East<" in page and ">North<" not in page and ">tara<" not in page


def test_a_therapist_cannot_use_the_admin(personas):
    response = as_user(personas.tara).get(reverse("admin:index"))
    assert response.status_code == 302 and "/admin/login/" in response.url


def test_an_agency_admin_adding_a_team_gets_it_in_their_agency(personas):
    browser = as_user(personas.olga)
    response = browser.post(reverse("admin:accounts_team_add"), {"name": "West"})
    assert response.status_code == 302
    from alliance.accounts.models import Team

    assert Team.objects.get(name="West").agency == personas.hillside


def test_a_client_added_in_the_admin_gets_an_open_episode_in_the_admins_agency(personas):
    browser = as_user(personas.alice)
    response = browser.post(
        reverse("admin:care_client_add"),
        {
            "display_code": "R-NEW-1",
            "age_band": "adult",
            "therapist": personas.tara.pk,
            "team": personas.north.pk,
        },
    )
    assert response.status_code == 302
    from alliance.care.models import Client

    client = Client.objects.get(display_code="R-NEW-1")
    assert client.agency == personas.riverside
    assert client.episodes.get().is_open


def test_an_agency_admin_cannot_assign_a_therapist_of_another_agency(personas):
    browser = as_user(personas.alice)
    response = browser.post(
        reverse("admin:care_client_add"),
        {"display_code": "R-NEW-2", "age_band": "adult", "therapist": personas.oscar.pk},
    )
    assert response.status_code == 200  # the form is shown again with an error
    assert "Select a valid choice" in response.content.decode()
