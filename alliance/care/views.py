"""Thin views: read through the visibility helper, act through the services."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from alliance.science.instruments import Instrument, ResponseError

from . import services
from .caseload import CaseloadQuery, caseload_episodes, days_since
from .feedback import EpisodeFeedback, instrument_for
from .models import Administration, Attendance, Client, Ending, EntryMode, Episode, Session, Zone
from .progress import model_label, progress_svg
from .visibility import get_visible_client_or_404

ZONE_LABELS = {
    Zone.RED: gettext_lazy("Red"),
    Zone.ORANGE: gettext_lazy("Orange"),
    Zone.GREEN: gettext_lazy("Green"),
    Zone.GREY: gettext_lazy("Grey"),
    Zone.NONE: gettext_lazy("No data"),
}


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def wants_fragment(request: HttpRequest) -> bool:
    return request.headers.get("X-Requested-With") == "fetch"


@require_GET
@login_required
def caseload(request: HttpRequest) -> HttpResponse:
    query = CaseloadQuery.from_params(request.GET)
    today = timezone.localdate()
    rows = [
        {
            "episode": episode,
            "client": episode.client,
            "zone_label": ZONE_LABELS.get(episode.zone, episode.zone),
            "alliance_label": _alliance_label(episode.alliance_flag),
            "days": days_since(episode.last_session_date, today),
        }
        for episode in caseload_episodes(request.user, query)
    ]
    context = {
        "rows": rows,
        "query": query,
        "zones": [
            (zone, ZONE_LABELS[zone])
            for zone in (Zone.RED, Zone.ORANGE, Zone.GREY, Zone.GREEN, Zone.NONE)
        ],
        "columns": _sort_columns(query),
    }
    return render(request, "care/caseload.html", context)


# Who filled in the form: the client, or a collateral rater (how they think the client is doing).
RATERS = (
    ("client", gettext_lazy("Client")),
    ("parent", gettext_lazy("Parent or carer")),
    ("partner", gettext_lazy("Partner")),
    ("family", gettext_lazy("Other family member")),
    ("teacher", gettext_lazy("Teacher")),
    ("caseworker", gettext_lazy("Caseworker")),
    ("other", gettext_lazy("Other")),
)

CASELOAD_COLUMNS = (
    ("client", gettext_lazy("Client")),
    ("last_ors", gettext_lazy("Last ORS")),
    ("zone", gettext_lazy("Zone")),
    ("alliance", gettext_lazy("Alliance")),
    ("sessions", gettext_lazy("Sessions")),
    ("days", gettext_lazy("Days since last session")),
)


def _sort_columns(query: CaseloadQuery) -> list[dict]:
    """Header links: clicking the sorted column again reverses it; filters are kept."""
    columns = []
    for key, label in CASELOAD_COLUMNS:
        current = query.sort == key
        params = {"sort": f"-{key}" if current and not query.descending else key}
        if query.zone:
            params["zone"] = query.zone
        if query.search:
            params["q"] = query.search
        columns.append(
            {
                "label": label,
                "url": "?" + urlencode(params),
                "aria_sort": ("descending" if query.descending else "ascending") if current else "",
            }
        )
    return columns


def _alliance_label(flag: str) -> str:
    return {Zone.RED: _("Check alliance"), Zone.GREEN: _("OK"), Zone.GREY: _("No data")}.get(
        flag, _("No data")
    )


def _current_episode(client: Client) -> Episode:
    episode = client.episodes.order_by("end_date", "-start_date").first()
    if episode is None:
        raise Http404("No episode")
    return episode


def _administrations(episode: Episode) -> list[Administration]:
    return list(
        Administration.objects.filter(episode=episode)
        .select_related("session")
        .order_by("session__number", "instrument", "rater")
    )


@require_POST
@login_required
def start_session(request: HttpRequest, public_id: str) -> HttpResponse:
    client = get_visible_client_or_404(request.user, public_id)
    try:
        session = services.start_session(request.user, client, ip=client_ip(request))
    except services.ServiceError:
        raise Http404("No open episode") from None
    return redirect("session", public_id=client.public_id, number=session.number)


@require_GET
@login_required
def client_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    client = get_visible_client_or_404(request.user, public_id)
    episode = _current_episode(client)
    administrations = _administrations(episode)
    feedback = services.episode_feedback(episode, administrations)
    sessions = list(episode.sessions.order_by("number"))
    context = {
        "client": client,
        "episode": episode,
        "graph": progress_svg(episode, administrations, feedback),
        "model_label": model_label(feedback),
        "session_rows": _session_rows(episode, sessions, administrations, feedback),
        "alerts": list(episode.alerts.order_by("-session_number", "code")),
        "endings": Ending.choices,
    }
    return render(request, "care/client.html", context)


def _session_rows(
    episode: Episode,
    sessions: list[Session],
    administrations: list[Administration],
    feedback: EpisodeFeedback,
) -> list[dict]:
    totals: dict[tuple[int, str], float] = {
        (a.session.number, a.instrument): a.total for a in administrations if a.rater == "client"
    }
    return [
        {
            "session": session,
            "outcome": totals.get((session.number, episode.outcome_instrument)),
            "alliance": totals.get((session.number, episode.alliance_instrument)),
            "zone": _zone_text(feedback.signals.colours.get(session.number)),
        }
        for session in sessions
    ]


def _zone_text(colour: str | None) -> str:
    if colour is None:
        return ""
    if colour == Zone.GREY:
        return _("Grey (first session)")
    return str(ZONE_LABELS.get(colour, colour))


@require_POST
@login_required
def close_episode(request: HttpRequest, public_id: str) -> HttpResponse:
    client = get_visible_client_or_404(request.user, public_id)
    episode = _current_episode(client)
    try:
        services.close_episode(
            request.user, episode, request.POST.get("ending", ""), ip=client_ip(request)
        )
    except services.ServiceError as error:
        return HttpResponse(str(error), status=400, content_type="text/plain; charset=utf-8")
    return redirect("client", public_id=client.public_id)


@dataclass
class FormState:
    """One instrument's form on the session page: definition, saved row, error."""

    instrument: Instrument
    legend: str
    button: str
    saved: Administration | None = None
    error: str = ""
    error_item: str | None = None
    key: str = field(default_factory=lambda: secrets.token_hex(16))

    def shown_total(self) -> float:
        """The saved total, or the total of the sliders' starting positions."""
        if self.saved is not None:
            return self.saved.total
        return sum(row["value"] for row in self.item_rows())

    def item_rows(self) -> list[dict]:
        saved_items = self.saved.items if self.saved else {}
        return [
            {
                "item": item,
                "value": saved_items.get(item.key, (item.min + item.max) / 2),
                "invalid": self.error_item == item.key,
            }
            for item in self.instrument.items
        ]


def _forms_for(episode: Episode) -> dict[str, FormState]:
    states = {}
    for code in (episode.outcome_instrument, episode.alliance_instrument):
        instrument = instrument_for(code)
        short_name = instrument.short_name or code.upper()
        states[code] = FormState(
            instrument, instrument.name, _("Save %(name)s") % {"name": short_name}
        )
    return states


def _session_of(request: HttpRequest, public_id: str, number: int) -> tuple[Client, Session]:
    client = get_visible_client_or_404(request.user, public_id)
    session = get_object_or_404(
        Session.objects.select_related("episode", "episode__client"),
        agency_id=client.agency_id,
        episode__client=client,
        number=number,
        episode__end_date__isnull=True,
    )
    return client, session


@require_http_methods(["GET", "POST"])
@login_required
def session_page(request: HttpRequest, public_id: str, number: int) -> HttpResponse:
    client, session = _session_of(request, public_id, number)
    episode = session.episode
    forms = _forms_for(episode)
    status = 200
    if request.method == "POST":
        code = request.POST.get("instrument", "")
        if code not in forms:
            return HttpResponse(
                _("Unknown instrument."), status=400, content_type="text/plain; charset=utf-8"
            )
        error = _record(request, session, forms[code])
        if error is None and not wants_fragment(request):
            return redirect("session", public_id=client.public_id, number=session.number)
        status = 200 if error is None else 400
    return _render_session(request, client, session, forms, status)


def _record(request: HttpRequest, session: Session, form: FormState) -> str | None:
    code = form.instrument.code
    items = {item.key: request.POST.get(f"{code}-{item.key}", "") for item in form.instrument.items}
    total = request.POST.get(f"{code}-total", "").strip()
    try:
        services.record_administration(
            request.user,
            session,
            instrument=code,
            idempotency_key=request.POST.get("idempotency_key", ""),
            items=None if total else items,
            total=total or None,
            entry_mode=request.POST.get("entry_mode", EntryMode.IN_SESSION),
            rater=request.POST.get("rater", "client") or "client",
            rater_relationship=request.POST.get("relationship", "").strip()[:100],
            ip=client_ip(request),
        )
    except ResponseError as error:
        form.error, form.error_item = str(error), error.item
        return form.error
    except services.ServiceError as error:
        form.error = str(error)
        return form.error
    return None


def _render_session(
    request: HttpRequest,
    client: Client,
    session: Session,
    forms: dict[str, FormState],
    status: int,
) -> HttpResponse:
    episode = session.episode
    administrations = _administrations(episode)
    for administration in administrations:
        if administration.session_id == session.pk and administration.rater == "client":
            state = forms.get(administration.instrument)
            if state is not None:
                state.saved = administration
    feedback = services.episode_feedback(episode, administrations)
    outcome_form = forms[episode.outcome_instrument]
    alliance_form = forms[episode.alliance_instrument]
    alliance_instrument = alliance_form.instrument
    context = {
        "client": client,
        "episode": episode,
        "session": session,
        "outcome_form": outcome_form,
        "alliance_form": alliance_form,
        "entry_modes": EntryMode.choices,
        "collateral": [
            a for a in administrations if a.session_id == session.pk and a.rater != "client"
        ],
        "raters": RATERS,
        "attendance_choices": Attendance.choices,
        "zone_colour": feedback.signals.colours.get(session.number, ""),
        "zone_text": _zone_text(feedback.signals.colours.get(session.number))
        if outcome_form.saved
        else "",
        "prompts": [a for a in feedback.signals.alerts if a.session_number == session.number],
        "alliance_below": bool(
            alliance_form.saved
            and alliance_instrument.alliance_cutoff is not None
            and alliance_form.saved.total < alliance_instrument.alliance_cutoff
        ),
        "alliance_cutoff": alliance_instrument.alliance_cutoff,
        "alliance_colour": feedback.signals.alliance_colours.get(session.number),
        "graph": progress_svg(episode, administrations, feedback),
        "model_label": model_label(feedback),
        "handover": request.GET.get("handover") == "1",
        "page_url": reverse(
            "session", kwargs={"public_id": client.public_id, "number": session.number}
        ),
    }
    template = "care/session.html#live" if wants_fragment(request) else "care/session.html"
    return render(request, template, context, status=status)


@require_POST
@login_required
def set_attendance(request: HttpRequest, public_id: str, number: int) -> HttpResponse:
    client, session = _session_of(request, public_id, number)
    try:
        services.set_attendance(
            request.user, session, request.POST.get("attendance", ""), ip=client_ip(request)
        )
    except services.ServiceError as error:
        return HttpResponse(str(error), status=400, content_type="text/plain; charset=utf-8")
    return redirect("session", public_id=client.public_id, number=session.number)


@require_POST
@login_required
def undo_administration(
    request: HttpRequest, public_id: str, number: int, administration_id: str
) -> HttpResponse:
    client, session = _session_of(request, public_id, number)
    administration = get_object_or_404(
        Administration, agency_id=client.agency_id, session=session, public_id=administration_id
    )
    services.undo_administration(request.user, administration, ip=client_ip(request))
    if wants_fragment(request):
        return _render_session(request, client, session, _forms_for(session.episode), 200)
    return redirect("session", public_id=client.public_id, number=session.number)
