"""One definition of a client's current episode, the same on SQLite and PostgreSQL.

PostgreSQL sorts NULLs last: the old ``order_by("end_date", "-start_date")`` picked a closed
episode over the open one there (and passed on SQLite).
"""

from __future__ import annotations

import datetime

from django.urls import reverse

from alliance.care.models import Episode
from tests.web.personas import START


def _close_and_reopen(client) -> tuple[Episode, Episode]:
    closed = client.episodes.get()
    closed.end_date = START + datetime.timedelta(days=30)
    closed.ending = "planned"
    closed.save()
    opened = Episode.objects.create(
        agency=client.agency, client=client, start_date=START + datetime.timedelta(days=60)
    )
    return closed, opened


def test_the_open_episode_is_current_when_a_closed_one_exists(personas):
    closed, opened = _close_and_reopen(personas.tara_client)
    assert personas.tara_client.current_episode == opened
    assert list(personas.tara_client.episodes.current_first()) == [opened, closed]


def test_the_episode_that_ended_last_is_current_when_none_is_open(personas):
    closed, opened = _close_and_reopen(personas.tara_client)
    opened.end_date = opened.start_date + datetime.timedelta(days=10)
    opened.ending = "unilateral"
    opened.save()
    assert personas.tara_client.current_episode == opened


def test_a_client_without_episodes_has_no_current_episode(personas):
    personas.tara_client.episodes.all().delete()
    assert personas.tara_client.current_episode is None


def test_the_client_page_shows_the_open_episode_not_the_closed_one(client, personas):
    closed, opened = _close_and_reopen(personas.tara_client)
    client.force_login(personas.tara)
    page = client.get(reverse("client", args=[personas.tara_client.public_id]))
    assert page.status_code == 200
    assert page.context["episode"] == opened
