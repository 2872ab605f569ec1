"""Business actions for client-facing feedback. Each is one transaction and writes the audit trail.

Links: ``create_link`` returns the token once (only its hash is stored); ``open_link`` finds a link
by token and tells why it cannot be used; ``submit_link`` stores the rating through the care
services and spends the link in the same transaction, so a link stores at most one rating.
Kiosk: ``create_kiosk_pass`` (code + PIN), ``open_kiosk`` (attempts limited).
Groups: ``create_group``, ``record_group_rating``.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.tasks import task
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from alliance.accounts.models import Agency
from alliance.care import services as care
from alliance.care.feedback import instrument_for
from alliance.care.models import Administration, Client, EntryMode, Session, client_language
from alliance.care.services import AlreadyRatedError, ServiceError, audit

from . import sms
from .models import (
    Channel,
    FeedbackLink,
    FeedbackSettings,
    Group,
    GroupMember,
    LinkState,
    OutboundMessage,
)

TOKEN_BYTES = 32  # 256 bits; the issue asks for at least 128
KIOSK_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
KIOSK_CODE_LENGTH = 6
KIOSK_PIN_DIGITS = 4


# Why a link that is still open cannot be used: its form was filled in for this session already
# (by another link or kiosk pass, or by the therapist), so it would replace a rating.
ALREADY_RATED = "rated"


class LinkError(Exception):
    """A link or kiosk pass cannot be used; ``reason`` is a LinkState value, "invalid" or
    ``ALREADY_RATED``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def link_hours(agency: Agency | None = None) -> int:
    """How long a new form link stays open: the agency's policy (the server's
    ALLIANCE_LINK_HOURS is only the default of a new agency)."""
    if agency is not None and agency.link_hours:
        return int(agency.link_hours)
    return int(getattr(settings, "ALLIANCE_LINK_HOURS", 24))


# Said wherever a kiosk is refused because the agency switched it off (Policies page).
KIOSK_OFF = gettext_lazy("This agency does not use the waiting-room kiosk.")
KIOSK_OFF_REASON = "kiosk_off"


def kiosk_minutes() -> int:
    return int(getattr(settings, "ALLIANCE_KIOSK_MINUTES", 60))


def max_attempts() -> int:
    return int(getattr(settings, "ALLIANCE_KIOSK_MAX_ATTEMPTS", 5))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _pin_hash(link_code: str, pin: str) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"kiosk:{link_code}:{pin}".encode(), hashlib.sha256).hexdigest()


def first_name_allowed(agency: Agency) -> bool:
    return FeedbackSettings.objects.filter(agency=agency, show_first_name=True).exists()


def shown_first_name(client: Client) -> str:
    """The first name a form may show: only when the agency allows it, and only the first word."""
    if not client.name or not first_name_allowed(client.agency):
        return ""
    return client.name.split()[0]


def _check_form(session: Session, instrument: str, rater: str) -> None:
    episode = session.episode
    if not episode.is_open:
        raise ServiceError(_("This episode is closed."))
    if instrument not in (episode.outcome_instrument, episode.alliance_instrument):
        raise ServiceError(_("This form is not in use for this client."))
    if rater != "client" and rater not in episode.raters:
        raise ServiceError(_("This rater is not part of the episode."))


@dataclass(frozen=True)
class NewLink:
    link: FeedbackLink
    token: str
    code: str = ""
    pin: str = ""


@transaction.atomic
def create_link(
    actor,
    session: Session,
    *,
    instrument: str,
    rater: str = "client",
    hours: int | None = None,
    language: str = "",
    ip: str | None = None,
) -> NewLink:
    """A single-use link for one form; the token is returned once and never stored.

    ``language``: the form's language; "" for the client's (``Client.language``), else the
    language of the staff member making the link (the active language).
    """
    _check_form(session, instrument, rater)
    language = form_language(session, language)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    hours = hours or link_hours(session.episode.agency)
    link = _create_link(
        actor,
        session,
        instrument,
        rater,
        token,
        channel=Channel.LINK,
        language=language,
        expires_at=timezone.now() + datetime.timedelta(hours=hours),
    )
    audit(
        session.episode.agency,
        actor,
        "feedback.link_created",
        link,
        ip,
        session=session.public_id,
        instrument=instrument,
        rater=rater,
        hours=hours,
        language=language,
    )
    return NewLink(link, token)


def form_language(session: Session, language: str = "") -> str:
    """The language a new link or kiosk pass opens in: the one chosen, else the client's, else
    the staff member's (the active language)."""
    # Read now, not from a session object loaded earlier: the client page may just have changed it.
    client = Client.objects.only("language").get(pk=session.episode.client_id)
    if language:
        if language not in {code for code, _name in settings.LANGUAGES}:
            raise ServiceError(_("Choose a language from the list."))
        return language
    return client_language(client, translation.get_language())


@transaction.atomic
def switch_language(link: FeedbackLink, language: str, *, ip: str | None = None) -> FeedbackLink:
    """The client switched their form's language on the form itself: the link keeps it (a
    reload shows it in that language). Nothing else changes; no rating is stored or spent."""
    link = FeedbackLink.objects.select_for_update().get(pk=link.pk)
    _usable(link)
    if language not in {code for code, _name in settings.LANGUAGES}:
        raise ServiceError(_("Choose a language from the list."))
    if link.language != language:
        before = link.language
        link.language = language
        link.save(update_fields=["language"])
        audit(
            link.session.episode.agency,
            None,
            "feedback.language_switched",
            link,
            ip,
            before=before,
            after=language,
        )
    return link


def send_link(
    actor, new: NewLink, *, channel: str, address: str, url: str, ip: str | None = None
) -> None:
    """Queue the link for sending; the address is not stored (the audit names the channel only).

    The address and the link wait in an ``OutboundMessage`` row that the task removes once it
    has run; the task row itself (kept by the database queue) holds only that row's id.
    """
    if channel not in ("email", "sms") or not address.strip():
        raise ServiceError(_("Give an e-mail address or a phone number."))
    link = new.link
    hours = max(1, round((link.expires_at - link.created_at).total_seconds() / 3600))
    message = OutboundMessage.objects.create(
        agency_id=link.agency_id,
        link=link,
        channel=channel,
        address=address.strip(),
        url=url,
        hours=hours,
    )
    send_link_message.enqueue(message.pk)
    audit(link.session.episode.agency, actor, "feedback.link_sent", link, ip, channel=channel)


@task()
def send_link_message(message_id: int) -> bool:
    """Send one queued link e-mail or SMS, then forget the address (False: nothing to send)."""
    message = OutboundMessage.objects.select_related("link__client").filter(pk=message_id).first()
    if message is None:  # the client was erased meanwhile
        return False
    try:
        _deliver(
            message.channel,
            message.address,
            message.url,
            shown_first_name(message.link.client),
            message.hours,
            message.link.language,
        )
    finally:
        OutboundMessage.objects.filter(pk=message.pk).delete()
    return True


def on_client_erasing(sender, client: Client, **kwargs) -> dict:
    """Erasure: queued link messages (address, link) go, with their task rows."""
    messages = list(
        OutboundMessage.objects.filter(agency_id=client.agency_id, link__client=client).values_list(
            "pk", flat=True
        )
    )
    tasks = care.purge_task_rows("send_link_message", messages)
    removed = OutboundMessage.objects.filter(pk__in=messages).delete()[0]
    links = FeedbackLink.objects.filter(agency_id=client.agency_id, client=client)
    return {
        "link_messages_removed": removed,
        "queued_tasks": tasks,
        "audit_targets": [
            ("feedbacklink", pid) for pid in links.values_list("public_id", flat=True)
        ],
    }


def message_text(url: str, first_name: str, hours: int) -> str:
    greeting = _("Hello %(name)s,") % {"name": first_name} if first_name else _("Hello,")
    body = _(
        "please fill in a short form for your next session (it takes under a minute). "
        "The link works once and for %(hours)s hours:"
    ) % {"hours": hours}
    return f"{greeting}\n{body}\n{url}\n"


@task()
def send_feedback_link(
    channel: str, address: str, url: str, first_name: str, hours: int, language: str
) -> None:
    """Rows queued before messages were kept apart (``send_link_message`` since): still sent."""
    _deliver(channel, address, url, first_name, hours, language)


def _deliver(
    channel: str, address: str, url: str, first_name: str, hours: int, language: str
) -> None:
    """Send a form link by e-mail or SMS.

    The message holds the link and, where the agency allows it, the client's first name -
    nothing else about the client.
    """
    with translation.override(language or None):
        text = message_text(url, first_name, hours)
        if channel == "email":
            send_mail(_("Your session form"), text, None, [address])
        elif channel == "sms":
            sms.get_backend().send(address, text)
        else:
            raise ValueError(f"unknown channel {channel!r}")


@transaction.atomic
def create_kiosk_pass(
    actor,
    session: Session,
    *,
    instrument: str,
    rater: str = "client",
    language: str = "",
    ip: str | None = None,
) -> NewLink:
    """A short code and PIN for the waiting-room tablet (valid for ALLIANCE_KIOSK_MINUTES); the
    form opens in ``language``, else the client's, else the staff member's (``form_language``).
    Refused when the agency has switched the kiosk off."""
    if not session.episode.agency.kiosk_enabled:
        raise ServiceError(str(KIOSK_OFF))
    _check_form(session, instrument, rater)
    language = form_language(session, language)
    for _attempt in range(20):
        code = "".join(secrets.choice(KIOSK_ALPHABET) for _ in range(KIOSK_CODE_LENGTH))
        if not FeedbackLink.objects.filter(agency_id=session.agency_id, kiosk_code=code).exists():
            break
    else:  # pragma: no cover - 31^6 codes
        raise ServiceError("no free kiosk code")
    pin = "".join(secrets.choice("0123456789") for _ in range(KIOSK_PIN_DIGITS))
    token = secrets.token_urlsafe(TOKEN_BYTES)
    link = _create_link(
        actor,
        session,
        instrument,
        rater,
        token,
        channel=Channel.KIOSK,
        kiosk_code=code,
        pin_hash=_pin_hash(code, pin),
        language=language,
        expires_at=timezone.now() + datetime.timedelta(minutes=kiosk_minutes()),
    )
    audit(
        session.episode.agency,
        actor,
        "feedback.kiosk_created",
        link,
        ip,
        session=session.public_id,
        instrument=instrument,
        rater=rater,
        language=language,
    )
    return NewLink(link, token, code, pin)


@transaction.atomic
def revoke_link(actor, link: FeedbackLink, *, ip: str | None = None) -> FeedbackLink:
    link = FeedbackLink.objects.select_for_update().get(pk=link.pk)
    if link.used_at is None and link.revoked_at is None:
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at"])
        audit(link.session.episode.agency, actor, "feedback.link_revoked", link, ip)
    return link


def _usable(link: FeedbackLink) -> FeedbackLink:
    state = link.state()
    # A link that expired because its form was filled in (or that would replace a rating)
    # says so: the client learns the answers were given, not that the link is out of date.
    if state in (LinkState.OPEN, LinkState.EXPIRED) and already_rated(link):
        raise LinkError(ALREADY_RATED)
    if state != LinkState.OPEN:
        raise LinkError(state)
    if not link.session.episode.is_open:
        raise LinkError(LinkState.EXPIRED)
    return link


def usable(link: FeedbackLink) -> FeedbackLink:
    """The link when a client may still fill it in, else LinkError with the reason."""
    return _usable(link)


def already_rated(link: FeedbackLink) -> bool:
    """Whether the link's form was filled in for its session and rater (by any means)."""
    return Administration.objects.filter(
        agency_id=link.agency_id,
        session_id=link.session_id,
        instrument=link.instrument,
        rater=link.rater,
    ).exists()


def open_link(token: str) -> FeedbackLink:
    """The usable link for a token, or LinkError("invalid"/"expired"/"used"/"revoked")."""
    if not token or len(token) > 100:
        raise LinkError("invalid")
    link = (
        FeedbackLink.objects.select_related("session", "session__episode", "client")
        .filter(token_hash=hash_token(token), channel=Channel.LINK)
        .first()
    )
    if link is None:
        raise LinkError("invalid")
    return _usable(link)


def open_kiosk(agency: Agency, code: str, pin: str, *, ip: str | None = None) -> FeedbackLink:
    """Check a kiosk code and PIN; a wrong PIN counts against the pass (locked after the limit).

    Nothing is checked while the agency has the kiosk switched off (LinkError "kiosk_off")."""
    if not agency.kiosk_enabled:
        raise LinkError(KIOSK_OFF_REASON)
    code = code.strip().upper().replace(" ", "")
    failure = ""
    with transaction.atomic():
        link = (
            FeedbackLink.objects.select_for_update()
            .select_related("session", "session__episode", "client")
            .filter(agency=agency, channel=Channel.KIOSK, kiosk_code=code)
            .first()
        )
        if link is None or not code:
            raise LinkError("invalid")
        if link.state() == LinkState.LOCKED:
            raise LinkError(LinkState.LOCKED)
        # The PIN first: without it nobody learns whether a code was used, revoked or expired.
        if not hmac.compare_digest(link.pin_hash, _pin_hash(code, pin.strip())):
            link.failed_attempts += 1
            link.save(update_fields=["failed_attempts"])
            audit(agency, None, "feedback.kiosk_wrong_pin", link, ip, attempts=link.failed_attempts)
            # Raised after the block: the counted attempt must be committed, not rolled back.
            failure = LinkState.LOCKED if link.failed_attempts >= max_attempts() else "wrong_pin"
    if failure:
        raise LinkError(failure)
    return _usable(link)


def submit_link(
    link: FeedbackLink,
    *,
    items: Mapping[str, object],
    idempotency_key: str,
    ip: str | None = None,
) -> care.RecordResult:
    """Store the client's rating in the link's session and spend the link, all or nothing.

    Raises LinkError when the link was used, revoked or expired meanwhile, or when its form was
    filled in already (``ALREADY_RATED``: a link never replaces a rating), ResponseError or
    ServiceError for a bad rating; in every case nothing is stored and the link stays as it was.
    The other open links and kiosk passes of the same session, form and rater expire with it.
    """
    try:
        return _submit_link(link, items=items, idempotency_key=idempotency_key, ip=ip)
    except AlreadyRatedError:
        raise LinkError(ALREADY_RATED) from None


def _submit_link(
    link: FeedbackLink,
    *,
    items: Mapping[str, object],
    idempotency_key: str,
    ip: str | None,
) -> care.RecordResult:
    with transaction.atomic():
        link = (
            FeedbackLink.objects.select_for_update()
            .select_related("session", "session__episode", "client")
            .get(pk=link.pk)
        )
        _usable(link)
        result = care.record_administration(
            None,
            link.session,
            instrument=link.instrument,
            idempotency_key=idempotency_key,
            items=items,
            rater=link.rater,
            entry_mode=EntryMode.LINK,
            ip=ip,
        )
        link.used_at = timezone.now()
        link.save(update_fields=["used_at"])
        others = list(
            FeedbackLink.objects.filter(
                agency_id=link.agency_id,
                session_id=link.session_id,
                instrument=link.instrument,
                rater=link.rater,
                used_at__isnull=True,
                revoked_at__isnull=True,
                expires_at__gt=link.used_at,
            )
            .exclude(pk=link.pk)
            .values_list("public_id", flat=True)
        )
        if others:
            FeedbackLink.objects.filter(agency_id=link.agency_id, public_id__in=others).update(
                expires_at=link.used_at
            )
        audit(
            link.session.episode.agency,
            None,
            "feedback.link_used",
            link,
            ip,
            administration=result.administration.public_id,
            expired_links=others,
        )
    return result


def pending_links(session: Session) -> list[FeedbackLink]:
    return [
        link
        for link in FeedbackLink.objects.filter(agency_id=session.agency_id, session=session)
        if link.state() == LinkState.OPEN
    ]


# --- groups ---------------------------------------------------------------------------------


@transaction.atomic
def create_group(
    actor, agency: Agency, *, name: str, leader, members: Iterable[Client], ip: str | None = None
) -> Group:
    name = name.strip()
    if not name:
        raise ServiceError(_("Give the group a name."))
    membership = leader.agency_membership
    if membership is None or membership.agency_id != agency.pk:
        raise ServiceError(_("The leader is not in this agency."))
    if Group.objects.filter(agency=agency, name=name).exists():
        raise ServiceError(_("There is already a group with this name."))
    group = Group.objects.create(agency=agency, name=name, leader=leader)
    added = []
    for client in members:
        if client.agency_id != agency.pk:
            raise ServiceError(_("A member belongs to another agency."))
        GroupMember.objects.get_or_create(agency=agency, group=group, client=client)
        added.append(client.public_id)
    audit(agency, actor, "group.created", group, ip, members=added)
    return group


@transaction.atomic
def add_member(actor, group: Group, client: Client, *, ip: str | None = None) -> None:
    if client.agency_id != group.agency_id:
        raise ServiceError(_("A member belongs to another agency."))
    _member, created = GroupMember.objects.get_or_create(
        agency_id=group.agency_id, group=group, client=client
    )
    if created:
        audit(group.agency, actor, "group.member_added", group, ip, client=client.public_id)


def record_group_rating(
    actor,
    group: Group,
    client: Client,
    *,
    on: datetime.date,
    items: Mapping[str, object],
    idempotency_key: str,
    ip: str | None = None,
) -> care.RecordResult:
    """A member's GSRS for the group session of a day, kept in the member's own episode.

    It lands in a group session (``care.start_group_session``), numbered apart from the
    member's individual sessions and never counted among them.
    """
    if not GroupMember.objects.filter(
        agency_id=group.agency_id, group=group, client=client
    ).exists():
        raise ServiceError(_("This client is not a member of the group."))
    with transaction.atomic():
        session = care.start_group_session(actor, client, on=on, ip=ip)
        return care.record_administration(
            actor,
            session,
            instrument=care.GROUP_FORM,
            idempotency_key=idempotency_key,
            items=items,
            rater="client",
            ip=ip,
        )


def group_form():
    return instrument_for(care.GROUP_FORM)


def _create_link(actor, session, instrument: str, rater: str, token: str, **fields) -> FeedbackLink:
    """A link row for one form of one session; only the token's hash is stored."""
    return FeedbackLink.objects.create(
        agency_id=session.agency_id,
        session=session,
        client=session.episode.client,
        instrument=instrument,
        rater=rater,
        token_hash=hash_token(token),
        created_by=actor,
        **fields,
    )
