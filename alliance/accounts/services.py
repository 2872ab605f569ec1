"""Business actions on accounts; each runs in one transaction."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from .models import Agency, Membership, Role, Team, TeamMembership, User
from .permissions import active_membership
from .tenancy import membership_of


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


# Hand-over: a therapist gives the device to a client and takes it back by typing a short PIN
# or their password (the agency decides which, Agency.handover_reauth).
PIN_LENGTHS = (4, 8)


def set_handover_pin(user: User, pin: str, *, ip: str | None = None) -> None:
    """Store the user's hand-over PIN hashed (an empty pin removes it); audited."""
    from django.contrib.auth.hashers import make_password

    from alliance.audit.services import record

    user.handover_pin = make_password(pin) if pin else ""
    user.save(update_fields=["handover_pin"])
    membership = membership_of(user)
    if membership is not None:
        action = "account.handover_pin_set" if pin else "account.handover_pin_removed"
        record(user, membership.agency_id, action, user, ip)


def handover_method(user: User) -> str:
    """What ends this user's hand-over: "pin" (agency setting and a PIN set) or "password"."""
    from .models import HandoverReauth

    membership = active_membership(user)
    wants_pin = membership is not None and (membership.agency.handover_reauth == HandoverReauth.PIN)
    return HandoverReauth.PIN if wants_pin and user.handover_pin else HandoverReauth.PASSWORD


def check_handover_secret(user: User, secret: str) -> bool:
    """Whether secret is the user's PIN or password, as handover_method says."""
    from django.contrib.auth.hashers import check_password

    if not secret:
        return False
    if handover_method(user) == "pin":
        return check_password(secret, user.handover_pin)
    return user.check_password(secret)


# --- sign-in locks (the agency admin lifts them) ---------------------------------------------


class NotInAgency(Exception):
    """No member of this agency has that id (the view answers 404)."""


def locked_members(agency: Agency, *, now=None) -> list[dict[str, object]]:
    """The agency's people whose sign-in is locked now: by wrong passwords, wrong two-factor
    codes or both. No addresses are shown (the audit trail keeps them)."""
    from .lockout import locked_usernames
    from .security import device_of, two_factor_locked

    members = User.objects.filter(membership__agency=agency).select_related("two_factor")
    by_password = locked_usernames(now=now)
    rows = []
    for user in members.order_by("username"):
        device = device_of(user)
        password = user.username.lower() in by_password
        two_factor = device is not None and two_factor_locked(device, at=now)
        if password or two_factor:
            rows.append({"user": user, "password": password, "two_factor": two_factor})
    return rows


@transaction.atomic
def unlock(actor, agency: Agency, public_id: str, *, ip: str | None = None) -> User:
    """Lift both locks of one member of the agency (audited as ``login.unlocked``)."""
    from alliance.audit.services import record

    from .lockout import reset_password_failures
    from .security import reset_two_factor_failures

    user = User.objects.filter(public_id=public_id, membership__agency=agency).first()
    if user is None:
        raise NotInAgency(public_id)
    passwords = reset_password_failures(user.username)
    codes = reset_two_factor_failures(user)
    record(
        actor,
        agency,
        "login.unlocked",
        user,
        ip,
        {"password_failures_cleared": passwords, "two_factor_cleared": codes},
    )
    return user
