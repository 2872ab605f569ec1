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

Truncation: removing the last events of a lane leaves a shorter chain that still links. So each
lane also has a head (``AuditHead``: count and last hash), updated with every event and signed
with an HMAC keyed from settings (``ALLIANCE_AUDIT_KEY``, else derived from ``SECRET_KEY``);
``verify`` checks every lane against its head, and a head cannot be rewritten without the key.

Erasure: the hash covers a digest of the details (``detail_digest``), not the details, so the
details of an erased client's events can be redacted (replaced by ``{"redacted": ...}``, the one
update the database allows, see migration 0004) while the chain and the heads still verify; the
digest of the original details stays, so an unredacted detail that was changed is still caught.
"""

from __future__ import annotations

import hashlib
import hmac
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
    # SHA-256 of the canonical details as recorded: hashed instead of them (redaction, above).
    detail_digest = models.CharField(max_length=64, default="", blank=True)
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
            detail_digest=self.detail_digest,
            ip=self.ip_address,
            at=self.at,
            prev=self.prev_hash,
        )

    def compute_hash(self) -> str:
        return hashlib.sha256(self.canonical()).hexdigest()

    @property
    def redacted(self) -> bool:
        return isinstance(self.detail, dict) and REDACTED in self.detail


REDACTED = "redacted"


def detail_digest(detail: object) -> str:
    """The SHA-256 of details in canonical JSON (what the event's hash covers)."""
    text = json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def head_key() -> bytes:
    """The key that signs lane heads: ALLIANCE_AUDIT_KEY, else one derived from SECRET_KEY
    (the rule of ``accounts.sealing.server_key_material``; the audit key is used as it is, so
    that the heads signed so far stay valid)."""
    own = getattr(settings, "ALLIANCE_AUDIT_KEY", "")
    if own:
        return own.encode()
    return hashlib.sha256(b"alliance.audit.head:" + settings.SECRET_KEY.encode()).digest()


def sign_head(agency_id: int, lane: int, count: int, last_hash: str) -> str:
    message = f"alliance-audit-head:{agency_id}:{lane}:{count}:{last_hash}".encode()
    return hmac.new(head_key(), message, hashlib.sha256).hexdigest()


class AuditHead(models.Model):
    """The signed end of one lane: how many events it has and the hash of the last one.

    Mutable (it moves with every event), but only with the signing key can it be made to
    agree with a truncated lane.
    """

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    lane = models.PositiveSmallIntegerField()
    count = models.PositiveBigIntegerField()
    last_hash = models.CharField(max_length=64)
    signature = models.CharField(max_length=64)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("audit lane head")
        constraints = [
            models.UniqueConstraint(fields=["agency", "lane"], name="audit_head_unique_per_lane")
        ]

    def __str__(self) -> str:
        return f"agency {self.agency_id} lane {self.lane}: {self.count} events"

    def signature_valid(self) -> bool:
        expected = sign_head(self.agency_id, self.lane, self.count, self.last_hash)
        return hmac.compare_digest(expected, self.signature)


def canonical_bytes(*, at, **fields) -> bytes:
    import datetime

    stamp = at.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(
        {**fields, "at": stamp}, sort_keys=True, separators=(",", ":"), ensure_ascii=True
    ).encode()
