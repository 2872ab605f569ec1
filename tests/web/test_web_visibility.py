"""Who sees which client: one helper per role, 404 across agencies and outside one's caseload."""

from __future__ import annotations

import pytest
from django.http import Http404

from alliance.care.visibility import get_visible_client_or_404, visible_clients, visible_episodes


def codes(user) -> set[str]:
    return set(visible_clients(user).values_list("display_code", flat=True))


def test_a_therapist_sees_own_clients_and_those_shared_with_them(personas):
    assert codes(personas.tara) == {"R-TARA-1", "R-THEO-2"}


def test_a_therapist_does_not_see_a_colleagues_unshared_client(personas):
    assert codes(personas.theo) == {"R-THEO-1", "R-THEO-2"}
    with pytest.raises(Http404):
        get_visible_client_or_404(personas.tara, personas.theo_client.public_id)


def test_a_supervisor_sees_the_clients_of_their_teams_only(personas):
    assert codes(personas.sam) == {"R-TARA-1"}


def test_an_agency_admin_sees_every_client_of_the_agency_and_no_other(personas):
    assert codes(personas.alice) == {"R-TARA-1", "R-THEO-1", "R-THEO-2"}
    assert codes(personas.olga) == {"H-OSCAR-1"}


@pytest.mark.parametrize("name", ["alice", "sam", "tara", "theo"])
def test_nobody_sees_another_agencys_client(personas, name):
    with pytest.raises(Http404):
        get_visible_client_or_404(getattr(personas, name), personas.oscar_client.public_id)


def test_a_user_without_an_agency_sees_nothing(personas, django_user_model):
    loner = django_user_model.objects.create(username="loner")
    assert codes(loner) == set()


def test_a_deactivated_user_sees_no_client_and_no_episode(personas):
    personas.tara.is_active = False
    personas.tara.save()
    assert not visible_clients(personas.tara).exists()
    assert not visible_episodes(personas.tara).exists()
