"""The caseload query: one SQL query for a user's clients (their open episodes by default, or the
latest episode of clients whose episodes are all closed), sorted and filtered."""

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

# Which clients: those in treatment (an open episode), those whose episodes are all closed, or both.
STATES = ("open", "closed", "all")
DEFAULT_STATE = "open"


@dataclass(frozen=True)
class CaseloadQuery:
    zone: str = ""
    search: str = ""
    state: str = DEFAULT_STATE
    sort: str = DEFAULT_SORT
    descending: bool = False

    @classmethod
    def from_params(cls, params) -> CaseloadQuery:
        sort = params.get("sort", DEFAULT_SORT)
        descending = sort.startswith("-")
        sort = sort.lstrip("-")
        search = params.get("q", "").strip()[:100]
        state = params.get("state", "")
        state = state if state in STATES else DEFAULT_STATE
        if search and state == "open":
            state = "all"  # a search finds a client by code whatever their state (or "closed")
        return cls(
            zone=params.get("zone", "") if params.get("zone", "") in Zone.values else "",
            search=search,
            state=state,
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
        .filter(_state_filter(query.state))
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


def _state_filter(state: str) -> Q:
    """Open episodes, closed clients' current (last ended) episode, or both: a condition on the
    one caseload query (a correlated NOT EXISTS), so the filter adds no query per client."""
    open_episode = Q(end_date__isnull=True)
    if state == "open":
        return open_episode
    # An episode the client's current one would come before (EpisodeQuerySet.current_first).
    before_it = Episode.objects.filter(client_id=OuterRef("client_id")).filter(
        Q(end_date__isnull=True)
        | Q(end_date__gt=OuterRef("end_date"))
        | Q(end_date=OuterRef("end_date"), start_date__gt=OuterRef("start_date"))
        | Q(end_date=OuterRef("end_date"), start_date=OuterRef("start_date"), pk__gt=OuterRef("pk"))
    )
    closed_current = Q(Q(end_date__isnull=False), ~Exists(before_it))
    return closed_current if state == "closed" else open_episode | closed_current


def days_since(date: datetime.date | None, today: datetime.date) -> int | None:
    return None if date is None else (today - date).days
