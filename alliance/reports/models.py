"""Reporting state: refit jobs and the research-export secret.

Every row carries its ``agency`` (indexed, part of the uniqueness rules) like the care tables. The
fitted ETR models a refit stores live in care (``alliance.care.models.FittedModel``): the care
records ask for the model in use on every rating, and care depends on nothing in reports.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from alliance.accounts.models import Agency, new_public_id
from alliance.accounts.sealing import SealedCharField
from alliance.care.models import FittedModel


def new_secret() -> str:
    return secrets.token_hex(32)


class AgencySecret(models.Model):
    """The agency's key for de-identified exports (HMAC of ids, per-client date offsets).

    Never shown, never exported; changing it makes earlier research exports unlinkable.
    """

    agency = models.OneToOneField(Agency, on_delete=models.CASCADE, related_name="report_secret")
    # Sealed at rest (accounts/sealing.py): a copy of the database cannot re-identify an export.
    secret = SealedCharField(max_length=255, default=new_secret, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class RefitJob(models.Model):
    """One ETR refit run in the background; the page shows its progress."""

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    instrument = models.CharField(max_length=20, default="ors")
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0, help_text="percent")
    step = models.CharField(max_length=200, blank=True)
    message = models.TextField(blank=True)
    result = models.ForeignKey(
        FittedModel, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["agency", "created_at"], name="refit_job_agency_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=JobStatus.values), name="refit_job_status_valid"
            ),
            models.CheckConstraint(condition=Q(progress__lte=100), name="refit_job_progress_pct"),
        ]

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.DONE, JobStatus.FAILED)
