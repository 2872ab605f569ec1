"""Whose staff record a user may open on the people and team pages.

An agency admin: everyone of the agency (deactivated people too). A supervisor: the people of the
teams they belong to, and themselves, read-only; the same reach as their clients'
(care.visibility) and their practice pages (practice.visibility): a supervisor supervises the
teams they are a member of. Anyone else, or anyone of another agency: 404.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404

from .models import Role, Team, TeamMembership, User
from .permissions import active_membership


def _own_teams(membership) -> QuerySet:
    return TeamMembership.objects.filter(
        agency=membership.agency_id, user=membership.user_id
    ).values("team")


def visible_people(user) -> QuerySet[User]:
    membership = active_membership(user)
    if membership is None or membership.role not in (Role.ADMIN, Role.SUPERVISOR):
        return User.objects.none()
    people = User.objects.filter(membership__agency=membership.agency_id).select_related(
        "membership"
    )
    if membership.role == Role.ADMIN:
        return people
    in_my_teams = Exists(
        TeamMembership.objects.filter(
            agency=membership.agency_id, user=OuterRef("pk"), team__in=_own_teams(membership)
        )
    )
    return people.filter(Q(pk=user.pk) | in_my_teams)


def visible_teams(user) -> QuerySet[Team]:
    membership = active_membership(user)
    if membership is None or membership.role not in (Role.ADMIN, Role.SUPERVISOR):
        return Team.objects.none()
    teams = Team.objects.filter(agency=membership.agency_id)
    if membership.role == Role.ADMIN:
        return teams
    return teams.filter(pk__in=_own_teams(membership))


def get_visible_person_or_404(user, public_id: str) -> User:
    try:
        return visible_people(user).get(public_id=public_id)
    except User.DoesNotExist:
        raise Http404("No such person") from None


def get_visible_team_or_404(user, public_id: str) -> Team:
    try:
        return visible_teams(user).get(public_id=public_id)
    except Team.DoesNotExist:
        raise Http404("No such team") from None
