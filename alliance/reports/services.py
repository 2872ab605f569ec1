"""Reporting actions: dashboards and reports (read-only), ETR refit and activation (writes).

Reads go through ``alliance.care.visibility`` (via ``data.scoped_episodes``); every statistic comes
from ``alliance.science`` on the table built by ``data.administrations_frame``. Writes are one
transaction each and leave an AuditEvent.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Avg, Count, Exists, OuterRef, Q
from django.tasks import task
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from alliance.accounts.models import Agency, Membership, Role, Team, TeamMembership, User
from alliance.accounts.permissions import SUPERVISOR_OR_ADMIN, require_role
from alliance.care.alert_text import reason_in_language
from alliance.care.dates import EARLIEST_DATE, latest_date
from alliance.care.feedback import (
    model_description,  # noqa: F401 (the report pages ask here)
    model_for,
    model_or_none,
    safety_message,
)
from alliance.care.models import (
    ATTENDANCE_NOT_SET,
    Alert,
    Attendance,
    Episode,
    FittedModel,
    Session,
    SessionKind,
    Zone,
)
from alliance.care.services import audit, refresh_open_episodes
from alliance.care.visibility import visible_episodes
from alliance.science import etr
from alliance.science.effectiveness import EffectivenessError, effectiveness, episode_table
from alliance.science.signals import (
    PRIORITY_ALLIANCE,
    PRIORITY_INFO,
    PRIORITY_ORANGE,
    PRIORITY_RED,
    PRIORITY_SAFETY,
    SAFETY_CODE,
    alert_priority,
)
from alliance.science.therapists import TherapistEffectsError, therapist_effects

from .data import ReportFilter, administrations_frame, report_data, scoped_episodes
from .models import JobStatus, RefitJob

# The model in use is care's question (zones and alerts ask it on every rating); reports asks the
# same function under the name its pages use.
active_model = model_for

# Below this many closed episodes with two or more scores an agency's own percentile lines would
# be dominated by noise (the science core's own floor; see docs/etr.md).
MIN_REFIT_EPISODES = etr.DEFAULT_MIN_EPISODES
REPORT_GROUPINGS = ("quarter", "team_id", "therapist_id", "age_band")


class ReportError(ValueError):
    """A report or refit cannot be made; the message says why in plain words."""


# -- who may do what ---------------------------------------------------------------------------


def require_reader(user) -> Membership:
    """Supervisors and agency admins read reports; therapists have their caseload instead."""
    return require_role(user, *SUPERVISOR_OR_ADMIN)


def require_admin(user) -> Membership:
    return require_role(user, Role.ADMIN)


# -- the agency's ETR model --------------------------------------------------------------------


# -- 1. supervisor dashboard -------------------------------------------------------------------


@dataclass
class AtRisk:
    """One client on the at-risk list: every reason in one row, ranked by the worst of them."""

    episode: Episode
    reasons: list[str]
    days_since: int | None
    priority: int = PRIORITY_INFO
    safety: list[Alert] = field(default_factory=list)
    # When the most recent reason arose (its alert, else the last session): newer first.
    latest: datetime.datetime | None = None

    @property
    def therapist(self) -> User:
        return self.episode.client.therapist

    @property
    def priority_name(self) -> str:
        return PRIORITY_NAMES.get(self.priority, "info")


PRIORITY_NAMES = {
    PRIORITY_SAFETY: "safety",
    PRIORITY_RED: "red",
    PRIORITY_ORANGE: "orange",
    PRIORITY_ALLIANCE: "alliance",
}


@dataclass
class CaseloadRow:
    therapist: User
    open_episodes: int
    red: int
    orange: int
    green: int
    alliance_flags: int
    mean_sessions: float | None


def _stored_alerts(
    episodes: list[Episode],
) -> tuple[dict[int, list[Alert]], dict[int, list[Alert]]]:
    """One query: each episode's alerts at its latest alerted session (older ones are history),
    and its open safety alerts whatever their session (never dismissed by a later session)."""
    current: dict[int, list[Alert]] = {}
    safety: dict[int, list[Alert]] = {}
    for alert in Alert.objects.filter(episode__in=[e.pk for e in episodes]).order_by(
        "episode_id", "-session_number", "code"
    ):
        if alert.code == SAFETY_CODE:
            if alert.acknowledged_at is None:
                safety.setdefault(alert.episode_id, []).append(alert)
            continue
        latest = current.setdefault(alert.episode_id, [])
        if not latest or latest[0].session_number == alert.session_number:
            latest.append(alert)
    return current, safety


RISK_ALERTS = (
    "not_on_track",
    "reliable_deterioration",
    "no_reliable_change",
    "alliance_below_cutoff",
    "alliance_drop",
    "alliance_low_item",
)


def _risk_reasons(episode: Episode, alerts: list[Alert]) -> list[str]:
    """Why an open episode needs attention: its stored summary and the science core's alerts.

    The clinical rules (no reliable change by session 6, deterioration, alliance) are the science
    core's alone; the dashboard only reads what the follow-up of each rating stored.
    """
    reasons: list[str] = []
    if episode.zone == Zone.RED:
        reasons.append(_("Outcome in the red zone (below the expected range)"))
    codes = {a.code for a in alerts}
    reasons += [
        reason_in_language(a.code, a.facts, a.reason, episode.alliance_instrument)
        for a in alerts
        if a.code in RISK_ALERTS
    ]
    if episode.alliance_flag == Zone.RED and not any(c.startswith("alliance_") for c in codes):
        reasons.append(_("Alliance flag at the last session"))
    return reasons


def _priority(episode: Episode, alerts: list[Alert], safety: list[Alert]) -> int:
    """The worst of an episode's reasons (science.signals.alert_priority orders them)."""
    ranks = [alert_priority(a.code, a.severity) for a in [*safety, *alerts] if a.code in RISK_CODES]
    if episode.zone == Zone.RED:
        ranks.append(PRIORITY_RED)
    if episode.alliance_flag == Zone.RED:
        ranks.append(PRIORITY_ALLIANCE)
    return min(ranks, default=PRIORITY_INFO)


RISK_CODES = (SAFETY_CODE, *RISK_ALERTS)


def _safety_reasons(episode: Episode, safety: list[Alert], language: str) -> list[str]:
    message = safety_message((episode.outcome_instrument, episode.alliance_instrument), language)
    return [
        _("Safety alert at session %(n)s: %(message)s")
        % {"n": alert.session_number, "message": message or alert.reason}
        for alert in safety
    ]


def _latest(episode: Episode, alerts: list[Alert]) -> datetime.datetime | None:
    stamps = [a.created_at for a in alerts if a.code in RISK_CODES]
    if stamps:
        return max(stamps)
    if episode.last_session_date is None:
        return None
    return datetime.datetime.combine(episode.last_session_date, datetime.time(), datetime.UTC)


def _at_risk_order(item: AtRisk) -> tuple:
    # Severity first (safety, red, orange, alliance), then the most recent first.
    recency = -item.latest.timestamp() if item.latest is not None else math.inf
    return (item.priority, recency, item.episode.client.display_code)


def supervisor_dashboard(
    user, today: datetime.date | None = None, language: str = "en"
) -> tuple[list[AtRisk], list[CaseloadRow]]:
    """The at-risk list (one row per client, safety first, then red, orange, alliance, newest
    first within each) and a caseload summary per therapist.

    Three queries whatever the caseload size: open episodes (with client and therapist), their
    stored alerts, and the per-therapist aggregates.
    """
    require_reader(user)
    today = today or timezone.localdate()
    open_episodes = visible_episodes(user).filter(end_date__isnull=True)
    episodes = list(
        open_episodes.select_related("client", "client__therapist").order_by(
            "client__therapist__username", "last_session_date", "client__display_code"
        )
    )
    alerts, safety = _stored_alerts(episodes)
    at_risk: list[AtRisk] = []
    for episode in episodes:
        current, open_safety = alerts.get(episode.pk, []), safety.get(episode.pk, [])
        reasons = [
            *_safety_reasons(episode, open_safety, language),
            *_risk_reasons(episode, current),
        ]
        if not reasons:
            continue
        days = (
            None if episode.last_session_date is None else (today - episode.last_session_date).days
        )
        at_risk.append(
            AtRisk(
                episode,
                reasons,
                days,
                priority=_priority(episode, current, open_safety),
                safety=open_safety,
                latest=_latest(episode, [*open_safety, *current]),
            )
        )
    summary = (
        open_episodes.order_by()
        .values("client__therapist")
        .annotate(
            open_episodes=Count("pk"),
            red=Count("pk", filter=Q(zone=Zone.RED)),
            orange=Count("pk", filter=Q(zone=Zone.ORANGE)),
            green=Count("pk", filter=Q(zone=Zone.GREEN)),
            alliance_flags=Count("pk", filter=Q(alliance_flag=Zone.RED)),
            mean_sessions=Avg("session_count"),
        )
    )
    therapists = {e.client.therapist_id: e.client.therapist for e in episodes}
    rows = [
        CaseloadRow(
            therapist=therapists[row["client__therapist"]],
            open_episodes=row["open_episodes"],
            red=row["red"],
            orange=row["orange"],
            green=row["green"],
            alliance_flags=row["alliance_flags"],
            mean_sessions=row["mean_sessions"],
        )
        for row in summary
    ]
    rows.sort(key=lambda r: r.therapist.username)
    return sorted(at_risk, key=_at_risk_order), rows


# -- 2. effectiveness reports ------------------------------------------------------------------


@dataclass
class Report:
    report_filter: ReportFilter
    by: str
    model: etr.EtrModel | None
    result: dict[str, Any] | None
    labels: dict[str, str]
    changes: list[float]
    therapists: dict[str, Any] | None
    therapists_error: str
    attendance: dict[str, Any]
    error: str = ""
    n_administrations: int = 0
    left_out: int = 0  # administrations with an implausible session date (ReportData.left_out)

    @property
    def left_out_note(self) -> str:
        """What the report left out, in words ("" when nothing)."""
        if not self.left_out:
            return ""
        message = ngettext(
            "%(n)d administration left out: its session date is not between %(first)s and "
            "%(last)s.",
            "%(n)d administrations left out: their session dates are not between %(first)s "
            "and %(last)s.",
            self.left_out,
        )
        latest = latest_date(timezone.localdate())
        return message % {"n": self.left_out, "first": EARLIEST_DATE, "last": latest}


def _attendance(episodes, agency_id: int | None = None) -> dict[str, Any]:
    """Cancellation and no-show rates over the sessions of ``episodes``.

    ``agency_id`` is given when ``episodes`` are every episode of that agency (as the data layer
    found): the agency's sessions are then counted without a semi-join over every episode.
    """
    if agency_id is not None:
        sessions = Session.objects.filter(agency_id=agency_id)
    else:
        sessions = Session.objects.filter(episode__in=episodes.order_by().values("pk"))
    # Individual sessions held or missed; a bare start or a group session is not one.
    sessions = sessions.filter(kind=SessionKind.INDIVIDUAL).exclude(attendance=ATTENDANCE_NOT_SET)
    counts = sessions.aggregate(
        total=Count("pk"),
        cancelled=Count("pk", filter=Q(attendance=Attendance.CANCELLED)),
        no_show=Count("pk", filter=Q(attendance=Attendance.NO_SHOW)),
    )
    total = counts["total"]
    from alliance.science.effectiveness import wilson_interval

    def rate(k: int) -> dict[str, Any]:
        low, high = wilson_interval(k, total) if total else (math.nan, math.nan)
        return {
            "count": k,
            "n": total,
            "proportion": k / total if total else None,
            "low": None if math.isnan(low) else low,
            "high": None if math.isnan(high) else high,
        }

    return {
        "sessions": total,
        "cancelled": rate(counts["cancelled"]),
        "no_show": rate(counts["no_show"]),
    }


def group_labels(agency_id: int, by: str, keys) -> dict[str, str]:
    """Readable labels for group keys (database ids in the table)."""
    keys = [k for k in keys if k and k != "(missing)" and k.isdigit()]
    if by == "therapist_id":
        return {
            str(pk): name
            for pk, name in User.objects.filter(
                pk__in=keys, membership__agency_id=agency_id
            ).values_list("pk", "username")
        }
    if by == "team_id":
        return {
            str(pk): name
            for pk, name in Team.objects.filter(pk__in=keys, agency_id=agency_id).values_list(
                "pk", "name"
            )
        }
    return {}


def effectiveness_report(user, report_filter: ReportFilter, by: str = "quarter") -> Report:
    """Every index of the domain brief (section 5) by the science core, plus attendance."""
    membership = require_reader(user)
    if by not in REPORT_GROUPINGS:
        by = "quarter"
    episodes = scoped_episodes(user, report_filter)
    data = report_data(episodes, report_filter.instruments())
    frame = data.frame
    # Instruments without an ETR model (PHQ-9, GAD-7, YCORS) get every index that needs none;
    # the science core leaves the target and drop-out fields empty and the page says why.
    model = model_or_none(membership.agency_id, report_filter.instrument)
    report = Report(
        report_filter=report_filter,
        by=by,
        model=model,
        result=None,
        labels={},
        changes=[],
        therapists=None,
        therapists_error="",
        attendance=_attendance(episodes, data.agency_id if data.whole_agency else None),
        n_administrations=len(frame),
        left_out=data.left_out,
    )
    if frame.empty:
        report.error = _("No scores match these filters yet.")
        return report
    # One per-episode table (intake, final, change) for every index, the distribution of change
    # and the therapist effects: it is the same table each of them would build from the frame.
    table = episode_table(frame, report_filter.instrument, "client")
    try:
        report.result = effectiveness(
            frame, by=by, instrument=report_filter.instrument, model=model, episodes=table
        )
    except EffectivenessError as error:
        report.error = str(error)
        return report
    report.labels = group_labels(membership.agency_id, by, report.result["groups"].keys())
    report.changes = table.loc[table["n_scores"] >= 2, "change"].astype(float).tolist()
    try:
        effects = therapist_effects(table, report_filter.instrument)
        report.therapists = effects.to_dict()
        names = group_labels(
            membership.agency_id, "therapist_id", effects.per_therapist["therapist_id"]
        )
        for row in report.therapists["therapists"]:
            row["name"] = names.get(str(row["therapist_id"]), str(row["therapist_id"]))
        report.therapists["therapists"].sort(key=lambda row: row["name"])
    except TherapistEffectsError as error:
        report.therapists_error = str(error)
    return report


def trend_from(result: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return sorted((k, v) for k, v in result["groups"].items() if k != "(missing)")


# -- 3. ETR refit ------------------------------------------------------------------------------


def closed_episode_count(agency: Agency, instrument: str) -> int:
    """Closed episodes of the agency with two or more scores on ``instrument`` (client-rated)."""
    return (
        Episode.objects.filter(agency=agency, end_date__isnull=False, outcome_instrument=instrument)
        .annotate(
            n=Count(
                "administrations",
                filter=Q(administrations__instrument=instrument, administrations__rater="client"),
            )
        )
        .filter(n__gte=2)
        .count()
    )


@transaction.atomic
def request_refit(actor, instrument: str = "ors", *, ip: str | None = None) -> RefitJob:
    """Queue a refit of the agency's ETR (runs at once with the immediate task backend)."""
    membership = require_admin(actor)
    job = RefitJob.objects.create(
        agency_id=membership.agency_id, instrument=instrument, requested_by=actor
    )
    audit(membership.agency, actor, "etr.refit_requested", job, ip, instrument=instrument)
    transaction.on_commit(lambda: refit_etr.enqueue(job.pk))
    return job


@task
def refit_etr(job_id: int) -> str:
    """The refit as a background task (runs inside ``enqueue`` with the immediate backend)."""
    job = RefitJob.objects.select_related("requested_by").get(pk=job_id)
    return run_refit(job).status


def _progress(job: RefitJob, percent: int, step: str) -> None:
    job.progress, job.step = percent, step
    RefitJob.objects.filter(pk=job.pk).update(progress=percent, step=step, status=job.status)


def split_holdout(frame: pd.DataFrame, every: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A deterministic 80/20 split by episode (database id modulo 5) for calibration."""
    holdout = frame["episode_id"].astype("int64") % every == 0
    return frame.loc[~holdout], frame.loc[holdout]


def run_refit(job: RefitJob) -> RefitJob:
    """Fit on the agency's closed episodes, calibrate on held-out ones, store (not activate)."""
    job.status = JobStatus.RUNNING
    _progress(job, 5, _("Reading closed episodes"))
    try:
        episodes = visible_episodes(job.requested_by).filter(
            agency_id=job.agency_id, end_date__isnull=False
        )
        frame = administrations_frame(episodes, (job.instrument,))
        _progress(job, 30, _("Fitting on all closed episodes"))
        model = etr.fit(
            frame,
            job.instrument,
            min_episodes=MIN_REFIT_EPISODES,
            name=f"{job.instrument}-agency-{timezone.localdate().isoformat()}",
        )
        _progress(job, 60, _("Checking calibration on held-out episodes"))
        # The check model never sees the held-out fifth it is judged on.
        training, holdout = split_holdout(frame)
        trial = etr.fit(training, job.instrument, min_episodes=1)
        calibration = etr.calibrate(holdout, trial)
        with transaction.atomic():
            fitted = FittedModel.objects.create(
                agency_id=job.agency_id,
                instrument=job.instrument,
                parameters=model.to_dict(),
                calibration=calibration,
                n_episodes=model.n_episodes,
                fitted_on=datetime.date.fromisoformat(model.fitted_on),
                created_by=job.requested_by,
            )
            job.result = fitted
            job.status = JobStatus.DONE
            job.progress, job.step = 100, _("Done")
            job.finished_at = timezone.now()
            job.save()
    except (etr.EtrError, ValueError) as error:  # EtrError and TableError say what is missing
        job.status = JobStatus.FAILED
        job.message = str(error)
        job.finished_at = timezone.now()
        job.save()
    return job


@transaction.atomic
def activate_model(actor, fitted: FittedModel, *, ip: str | None = None) -> FittedModel:
    membership = require_admin(actor)
    if fitted.agency_id != membership.agency_id:
        raise PermissionDenied
    FittedModel.objects.filter(
        agency_id=fitted.agency_id, instrument=fitted.instrument, active=True
    ).update(active=False)
    fitted.active = True
    fitted.activated_at = timezone.now()
    fitted.save(update_fields=["active", "activated_at"])
    audit(
        membership.agency,
        actor,
        "etr.model_activated",
        fitted,
        ip,
        instrument=fitted.instrument,
        n_episodes=fitted.n_episodes,
    )
    _refresh_zones_after_commit(fitted.agency_id, fitted.instrument)
    return fitted


def _refresh_zones_after_commit(agency_id: int, instrument: str) -> None:
    """Zones and alerts of open episodes follow the model now in use (in the background)."""
    transaction.on_commit(lambda: refresh_open_episodes.enqueue(agency_id, instrument))


@transaction.atomic
def deactivate_models(actor, instrument: str, *, ip: str | None = None) -> None:
    """Go back to the shipped provisional model."""
    membership = require_admin(actor)
    for fitted in FittedModel.objects.filter(
        agency_id=membership.agency_id, instrument=instrument, active=True
    ):
        fitted.active = False
        fitted.save(update_fields=["active"])
        audit(membership.agency, actor, "etr.model_deactivated", fitted, ip)
    _refresh_zones_after_commit(membership.agency_id, instrument)


def team_choices(user) -> list[tuple[int, str]]:
    membership = require_reader(user)
    teams = Team.objects.filter(agency_id=membership.agency_id)
    if membership.role == Role.SUPERVISOR:
        teams = teams.filter(pk__in=TeamMembership.objects.filter(user=user).values("team"))
    return list(teams.values_list("pk", "name"))


def therapist_choices(user) -> list[tuple[int, str]]:
    """The agency's therapists with at least one episode the user sees.

    One EXISTS per therapist (index lookups) rather than the distinct therapists of every visible
    episode: a few milliseconds instead of ~70 ms for an agency of 100,000 episodes.
    """
    membership = require_reader(user)
    has_episode = Exists(visible_episodes(user).filter(client__therapist=OuterRef("pk")))
    return list(
        User.objects.filter(membership__agency_id=membership.agency_id)
        .filter(has_episode)
        .order_by("username")
        .values_list("pk", "username")
    )
