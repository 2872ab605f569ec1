"""Client-facing feedback: secure links, kiosk passes, groups.

A link carries only a random token (256 bits from ``secrets``); the database keeps its SHA-256
hash, so a stolen database copy opens no forms. A kiosk pass is a link for the waiting-room
tablet: a short code plus a PIN (the PIN stored as a keyed hash, attempts limited).
Every row carries its ``agency`` (indexed, part of every uniqueness rule).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from alliance.accounts.models import Agency, new_public_id
from alliance.care.models import Client, Session


class FeedbackSettings(models.Model):
    """An agency's choices for client-facing forms."""

    agency = models.OneToOneField(
        Agency, on_delete=models.CASCADE, related_name="feedback_settings"
    )
    show_first_name = models.BooleanField(
        _("greet clients by first name on their forms"), default=False
    )

    class Meta:
        verbose_name = _("feedback settings")
        verbose_name_plural = _("feedback settings")

    def __str__(self) -> str:
        return str(self.agency)


class Channel(models.TextChoices):
    LINK = "link", _("Link")
    KIOSK = "kiosk", _("Kiosk")


class LinkState(models.TextChoices):
    OPEN = "open", _("Waiting")
    USED = "used", _("Completed")
    REVOKED = "revoked", _("Revoked")
    EXPIRED = "expired", _("Expired")
    LOCKED = "locked", _("Locked")


class FeedbackLink(models.Model):
    """One form (one instrument, one rater, one session) a client may fill in once."""

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="feedback_links")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="feedback_links")
    instrument = models.CharField(max_length=20)
    rater = models.CharField(max_length=30, default="client")
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.LINK)
    token_hash = models.CharField(max_length=64)
    kiosk_code = models.CharField(max_length=12, blank=True)
    pin_hash = models.CharField(max_length=128, blank=True)
    failed_attempts = models.PositiveSmallIntegerField(default=0)
    language = models.CharField(max_length=10, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["token_hash"], name="feedback_link_token_idx"),
            models.Index(fields=["agency", "session"], name="feedback_link_session_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["agency", "token_hash"], name="feedback_link_token"),
            models.UniqueConstraint(
                fields=["agency", "kiosk_code"],
                condition=~Q(kiosk_code=""),
                name="feedback_kiosk_code_unique",
            ),
            models.CheckConstraint(
                condition=Q(channel__in=Channel.values), name="feedback_link_channel_valid"
            ),
            models.CheckConstraint(condition=~Q(rater=""), name="feedback_link_rater_named"),
        ]

    def __str__(self) -> str:
        return f"{self.instrument} link {self.public_id}"

    def state(self, now=None) -> str:
        now = now or timezone.now()
        if self.used_at is not None:
            return LinkState.USED
        if self.revoked_at is not None:
            return LinkState.REVOKED
        if self.failed_attempts >= settings_value("ALLIANCE_KIOSK_MAX_ATTEMPTS", 5):
            return LinkState.LOCKED
        if self.expires_at <= now:
            return LinkState.EXPIRED
        return LinkState.OPEN

    def get_state_display(self) -> str:
        return str(LinkState(self.state()).label)


class OutboundMessage(models.Model):
    """A link e-mail or SMS waiting to be sent: the address and the link (with its token) live
    here, never in the queued task row (which holds only this row's id), and go as soon as the
    task has run (sent or not) or the client is erased."""

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    link = models.ForeignKey(FeedbackLink, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=10)
    address = models.CharField(max_length=254)
    url = models.CharField(max_length=1000)
    hours = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)


def settings_value(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


class Group(models.Model):
    """A therapy group: a leader and member clients; each member rates the group (GSRS)."""

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    name = models.CharField(_("name"), max_length=120)
    leader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="led_groups"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("group")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["agency", "name"], name="group_name_unique_per_agency")
        ]

    def __str__(self) -> str:
        return self.name


class GroupMember(models.Model):
    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="members")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="group_memberships")
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["client__display_code"]
        constraints = [
            models.UniqueConstraint(
                fields=["agency", "group", "client"], name="group_member_unique"
            )
        ]
