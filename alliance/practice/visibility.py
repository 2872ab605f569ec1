"""Whose practice a user may see: their own; a supervisor their teams' therapists; an admin the
agency's. Anyone else's is a 404 (existence is not disclosed). Objectives are private to the
therapist unless shared, and then only with the supervisors of the therapist's teams.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404

from alliance.accounts.models import Membership, Role, TeamMembership, User
from alliance.accounts.permissions import active_membership

from .models import Objective

PRACTISING_ROLES = (Role.THERAPIST, Role.SUPERVISOR, Role.ADMIN)


def _in_my_teams(membership: Membership) -> Exists:
    own_teams = TeamMembership.objects.filter(
        agency=membership.agency_id, user=membership.user_id
    ).values("team")
    return Exists(
        TeamMembership.objects.filter(
            agency=membership.agency_id, user=OuterRef("pk"), team__in=own_teams
        )
    )


def visible_therapists(user) -> QuerySet[User]:
    """Active practitioners of the user's agency whose practice pages the user may open."""
    membership = active_membership(user)
    if membership is None:
        return User.objects.none()
    people = User.objects.filter(
        is_active=True,
        membership__agency=membership.agency_id,
        membership__role__in=PRACTISING_ROLES,
    )
    if membership.role == Role.ADMIN:
        return people
    if membership.role == Role.SUPERVISOR:
        return people.filter(Q(pk=user.pk) | _in_my_teams(membership))
    return people.filter(pk=user.pk)


def get_visible_therapist_or_404(user, public_id: str) -> User:
    try:
        return visible_therapists(user).get(public_id=public_id)
    except User.DoesNotExist:
        raise Http404("No such person") from None


def visible_objectives(user, therapist: User) -> QuerySet[Objective]:
    """The therapist's objectives the user may read (own: all; supervisor: the shared ones)."""
    membership = active_membership(user)
    if membership is None:
        return Objective.objects.none()
    own = Objective.objects.filter(agency=membership.agency_id, therapist=therapist)
    if therapist.pk == user.pk:
        return own
    if membership.role == Role.SUPERVISOR and (
        visible_therapists(user).filter(pk=therapist.pk).exists()
    ):
        return own.filter(shared_with_supervisor=True)
    return Objective.objects.none()
