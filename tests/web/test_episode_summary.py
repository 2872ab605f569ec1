"""An episode's summary and alerts (``care.summary.refresh``) read its scores in one statement;
they must be the scores, in the order, that the ORM and every other reader see."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alliance.care import services, summary
from alliance.care.feedback import _score, episode_feedback
from alliance.care.models import Administration, Episode

ORS_ITEMS = {"individually": 6, "interpersonally": 4, "socially": 7, "overall": 5}  # 22
SRS_ITEMS = {"relationship": 8.5, "goals_topics": 7.3, "approach": 9, "overall": 6.5}


@pytest.fixture
def couple_episode(personas) -> Episode:
    """A couple's episode over three sessions: the client's ORS and SRS, the partner's ORS, a
    total entered alone, and a session with no rating."""
    client = services.create_client(
        personas.tara,
        personas.riverside,
        display_code="SUM-1",
        therapist=personas.tara,
        raters=["partner"],
        start_date=datetime.date(2026, 9, 1),
    )
    for number, day in enumerate((1, 8, 15, 22), 1):
        session = services.start_session(personas.tara, client, on=datetime.date(2026, 9, day))
        if number == 4:
            continue  # started, never rated
        # Stored in another order than every reader's (session, instrument, rater, id).
        for key, instrument, values in (
            (f"s{number}", "srs", {"items": SRS_ITEMS}),
            (f"p{number}", "ors", {"total": 30 - number, "rater": "partner"}),
            (f"o{number}", "ors", {"items": ORS_ITEMS}),
        ):
            services.record_administration(
                personas.tara, session, instrument=instrument, idempotency_key=key, **values
            )
    return client.episodes.get()


def test_it_reads_every_score_as_the_orm_reads_them_in_the_same_order(couple_episode):
    facts = summary.read_facts(couple_episode.pk)
    assert facts is not None
    expected = [_score(a) for a in Administration.objects.of_episode(couple_episode)]
    assert facts.scores == expected
    assert len(expected) == 9 and {score[2] for score in expected} == {"client", "partner"}
    assert any(score[5] for score in expected)  # the partner's totals entered alone
    assert facts.attended_count == 3 and facts.attended_last == datetime.date(2026, 9, 15)


def test_its_feedback_and_summary_are_those_of_the_orm_path(couple_episode):
    episode = Episode.objects.select_related("client").get(pk=couple_episode.pk)
    refreshed = summary.refresh(episode.pk)
    assert refreshed is not None
    by_orm = episode_feedback(episode, Administration.objects.of_episode(episode))
    assert refreshed.feedback.outcome == by_orm.outcome
    assert refreshed.feedback.signals == by_orm.signals
    stored = Episode.objects.get(pk=episode.pk)
    assert {name: getattr(stored, name) for name in summary.SUMMARY_FIELDS} == refreshed.summary
    assert stored.session_count == 3 and stored.last_outcome_total == pytest.approx(22.0)


def test_a_refresh_with_nothing_new_writes_nothing(couple_episode):
    summary.refresh(couple_episode.pk)
    with CaptureQueriesContext(connection) as captured:
        summary.refresh(couple_episode.pk)
    writes = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith("SELECT")]
    assert writes == []
    assert len(captured.captured_queries) == 1  # the one read


def test_a_refresh_of_an_episode_that_is_gone_answers_none(couple_episode):
    episode_id = couple_episode.pk
    couple_episode.client.delete()
    assert summary.refresh(episode_id) is None
