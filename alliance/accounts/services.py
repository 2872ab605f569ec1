"""Business actions on accounts; each runs in one transaction."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from .models import Agency, Membership, Role, Team, TeamMembership, User


@transaction.atomic
def create_member(
    agency: Agency,
    username: str,
    password: str,
    role: str,
    teams: Iterable[Team] = (),
    *,
    password_hash: str | None = None,
    **user_fields: object,
) -> User:
    """Create a user in an agency with one role; agency admins may use the Django admin.

    ``password_hash`` (from ``make_password``) lets a caller creating many users with one
    password pay for the deliberately slow Argon2 hash once.
    """
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r} (expected one of {', '.join(Role.values)})")
    user = User(username=username, is_staff=(role == Role.ADMIN), **user_fields)
    if password_hash is not None:
        user.password = password_hash
    else:
        user.set_password(password)
    user.save()
    Membership.objects.create(agency=agency, user=user, role=role)
    for team in teams:
        if team.agency_id != agency.pk:
            raise ValueError("a team of another agency cannot be assigned")
        TeamMembership.objects.create(agency=agency, team=team, user=user)
    return user
