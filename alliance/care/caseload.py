"""The caseload query: one SQL query for all of a user's open episodes, sorted and filtered."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Case, Exists, F, IntegerField, OuterRef, Q, QuerySet, Value, When

from alliance.science.signals import SAFETY_CODE

from .models import Alert, Episode, Zone
from .visibility import visible_episodes

# Red first: the clients who need attention now.
ZONE_ORDER = {Zone.RED: 0, Zone.ORANGE: 1, Zone.GREY: 2, Zone.GREEN: 3, Zone.NONE: 4}

SORTS = {
    "client": F("client__display_code"),
    "last_ors": F("last_outcome_total"),
    "zone": F("zone_rank"),
    "alliance": F("alliance_rank"),
    "sessions": F("session_count"),
    # Ascending date = most days since the last session first.
    "days": F("last_session_date"),
}
DEFAULT_SORT = "zone"


@dataclass(frozen=True)
class CaseloadQuery:
    zone: str = ""
    search: str = ""
    sort: str = DEFAULT_SORT
    descending: bool = False

    @classmethod
    def from_params(cls, params) -> CaseloadQuery:
        sort = params.get("sort", DEFAULT_SORT)
        descending = sort.startswith("-")
        sort = sort.lstrip("-")
        return cls(
            zone=params.get("zone", "") if params.get("zone", "") in Zone.values else "",
            search=params.get("q", "").strip()[:100],
            sort=sort if sort in SORTS else DEFAULT_SORT,
            descending=descending and sort in SORTS,
        )


def _rank(field: str) -> Case:
    return Case(
        *[When(**{field: zone}, then=Value(rank)) for zone, rank in ZONE_ORDER.items()],
        default=Value(len(ZONE_ORDER)),
        output_field=IntegerField(),
    )


def caseload_episodes(user, query: CaseloadQuery) -> QuerySet[Episode]:
    episodes = (
        visible_episodes(user)
        .filter(end_date__isnull=True)
        .select_related("client")
        .annotate(
            zone_rank=_rank("zone"),
            alliance_rank=_rank("alliance_flag"),
            # An open safety alert (PHQ-9 item 9), still in the same one query.
            safety_open=Exists(
                Alert.objects.filter(
                    episode=OuterRef("pk"), code=SAFETY_CODE, acknowledged_at__isnull=True
                )
            ),
        )
    )
    if query.zone:
        episodes = episodes.filter(zone=query.zone)
    if query.search:
        episodes = episodes.filter(
            Q(client__display_code__icontains=query.search)
            | Q(client__name__icontains=query.search)
        )
    key = SORTS[query.sort]
    primary = key.desc(nulls_last=True) if query.descending else key.asc(nulls_last=True)
    tie_breaks = [F("last_session_date").asc(nulls_last=True), F("client__display_code").asc()]
    if query.sort == DEFAULT_SORT and not query.descending:
        # The default order puts an open safety alert above every colour.
        return episodes.order_by(F("safety_open").desc(), primary, *tie_breaks)
    return episodes.order_by(primary, *tie_breaks)


def days_since(date: datetime.date | None, today: datetime.date) -> int | None:
    return None if date is None else (today - date).days
