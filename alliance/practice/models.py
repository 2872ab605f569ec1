"""A therapist's deliberate-practice log: learning objectives and dated reflections.

Private to the therapist unless they share an objective with their supervisors (those of the
teams the therapist belongs to). Every row carries its agency.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from alliance.accounts.models import Agency, new_public_id


class Measure(models.TextChoices):
    """The measures an objective can target (alliance.science.practice.MEASURES)."""

    FIRST_AT_CEILING = "first_at_ceiling", _("Fewer first sessions at the SRS ceiling")
    BELOW_CUTOFF = "below_cutoff", _("More honest low alliance ratings (below the cutoff)")
    RUPTURES_REPAIRED = "ruptures_repaired", _("Repair alliance ruptures")
    RISING_ALLIANCE = "rising_alliance", _("Alliances that grow over treatment")
    HARD_RELIABLE_IMPROVEMENT = (
        "hard_reliable_improvement",
        _("Reliable improvement with hard-to-engage clients"),
    )
    HARD_DROPOUT = "hard_dropout", _("Fewer drop-outs of hard-to-engage clients")


class Objective(models.Model):
    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    therapist = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="practice_objectives"
    )
    text = models.TextField(_("learning objective"), max_length=1000)
    measure = models.CharField(
        _("measure to watch"), max_length=40, choices=Measure.choices, blank=True
    )
    started_on = models.DateField(_("started on"))
    shared_with_supervisor = models.BooleanField(_("shared with my supervisor"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("practice objective")
        ordering = ["-started_on", "-pk"]
        indexes = [models.Index(fields=["agency", "therapist"], name="objective_owner_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(measure="") | Q(measure__in=Measure.values),
                name="objective_measure_valid",
            )
        ]

    def __str__(self) -> str:
        return f"objective {self.public_id}"


class Reflection(models.Model):
    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    objective = models.ForeignKey(Objective, on_delete=models.CASCADE, related_name="reflections")
    written_on = models.DateField(_("date"))
    text = models.TextField(_("reflection"), max_length=4000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("reflection")
        ordering = ["-written_on", "-pk"]

    def __str__(self) -> str:
        return f"reflection {self.public_id}"
