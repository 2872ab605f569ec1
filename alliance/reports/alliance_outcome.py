"""The agency's alliance-outcome decomposition (science core) over the episodes a reader sees."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from alliance.science.alliance_episodes import AllianceDataError
from alliance.science.alliance_outcome import alliance_outcome
from alliance.science.effectiveness import ALLIANCE_FOR_OUTCOME

from .data import ReportFilter, administrations_frame, scoped_episodes
from .services import require_reader


def alliance_outcome_report(user, report_filter: ReportFilter) -> dict[str, Any]:
    """``{"result": ...}`` with the decomposition on closed episodes, or ``{"error": ...}``."""
    require_reader(user)
    alliance_scale = ALLIANCE_FOR_OUTCOME.get(report_filter.instrument)
    if alliance_scale is None:
        return {
            "error": _("%(scale)s has no paired alliance scale.")
            % {"scale": report_filter.instrument.upper()}
        }
    frame = administrations_frame(
        scoped_episodes(user, report_filter), (report_filter.instrument, alliance_scale)
    )
    if frame.empty:
        return {"error": _("No scores match these filters yet.")}
    try:
        result = alliance_outcome(
            frame, instrument=report_filter.instrument, alliance_instrument=alliance_scale
        )
    except AllianceDataError as error:
        return {"error": str(error)}
    return {"result": result["overall"]}
