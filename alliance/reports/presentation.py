"""Turns the science core's result dicts into rows and charts for the templates (no statistics)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from alliance.care import svg

from .charts import Estimate, calibration_svg, forest_svg, histogram_svg, trend_svg

PROPORTIONS = (
    ("reliable_improvement", gettext_lazy("Reliable improvement")),
    ("reliable_deterioration", gettext_lazy("Reliable deterioration")),
    (
        "clinically_significant",
        gettext_lazy("Clinically significant change (clinical-range intakes)"),
    ),
    ("reached_target", gettext_lazy("Reached the ETR target at the last score")),
    ("last_green", gettext_lazy("Last score in the green zone")),
    ("dropout", gettext_lazy("Drop-out (unilateral ending before target; closed episodes)")),
)
MEANS = (
    ("es", gettext_lazy("Pre-post effect size (mean change / SD of intake)")),
    ("saes", gettext_lazy("Severity-adjusted effect size")),
    ("sessions", gettext_lazy("Mean sessions (closed episodes)")),
    ("days", gettext_lazy("Mean days, first to last session (closed episodes)")),
)


def _fmt(value: Any, digits: int = 2) -> str:
    """A figure in the active language ("0,45" in Spanish); "–" for none."""
    if value is None:
        return "–"
    return svg.figure(value, digits)


def _pct(value: Any) -> str:
    return "–" if value is None else f"{svg.figure(100 * value, 1)}%"


def summary_rows(summary: dict[str, Any]) -> list[dict[str, str]]:
    """One row per index: name, value, 95% interval, n (as text)."""
    rows = [
        {"name": _("Episodes with a score"), "value": str(summary["n_episodes"]), "interval": "", "n": ""},
        {"name": _("Clients"), "value": str(summary["n_clients"]), "interval": "", "n": ""},
        {"name": _("Episodes with 2+ scores (used for change)"), "value": str(summary["n_used"]), "interval": "", "n": ""},
        {"name": _("Mean intake score"), "value": _fmt(summary["intake_mean"], 1), "interval": "", "n": str(summary["n_used"])},
        {"name": _("Mean change"), "value": _fmt(summary["change_mean"], 1), "interval": "", "n": str(summary["n_used"])},
    ]  # fmt: skip
    for key, label in MEANS:
        item = summary.get(key) or {}
        digits = 2 if key in ("es", "saes") else 1
        rows.append(
            {
                "name": str(label),
                "value": _fmt(item.get("value"), digits),
                "interval": svg.interval(
                    _fmt(item.get("low"), digits), _fmt(item.get("high"), digits)
                ),
                "n": str(item.get("n", "")),
            }
        )
    rows.append(
        {
            "name": _("Relative effect size (SAES minus reference ES)"),
            "value": _fmt(summary.get("relative_es")),
            "interval": "",
            "n": "",
        }
    )
    for key, label in PROPORTIONS:
        item = summary.get(key) or {}
        rows.append(
            {
                "name": str(label),
                "value": _pct(item.get("proportion")),
                "interval": svg.interval(_pct(item.get("low")), _pct(item.get("high"))),
                "n": f"{item.get('count', '')} / {item.get('n', '')}",
            }
        )
    alliance = summary.get("alliance") or {}
    if alliance.get("n_sessions"):
        below = alliance.get("below_cutoff") or {}
        r = alliance.get("early_outcome_r") or {}
        rows += [
            {"name": _("Mean alliance score (all sessions)"), "value": _fmt(alliance.get("mean"), 1), "interval": "", "n": str(alliance["n_sessions"])},
            {"name": _("Mean first alliance score"), "value": _fmt(alliance.get("intake_mean"), 1), "interval": "", "n": ""},
            {"name": _("Sessions with alliance below cutoff"), "value": _pct(below.get("proportion")), "interval": svg.interval(_pct(below.get('low')), _pct(below.get('high'))), "n": f"{below.get('count', '')} / {below.get('n', '')}"},
            {"name": _("Early alliance – change correlation (r)"), "value": _fmt(r.get("value")), "interval": svg.interval(_fmt(r.get('low')), _fmt(r.get('high'))), "n": str(r.get("n", ""))},
        ]  # fmt: skip
    return rows


def group_rows(result: dict[str, Any], labels: dict[str, str]) -> list[dict[str, Any]]:
    rows = []
    for key, summary in result["groups"].items():
        es = summary.get("es") or {}
        ri = summary.get("reliable_improvement") or {}
        dropout = summary.get("dropout") or {}
        rows.append(
            {
                "label": labels.get(key, key),
                "n_used": summary["n_used"],
                "es": _fmt(es.get("value")),
                "es_interval": svg.interval(_fmt(es.get("low")), _fmt(es.get("high"))),
                "improved": _pct(ri.get("proportion")),
                "improved_interval": svg.interval(_pct(ri.get("low")), _pct(ri.get("high"))),
                "dropout": _pct(dropout.get("proportion")),
                "small_sample": bool(summary.get("small_sample")),
            }
        )
    return rows


def es_estimates(result: dict[str, Any], labels: dict[str, str]) -> list[Estimate]:
    return [
        Estimate(
            labels.get(key, key),
            (s.get("es") or {}).get("value"),
            (s.get("es") or {}).get("low"),
            (s.get("es") or {}).get("high"),
            s["n_used"],
        )
        for key, s in result["groups"].items()
        if key != "(missing)"
    ]


def charts_for(report) -> dict[str, str]:
    """Every picture of the effectiveness report, as inline SVG strings."""
    charts: dict[str, str] = {}
    result = report.result
    if result is None:
        return charts
    overall_es = (result["overall"].get("es") or {}).get("value")
    charts["groups"] = forest_svg(
        es_estimates(result, report.labels),
        # xgettext:no-python-format ("95% i" is not a placeholder)
        title=_("Pre-post effect size by group, with 95% intervals"),
        axis_label=_("Effect size (mean change / SD of intake)"),
        reference=overall_es,
        reference_label=_("overall"),
        testid="es-by-group",
    )
    if report.by == "quarter":
        charts["trend"] = trend_svg(
            es_estimates(result, {}),
            title=_("Effect size by quarter of the first session, with 95% band"),
            axis_label=_("Effect size"),
            testid="es-trend",
        )
    rc = result.get("reliable_change") or 0
    charts["change"] = histogram_svg(
        report.changes,
        title=_("Distribution of change (final minus intake) over episodes with 2+ scores"),
        axis_label=_("Change in points"),
        markers=[(-rc, _("reliable deterioration")), (rc, _("reliable improvement"))],
        testid="change-distribution",
    )
    if report.therapists:
        charts["therapists"] = therapist_chart(report.therapists)
    return charts


def therapist_chart(effects: dict[str, Any]) -> str:
    """Shrunken therapist estimates with intervals, in name order (never ranked)."""
    rows = sorted(effects["therapists"], key=lambda r: r.get("name", ""))
    return forest_svg(
        [
            Estimate(
                r.get("name", str(r["therapist_id"])),
                r["effect"],
                r["low"],
                r["high"],
                r["n_episodes"],
                css=f"ch-{r['label']}",
            )
            for r in rows
        ],
        # xgettext:no-python-format ("95% i" is not a placeholder)
        title=_("Therapist effects: shrunken estimates with 95% intervals, in name order"),
        axis_label=_("Points above (+) or below (-) the agency average final score, given intake"),
        reference=0.0,
        reference_label=_("agency average"),
        testid="therapist-effects",
    )


def calibration_chart(calibration: dict[str, Any]) -> str:
    deciles = (calibration.get("success") or {}).get("deciles") or []
    return calibration_svg(
        deciles,
        title=_("Calibration: predicted chance of reliable improvement against observed rate"),
    )
