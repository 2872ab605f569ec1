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


# The rule written out in SQL for the rating path (visible_session, visible_client_id) must let
# every role see exactly what the queryset form lets it see.
@pytest.fixture
def more_clients(personas):
    from alliance.care.models import ClientShare
    from alliance.care.services import create_client
    from tests.web.personas import START

    # Tara's client in another team (sam supervises tara's team: he sees it through her), a
    # client of theo without a team (sam does not), and one of theo's shared with sam.
    create_client(
        personas.alice,
        personas.riverside,
        display_code="R-TARA-S",
        therapist=personas.tara,
        team=personas.south,
        start_date=START,
    )
    create_client(
        personas.alice,
        personas.riverside,
        display_code="R-THEO-X",
        therapist=personas.theo,
        start_date=START,
    )
    ClientShare.objects.create(
        agency=personas.riverside, client=personas.theo_client, user=personas.sam
    )
    return personas


@pytest.mark.parametrize("name", ["alice", "sam", "tara", "theo", "olga", "oscar"])
def test_the_sql_form_of_the_rule_shows_each_role_exactly_the_clients_of_the_queryset(
    more_clients, name
):
    from alliance.care.models import Client
    from alliance.care.visibility import visible_client_id

    user = getattr(more_clients, name)
    by_sql = {
        client.pk
        for client in Client.objects.all()
        if visible_client_id(user, client.public_id) is not None
    }
    assert by_sql == set(visible_clients(user).values_list("pk", flat=True))
    assert by_sql  # every persona sees someone, so the comparison says something


def test_the_sql_form_of_the_rule_shows_nothing_to_a_deactivated_user_or_one_without_agency(
    personas, django_user_model
):
    from alliance.care.visibility import visible_client_id, visible_session

    loner = django_user_model.objects.create(username="loner")
    personas.tara.is_active = False
    personas.tara.save()
    for user in (loner, personas.tara):
        assert visible_client_id(user, personas.tara_client.public_id) is None
    assert visible_session(personas.tara, personas.tara_client.public_id, 1) is None


def test_visible_session_loads_the_session_with_its_episode_and_client_in_one_statement(
    personas,
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from alliance.care import services
    from alliance.care.models import Session
    from alliance.care.visibility import visible_session

    started = services.start_session(personas.tara, personas.tara_client)
    services.set_raters(personas.tara, started.episode, ["parent"])
    with CaptureQueriesContext(connection) as captured:
        found = visible_session(personas.tara, personas.tara_client.public_id, started.number)
        episode, client = found.episode, found.episode.client
    assert len(captured) == 1
    expected = Session.objects.select_related("episode__client").get(pk=started.pk)
    for model, loaded, stored in (
        (Session, found, expected),
        (type(episode), episode, expected.episode),
        (type(client), client, expected.episode.client),
    ):
        for field in model._meta.concrete_fields:
            assert getattr(loaded, field.attname) == getattr(stored, field.attname), field.name
    assert episode.raters == ["parent"] and not found._state.adding


def test_visible_session_finds_no_session_of_another_caseload_agency_or_closed_episode(personas):
    from alliance.care import services
    from alliance.care.visibility import visible_session

    services.start_session(personas.theo, personas.theo_client)
    services.start_session(personas.oscar, personas.oscar_client)
    assert visible_session(personas.tara, personas.theo_client.public_id, 1) is None
    assert visible_session(personas.alice, personas.oscar_client.public_id, 1) is None
    assert visible_session(personas.alice, personas.theo_client.public_id, 1) is not None
    assert visible_session(personas.theo, personas.theo_client.public_id, 2) is None
    episode = personas.theo_client.episodes.get()
    services.close_episode(personas.theo, episode, "planned")
    assert visible_session(personas.theo, personas.theo_client.public_id, 1) is None
