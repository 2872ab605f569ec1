"""My practice: each therapist's own numbers, never a colleague's; the practice log round-trips."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse

from alliance.audit.models import AuditEvent
from alliance.practice.models import Objective, Reflection
from alliance.practice.services import agency_frame, practice_for
from alliance.science.effectiveness import effectiveness

pytestmark = pytest.mark.django_db


def page_of(user) -> str:
    return reverse("practice:of", args=[user.public_id])


def test_a_therapist_sees_their_own_numbers_as_the_science_core_computes_them(client, history):
    p = history.personas
    client.force_login(p.tara)
    response = client.get(reverse("practice:mine"))
    assert response.status_code == 200
    page = response.context["page"]
    frame = agency_frame(p.riverside.pk, "ors")
    mine = frame[frame["therapist_id"].astype("string") == str(p.tara.pk)]
    expected = effectiveness(mine, instrument="ors")["overall"]
    assert page.mine["es"] == expected["es"]
    assert page.mine["n_episodes"] == expected["n_episodes"]
    assert (
        page.agency["n_episodes"] == effectiveness(frame, instrument="ors")["overall"]["n_episodes"]
    )
    assert page.n_episodes == mine["episode_id"].nunique()
    assert b"practice-effectiveness" in response.content


def test_the_agency_comparison_never_includes_another_agency(history):
    p = history.personas
    frame = agency_frame(p.riverside.pk, "ors")
    hillside_therapists = {str(p.oscar.pk)}
    assert not set(frame["therapist_id"].astype("string")) & hillside_therapists


def test_another_therapists_practice_page_is_not_found(client, history):
    p = history.personas
    client.force_login(p.tara)
    assert client.get(page_of(p.theo)).status_code == 404
    client.force_login(p.olga)  # another agency's admin
    assert client.get(page_of(p.tara)).status_code == 404


def test_a_supervisor_opens_their_teams_therapists_one_at_a_time(client, history):
    p = history.personas
    client.force_login(p.sam)
    team = client.get(reverse("practice:team"))
    assert team.status_code == 200
    names = [person.username for person in team.context["people"]]
    assert names == sorted(names) and "tara" in names and "theo" not in names
    assert client.get(page_of(p.tara)).status_code == 200
    assert client.get(page_of(p.theo)).status_code == 404
    assert AuditEvent.objects.filter(action="practice.viewed").count() == 1


def test_an_admin_sees_every_therapist_of_the_agency(client, history):
    p = history.personas
    client.force_login(p.alice)
    assert client.get(page_of(p.theo)).status_code == 200
    assert client.get(page_of(p.oscar)).status_code == 404


def test_a_therapist_has_no_team_page(client, history):
    client.force_login(history.personas.tara)
    assert client.get(reverse("practice:team")).status_code == 403


def test_few_episodes_say_not_enough_data_yet(client, personas):
    client.force_login(personas.tara)
    response = client.get(reverse("practice:mine"))
    assert response.status_code == 200
    assert b'data-testid="not-enough-data"' in response.content


def test_the_practice_log_round_trips_and_stays_private_until_shared(client, history):
    p = history.personas
    client.force_login(p.tara)
    response = client.post(
        reverse("practice:create_objective"),
        {"text": "Invite honest feedback in first sessions", "measure": "first_at_ceiling",
         "started_on": "2024-06-01"},
    )  # fmt: skip
    assert response.status_code == 302
    objective = Objective.objects.get(therapist=p.tara)
    assert objective.agency_id == p.riverside.pk and not objective.shared_with_supervisor
    client.post(
        reverse("practice:add_reflection", args=[objective.public_id]),
        {"text": "Asked what was missing; got a 33.", "written_on": "2024-06-08"},
    )
    assert Reflection.objects.get(objective=objective).text.startswith("Asked what")
    page = client.get(reverse("practice:mine"))
    assert b"Asked what was missing" in page.content
    progress = page.context["page"].progress[objective.pk]
    assert set(progress) == {"before", "after"}
    assert progress["before"]["n"] + progress["after"]["n"] > 0

    client.force_login(p.sam)
    assert b"Invite honest feedback" not in client.get(page_of(p.tara)).content
    client.force_login(p.tara)
    client.post(
        reverse("practice:share_objective", args=[objective.public_id]),
        {"share_with_supervisor": "on"},
    )
    client.force_login(p.sam)
    assert b"Invite honest feedback" in client.get(page_of(p.tara)).content
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"practice.objective_created", "practice.reflection_added",
            "practice.sharing_changed"} <= actions  # fmt: skip


def test_nobody_else_can_write_to_a_therapists_log(client, history):
    p = history.personas
    objective = Objective.objects.create(
        agency=p.riverside, therapist=p.tara, text="x", started_on=datetime.date(2024, 1, 1),
        shared_with_supervisor=True,
    )  # fmt: skip
    for intruder in (p.sam, p.theo, p.olga):
        client.force_login(intruder)
        url = reverse("practice:add_reflection", args=[objective.public_id])
        assert client.post(url, {"text": "y", "written_on": "2024-01-02"}).status_code == 404
        url = reverse("practice:share_objective", args=[objective.public_id])
        assert client.post(url, {}).status_code == 404
    assert not Reflection.objects.exists()
    assert Objective.objects.get().shared_with_supervisor


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"text": "   ", "started_on": "2024-01-01"}, "Write what you want to work on."),
        ({"text": "x", "started_on": "1800-01-01"}, "Choose a date between"),
        ({"text": "x", "started_on": "not a date"}, "Enter a valid date."),
        ({"text": "x", "started_on": "2024-01-01", "measure": "hack"}, "Select a valid choice."),
    ],
)
def test_bad_objective_input_is_refused_with_a_clear_message(client, personas, data, message):
    client.force_login(personas.tara)
    response = client.post(reverse("practice:create_objective"), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Objective.objects.exists()


def test_the_practice_numbers_are_computed_for_the_pages_therapist_only(history):
    p = history.personas
    tara, theo = practice_for(p.tara), practice_for(p.theo)
    assert tara.agency == theo.agency
    assert tara.mine != theo.mine
