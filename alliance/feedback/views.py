"""Client-facing forms (link, kiosk), the therapist's link actions, and group sessions.

Client pages use a minimal layout without navigation: a client never sees a caseload, another
client, or anything but the one form the link or kiosk pass opens. Every failure (unknown,
tampered, expired, used, revoked) gets a plain page and stores nothing.
"""

from __future__ import annotations

import io
import json

import qrcode
import qrcode.image.svg
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from alliance.accounts.models import Agency
from alliance.accounts.network import client_ip
from alliance.accounts.permissions import active_membership, is_admin
from alliance.accounts.sealing import seal, unseal
from alliance.audit.services import record_request
from alliance.care.feedback import instrument_for
from alliance.care.forms import error_text, refused
from alliance.care.models import Administration, Client, Session
from alliance.care.rating_form import FormState, NotRated, keep_posted, live_stamp, read_items
from alliance.care.services import GROUP_FORM, ServiceError
from alliance.care.visibility import get_visible_client_or_404, visible_clients
from alliance.science.instruments import ResponseError

from . import forms, services
from .models import Channel, FeedbackLink, Group, GroupMember, LinkState
from .panel import LINK_FORM_ERROR

KIOSK_SESSION_KEY = "feedback_kiosk_link"
KIOSK_THANKED = "feedback_kiosk_thanked"
# The links made in this browser session whose page may still show them (link id -> token and
# channel), so that "Link ready" is a page of its own that a reload shows again; a few only.
READY_LINKS = "feedback_ready_links"
READY_LINKS_KEPT = 5


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


# --- what a client sees -----------------------------------------------------------------------

PROBLEMS = {
    "invalid": (
        404,
        gettext_lazy("This link is not valid"),
        gettext_lazy(
            "Please check that you opened the whole link, or ask your therapist for a new one."
        ),
    ),
    LinkState.EXPIRED: (
        410,
        gettext_lazy("This link has expired"),
        gettext_lazy("Links work for a limited time. Please ask your therapist for a new one."),
    ),
    LinkState.USED: (
        410,
        gettext_lazy("This form was already sent"),
        gettext_lazy("Thank you: your answers arrived. A link works only once."),
    ),
    LinkState.REVOKED: (
        410,
        gettext_lazy("This link was withdrawn"),
        gettext_lazy("Your therapist withdrew this link. Please ask them for a new one."),
    ),
    LinkState.LOCKED: (
        403,
        gettext_lazy("Too many attempts"),
        gettext_lazy("This code is locked after too many wrong PINs. Please ask at the desk."),
    ),
    services.KIOSK_OFF_REASON: (
        403,
        services.KIOSK_OFF,
        gettext_lazy("Please ask at the desk: your therapist can give you a link instead."),
    ),
    services.ALREADY_RATED: (
        410,
        gettext_lazy("This form was already filled in"),
        gettext_lazy(
            "Your answers for this session have already been given, so this link is no longer "
            "needed. Thank you."
        ),
    ),
}


def _problem(request: HttpRequest, reason: str, again: str = "") -> HttpResponse:
    status, title, text = PROBLEMS.get(reason, PROBLEMS["invalid"])
    context = {"title": title, "text": text, "reason": reason, "again": again}
    return _no_store(render(request, "feedback/problem.html", context, status=status))


def _client_form(link: FeedbackLink, language: str) -> FormState:
    instrument = instrument_for(link.instrument, language)
    return FormState(instrument, instrument.name, _("Send"), rater=link.rater)


def _activate_link_language(link: FeedbackLink) -> str:
    if link.language:
        translation.activate(link.language)
    return translation.get_language() or "en"


def _render_client_form(
    request: HttpRequest, link: FeedbackLink, form: FormState, status: int = 200
) -> HttpResponse:
    context = {
        "form": form,
        "first_name": services.shown_first_name(link.client),
        "confirm_required": True,
        "action": request.path,
        # The language switch belongs to the rating form, so switching keeps the lines set.
        "switch_form": "client-form",
    }
    return _no_store(render(request, "feedback/form.html", context, status=status))


def _switch_language(request: HttpRequest, link: FeedbackLink, again: str = "") -> HttpResponse:
    """The client changed the language on the form itself: the same form again in the new
    language, with the lines they had already set (nothing is stored, the link stays open)."""
    switch = forms.SwitchLanguageForm(request.POST)
    try:
        if not switch.is_valid():
            raise ServiceError(error_text(switch))
        link = services.switch_language(
            link, switch.cleaned_data["language"], ip=client_ip(request)
        )
    except services.LinkError as error:
        return _problem(request, error.reason, again=again)
    except ServiceError as error:
        form = _client_form(link, _activate_link_language(link))
        form.error = str(error)
        keep_posted(form, request.POST)
        return _render_client_form(request, link, form, status=400)
    form = _client_form(link, _activate_link_language(link))
    keep_posted(form, request.POST)
    # One rating however often the language changes: the key issued first goes on with the form.
    key = request.POST.get("idempotency_key", "")
    if 0 < len(key) <= 64:
        form.key = key
    return _render_client_form(request, link, form)


def _handle_submission(request: HttpRequest, link: FeedbackLink, form: FormState, again: str = ""):
    """None on success, else the response to show (nothing stored)."""
    if "switch_language" in request.POST:
        return _switch_language(request, link, again)
    try:
        items = read_items(form, request.POST)
        services.submit_link(
            link,
            items=items,
            idempotency_key=request.POST.get("idempotency_key", ""),
            ip=client_ip(request),
        )
    except services.LinkError as error:
        return _problem(request, error.reason, again=again)
    except ResponseError as error:
        form.refuse(error)
    except (NotRated, ServiceError) as error:
        form.error = str(error)
    else:
        return None
    keep_posted(form, request.POST)
    return _render_client_form(request, link, form, status=400)


@never_cache
@require_http_methods(["GET", "POST"])
def link_form(request: HttpRequest, token: str) -> HttpResponse:
    try:
        link = services.open_link(token)
    except services.LinkError as error:
        return _problem(request, error.reason)
    form = _client_form(link, _activate_link_language(link))
    if request.method == "POST":
        response = _handle_submission(request, link, form)
        if response is not None:
            return response
        return _no_store(render(request, "feedback/thanks.html", {}))
    return _render_client_form(request, link, form)


# --- kiosk ------------------------------------------------------------------------------------


def _kiosk_agency(agency_id: str) -> Agency:
    return get_object_or_404(Agency, public_id=agency_id)


@never_cache
@require_http_methods(["GET", "POST"])
def kiosk(request: HttpRequest, agency_id: str) -> HttpResponse:
    """The waiting-room tablet: a code and a PIN open one form; nothing else is reachable."""
    agency = _kiosk_agency(agency_id)
    request.session.pop(KIOSK_SESSION_KEY, None)
    if not agency.kiosk_enabled:
        return _problem(request, services.KIOSK_OFF_REASON)
    entry = reverse("feedback:kiosk", kwargs={"agency_id": agency.public_id})
    error = ""
    status = 200
    # Shown once, on the code entry the tablet returns to after each client.
    thanked = request.method == "GET" and bool(request.session.pop(KIOSK_THANKED, False))
    if request.method == "POST":
        # Wrong PINs count against the pass whose code was typed (services.open_kiosk locks
        # that pass); the tablet itself is never locked, so the next client can go on.
        form = forms.KioskForm(request.POST)
        try:
            if not form.is_valid():
                raise services.LinkError("invalid")
            link = services.open_kiosk(
                agency, form.cleaned_data["code"], form.cleaned_data["pin"], ip=client_ip(request)
            )
        except services.LinkError as failure:
            if failure.reason in PROBLEMS and failure.reason != "invalid":
                return _problem(request, failure.reason, again=entry)
            error = _("That code and PIN do not match an open form. Please try again.")
            status = 400
        else:
            request.session[KIOSK_SESSION_KEY] = link.pk
            return redirect("feedback:kiosk_form", agency_id=agency.public_id)
    context = {"error": error, "agency": agency, "thanked": thanked}
    return _no_store(render(request, "feedback/kiosk.html", context, status=status))


@never_cache
@require_http_methods(["GET", "POST"])
def kiosk_form(request: HttpRequest, agency_id: str) -> HttpResponse:
    agency = _kiosk_agency(agency_id)
    if not agency.kiosk_enabled:
        request.session.pop(KIOSK_SESSION_KEY, None)
        return _problem(request, services.KIOSK_OFF_REASON)
    link_pk = request.session.get(KIOSK_SESSION_KEY)
    link = FeedbackLink.objects.filter(pk=link_pk, agency=agency).first() if link_pk else None
    if link is None:
        return redirect("feedback:kiosk", agency_id=agency.public_id)
    entry = reverse("feedback:kiosk", kwargs={"agency_id": agency.public_id})
    try:
        services.usable(link)
    except services.LinkError as failure:
        request.session.pop(KIOSK_SESSION_KEY, None)
        return _problem(request, failure.reason, again=entry)
    form = _client_form(link, _activate_link_language(link))
    if request.method == "POST":
        response = _handle_submission(request, link, form, again=entry)
        if response is not None:
            return response
        # Back to the code entry for the next client (it thanks this one).
        request.session.pop(KIOSK_SESSION_KEY, None)
        request.session[KIOSK_THANKED] = True
        return redirect(entry)
    return _render_client_form(request, link, form)


# --- the therapist's side ----------------------------------------------------------------------


def _visible_session(user, session_id: str) -> Session:
    """A session of a client the user may see (404 otherwise, also across agencies)."""
    session = (
        Session.objects.select_related("episode", "episode__client")
        .filter(public_id=session_id)
        .first()
    )
    if session is None:
        raise Http404("No such session")
    get_visible_client_or_404(user, session.episode.client.public_id)
    return session


def _session_url(session: Session) -> str:
    return reverse(
        "session",
        kwargs={"public_id": session.episode.client.public_id, "number": session.number},
    )


def qr_svg(url: str) -> str:
    """The link as an inline SVG QR code (no image file, nothing from outside the server)."""
    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    out = io.BytesIO()
    image.save(out)
    svg = out.getvalue().decode()
    svg = svg[svg.index("<svg") :]
    label = _("QR code of the link")
    return svg.replace("<svg", f'<svg role="img" aria-label="{label}"', 1)


@require_POST
@login_required
def create_link(request: HttpRequest, session_id: str) -> HttpResponse:
    session = _visible_session(request.user, session_id)
    form = forms.LinkForm(request.POST)
    if not form.is_valid():
        if "address" in form.errors and not wants_plain(request):
            # Shown in the form on the session page; nothing was created, sent or kept.
            request.session[LINK_FORM_ERROR] = {
                "session": session.public_id,
                "message": error_text(form),
                "channel": form.cleaned_data.get("channel", ""),
            }
            return redirect(_session_url(session) + "#links-heading")
        return refused(form)
    fields = form.cleaned_data
    channel = fields["channel"]
    try:
        new = services.create_link(
            request.user,
            session,
            instrument=fields["instrument"],
            rater=fields["rater"],
            language=fields["language"],
            ip=client_ip(request),
        )
        url = request.build_absolute_uri(reverse("feedback:link_form", kwargs={"token": new.token}))
        if channel in ("email", "sms"):
            services.send_link(
                request.user,
                new,
                channel=channel,
                address=fields["address"],
                url=url,
                ip=client_ip(request),
            )
    except ServiceError as error:
        return refused(error)
    # Redirect after post: the page of the new link (its id only in the address, never the
    # token or the client's address), so a reload shows it again and makes no other link.
    _keep_ready(request, new.link.public_id, {"token": new.token, "channel": channel})
    return redirect("feedback:link_ready", link_id=new.link.public_id)


def _keep_ready(request: HttpRequest, link_id: str, secret: dict[str, str]) -> None:
    """Hold what the "ready" page shows once made (a token or a PIN) in the server-side session,
    sealed (a copy of the session table opens no client's form), never in the address; only the
    last few are kept."""
    ready = dict(request.session.get(READY_LINKS, {}))
    ready[link_id] = seal(json.dumps(secret))
    request.session[READY_LINKS] = dict(list(ready.items())[-READY_LINKS_KEPT:])


def _kept_ready(request: HttpRequest, link_id: str) -> dict[str, str] | None:
    sealed = request.session.get(READY_LINKS, {}).get(link_id)
    return json.loads(unseal(sealed)) if isinstance(sealed, str) else None


def wants_plain(request: HttpRequest) -> bool:
    """A script (not the page's form) asked: it gets the message as plain text."""
    return request.headers.get("X-Requested-With") == "fetch"


@require_safe
@login_required
def link_ready(request: HttpRequest, link_id: str) -> HttpResponse:
    """The link just made, shown to the therapist who made it (from their browser session)."""
    link = get_object_or_404(FeedbackLink.objects.select_related("session"), public_id=link_id)
    session = _visible_session(request.user, link.session.public_id)
    kept = _kept_ready(request, link.public_id)
    if link.channel == Channel.KIOSK:
        return _kiosk_ready(request, link, session, kept)
    url = ""
    if kept and link.state() == LinkState.OPEN:
        url = request.build_absolute_uri(
            reverse("feedback:link_form", kwargs={"token": kept["token"]})
        )
    context = {
        "url": url,
        "qr": qr_svg(url) if url else "",
        "link": link,
        "state_label": link.get_state_display(),
        "channel": kept["channel"] if kept else "",
        "form_name": instrument_for(link.instrument).name,
        "back": _session_url(session),
        "hours": max(1, round((link.expires_at - link.created_at).total_seconds() / 3600)),
    }
    return _no_store(render(request, "feedback/link_ready.html", context))


@require_POST
@login_required
def create_kiosk(request: HttpRequest, session_id: str) -> HttpResponse:
    session = _visible_session(request.user, session_id)
    form = forms.KioskPassForm(request.POST)
    if not form.is_valid():
        return refused(form)
    try:
        new = services.create_kiosk_pass(
            request.user,
            session,
            instrument=form.cleaned_data["instrument"],
            rater=form.cleaned_data["rater"],
            language=form.cleaned_data["language"],
            ip=client_ip(request),
        )
    except ServiceError as error:
        return refused(error)
    # Redirect after post, as for links: a reload shows the same code and PIN, makes no new pass.
    _keep_ready(request, new.link.public_id, {"pin": new.pin, "channel": Channel.KIOSK})
    return redirect("feedback:link_ready", link_id=new.link.public_id)


def _kiosk_ready(
    request: HttpRequest, link: FeedbackLink, session: Session, kept: dict[str, str] | None
) -> HttpResponse:
    """The code and PIN of a kiosk pass; the PIN only in the browser that made it, while open."""
    shown = kept is not None and link.state() == LinkState.OPEN
    context = {
        "code": link.kiosk_code if shown else "",
        "pin": kept["pin"] if shown and kept else "",
        "kiosk_url": request.build_absolute_uri(
            reverse("feedback:kiosk", kwargs={"agency_id": session.episode.agency.public_id})
        ),
        "back": _session_url(session),
        "minutes": max(1, round((link.expires_at - link.created_at).total_seconds() / 60)),
        "form_name": instrument_for(link.instrument).name,
        "state_label": link.get_state_display(),
    }
    return _no_store(render(request, "feedback/kiosk_ready.html", context))


@require_POST
@login_required
def revoke_link(request: HttpRequest, link_id: str) -> HttpResponse:
    link = get_object_or_404(FeedbackLink.objects.select_related("session"), public_id=link_id)
    session = _visible_session(request.user, link.session.public_id)
    services.revoke_link(request.user, link, ip=client_ip(request))
    return redirect(_session_url(session))


@require_safe
@login_required
def live(request: HttpRequest, session_id: str) -> JsonResponse:
    """A small stamp the open session page polls; it changes when a rating arrives."""
    session = _visible_session(request.user, session_id)
    response = JsonResponse({"stamp": live_stamp(session)})
    response["Cache-Control"] = "no-store"
    return response


# --- groups -----------------------------------------------------------------------------------


def _visible_groups(user):
    membership = active_membership(user)
    if membership is None:
        return Group.objects.none()
    groups = Group.objects.filter(agency=membership.agency_id)
    if is_admin(user):
        return groups
    return groups.filter(leader=user)


def _group_or_404(user, group_id: str) -> Group:
    group = _visible_groups(user).filter(public_id=group_id).first()
    if group is None:
        raise Http404("No such group")
    return group


def _members(user, group: Group) -> list[Client]:
    """The group's members the user may see (through the visibility helper)."""
    member_ids = GroupMember.objects.filter(agency_id=group.agency_id, group=group).values("client")
    return list(visible_clients(user).filter(pk__in=member_ids).order_by("display_code"))


@require_safe
@login_required
def groups(request: HttpRequest) -> HttpResponse:
    context = {"groups": _visible_groups(request.user).order_by("name")}
    return render(request, "feedback/groups.html", context)


@require_http_methods(["GET", "POST"])
@login_required
def new_group(request: HttpRequest) -> HttpResponse:
    membership = active_membership(request.user)
    if membership is None:
        raise Http404("No agency")
    candidates = visible_clients(request.user).filter(episodes__end_date__isnull=True).distinct()
    error = ""
    if request.method == "POST":
        form = forms.GroupForm(request.POST, candidates=candidates)
        try:
            if not form.is_valid():
                raise ServiceError(error_text(form))
            group = services.create_group(
                request.user,
                membership.agency,
                name=form.cleaned_data["name"],
                leader=request.user,
                members=form.chosen(),
                ip=client_ip(request),
            )
        except ServiceError as failure:
            error = str(failure)
        else:
            return redirect("feedback:group", group_id=group.public_id)
    context = {"candidates": candidates.order_by("display_code"), "error": error}
    return render(request, "feedback/group_new.html", context, status=400 if error else 200)


@require_safe
@login_required
def group_detail(request: HttpRequest, group_id: str) -> HttpResponse:
    group = _group_or_404(request.user, group_id)
    members = _members(request.user, group)
    ratings = (
        Administration.objects.filter(
            agency_id=group.agency_id, instrument=GROUP_FORM, episode__client__in=members
        )
        .select_related("session", "episode__client")
        .order_by("session__date")
    )
    dates = sorted({a.session.date for a in ratings}, reverse=True)[:8]
    table = {(a.episode.client_id, a.session.date): a.total for a in ratings}
    form = services.group_form()
    cutoff = form.alliance_cutoff
    rows = [
        {
            "client": member,
            "scores": [
                {
                    "total": table.get((member.pk, day)),
                    "low": cutoff is not None
                    and table.get((member.pk, day)) is not None
                    and table[(member.pk, day)] < cutoff,
                }
                for day in dates
            ],
        }
        for member in members
    ]
    # A read of clinical data (every member's alliance scores): on the trail like a client page.
    record_request(
        request, group.agency_id, "group.viewed", group, members=len(members), dates=len(dates)
    )
    context = {
        "group": group,
        "rows": rows,
        "dates": dates,
        "cutoff": cutoff,
        "form_name": form.name,
        "today": timezone.localdate(),
    }
    return render(request, "feedback/group.html", context)


@require_http_methods(["GET", "POST"])
@login_required
def group_rate(request: HttpRequest, group_id: str) -> HttpResponse:
    """The end of a group session: the GSRS for each member in turn, with skip."""
    group = _group_or_404(request.user, group_id)
    members = _members(request.user, group)
    if not members:
        return redirect("feedback:group", group_id=group.public_id)
    today = timezone.localdate()
    rated = set(
        Administration.objects.filter(
            agency_id=group.agency_id,
            instrument=GROUP_FORM,
            episode__client__in=members,
            session__date=today,
        ).values_list("episode__client_id", flat=True)
    )
    by_id = {m.public_id: m for m in members}
    current = by_id.get(request.GET.get("member", "")) or next(
        (m for m in members if m.pk not in rated), members[0]
    )
    language = translation.get_language() or "en"
    instrument = instrument_for(GROUP_FORM, language)
    form = FormState(instrument, instrument.name, _("Save and next"))
    status = 200
    if request.method == "POST":
        try:
            services.record_group_rating(
                request.user,
                group,
                current,
                on=today,
                items=read_items(form, request.POST),
                idempotency_key=request.POST.get("idempotency_key", ""),
                ip=client_ip(request),
            )
        except ResponseError as error:
            form.refuse(error)
        except (NotRated, ServiceError) as error:
            form.error = str(error)
        else:
            rated.add(current.pk)
            following = _next_member(members, current, rated)
            url = reverse("feedback:group_rate", kwargs={"group_id": group.public_id})
            if following is None:
                return redirect("feedback:group", group_id=group.public_id)
            return redirect(f"{url}?member={following.public_id}")
        keep_posted(form, request.POST)
        status = 400
    following = _next_member(members, current, rated | {current.pk})
    context = {
        "group": group,
        "form": form,
        "member": current,
        "position": members.index(current) + 1,
        "count": len(members),
        "skip": following,
        "done": len(rated),
        "confirm_required": True,
        "action": request.get_full_path(),
    }
    return render(request, "feedback/group_rate.html", context, status=status)


def _next_member(members: list[Client], current: Client, rated: set[int]) -> Client | None:
    start = members.index(current)
    for offset in range(1, len(members) + 1):
        candidate = members[(start + offset) % len(members)]
        if candidate.pk not in rated:
            return candidate
    return None
