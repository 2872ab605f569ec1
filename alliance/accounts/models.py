"""Tenancy: every user belongs to one agency through a Membership that carries the role.

Every tenant-owned row carries its ``agency`` so the schema can later be sharded by agency.
"""

from __future__ import annotations

import secrets

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from .sealing import SealedCharField


def new_public_id() -> str:
    """A random, unguessable identifier for URLs (never names or birth years)."""
    return secrets.token_hex(8)


class HandoverReauth(models.TextChoices):
    PIN = "pin", _("The therapist's hand-over PIN (the password if no PIN is set)")
    PASSWORD = "password", _("The therapist's password")


def default_link_hours() -> int:
    """A new agency's link lifetime: the server's ALLIANCE_LINK_HOURS (24 unless set)."""
    from django.conf import settings

    return int(getattr(settings, "ALLIANCE_LINK_HOURS", 24))


# The longest a form link may stay open (the Policies page refuses more): two weeks.
MAX_LINK_HOURS = 14 * 24


class Agency(models.Model):
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    name = models.CharField(_("name"), max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Security and privacy policy (docs/security.md).
    # Two-factor sign-in, required per role (permissions.two_factor_required reads these).
    two_factor_admin = models.BooleanField(
        _("require two-factor sign-in for agency admins"), default=False
    )
    two_factor_supervisor = models.BooleanField(
        _("require two-factor sign-in for supervisors"), default=False
    )
    two_factor_therapist = models.BooleanField(
        _("require two-factor sign-in for therapists"), default=False
    )
    allow_client_names = models.BooleanField(
        _("allow client names (otherwise pseudonymous codes only)"), default=False
    )
    retention_years = models.PositiveSmallIntegerField(
        _("years to keep closed episodes (empty: keep)"), null=True, blank=True
    )
    # What a therapist types to take the device back after handing it to a client.
    handover_reauth = models.CharField(
        _("re-authentication to end a hand-over"),
        max_length=10,
        choices=HandoverReauth.choices,
        default=HandoverReauth.PASSWORD,
    )
    reopen_days = models.PositiveSmallIntegerField(
        _("days after its end during which a closed episode may be reopened"), default=90
    )
    link_hours = models.PositiveSmallIntegerField(
        _("hours a form link stays open"), default=default_link_hours
    )
    kiosk_enabled = models.BooleanField(_("waiting-room kiosk in use"), default=True)
    # The forms each age band fills in unless the therapist chooses others, where the agency
    # departs from the age bands' defaults: {band: {"outcome": code, "alliance": code}}.
    # Read through alliance.care.services.agency_forms, set on the Policies page.
    instruments = models.JSONField(_("forms per age band"), default=dict, blank=True)

    class Meta:
        verbose_name = _("agency")
        verbose_name_plural = _("agencies")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Team(models.Model):
    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="teams")
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    name = models.CharField(_("name"), max_length=200)

    class Meta:
        verbose_name = _("team")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["agency", "name"], name="team_name_unique_per_agency")
        ]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A person who logs in; their agency and role come from their Membership."""

    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    # A short PIN that ends a hand-over, hashed like a password (empty: none set).
    handover_pin = models.CharField(_("hand-over PIN"), max_length=128, blank=True, default="")

    @property
    def agency_membership(self) -> Membership | None:
        try:
            return self.membership
        except Membership.DoesNotExist:
            return None


class Role(models.TextChoices):
    ADMIN = "admin", _("Agency admin")
    SUPERVISOR = "supervisor", _("Supervisor")
    THERAPIST = "therapist", _("Therapist")


class Membership(models.Model):
    """A user's place in one agency, with one role."""

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="memberships")
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="membership")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)

    class Meta:
        verbose_name = _("membership")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="membership_role_valid"
            ),
            models.UniqueConstraint(fields=["agency", "user"], name="membership_unique_per_agency"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()}, {self.agency})"


class TeamMembership(models.Model):
    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="team_memberships")

    class Meta:
        verbose_name = _("team membership")
        constraints = [
            models.UniqueConstraint(
                fields=["agency", "team", "user"], name="team_membership_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team}"


class TwoFactorDevice(models.Model):
    """A staff member's TOTP authenticator (RFC 6238, 30 s steps, 6 digits)."""

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="two_factor")
    # Sealed at rest (accounts/sealing.py): a copy of the database does not pass the check.
    secret = SealedCharField(max_length=255)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # The last accepted time step: a code is accepted once (no replay within its window).
    last_step = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    # Wrong codes, counted apart from wrong passwords (a correct password never clears them);
    # LOCKOUT_USER_FAILURES of them lock two-factor for LOCKOUT_WINDOW_SECONDS after the last.
    failure_count = models.PositiveSmallIntegerField(default=0)
    last_failure_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("two-factor device")
        constraints = [
            models.UniqueConstraint(fields=["agency", "user"], name="two_factor_unique_per_agency")
        ]

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None


class RecoveryCode(models.Model):
    """A single-use stand-in for a two-factor code, stored as its SHA-256 (the codes carry 80
    random bits, so the hash cannot be reversed by trying them all)."""

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("recovery code")
        constraints = [
            models.UniqueConstraint(fields=["user", "code_hash"], name="recovery_code_unique")
        ]


class Invitation(models.Model):
    """A single-use link that lets a new staff member join an agency with a role.

    Only the SHA-256 of the link's token is kept. The link itself waits in ``message_url`` while
    its e-mail is queued and is cleared by the task that sends it (the task row holds the id).
    """

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="invitations")
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    email = models.EmailField(_("e-mail address"))
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    team = models.ForeignKey(
        Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    message_url = models.CharField(max_length=1000, blank=True, default="")
    invited_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    user = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("invitation")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="invitation_role_valid"
            ),
        ]

    def state(self, now=None) -> str:
        """ "pending", "accepted", "revoked" or "expired"."""
        from django.utils import timezone

        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        if (now or timezone.now()) >= self.expires_at:
            return "expired"
        return "pending"
