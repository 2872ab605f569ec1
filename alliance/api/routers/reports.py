"""``/reports/effectiveness`` and ``/reports/alliance``: the reports app's numbers, as JSON."""

from __future__ import annotations

from typing import Literal

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _
from ninja import Router

from .. import lookups, schemas
from ..auth import ApiError, actor
from ..errors import ERRORS
from ..serializers import report_out

router = Router(tags=["reports"])

ReportGrouping = Literal["quarter", "team_id", "therapist_id", "age_band"]


@router.get("/reports/effectiveness", response={200: schemas.ReportOut, **ERRORS})
def effectiveness_report(
    request, instrument: str = "ors", by: ReportGrouping = "quarter", closed_only: bool = False
):
    """Effectiveness (``alliance.science.effectiveness``) over the episodes the user may see.

    Built by the reports app (supervisors and agency admins); ``result`` is null with an
    ``error`` when the data are too few for the indices.
    """
    from alliance.reports.data import ReportFilter
    from alliance.reports.services import effectiveness_report as build

    if lookups.instrument(instrument).kind not in ("outcome", "symptom"):
        raise ApiError(422, "not_an_outcome", _("choose an outcome instrument"))
    try:
        report = build(
            actor(request), ReportFilter(instrument=instrument, closed_only=closed_only), by=by
        )
    except PermissionDenied:
        raise ApiError(
            403, "forbidden", _("reports are for supervisors and agency admins")
        ) from None
    return report_out(instrument, report)


@router.get("/reports/alliance", response={200: schemas.AllianceOutcomeOut, **ERRORS})
def alliance_outcome_report(request, instrument: Literal["ors", "cors", "ycors"] = "ors"):
    """The alliance-outcome decomposition on the closed episodes the user may see.

    Between therapists (the therapist's mean alliance) and within (the client's deviation from
    it), final score adjusted for intake, random therapist intercept (docs/therapist-development.md).
    Supervisors and agency admins; ``result`` is null with an ``error`` when the data are too few.
    """
    from alliance.reports.alliance_outcome import alliance_outcome_report as build
    from alliance.reports.data import ReportFilter
    from alliance.science.effectiveness import ALLIANCE_FOR_OUTCOME

    try:
        report = build(actor(request), ReportFilter(instrument=instrument))
    except PermissionDenied:
        raise ApiError(
            403, "forbidden", _("reports are for supervisors and agency admins")
        ) from None
    return {
        "instrument": instrument,
        "alliance_instrument": ALLIANCE_FOR_OUTCOME.get(instrument),
        "result": report.get("result"),
        "error": report.get("error"),
    }
