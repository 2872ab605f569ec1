"""The agency's policies: read them as one mapping, change them (audited), preview retention.

The policies live on ``Agency`` (alliance.accounts.models); the rules that read them stay where
they act: two-factor in ``accounts.permissions.two_factor_required``, names in
``care.services.NAMES_REFUSED``, link lifetime and kiosk in ``feedback.services``, hand-over in
``accounts.services``, retention in ``care.services.retention_due`` and the forms per age band in
``care.services.agency_forms``.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db import transaction

from alliance.accounts.models import Agency
from alliance.care.models import Episode
from alliance.care.services import agency_forms, audit, retention_due, today
from alliance.science.instruments.age_bands import AGE_BAND_NAMES, default_forms

# The plain fields of the Policies page, in the order the page shows them.
POLICY_FIELDS = (
    "two_factor_admin",
    "two_factor_supervisor",
    "two_factor_therapist",
    "allow_client_names",
    "link_hours",
    "kiosk_enabled",
    "handover_reauth",
    "retention_years",
)
# How far ahead the retention preview looks (months after today).
PREVIEW_MONTHS = (0, 1, 3, 6, 12)


def current_policies(agency: Agency) -> dict[str, object]:
    """Every policy as a flat mapping (the forms per band as ``outcome_<band>``,
    ``alliance_<band>``): what the page shows and what a change is compared with."""
    values: dict[str, object] = {name: getattr(agency, name) for name in POLICY_FIELDS}
    for band in AGE_BAND_NAMES:
        values[f"outcome_{band}"], values[f"alliance_{band}"] = agency_forms(agency, band)
    return values


@transaction.atomic
def update_policies(actor, agency: Agency, values: dict, *, ip: str | None = None) -> dict:
    """Store the policies in ``values`` (a complete, validated mapping as ``current_policies``
    gives); answer {name: [before, after]} for what changed and audit it as one event (no
    event when nothing changed, so a repeated submit records nothing twice)."""
    agency = Agency.objects.select_for_update().get(pk=agency.pk)
    before = current_policies(agency)
    changes = {
        name: [before[name], values[name]]
        for name in before
        if name in values and values[name] != before[name]
    }
    if not changes:
        return {}
    for name in POLICY_FIELDS:
        if name in values:
            setattr(agency, name, values[name])
    instruments = {}
    for band in AGE_BAND_NAMES:
        chosen = (
            values.get(f"outcome_{band}", before[f"outcome_{band}"]),
            values.get(f"alliance_{band}", before[f"alliance_{band}"]),
        )
        if chosen != default_forms(band):  # only departures are kept: new defaults carry over
            instruments[band] = {"outcome": chosen[0], "alliance": chosen[1]}
    agency.instruments = instruments
    agency.save()
    audit(agency, actor, "agency.policies_changed", agency, ip, changes=changes)
    return changes


@dataclass(frozen=True)
class RetentionPoint:
    on: datetime.date
    clients: int
    episodes: int


def _months_after(day: datetime.date, months: int) -> datetime.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return datetime.date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


def retention_preview(
    agency: Agency, years: int | None, on: datetime.date | None = None
) -> list[RetentionPoint]:
    """How many clients (and their closed episodes) the retention run would erase today and on
    the next dates, with ``years`` as the period: the same selection as ``apply_retention``
    (``retention_due``), so the preview and the removal cannot disagree. Counts only."""
    if not years:
        return []
    start = on or today()
    points = []
    for months in PREVIEW_MONTHS:
        day = _months_after(start, months)
        due = retention_due(agency, day, years=years)
        points.append(
            RetentionPoint(
                day,
                due.count(),
                Episode.objects.filter(agency=agency, client__in=due.values("pk")).count(),
            )
        )
    return points
