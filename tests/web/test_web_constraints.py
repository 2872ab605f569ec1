"""Database constraints hold even when the services are bypassed."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from alliance.care import services
from alliance.care.models import Administration, Episode


@pytest.fixture
def session(personas):
    return services.start_session(personas.tara, personas.tara_client)


def raw_administration(session, **fields) -> Administration:
    values = {
        "agency_id": session.agency_id,
        "episode_id": session.episode_id,
        "session": session,
        "instrument": "ors",
        "rater": "client",
        "total": 20.0,
        "idempotency_key": "k",
    }
    values.update(fields)
    return Administration.objects.create(**values)


def assert_refused(**fields) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        raw_administration(**fields)


@pytest.mark.parametrize(
    ("instrument", "total"), [("ors", 40.1), ("srs", -0.1), ("phq9", 28), ("gad7", 21.5)]
)
def test_it_rejects_totals_outside_the_instrument_range(session, instrument, total):
    assert_refused(session=session, instrument=instrument, total=total)


@pytest.mark.parametrize(("instrument", "total"), [("ors", 40.0), ("srs", 0.0), ("phq9", 27)])
def test_it_accepts_totals_at_the_edges_of_the_range(session, instrument, total):
    raw_administration(session, instrument=instrument, total=total, idempotency_key=instrument)


def test_it_allows_one_ors_per_rater_per_session(session):
    raw_administration(session, idempotency_key="first")
    assert_refused(session=session, idempotency_key="second")
    raw_administration(session, rater="parent", idempotency_key="collateral")
    raw_administration(session, instrument="srs", idempotency_key="alliance")
    assert Administration.objects.count() == 3


def test_an_idempotency_key_is_unique_within_an_agency_but_not_across_agencies(personas, session):
    raw_administration(session, idempotency_key="shared-key")
    other_session = services.start_session(personas.oscar, personas.oscar_client)
    raw_administration(other_session, idempotency_key="shared-key")
    second = services.start_session(personas.theo, personas.theo_client)
    assert_refused(session=second, idempotency_key="shared-key")


def test_an_episode_cannot_close_without_a_reason(personas):
    episode = personas.tara_client.episodes.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        Episode.objects.filter(pk=episode.pk).update(end_date=episode.start_date)
    with pytest.raises(IntegrityError), transaction.atomic():
        Episode.objects.filter(pk=episode.pk).update(end_date=episode.start_date, ending="vanished")
