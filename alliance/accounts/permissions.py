"""Who may do what: the one definition of the roles, for views, services and the API.

A user's role comes from their agency Membership. An inactive user has no role at all (their
membership still says which agency they belonged to, for the audit trail, but grants nothing),
so every check below starts from ``active_membership``.

- predicates: ``role_of``, ``has_role``, ``is_admin``, ``is_supervisor_or_admin``;
- services: ``require_role(user, *roles)`` returns the membership or raises PermissionDenied;
- views: ``@role_required(*roles)`` (anonymous -> the login page, wrong role -> 403);
- django-ninja: ``api_require_role(request, *roles)`` for the token's user (the API turns the
  PermissionDenied into its own JSON error).

Which clients a role may see is not decided here but in ``alliance.care.visibility``: a client out
of reach is a 404, never a 403, so a role check never tells whether a record exists.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied

from .models import Membership, Role
from .tenancy import membership_of

# Supervisors and agency admins read aggregates (dashboard, reports, exports); therapists have
# their caseload instead.
SUPERVISOR_OR_ADMIN = (Role.SUPERVISOR, Role.ADMIN)
# The Agency field that says whether a role must sign in with two-factor (the agency's policy).
TWO_FACTOR_POLICY_FIELDS: dict[str, str] = {
    Role.ADMIN: "two_factor_admin",
    Role.SUPERVISOR: "two_factor_supervisor",
    Role.THERAPIST: "two_factor_therapist",
}


def active_membership(user) -> Membership | None:
    """The membership that grants a role: None for anonymous, agency-less or inactive users."""
    membership = membership_of(user)
    if membership is None or not user.is_active:
        return None
    return membership


def two_factor_required(membership: Membership | None) -> bool:
    """True when this membership's role must sign in with two-factor under its agency's policy
    (False for no membership; the caller decides whether an inactive user counts)."""
    if membership is None:
        return False
    field = TWO_FACTOR_POLICY_FIELDS.get(membership.role)
    return bool(field and getattr(membership.agency, field))


def role_of(user) -> str:
    """The user's role ("admin", "supervisor", "therapist"), or "" when they have none."""
    membership = active_membership(user)
    return membership.role if membership is not None else ""


def has_role(user, *roles: str) -> bool:
    """True when the user holds one of ``roles`` (any role when none are named)."""
    role = role_of(user)
    return bool(role) and (not roles or role in roles)


def is_admin(user) -> bool:
    return has_role(user, Role.ADMIN)


def is_supervisor_or_admin(user) -> bool:
    return has_role(user, *SUPERVISOR_OR_ADMIN)


def require_role(user, *roles: str) -> Membership:
    """The user's membership when they hold one of ``roles``; PermissionDenied otherwise."""
    membership = active_membership(user)
    if membership is None or (roles and membership.role not in roles):
        raise PermissionDenied
    return membership


def role_required(*roles: str) -> Callable:
    """View decorator: anonymous visitors go to the login page, other roles get a 403."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            require_role(request.user, *roles)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def api_require_role(request, *roles: str) -> Membership:
    """The django-ninja form of ``require_role``: the user the bearer token acts for."""
    token = getattr(request, "auth", None)
    return require_role(getattr(token, "user", None), *roles)
