"""The care services: scoring, idempotency, edits, undo, summaries and the audit trail."""

from __future__ import annotations

import datetime

import pytest

from alliance.audit.models import AuditEvent
from alliance.care import services
from alliance.care.models import Administration, Alert, Episode, Session
from tests.web.personas import START

ORS_ITEMS = {"individually": 5.2, "interpersonally": 4.8, "socially": 6.1, "overall": 3.9}  # 20.0
DAY1 = START + datetime.timedelta(days=1)
WEEK = datetime.timedelta(weeks=1)
SRS_LOW = {"relationship": 8.0, "goals_topics": 9.0, "approach": 8.5, "overall": 9.4}  # 34.9


def ors(items: dict[str, float], factor: float) -> dict[str, float]:
    return {key: round(value * factor, 1) for key, value in items.items()}


def record(actor, session: Session, key: str, instrument: str = "ors", **kwargs):
    kwargs.setdefault("items", ORS_ITEMS if instrument == "ors" else SRS_LOW)
    return services.record_administration(
        actor, session, instrument=instrument, idempotency_key=key, ip="10.0.0.7", **kwargs
    )


@pytest.fixture
def session(personas) -> Session:
    return services.start_session(personas.tara, personas.tara_client, on=DAY1)


def test_it_scores_the_items_and_marks_the_first_session_grey(personas, session):
    result = record(personas.tara, session, "k1")
    assert result.created
    assert result.administration.total == pytest.approx(20.0)
    episode = Episode.objects.get(pk=session.episode_id)
    assert (episode.intake_total, episode.last_outcome_total, episode.zone) == (20.0, 20.0, "grey")
    assert episode.session_count == 1
    assert episode.last_session_date == DAY1


def test_a_double_submit_with_the_same_key_stores_once(personas, session):
    first = record(personas.tara, session, "same-key")
    second = record(personas.tara, session, "same-key", items=ors(ORS_ITEMS, 1.5))
    assert not second.created
    assert second.administration.pk == first.administration.pk
    assert Administration.objects.filter(session=session).count() == 1
    assert Administration.objects.get().total == pytest.approx(20.0)
    assert AuditEvent.objects.filter(action="administration.recorded").count() == 1


def test_an_invalid_item_names_the_item_and_stores_nothing(personas, session):
    items = {**ORS_ITEMS, "socially": 10.5}
    with pytest.raises(services.ResponseError) as raised:
        record(personas.tara, session, "bad", items=items)
    assert raised.value.item == "socially"
    assert "Socially" in str(raised.value)
    assert not Administration.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="administration").exists()


def test_a_total_only_entry_from_paper_is_stored_as_a_total_with_empty_items(personas, session):
    result = record(personas.tara, session, "paper", items=None, total="22", entry_mode="paper")
    stored = Administration.objects.get(pk=result.administration.pk)
    assert stored.total == 22.0 and stored.total_only and stored.entry_mode == "paper"
    assert stored.items == {}
    episode = Episode.objects.get(pk=session.episode_id)
    assert (episode.intake_total, episode.last_outcome_total, episode.zone) == (22.0, 22.0, "grey")


def test_saving_again_in_the_same_session_is_refused_unless_asked_to_replace(personas, session):
    record(personas.tara, session, "first")
    with pytest.raises(services.AlreadyRatedError, match=r"already filled in .*total 20\)"):
        record(personas.tara, session, "second", items=ors(ORS_ITEMS, 1.2))
    assert Administration.objects.get(session=session, instrument="ors").total == 20.0
    assert not AuditEvent.objects.filter(action="administration.edited").exists()


def test_replacing_a_rating_edits_it_and_keeps_the_old_values_in_the_audit(personas, session):
    record(personas.tara, session, "first")
    record(personas.tara, session, "second", items=ors(ORS_ITEMS, 1.2), replace=True)  # 24.0
    stored = Administration.objects.get(session=session, instrument="ors")
    assert stored.total == pytest.approx(24.0)
    edit = AuditEvent.objects.get(action="administration.edited")
    assert edit.detail["before"]["total"] == pytest.approx(20.0)
    assert edit.detail["after"]["total"] == pytest.approx(24.0)
    assert edit.actor == personas.tara and edit.ip_address == "10.0.0.7"


def test_undo_removes_the_score_writes_the_audit_and_refreshes_the_summary(personas, session):
    result = record(personas.tara, session, "k1")
    services.undo_administration(personas.tara, result.administration, ip="10.0.0.8")
    assert not Administration.objects.exists()
    event = AuditEvent.objects.get(action="administration.undone")
    assert event.detail["total"] == pytest.approx(20.0)
    assert event.target_id == result.administration.public_id
    episode = Episode.objects.get(pk=session.episode_id)
    assert (episode.last_outcome_total, episode.zone) == (None, "none")


def test_an_srs_below_36_flags_the_alliance_red(personas, session):
    record(personas.tara, session, "ors-1")
    record(personas.tara, session, "srs-1", instrument="srs")
    episode = Episode.objects.get(pk=session.episode_id)
    assert episode.last_alliance_total == pytest.approx(34.9)
    assert episode.alliance_flag == "red"


def test_an_srs_of_38_then_36_5_is_a_drop_of_1_5_points_and_flags_red(personas, session):
    record(personas.tara, session, "s1", instrument="srs", items=dict.fromkeys(SRS_LOW, 9.5))
    assert Episode.objects.get(pk=session.episode_id).alliance_flag == "green"
    second = services.start_session(personas.tara, personas.tara_client, on=DAY1 + WEEK)
    items = {"relationship": 9.2, "goals_topics": 9.1, "approach": 9.1, "overall": 9.1}  # 36.5
    record(personas.tara, second, "s2", instrument="srs", items=items)
    assert Episode.objects.get(pk=session.episode_id).alliance_flag == "red"


def test_falling_well_below_intake_turns_the_zone_red_and_raises_an_alert(personas, session):
    record(personas.tara, session, "a")  # intake 20.0
    falling = [(3.5, 3.5, 4.0, 3.0), (2.5, 2.5, 3.0, 2.0)]  # totals 14.0 and 10.0
    for week, values in enumerate(falling, start=1):
        later = services.start_session(
            personas.tara, personas.tara_client, on=DAY1 + datetime.timedelta(weeks=week)
        )
        record(
            personas.tara, later, f"week-{week}", items=dict(zip(ORS_ITEMS, values, strict=True))
        )
    episode = Episode.objects.get(pk=session.episode_id)
    assert episode.last_outcome_total == pytest.approx(10.0)  # 2.5 + 2.5 + 3.0 + 2.0
    assert (episode.session_count, episode.zone) == (3, "red")
    assert Alert.objects.filter(episode=episode, session_number=3).exists()


def test_starting_a_session_twice_on_one_day_reuses_it(personas, session):
    again = services.start_session(personas.tara, personas.tara_client, on=DAY1)
    assert again.pk == session.pk
    record(personas.tara, session, "k1")
    later = services.start_session(personas.tara, personas.tara_client, on=DAY1 + WEEK)
    assert later.number == 2


def test_a_started_session_with_nothing_recorded_counts_nowhere_and_is_reused_later(
    personas, session
):
    episode = Episode.objects.get(pk=session.episode_id)
    assert session.attendance == "" and not session.is_real
    assert (episode.session_count, episode.last_session_date) == (0, None)
    later = services.start_session(personas.tara, personas.tara_client, on=DAY1 + WEEK)
    assert (later.pk, later.number, later.date) == (session.pk, 1, DAY1 + WEEK)
    assert Session.objects.count() == 1


def test_a_rating_or_an_attendance_makes_a_started_session_count(personas, session):
    record(personas.tara, session, "k1")
    episode = Episode.objects.get(pk=session.episode_id)
    assert (episode.session_count, episode.last_session_date) == (1, DAY1)
    assert Session.objects.get(pk=session.pk).attendance == "attended"
    assert AuditEvent.objects.filter(action="session.attendance").get().detail == {
        "before": "",
        "after": "attended",
    }
    second = services.start_session(personas.tara, personas.tara_client, on=DAY1 + WEEK)
    services.set_attendance(personas.tara, second, "cancelled")
    episode = Episode.objects.get(pk=session.episode_id)
    assert (episode.session_count, episode.last_session_date) == (1, DAY1)


def test_closing_an_episode_records_the_ending_and_refuses_more_scores(personas, session):
    services.close_episode(personas.tara, session.episode, "unilateral", on=DAY1 + 2 * WEEK)
    episode = Episode.objects.get(pk=session.episode_id)
    assert (episode.ending, episode.end_date) == ("unilateral", DAY1 + 2 * WEEK)
    assert AuditEvent.objects.filter(action="episode.closed", target_id=episode.public_id).exists()
    with pytest.raises(services.ServiceError, match="closed"):
        record(personas.tara, session, "late")


def test_closing_with_an_unknown_ending_is_refused(personas, session):
    with pytest.raises(services.ServiceError, match="ending"):
        services.close_episode(personas.tara, session.episode, "vanished")
