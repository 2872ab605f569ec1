"""Business actions on accounts; each runs in one transaction."""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.db import transaction
from django.tasks import task

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
    """Create a user in an agency with one role (the Django admin is for superusers only).

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


# --- people and teams (the agency admin's pages, alliance/agency/people.py) ------------------


class PeopleError(Exception):
    """An action on people or teams that the rules refuse; the message says why (nothing
    changed)."""


INVITATION_DAYS = 7
INVITATION_TOKEN_BYTES = 32


def invitation_days() -> int:
    from django.conf import settings

    return int(getattr(settings, "ALLIANCE_INVITATION_DAYS", INVITATION_DAYS))


def hash_invitation_token(token: str) -> str:
    import hashlib

    return hashlib.sha256(token.encode()).hexdigest()


def _audit(actor, agency, action: str, target, ip: str | None, **detail: object) -> None:
    from alliance.audit.services import record

    record(actor, agency, action, target, ip, detail)


def _lock_agency(agency: Agency) -> Agency:
    """Serialise the agency's people changes (the last-admin rule reads, then writes)."""
    return Agency.objects.select_for_update().get(pk=agency.pk)


def pending_invitations(agency: Agency):
    from django.utils import timezone

    from .models import Invitation

    return Invitation.objects.filter(
        agency=agency, accepted_at__isnull=True, revoked_at__isnull=True
    ).filter(expires_at__gt=timezone.now())


def invite(
    actor,
    agency: Agency,
    *,
    email: str,
    role: str,
    team: Team | None = None,
    url_for,
    language: str = "",
    ip: str | None = None,
):
    """Create a single-use invitation and queue its e-mail; ``url_for(token)`` builds the link.

    Refused (PeopleError) when an invitation to that address is still open or someone active
    in the agency uses it already, so a double submit stores one invitation.
    """
    import secrets

    from django.utils import timezone
    from django.utils.translation import gettext as _

    from .models import Invitation

    email = (email or "").strip()
    if role not in Role.values:
        raise PeopleError(_("Choose a role."))
    if team is not None and team.agency_id != agency.pk:
        raise PeopleError(_("Choose a team of your agency."))
    token = secrets.token_urlsafe(INVITATION_TOKEN_BYTES)
    with transaction.atomic():
        _lock_agency(agency)
        if pending_invitations(agency).filter(email__iexact=email).exists():
            raise PeopleError(
                _("An invitation to this address is still open: send it again from the list.")
            )
        if User.objects.filter(
            membership__agency=agency, is_active=True, email__iexact=email
        ).exists():
            raise PeopleError(_("Someone in your agency already uses this address."))
        invitation = Invitation.objects.create(
            agency=agency,
            email=email,
            role=role,
            team=team,
            token_hash=hash_invitation_token(token),
            message_url=url_for(token),
            invited_by=actor,
            expires_at=timezone.now() + datetime.timedelta(days=invitation_days()),
        )
        _audit(actor, agency, "invitation.created", invitation, ip, role=role)
    send_invitation_message.enqueue(invitation.pk, language)
    return invitation


def resend_invitation(actor, agency: Agency, public_id: str, *, url_for, language="", ip=None):
    """Withdraw an open (or expired) invitation and send a new one with a new link."""
    from django.utils import timezone
    from django.utils.translation import gettext as _

    from .models import Invitation

    with transaction.atomic():
        old = (
            Invitation.objects.select_for_update()
            .filter(agency=agency, public_id=public_id)
            .first()
        )
        if old is None:
            raise NotInAgency(public_id)
        if old.accepted_at is not None:
            raise PeopleError(_("This invitation was accepted already."))
        if old.revoked_at is None:
            old.revoked_at = timezone.now()
            old.message_url = ""
            old.save(update_fields=["revoked_at", "message_url"])
            _audit(actor, agency, "invitation.revoked", old, ip, resent=True)
    return invite(
        actor,
        agency,
        email=old.email,
        role=old.role,
        team=old.team,
        url_for=url_for,
        language=language,
        ip=ip,
    )


@transaction.atomic
def revoke_invitation(actor, agency: Agency, public_id: str, *, ip: str | None = None):
    """Withdraw an invitation (its link stops working); revoking twice changes nothing."""
    from django.utils import timezone

    from .models import Invitation

    invitation = (
        Invitation.objects.select_for_update().filter(agency=agency, public_id=public_id).first()
    )
    if invitation is None:
        raise NotInAgency(public_id)
    if invitation.accepted_at is None and invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.message_url = ""
        invitation.save(update_fields=["revoked_at", "message_url"])
        _audit(actor, agency, "invitation.revoked", invitation, ip)
    return invitation


def invitation_text(agency_name: str, role_label: str, url: str, days: int) -> str:
    from django.utils.translation import gettext as _

    body = _(
        "%(agency)s invites you to use Alliance as %(role)s. Open this link to choose your "
        "username and password; it works once and for %(days)s days:"
    ) % {"agency": agency_name, "role": role_label, "days": days}
    return f"{_('Hello,')}\n{body}\n{url}\n"


@task()
def send_invitation_message(invitation_id: int, language: str = "") -> bool:
    """Send one invitation e-mail, then forget its link (False: nothing left to send)."""
    from django.core.mail import send_mail
    from django.utils import translation
    from django.utils.translation import gettext as _

    from .models import Invitation

    invitation = Invitation.objects.select_related("agency").filter(pk=invitation_id).first()
    if invitation is None or not invitation.message_url:
        return False
    try:
        with translation.override(language or None):
            lifetime = invitation.expires_at - invitation.created_at
            days = max(1, round(lifetime.total_seconds() / 86400))
            text = invitation_text(
                invitation.agency.name,
                str(invitation.get_role_display()),
                invitation.message_url,
                days,
            )
            send_mail(_("Your invitation to Alliance"), text, None, [invitation.email])
    finally:
        Invitation.objects.filter(pk=invitation.pk).update(message_url="")
    return True


class InvitationUnusable(Exception):
    """The invitation cannot be used; ``reason`` is "invalid", "expired", "accepted" or
    "revoked"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def open_invitation(token: str):
    """The usable invitation for a token, else InvitationUnusable with the reason."""
    from .models import Invitation

    if not token or len(token) > 100:
        raise InvitationUnusable("invalid")
    invitation = (
        Invitation.objects.select_related("agency", "team")
        .filter(token_hash=hash_invitation_token(token))
        .first()
    )
    if invitation is None:
        raise InvitationUnusable("invalid")
    state = invitation.state()
    if state != "pending":
        raise InvitationUnusable(state)
    return invitation


def accept_invitation(token: str, *, username: str, password: str, ip: str | None = None) -> User:
    """Create the invited member (the role and team of the invitation) and spend the link, in
    one transaction: a second submit finds it used and creates nobody."""
    from django.utils import timezone

    from .models import Invitation

    with transaction.atomic():
        found = open_invitation(token)
        invitation = Invitation.objects.select_for_update().get(pk=found.pk)
        state = invitation.state()
        if state != "pending":
            raise InvitationUnusable(state)
        agency = invitation.agency
        teams = [invitation.team] if invitation.team is not None else []
        user = create_member(
            agency, username, password, invitation.role, teams, email=invitation.email
        )
        invitation.accepted_at = timezone.now()
        invitation.user = user
        invitation.message_url = ""
        invitation.save(update_fields=["accepted_at", "user", "message_url"])
        _audit(user, agency, "invitation.accepted", invitation, ip, role=invitation.role)
    return user


def _person(agency: Agency, public_id: str, *, lock: bool = False) -> User:
    people = User.objects.filter(public_id=public_id, membership__agency=agency)
    if lock:
        people = people.select_for_update(of=("self",))
    person = people.select_related("membership").first()
    if person is None:
        raise NotInAgency(public_id)
    return person


def _active_admins(agency: Agency) -> int:
    return Membership.objects.filter(agency=agency, role=Role.ADMIN, user__is_active=True).count()


@transaction.atomic
def set_role(actor, agency: Agency, public_id: str, role: str, *, ip: str | None = None) -> User:
    """Change a member's role; never your own, never the agency's last active admin away."""
    from django.utils.translation import gettext as _

    if role not in Role.values:
        raise PeopleError(_("Choose a role."))
    _lock_agency(agency)
    person = _person(agency, public_id)
    membership = person.membership
    if membership.role == role:
        return person
    if person.pk == actor.pk:
        raise PeopleError(_("Another admin must change your own role."))
    if membership.role == Role.ADMIN and person.is_active and _active_admins(agency) <= 1:
        raise PeopleError(_("The agency needs at least one active admin."))
    previous = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    person.is_staff = role == Role.ADMIN
    person.save(update_fields=["is_staff"])
    _audit(actor, agency, "person.role_changed", person, ip, previous=previous, role=role)
    return person


@transaction.atomic
def set_teams(
    actor, agency: Agency, public_id: str, teams: Iterable[Team], *, ip: str | None = None
) -> User:
    """Make the member's teams exactly ``teams`` (added and removed ones are audited)."""
    from django.utils.translation import gettext as _

    person = _person(agency, public_id)
    wanted = {team.pk: team for team in teams}
    if any(team.agency_id != agency.pk for team in wanted.values()):
        raise PeopleError(_("Choose a team of your agency."))
    current = set(
        TeamMembership.objects.filter(agency=agency, user=person).values_list("team_id", flat=True)
    )
    added = [wanted[pk] for pk in sorted(set(wanted) - current)]
    removed = sorted(current - set(wanted))
    for team in added:
        TeamMembership.objects.get_or_create(agency=agency, team=team, user=person)
    if removed:
        TeamMembership.objects.filter(agency=agency, user=person, team_id__in=removed).delete()
    if added or removed:
        removed_ids = list(Team.objects.filter(pk__in=removed).values_list("public_id", flat=True))
        _audit(
            actor,
            agency,
            "person.teams_changed",
            person,
            ip,
            added=[team.public_id for team in added],
            removed=removed_ids,
        )
    return person


def successors(agency: Agency, person: User):
    """Who may take over a member's clients: the agency's other active members."""
    return (
        User.objects.filter(membership__agency=agency, is_active=True)
        .exclude(pk=person.pk)
        .select_related("membership")
        .order_by("username")
    )


@transaction.atomic
def deactivate(
    actor,
    agency: Agency,
    public_id: str,
    *,
    successor_id: str = "",
    ip: str | None = None,
) -> dict[str, int]:
    """Deactivate a member and, in the same transaction, hand their clients (and the groups
    they lead) to ``successor_id``: nothing is left with someone who cannot sign in.

    Refused for yourself, for the agency's last active admin, without a successor while they
    have clients, and when they are inactive already (a second submit changes nothing).
    """
    from django.utils.translation import gettext as _

    from alliance.care.models import Client
    from alliance.care.services import hand_over_clients
    from alliance.feedback.models import Group

    _lock_agency(agency)
    person = _person(agency, public_id, lock=True)
    if person.pk == actor.pk:
        raise PeopleError(_("You cannot deactivate yourself."))
    if not person.is_active:
        raise PeopleError(_("This person is deactivated already."))
    if person.membership.role == Role.ADMIN and _active_admins(agency) <= 1:
        raise PeopleError(_("The agency needs at least one active admin."))
    clients = Client.objects.filter(agency=agency, therapist=person)
    groups = Group.objects.filter(agency=agency, leader=person)
    successor = None
    if successor_id:
        successor = successors(agency, person).filter(public_id=successor_id).first()
        if successor is None:
            raise PeopleError(_("Choose an active colleague to take over."))
    if successor is None and (clients.exists() or groups.exists()):
        raise PeopleError(_("Choose who takes over their clients."))
    moved = groups_moved = 0
    if successor is not None:
        moved = hand_over_clients(actor, clients, successor, ip=ip, reason="deactivation")
        groups_moved = groups.update(leader=successor)
    person.is_active = False
    person.save(update_fields=["is_active"])
    counts = {"clients_reassigned": moved, "groups_reassigned": groups_moved}
    _audit(
        actor,
        agency,
        "person.deactivated",
        person,
        ip,
        successor=successor.public_id if successor else "",
        **counts,
    )
    return counts


@transaction.atomic
def reactivate(actor, agency: Agency, public_id: str, *, ip: str | None = None) -> User:
    person = _person(agency, public_id, lock=True)
    if not person.is_active:
        person.is_active = True
        person.save(update_fields=["is_active"])
        _audit(actor, agency, "person.reactivated", person, ip)
    return person


@transaction.atomic
def reset_two_factor(actor, agency: Agency, public_id: str, *, ip: str | None = None) -> bool:
    """Remove the member's authenticator and recovery codes (a lost phone): they set up
    two-factor again at their next sign-in where the policy asks for it. False: nothing to do."""
    from .models import RecoveryCode, TwoFactorDevice

    person = _person(agency, public_id)
    devices = TwoFactorDevice.objects.filter(agency=agency, user=person).delete()[0]
    codes = RecoveryCode.objects.filter(agency=agency, user=person).delete()[0]
    if not devices and not codes:
        return False
    _audit(actor, agency, "two_factor.reset", person, ip, recovery_codes_removed=codes)
    return True


def create_team(actor, agency: Agency, name: str, *, ip: str | None = None) -> Team:
    from django.db import IntegrityError
    from django.utils.translation import gettext as _

    name = (name or "").strip()
    if not name:
        raise PeopleError(_("Give the team a name."))
    try:
        with transaction.atomic():
            team = Team.objects.create(agency=agency, name=name)
            _audit(actor, agency, "team.created", team, ip)
    except IntegrityError:
        raise PeopleError(_("There is already a team with this name.")) from None
    return team


def _team(agency: Agency, public_id: str) -> Team:
    team = Team.objects.filter(agency=agency, public_id=public_id).first()
    if team is None:
        raise NotInAgency(public_id)
    return team


def rename_team(actor, agency: Agency, public_id: str, name: str, *, ip=None) -> Team:
    from django.db import IntegrityError
    from django.utils.translation import gettext as _

    team = _team(agency, public_id)
    name = (name or "").strip()
    if not name:
        raise PeopleError(_("Give the team a name."))
    if name == team.name:
        return team
    previous = team.name
    try:
        with transaction.atomic():
            team.name = name
            team.save(update_fields=["name"])
            _audit(actor, agency, "team.renamed", team, ip, previous=previous, name=name)
    except IntegrityError:
        team.name = previous
        raise PeopleError(_("There is already a team with this name.")) from None
    return team


@transaction.atomic
def add_to_team(actor, agency: Agency, team_id: str, person_id: str, *, ip=None) -> Team:
    """Add a member (a supervisor supervises the teams they belong to); adding twice stores
    once."""
    team = _team(agency, team_id)
    person = _person(agency, person_id)
    _, created = TeamMembership.objects.get_or_create(agency=agency, team=team, user=person)
    if created:
        _audit(
            actor,
            agency,
            "team.member_added",
            team,
            ip,
            person=person.public_id,
            role=person.membership.role,
        )
    return team


@transaction.atomic
def remove_from_team(actor, agency: Agency, team_id: str, person_id: str, *, ip=None) -> Team:
    team = _team(agency, team_id)
    person = _person(agency, person_id)
    removed = TeamMembership.objects.filter(agency=agency, team=team, user=person).delete()[0]
    if removed:
        _audit(actor, agency, "team.member_removed", team, ip, person=person.public_id)
    return team
