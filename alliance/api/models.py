"""API tokens, import bookkeeping and webhooks. Every row carries its ``agency``."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from alliance.accounts.models import Agency, new_public_id
from alliance.accounts.sealing import SealedCharField


class Scope(models.TextChoices):
    READ = "read", _("Read")
    WRITE = "write", _("Read and write")


class TokenKind(models.TextChoices):
    PERSONAL = "personal", _("Personal")
    INTEGRATION = "integration", _("Agency integration")


class ApiToken(models.Model):
    """A bearer token; only the sha256 of the secret is stored, with a short visible prefix.

    Personal tokens act as their user. Integration tokens act for the whole agency on behalf of
    the admin who created them (they stop working when that person is no longer an admin).
    """

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    kind = models.CharField(max_length=20, choices=TokenKind.choices, default=TokenKind.PERSONAL)
    name = models.CharField(_("name"), max_length=100, blank=True)
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.READ)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # The key of the web form that created it: a resubmitted form creates no second token.
    form_key = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = _("API token")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["agency", "user"], name="api_token_owner_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["agency", "user", "form_key"],
                condition=~Q(form_key=""),
                name="api_token_form_once",
            ),
            models.CheckConstraint(condition=Q(scope__in=Scope.values), name="api_token_scope"),
            models.CheckConstraint(condition=Q(kind__in=TokenKind.values), name="api_token_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.prefix} ({self.kind}, {self.scope})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and (
            self.expires_at is None or self.expires_at > timezone.now()
        )

    @property
    def can_write(self) -> bool:
        return self.scope == Scope.WRITE


class ImportedEpisode(models.Model):
    """Maps an episode key of an imported table to the episode it created (idempotent imports)."""

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    source_key = models.CharField(max_length=100)
    episode = models.ForeignKey("care.Episode", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["agency", "source_key"], name="imported_episode_unique_key"
            )
        ]


class WebhookEvent(models.TextChoices):
    ADMINISTRATION_RECORDED = "administration.recorded", _("Administration recorded")
    ALERT_RAISED = "alert.raised", _("Alert raised")


class WebhookEndpoint(models.Model):
    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    url = models.URLField(max_length=500)
    # Sealed at rest (accounts/sealing.py): a copy of the database cannot sign as Alliance.
    secret = SealedCharField(max_length=255)
    events = models.JSONField(default=list)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["agency", "active"], name="webhook_endpoint_active_idx")]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed (gave up)")


class WebhookDelivery(models.Model):
    """One event for one endpoint: the payload, attempts so far, next attempt and last result."""

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=40, choices=WebhookEvent.choices)
    payload = models.JSONField(default=dict)
    status = models.CharField(
        max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["agency", "status", "next_attempt_at"], name="webhook_due_idx")
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=DeliveryStatus.values), name="webhook_delivery_status"
            )
        ]
