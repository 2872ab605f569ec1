"""Writes of the practice log (each one transaction with its audit event) and the numbers of a
therapist's practice page, computed by the science core from the agency's administrations."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from alliance.accounts.models import User
from alliance.accounts.tenancy import membership_of
from alliance.audit.services import record
from alliance.care.models import Episode
from alliance.reports.data import administrations_frame
from alliance.science.alliance_episodes import AllianceDataError
from alliance.science.alliance_profile import MIN_EPISODES, alliance_profile, hard_to_engage
from alliance.science.effectiveness import ALLIANCE_FOR_OUTCOME, EffectivenessError, effectiveness
from alliance.science.practice import before_after
from alliance.science.therapists import TherapistEffectsError, therapist_effects

from .models import Objective, Reflection


class PracticeError(ValueError):
    """A write the practice log refuses; the message is for the person."""


def _owned_by(actor, objective: Objective) -> None:
    if objective.therapist_id != actor.pk:
        raise PracticeError(_("Only the therapist who set an objective can change it."))


@transaction.atomic
def create_objective(
    actor, *, text: str, measure: str = "", started_on: datetime.date, shared: bool, ip=None
) -> Objective:
    membership = membership_of(actor)
    if membership is None:
        raise PracticeError(_("You need an agency membership to keep a practice log."))
    objective = Objective.objects.create(
        agency_id=membership.agency_id,
        therapist=actor,
        text=text.strip(),
        measure=measure,
        started_on=started_on,
        shared_with_supervisor=shared,
    )
    record(
        actor,
        membership.agency_id,
        "practice.objective_created",
        objective,
        ip,
        {"measure": measure, "with_supervisor": shared},
    )
    return objective


@transaction.atomic
def add_reflection(
    actor, objective: Objective, *, text: str, written_on: datetime.date, ip=None
) -> Reflection:
    _owned_by(actor, objective)
    reflection = Reflection.objects.create(
        agency_id=objective.agency_id, objective=objective, text=text.strip(), written_on=written_on
    )
    record(actor, objective.agency_id, "practice.reflection_added", objective, ip)
    return reflection


@transaction.atomic
def set_sharing(actor, objective: Objective, shared: bool, *, ip=None) -> Objective:
    _owned_by(actor, objective)
    objective.shared_with_supervisor = shared
    objective.save(update_fields=["shared_with_supervisor"])
    record(
        actor,
        objective.agency_id,
        "practice.sharing_changed",
        objective,
        ip,
        {"with_supervisor": shared},
    )
    return objective


# -- the practice page ---------------------------------------------------------------------------


@dataclass
class Practice:
    """Everything a practice page shows for one therapist, against the agency."""

    therapist: User
    instrument: str
    n_episodes: int = 0
    enough_data: bool = False
    mine: dict[str, Any] | None = None
    agency: dict[str, Any] | None = None
    trend: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    relative: dict[str, Any] | None = None
    profile: dict[str, Any] | None = None
    agency_profile: dict[str, Any] | None = None
    hard: dict[str, Any] | None = None
    agency_hard: dict[str, Any] | None = None
    hard_definition: str = ""
    notes: list[str] = field(default_factory=list)
    # objective pk -> {"before": share, "after": share} of its measure
    progress: dict[int, dict[str, Any]] = field(default_factory=dict)


def agency_frame(agency_id: int, instrument: str) -> pd.DataFrame:
    """The agency's administrations of the outcome scale and its alliance scale."""
    instruments = (instrument, ALLIANCE_FOR_OUTCOME.get(instrument, "srs"))
    return administrations_frame(Episode.objects.filter(agency_id=agency_id), instruments)


def practice_for(
    therapist: User, instrument: str = "ors", objectives: list[Objective] | None = None
) -> Practice:
    """The therapist's effectiveness, alliance profile and hard-to-engage outcomes.

    The agency's numbers are computed from all its episodes (aggregates only: nothing of a
    client the viewer may not see is shown).
    """
    membership = membership_of(therapist)
    page = Practice(therapist=therapist, instrument=instrument)
    if membership is None:
        return page
    frame = agency_frame(membership.agency_id, instrument)
    if frame.empty:
        page.notes.append(_("No scores in the agency yet."))
        return page
    mine = frame[frame["therapist_id"].astype("string") == str(therapist.pk)]
    page.n_episodes = int(mine["episode_id"].nunique())
    page.enough_data = page.n_episodes >= MIN_EPISODES
    _effectiveness(page, frame, mine)
    _alliance(page, frame)
    options = {"instrument": instrument, "alliance_instrument": _alliance_scale(page)}
    for objective in objectives or ():
        if objective.measure:
            page.progress[objective.pk] = before_after(
                mine, objective.measure, objective.started_on, **options
            )
    return page


def _effectiveness(page: Practice, frame: pd.DataFrame, mine: pd.DataFrame) -> None:
    try:
        page.agency = effectiveness(frame, instrument=page.instrument)["overall"]
        if not mine.empty:
            result = effectiveness(mine, by="quarter", instrument=page.instrument)
            page.mine = result["overall"]
            page.trend = sorted((k, v) for k, v in result["groups"].items() if k != "(missing)")
    except EffectivenessError as error:
        page.notes.append(str(error))
    try:
        effects = therapist_effects(frame, page.instrument)
    except TherapistEffectsError as error:
        page.notes.append(str(error))
        return
    rows = effects.per_therapist
    row = rows[rows["therapist_id"].astype("string") == str(page.therapist.pk)]
    if len(row):
        page.relative = {str(k): _plain(v) for k, v in row.iloc[0].to_dict().items()}


def _alliance(page: Practice, frame: pd.DataFrame) -> None:
    scale = _alliance_scale(page)
    try:
        profile = alliance_profile(frame, instrument=page.instrument, alliance_instrument=scale)
        hard = hard_to_engage(frame, instrument=page.instrument, alliance_instrument=scale)
    except AllianceDataError as error:
        page.notes.append(str(error))
        return
    key = str(page.therapist.pk)
    page.agency_profile = profile["agency"]
    page.profile = profile["therapists"].get(key)
    page.agency_hard = hard["agency"]
    page.hard = hard["therapists"].get(key)
    page.hard_definition = hard["definition"]


def _alliance_scale(page: Practice) -> str:
    return ALLIANCE_FOR_OUTCOME.get(page.instrument, "srs")


def today() -> datetime.date:
    return timezone.localdate()


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return value
