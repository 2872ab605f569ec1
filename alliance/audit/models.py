"""The audit trail: append-only and hash-chained, in a few parallel chains ("lanes") per agency.

Each event stores the SHA-256 of its own canonical content and of the previous event of the same
agency and lane (``seq`` numbers them 1, 2, 3 ... per lane), so changing, inserting or removing a
row breaks its chain at that point; ``alliance audit verify`` finds the first broken link.
Why lanes: appending to a chain needs its last hash, so writers of one chain queue behind each
other until they commit; with one chain per agency, every rating of a busy agency waited for
the one before it. A user's events always go to the same lane (actor id modulo ``LANES``), so
each person's actions stay one ordered chain; events without a signed-in actor (client links,
kiosk) go by their target. The lane is not part of the hashed content: moving an event to
another lane breaks the links of both.
The ORM refuses updates and deletes; on PostgreSQL a trigger refuses them too (migration 0001).
Details hold identifiers, scores and role names, never client names.
"""

from __future__ import annotations

import hashlib
import json

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from alliance.accounts.models import Agency

GENESIS = "0" * 64
LANES = 16


class AppendOnlyError(RuntimeError):
    """An attempt to change or remove an audit event."""


class AuditQuerySet(models.QuerySet):
    def update(self, **kwargs):  # noqa: ARG002
        raise AppendOnlyError("audit events cannot be changed")

    def delete(self):
        raise AppendOnlyError("audit events cannot be deleted")

    def bulk_update(self, *args, **kwargs):  # noqa: ARG002
        raise AppendOnlyError("audit events cannot be changed")


class AuditEvent(models.Model):
    """Who did what, when, from where."""

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    lane = models.PositiveSmallIntegerField(default=0)
    seq = models.PositiveBigIntegerField()
    # No database constraint: deleting a user must not rewrite (SET NULL) the trail.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=60)
    target_type = models.CharField(max_length=40, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = AuditQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit event")
        ordering = ["-at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["agency", "lane", "seq"], name="audit_seq_unique_per_lane"
            )
        ]
        indexes = [
            models.Index(
                fields=["agency", "target_type", "target_id"], name="audit_event_target_idx"
            ),
            models.Index(fields=["agency", "at"], name="audit_agency_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} {self.target_type} {self.target_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("audit events cannot be changed")
        return super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("audit events cannot be deleted")

    def canonical(self) -> bytes:
        return canonical_bytes(
            agency=self.agency_id,
            seq=self.seq,
            actor=self.actor_id,
            actor_name=self.actor_name,
            action=self.action,
            target_type=self.target_type,
            target_id=self.target_id,
            detail=self.detail,
            ip=self.ip_address,
            at=self.at,
            prev=self.prev_hash,
        )

    def compute_hash(self) -> str:
        return hashlib.sha256(self.canonical()).hexdigest()


def canonical_bytes(*, at, **fields) -> bytes:
    import datetime

    stamp = at.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(
        {**fields, "at": stamp}, sort_keys=True, separators=(",", ":"), ensure_ascii=True
    ).encode()
