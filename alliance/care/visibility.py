"""The one place that decides which clients a user may see.

Every query for clients goes through ``visible_clients``. Rows of another agency, or clients a
therapist may not see, are answered with 404 (never 403: their existence is not disclosed).
"""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404

from alliance.accounts.models import Membership, Role, TeamMembership
from alliance.accounts.permissions import active_membership

from .models import Client, ClientShare, Episode


def _shared_with(user) -> Exists:
    return Exists(ClientShare.objects.filter(client=OuterRef("pk"), user=user))


def _clients_for_therapist(membership: Membership) -> QuerySet[Client]:
    user = membership.user
    return Client.objects.filter(agency=membership.agency_id).filter(
        Q(therapist=user) | _shared_with(user)
    )


def _clients_for_supervisor(membership: Membership) -> QuerySet[Client]:
    user = membership.user
    own_teams = TeamMembership.objects.filter(agency=membership.agency_id, user=user).values("team")
    therapist_in_my_teams = Exists(
        TeamMembership.objects.filter(
            agency=membership.agency_id, user=OuterRef("therapist"), team__in=own_teams
        )
    )
    return Client.objects.filter(agency=membership.agency_id).filter(
        Q(team__in=own_teams) | therapist_in_my_teams | Q(therapist=user) | _shared_with(user)
    )


def _clients_for_admin(membership: Membership) -> QuerySet[Client]:
    return Client.objects.filter(agency=membership.agency_id)


_BY_ROLE: dict[str, Callable[[Membership], QuerySet[Client]]] = {
    Role.THERAPIST: _clients_for_therapist,
    Role.SUPERVISOR: _clients_for_supervisor,
    Role.ADMIN: _clients_for_admin,
}


def visible_clients(user) -> QuerySet[Client]:
    """Clients the user may see; empty for anonymous users and users without an agency."""
    membership = active_membership(user)
    if membership is None:
        return Client.objects.none()
    return _BY_ROLE[membership.role](membership)


def visible_episodes(user) -> QuerySet[Episode]:
    membership = active_membership(user)
    if membership is None:
        return Episode.objects.none()
    return Episode.objects.filter(
        agency=membership.agency_id, client__in=visible_clients(user).values("pk")
    )


def get_visible_client_or_404(user, public_id: str) -> Client:
    try:
        return visible_clients(user).get(public_id=public_id)
    except Client.DoesNotExist:
        raise Http404("No such client") from None
