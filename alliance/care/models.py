"""Care records. Every row carries its ``agency`` (indexed, part of every uniqueness rule)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from alliance.accounts.models import Agency, Team, new_public_id
from alliance.science.instruments import DATA_DIR, load_directory
from alliance.science.instruments.age_bands import AGE_BANDS, DEFAULT_AGE_BAND
from alliance.science.signals import SAFETY_CODE


def _shipped_total_maxima() -> dict[str, int | float]:
    """Each shipped instrument's highest total, from its definition file.

    Shipped files only: an agency's own (``ALLIANCE_INSTRUMENT_DIRS``) must not change the schema.
    """
    maxima: dict[str, int | float] = {}
    for (code, _language), instrument in sorted(load_directory(DATA_DIR).items()):
        top = instrument.total_max
        maxima.setdefault(code, int(top) if float(top).is_integer() else top)
    return maxima


# Four 10 cm visual analogue lines: totals 0-40, checked by one constraint; other instruments by
# one constraint each at their own maximum.
VAS_TOTAL = 40
_MAXIMA = _shipped_total_maxima()
VAS_INSTRUMENTS = tuple(code for code, top in _MAXIMA.items() if top == VAS_TOTAL)
TOTAL_MAXIMA = {code: top for code, top in _MAXIMA.items() if top != VAS_TOTAL}

# The client age bands of the science core (alliance.science.instruments.age_bands), as choices.
# Built with Enum's functional API, which the stubs do not model (they read the call as making one
# member), hence the ignore; the annotation gives mypy the class it really is.
AgeBand: type[models.TextChoices] = models.TextChoices(  # type: ignore[call-overload]
    "AgeBand", [(band.name.upper(), (band.name, _(band.label))) for band in AGE_BANDS]
)

# The forms each age band fills in (outcome, alliance); a therapist may choose others.
FORMS_BY_AGE_BAND = {band.name: band.forms for band in AGE_BANDS}


class Rater(models.TextChoices):
    """Who fills in a form: the client, or someone rating how they think the client is doing."""

    CLIENT = "client", _("Client")
    PARTNER = "partner", _("Partner")
    PARENT = "parent", _("Parent or carer")
    FAMILY = "family", _("Other family member")
    TEACHER = "teacher", _("Teacher")
    CASEWORKER = "caseworker", _("Caseworker")
    OTHER = "other", _("Other")


def rater_label(rater: str) -> str:
    """The translated name of a rater role (unknown roles are shown as stored)."""
    try:
        return str(Rater(rater).label)
    except ValueError:
        return rater.capitalize()


class Ending(models.TextChoices):
    PLANNED = "planned", _("Planned / mutual")
    UNILATERAL = "unilateral", _("Unilateral (drop-out)")


class Attendance(models.TextChoices):
    ATTENDED = "attended", _("Attended")
    CANCELLED = "cancelled", _("Cancelled")
    NO_SHOW = "no_show", _("No-show")


# A session started but with nothing recorded and no attendance set yet: not a session so far
# (it does not count, is not listed and is reused by the next start).
ATTENDANCE_NOT_SET = ""


class SessionKind(models.TextChoices):
    """An individual session of the episode, or a group session a member rated (GSRS).

    Group sessions are numbered on their own and never count as the episode's sessions.
    """

    INDIVIDUAL = "individual", _("Individual")
    GROUP = "group", _("Group")


class EntryMode(models.TextChoices):
    IN_SESSION = "in_session", _("In session")
    LINK = "link", _("Link")
    PAPER = "paper", _("Paper")
    PHONE = "phone", _("Phone")
    IMPORT = "import", _("Import")


class Zone(models.TextChoices):
    NONE = "none", _("No data")
    GREY = "grey", _("Grey")
    GREEN = "green", _("Green")
    ORANGE = "orange", _("Orange")
    RED = "red", _("Red")


class Client(models.Model):
    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="clients")
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    display_code = models.CharField(_("display code"), max_length=40)
    name = models.CharField(_("name"), max_length=200, blank=True)
    birth_year = models.PositiveSmallIntegerField(_("birth year"), null=True, blank=True)
    age_band = models.CharField(
        _("age band"), max_length=20, choices=AgeBand.choices, default=DEFAULT_AGE_BAND
    )
    therapist = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="clients"
    )
    team = models.ForeignKey(
        Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="clients"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("client")
        ordering = ["display_code"]
        constraints = [
            models.UniqueConstraint(
                fields=["agency", "display_code"], name="client_code_unique_per_agency"
            ),
            models.CheckConstraint(
                condition=Q(age_band__in=AgeBand.values), name="client_age_band_valid"
            ),
            models.CheckConstraint(
                condition=Q(birth_year__isnull=True)
                | Q(birth_year__gte=1900, birth_year__lte=2100),
                name="client_birth_year_plausible",
            ),
        ]

    @property
    def current_episode(self) -> Episode | None:
        """The open episode, else the one that ended last (see ``EpisodeQuerySet.current``)."""
        return self.episodes.current()

    def __str__(self) -> str:
        return self.display_code


class ClientShare(models.Model):
    """A client explicitly shared with another therapist of the same agency."""

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="shares")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shared_clients"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agency", "client", "user"], name="client_share_unique")
        ]


class EpisodeQuerySet(models.QuerySet):
    def open(self) -> EpisodeQuerySet:
        return self.filter(end_date__isnull=True)

    def current_first(self) -> EpisodeQuerySet:
        """Open episodes first (newest start first), then closed ones, most recently ended first.

        Spelled out with ``nulls_first`` because SQLite sorts NULL first and PostgreSQL last: a
        plain ``order_by("end_date")`` showed a closed episode as current on PostgreSQL.
        """
        return self.order_by(models.F("end_date").desc(nulls_first=True), "-start_date", "-pk")

    def current(self) -> Episode | None:
        """The episode a client's pages show: the open one, else the one that ended last."""
        return self.current_first().first()


class Episode(models.Model):
    """One course of treatment; carries a denormalised summary so the caseload is one query."""

    objects = EpisodeQuerySet.as_manager()

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="episodes")
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="episodes")
    start_date = models.DateField(_("start date"))
    end_date = models.DateField(_("end date"), null=True, blank=True)
    outcome_instrument = models.CharField(max_length=20, default="ors")
    alliance_instrument = models.CharField(max_length=20, default="srs")
    raters = models.JSONField(
        default=list, blank=True, help_text="collateral raters in use, e.g. ['parent']"
    )
    ending = models.CharField(_("ending"), max_length=20, choices=Ending.choices, blank=True)
    # Summary kept up to date by services.refresh_episode_summary.
    session_count = models.PositiveIntegerField(default=0)
    last_session_date = models.DateField(null=True, blank=True)
    intake_total = models.FloatField(null=True, blank=True)
    last_outcome_total = models.FloatField(null=True, blank=True)
    last_outcome_session = models.PositiveIntegerField(null=True, blank=True)
    zone = models.CharField(max_length=10, choices=Zone.choices, default=Zone.NONE)
    last_alliance_total = models.FloatField(null=True, blank=True)
    alliance_flag = models.CharField(max_length=10, choices=Zone.choices, default=Zone.NONE)
    # The summary's fields, named once for whoever writes, shows or exports them.
    SUMMARY_FIELDS = (
        "session_count",
        "last_session_date",
        "intake_total",
        "last_outcome_total",
        "last_outcome_session",
        "zone",
        "last_alliance_total",
        "alliance_flag",
    )

    class Meta:
        verbose_name = _("episode")
        ordering = ["-start_date"]
        indexes = [models.Index(fields=["agency", "end_date"], name="episode_open_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(ending="") | Q(ending__in=Ending.values), name="episode_ending_valid"
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("start_date")),
                name="episode_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True, ending="")
                | Q(end_date__isnull=False) & ~Q(ending=""),
                name="episode_closed_with_reason",
            ),
            models.CheckConstraint(condition=Q(zone__in=Zone.values), name="episode_zone_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.client} from {self.start_date}"

    @property
    def is_open(self) -> bool:
        return self.end_date is None


class Session(models.Model):
    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="sessions")
    number = models.PositiveIntegerField(_("number"))
    date = models.DateField(_("date"))
    attendance = models.CharField(
        max_length=20, choices=Attendance.choices, default=Attendance.ATTENDED, blank=True
    )
    kind = models.CharField(
        max_length=12, choices=SessionKind.choices, default=SessionKind.INDIVIDUAL
    )

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(
                fields=["agency", "episode", "kind", "number"], name="session_number_unique"
            ),
            models.CheckConstraint(condition=Q(number__gte=1), name="session_number_positive"),
            models.CheckConstraint(
                condition=Q(attendance=ATTENDANCE_NOT_SET) | Q(attendance__in=Attendance.values),
                name="session_attendance_valid",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=SessionKind.values), name="session_kind_valid"
            ),
        ]

    @property
    def is_real(self) -> bool:
        """Something was recorded or the attendance was set (a bare start is not a session)."""
        return self.attendance != ATTENDANCE_NOT_SET

    def __str__(self) -> str:
        return f"session {self.number}"


class AdministrationQuerySet(models.QuerySet):
    def of_episode(self, episode: Episode) -> AdministrationQuerySet:
        """An episode's administrations in the one order every reader uses (session, scale, rater)."""
        return (
            self.filter(agency_id=episode.agency_id, episode=episode)
            .select_related("session")
            .order_by("session__number", "instrument", "rater", "pk")
        )


class Administration(models.Model):
    """One completed instrument by one rater in one session."""

    objects = AdministrationQuerySet.as_manager()

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="administrations")
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="administrations")
    instrument = models.CharField(max_length=20)
    rater = models.CharField(
        max_length=30, default="client", help_text="'client' or a collateral role"
    )
    rater_relationship = models.CharField(max_length=100, blank=True)
    items = models.JSONField(default=dict, blank=True)
    total = models.FloatField()
    total_only = models.BooleanField(default=False)
    entry_mode = models.CharField(
        max_length=20, choices=EntryMode.choices, default=EntryMode.IN_SESSION
    )
    idempotency_key = models.CharField(max_length=64)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["session__number", "instrument"]
        constraints = [
            models.UniqueConstraint(
                fields=["agency", "session", "instrument", "rater"],
                name="one_per_rater_per_session",
            ),
            models.UniqueConstraint(
                fields=["agency", "idempotency_key"], name="administration_idempotent"
            ),
            models.CheckConstraint(
                condition=Q(total__gte=0), name="administration_total_not_negative"
            ),
            models.CheckConstraint(
                condition=~Q(instrument__in=VAS_INSTRUMENTS) | Q(total__lte=VAS_TOTAL),
                name="administration_vas_total_at_most_40",
            ),
            *[
                models.CheckConstraint(
                    condition=~Q(instrument=code) | Q(total__lte=maximum),
                    name=f"administration_{code}_total_in_range",
                )
                for code, maximum in TOTAL_MAXIMA.items()
            ],
            models.CheckConstraint(
                condition=Q(entry_mode__in=EntryMode.values), name="administration_entry_mode_valid"
            ),
            models.CheckConstraint(condition=~Q(rater=""), name="administration_rater_named"),
        ]


class IdempotencyKey(models.Model):
    """Every idempotency key a rating was saved with, and what that save stored.

    Remembered for the key, not the row: a later edit of the same form carries a new key and
    overwrites ``Administration.idempotency_key``, so a delayed retry of the older key must still
    be recognised (and answered with its own result) instead of reverting the newer values.
    """

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=64)
    administration = models.ForeignKey(
        Administration, on_delete=models.CASCADE, related_name="idempotency_keys"
    )
    result = models.JSONField(default=dict, help_text="items, total, total_only, entry_mode")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agency", "key"], name="idempotency_key_unique")
        ]


class Alert(models.Model):
    """A signal raised for an episode at a session (kept as history).

    A safety alert (PHQ-9 item 9) is never removed by a refresh; it stays open until the client's
    therapist or a supervisor acknowledges it (who and when are kept here and in the audit log).
    """

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="alerts")
    session_number = models.PositiveIntegerField()
    code = models.CharField(max_length=60)
    severity = models.CharField(max_length=10)
    reason = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    @property
    def is_safety(self) -> bool:
        return self.code == SAFETY_CODE

    class Meta:
        ordering = ["-session_number", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["agency", "episode", "session_number", "code"],
                name="alert_unique_per_session",
            )
        ]


class FittedModel(models.Model):
    """An ETR model fitted on an agency's own closed episodes (``EtrModel.to_dict()``)."""

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    instrument = models.CharField(max_length=20)
    parameters = models.JSONField(help_text="EtrModel.to_dict()")
    calibration = models.JSONField(default=dict, blank=True)
    n_episodes = models.PositiveIntegerField()
    fitted_on = models.DateField()
    active = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["agency", "instrument"], name="fitted_model_agency_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["agency", "instrument"],
                condition=Q(active=True),
                name="one_active_model_per_instrument",
            )
        ]
