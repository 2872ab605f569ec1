"""Who belongs where: small helpers shared by the views, the admin and the services.

Belonging is not a role: what a member may do is decided in ``permissions``.
"""

from __future__ import annotations

from django.http import HttpRequest

from .models import Agency, Membership, User


class AuthenticatedHttpRequest(HttpRequest):
    """For annotations only: the request of a view behind ``login_required`` (or a role check),
    whose user is signed in, not ``AnonymousUser``."""

    user: User


def membership_of(user) -> Membership | None:
    """The user's agency membership, or None (anonymous users and platform superusers)."""
    if not getattr(user, "is_authenticated", False):
        return None
    return user.agency_membership


def agency_of(user) -> Agency | None:
    membership = membership_of(user)
    return membership.agency if membership else None
