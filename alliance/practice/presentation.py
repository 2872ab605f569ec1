"""Rows and pictures of a practice page (no statistics here: the science core computed them)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from alliance.care import svg
from alliance.reports.charts import Estimate, forest_svg, trend_svg

from .services import Practice

EFFECTIVENESS = (
    ("es", gettext_lazy("Pre-post effect size"), "mean"),
    ("saes", gettext_lazy("Severity-adjusted effect size"), "mean"),
    ("reliable_improvement", gettext_lazy("Reliable improvement"), "share"),
    ("reached_target", gettext_lazy("Reached the ETR target"), "share"),
    ("dropout", gettext_lazy("Drop-out (closed episodes)"), "share"),
)
PROFILE = (
    ("below_cutoff", gettext_lazy("Sessions rated below the alliance cutoff")),
    ("first_at_ceiling", gettext_lazy("First sessions rated at the ceiling (39 or more)")),
    ("ruptures_repaired", gettext_lazy("Ruptures repaired within two sessions")),
)
# Short names for the chart's row labels (the table beside it has the full ones).
SHORT = {
    "below_cutoff": gettext_lazy("Below cutoff"),
    "first_at_ceiling": gettext_lazy("First at ceiling"),
    "ruptures_repaired": gettext_lazy("Repaired"),
}
HARD = (
    ("dropout", gettext_lazy("Drop-out"), "share"),
    ("mean_change", gettext_lazy("Mean change (points)"), "mean"),
    ("reliable_improvement", gettext_lazy("Reliable improvement"), "share"),
)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{svg.figure(100 * value, 0)}%"


def _num(value: float | None, digits: int = 2) -> str:
    """A figure in the active language ("0,45" in Spanish); "–" for none."""
    return "–" if value is None else svg.figure(value, digits)


def _effectiveness_cell(item: dict[str, Any] | None, kind: str) -> dict[str, str]:
    item = item or {}
    if kind == "mean":
        return {
            "value": _num(item.get("value")),
            "interval": svg.interval(_num(item.get("low")), _num(item.get("high"))),
            "n": str(item.get("n", "")),
        }
    return {
        "value": _pct(item.get("proportion")),
        "interval": svg.interval(_pct(item.get("low")), _pct(item.get("high"))),
        "n": f"{item.get('count', '')} / {item.get('n', '')}",
    }


def _share_cell(item: dict[str, Any] | None) -> dict[str, str]:
    item = item or {}
    return {
        "value": _pct(item.get("share")),
        "interval": svg.interval(_pct(item.get("low")), _pct(item.get("high"))),
        "n": f"{item.get('k', '')} / {item.get('n', '')}",
    }


def _mean_cell(item: dict[str, Any] | None) -> dict[str, str]:
    item = item or {}
    return {
        "value": _num(item.get("mean"), 1),
        "interval": svg.interval(_num(item.get("low"), 1), _num(item.get("high"), 1)),
        "n": str(item.get("n", "")),
    }


def _differs(mine: dict[str, Any] | None, agency_value: float | None) -> str:
    """ "above" or "below" when the therapist's 95% interval lies wholly on one side of the
    agency's value, else "". Neutral words: fewer low alliance ratings can mean a strong alliance
    or feedback not yet invited, so the page does not colour a difference as good or bad."""
    if not mine or agency_value is None or mine.get("low") is None or mine.get("high") is None:
        return ""
    if mine["low"] > agency_value:
        return "above"
    return "below" if mine["high"] < agency_value else ""


def effectiveness_rows(page: Practice) -> list[dict[str, Any]]:
    rows = []
    for key, label, kind in EFFECTIVENESS:
        mine = (page.mine or {}).get(key)
        agency = (page.agency or {}).get(key)
        rows.append(
            {
                "key": key,
                "label": label,
                "mine": _effectiveness_cell(mine, kind),
                "agency": _effectiveness_cell(agency, kind),
            }
        )
    return rows


def profile_rows(page: Practice) -> list[dict[str, Any]]:
    rows = []
    for key, label in PROFILE:
        mine = (page.profile or {}).get(key)
        agency = (page.agency_profile or {}).get(key)
        rows.append(
            {
                "key": key,
                "label": label,
                "mine": _share_cell(mine),
                "agency": _share_cell(agency),
                "differs": _differs(mine, (agency or {}).get("share")),
            }
        )
    trend = (page.profile or {}).get("trend") or {}
    agency_trend = (page.agency_profile or {}).get("trend") or {}
    rows.append(
        {
            "key": "rising",
            "label": _("Episodes whose alliance rises (3+ ratings)"),
            "mine": _share_cell(trend.get("rising")),
            "agency": _share_cell(agency_trend.get("rising")),
            "differs": _differs(
                trend.get("rising"), (agency_trend.get("rising") or {}).get("share")
            ),
        }
    )
    return rows


def repair_rows(page: Practice) -> list[dict[str, Any]]:
    outcome = (page.profile or {}).get("outcome_by_repair") or {}
    return [
        {
            "label": label,
            "change": _mean_cell((outcome.get(state) or {}).get("mean_change")),
            "improved": _share_cell((outcome.get(state) or {}).get("reliable_improvement")),
        }
        for state, label in (
            ("repaired", _("Episodes whose ruptures were repaired")),
            ("unrepaired", _("Episodes with an unrepaired rupture")),
        )
    ]


def hard_rows(page: Practice) -> list[dict[str, Any]]:
    hard = (page.hard or {}).get("hard") or {}
    other = (page.hard or {}).get("other") or {}
    agency = (page.agency_hard or {}).get("hard") or {}
    rows = []
    for key, label, kind in HARD:
        cell = _mean_cell if kind == "mean" else _share_cell
        shrunken = (hard.get(key) or {}).get("shrunken") or {}
        rows.append(
            {
                "label": label,
                "hard": cell(hard.get(key)),
                "other": cell(other.get(key)),
                "agency": cell(agency.get(key)),
                "shrunken": {
                    "value": (_num(shrunken.get("estimate"), 1) if kind == "mean" else _pct(shrunken.get("estimate"))),
                    "interval": (
                        svg.interval(_num(shrunken.get('low'), 1), _num(shrunken.get('high'), 1))
                        if kind == "mean"
                        else svg.interval(_pct(shrunken.get('low')), _pct(shrunken.get('high')))
                    ),
                },
                "differs": _shrunken_side(shrunken, agency.get(key), kind),
            }
        )  # fmt: skip
    return rows


def _shrunken_side(shrunken: dict[str, Any], agency: dict[str, Any] | None, kind: str) -> str:
    if not shrunken.get("differs") or not agency:
        return ""
    centre = agency.get("mean" if kind == "mean" else "share")
    if centre is None or shrunken.get("estimate") is None:
        return ""
    return "above" if shrunken["estimate"] > centre else "below"


def trend_chart(page: Practice) -> str:
    points = [
        Estimate(
            label,
            (summary.get("es") or {}).get("value"),
            (summary.get("es") or {}).get("low"),
            (summary.get("es") or {}).get("high"),
            summary.get("n_used"),
        )
        for label, summary in page.trend
    ]
    return trend_svg(
        points,
        title=_("Your effect size by quarter of the first session, with 95% band"),
        axis_label=_("Effect size"),
        testid="practice-trend",
    )


def profile_chart(page: Practice) -> str:
    """Your share and the agency's for each alliance measure, with 95% intervals (in %)."""
    estimates = []
    for row_key, _label in PROFILE:
        for who, source in ((_("you"), page.profile), (_("agency"), page.agency_profile)):
            item = (source or {}).get(row_key) or {}
            if item.get("share") is None:
                continue
            estimates.append(
                Estimate(
                    f"{SHORT[row_key]} ({who})",
                    100 * item["share"],
                    100 * item["low"],
                    100 * item["high"],
                    item.get("n"),
                    css="agency" if source is page.agency_profile else "",
                )
            )
    return forest_svg(
        estimates,
        # xgettext:no-python-format ("95% i" is not a placeholder)
        title=_("Your alliance profile against the agency's, with 95% intervals"),
        axis_label=_("Percent"),
        testid="practice-profile",
    )
