"""Thin views: read through the visibility helper, act through the services."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from alliance.accounts.network import client_ip
from alliance.accounts.tenancy import AuthenticatedHttpRequest
from alliance.audit.services import record_request
from alliance.science.instruments import ResponseError
from alliance.science.instruments.age_bands import age_band_for_age

from . import services
from .caseload import DEFAULT_STATE, CaseloadQuery, caseload_episodes, days_since
from .feedback import EpisodeFeedback, instrument_for, safety_message
from .forms import (
    MANUAL_ENTRY_MODES,
    AttendanceForm,
    ClientLanguageForm,
    CloseEpisodeForm,
    NewClientForm,
    RatersForm,
    RatingForm,
    ShareForm,
    error_text,
    refused,
)
from .hooks import session_page_context
from .models import (
    ATTENDANCE_NOT_SET,
    Administration,
    Alert,
    Attendance,
    Client,
    Ending,
    Episode,
    Rater,
    Session,
    SessionKind,
    Zone,
    form_languages,
    rater_label,
)
from .progress import model_label, progress_svg
from .rating_form import FormState, NotRated, live_stamp, read_items
from .visibility import get_visible_client_or_404, visible_clients, visible_session

ZONE_LABELS: dict[str, str | Promise] = {
    Zone.RED: gettext_lazy("Red"),
    Zone.ORANGE: gettext_lazy("Orange"),
    Zone.GREEN: gettext_lazy("Green"),
    Zone.GREY: gettext_lazy("Grey"),
    Zone.NONE: gettext_lazy("No data"),
}


def wants_fragment(request: HttpRequest) -> bool:
    # The header read from META: ``request.headers`` builds a dict of every header first.
    return request.META.get("HTTP_X_REQUESTED_WITH") == "fetch"


@require_safe
@login_required
def caseload(request: HttpRequest) -> HttpResponse:
    query = CaseloadQuery.from_params(request.GET)
    today = timezone.localdate()
    language = translation.get_language() or "en"
    rows = [
        {
            "episode": episode,
            "client": episode.client,
            "measure": _measure_name(episode.outcome_instrument, language),
            "decimals": _measure_decimals(episode.outcome_instrument),
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
        "states": CASELOAD_STATES,
    }
    return render(request, "care/caseload.html", context)


CASELOAD_STATES = (
    ("open", gettext_lazy("Open episodes")),
    ("closed", gettext_lazy("Closed (no open episode)")),
    ("all", gettext_lazy("All clients")),
)

# Who filled in the form: the client, or a collateral rater (how they think the client is doing).
RATERS = tuple(Rater.choices)

# "Last score": each cell names its measure (ORS, CORS, PHQ-9...), since episodes differ.
CASELOAD_COLUMNS = (
    ("client", gettext_lazy("Client")),
    ("last_ors", gettext_lazy("Last score")),
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
        if query.state != DEFAULT_STATE:
            params["state"] = query.state
        columns.append(
            {
                "label": label,
                "url": "?" + urlencode(params),
                "aria_sort": ("descending" if query.descending else "ascending") if current else "",
            }
        )
    return columns


def _measure_name(code: str, language: str) -> str:
    try:
        return instrument_for(code, language).display_name
    except ValueError:
        return code.upper()


def _measure_decimals(code: str) -> int:
    try:
        return instrument_for(code).decimals
    except ValueError:
        return 1


def _alliance_label(flag: str) -> str:
    labels: dict[str, str] = {
        Zone.RED: _("Check alliance"),
        Zone.GREEN: _("OK"),
        Zone.GREY: _("No data"),
    }
    return labels.get(flag, _("No data"))


def _current_episode(client: Client) -> Episode:
    episode = client.current_episode
    if episode is None:
        raise Http404("No episode")
    return episode


def _real_sessions(episode: Episode):
    """The episode's individual sessions with something recorded or an attendance set."""
    return (
        episode.sessions.filter(kind=SessionKind.INDIVIDUAL)
        .exclude(attendance=ATTENDANCE_NOT_SET)
        .order_by("number")
    )


def _administrations(episode: Episode) -> list[Administration]:
    return list(Administration.objects.of_episode(episode))


@require_POST
@login_required
def start_session(request: HttpRequest, public_id: str) -> HttpResponse:
    client = get_visible_client_or_404(request.user, public_id)
    try:
        session = services.start_session(request.user, client, ip=client_ip(request))
    except services.ServiceError:
        raise Http404("No open episode") from None
    return redirect("session", public_id=client.public_id, number=session.number)


@require_safe
@login_required
def client_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    client = get_visible_client_or_404(request.user, public_id)
    return _render_client(request, client, _current_episode(client))


@require_safe
@login_required
def client_episode(request: HttpRequest, public_id: str, episode_id: str) -> HttpResponse:
    """One of the client's episodes, an earlier one read-only (the current one as on its page)."""
    client = get_visible_client_or_404(request.user, public_id)
    episode = get_object_or_404(client.episodes.all(), public_id=episode_id)
    return _render_client(request, client, episode)


def _render_client(request: HttpRequest, client: Client, episode: Episode) -> HttpResponse:
    record_request(request, client.agency_id, "client.viewed", client, episode=episode.public_id)
    episodes = list(client.episodes.current_first())
    current = episodes[0]
    administrations = _administrations(episode)
    feedback = services.episode_feedback(episode, administrations)
    sessions = list(_real_sessions(episode))
    reopen_until = services.reopen_deadline(episode)
    context = {
        "client": client,
        "episode": episode,
        "is_current": episode.pk == current.pk,
        "episodes": episodes,
        "can_reopen": reopen_until is not None and timezone.localdate() <= reopen_until,
        "reopen_days": client.agency.reopen_days,
        "graph": progress_svg(episode, administrations, feedback),
        "model_label": model_label(feedback),
        "session_rows": _session_rows(episode, sessions, administrations, feedback),
        "alerts": list(episode.alerts.order_by("-session_number", "code")),
        "rater_choices": COLLATERAL_RATERS,
        "languages": form_languages(),
        "colleagues": _colleagues(request.user, client),
        "shared_with": [share.user for share in client.shares.select_related("user")],
        "outcome_name": instrument_for(episode.outcome_instrument).short_name,
        "alliance_name": instrument_for(episode.alliance_instrument).short_name,
        **_safety_context(request, client, episode, feedback),
    }
    return render(request, "care/client.html", context)


def _safety_context(
    request: HttpRequest, client: Client, episode: Episode, feedback: EpisodeFeedback
) -> dict[str, object]:
    """The episode's safety alerts (PHQ-9 item 9), open and acknowledged, with the instrument
    file's wording in the page's language. ``pending``: raised by the science core but not
    stored yet (the follow-up task has not run), shown at once all the same."""
    stored = list(
        episode.alerts.filter(code=services.SAFETY_CODE)
        .select_related("acknowledged_by")
        .order_by("-session_number")
    )
    numbers = {alert.session_number for alert in stored}
    pending = [
        alert
        for alert in feedback.signals.alerts
        if alert.code == services.SAFETY_CODE and alert.session_number not in numbers
    ]
    language = translation.get_language() or "en"
    return {
        "safety_alerts": stored,
        "safety_pending": pending,
        "safety_message": safety_message(
            (episode.outcome_instrument, episode.alliance_instrument), language
        ),
        "can_acknowledge": services.can_acknowledge(request.user, client),
    }


@require_POST
@login_required
def acknowledge_alert(request: HttpRequest, public_id: str, alert_id: int) -> HttpResponse:
    """The therapist or a supervisor confirms a safety alert was seen and acted on (audited)."""
    client = get_visible_client_or_404(request.user, public_id)
    alert = get_object_or_404(
        Alert, agency_id=client.agency_id, episode__client=client, pk=alert_id
    )
    try:
        services.acknowledge_alert(request.user, alert, ip=client_ip(request))
    except services.ServiceError as error:
        return refused(error)
    back = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(back)
    return redirect("client", public_id=client.public_id)


COLLATERAL_RATERS = [(value, label) for value, label in Rater.choices if value != Rater.CLIENT]


def _colleagues(user, client: Client) -> list:
    """Therapists and supervisors of the client's agency the client could be shared with."""
    from alliance.accounts.models import Membership, Role

    taken = {client.therapist_id, *client.shares.values_list("user_id", flat=True)}
    return [
        membership.user
        for membership in Membership.objects.filter(
            agency_id=client.agency_id, role__in=(Role.THERAPIST, Role.SUPERVISOR)
        )
        .select_related("user")
        .order_by("user__username")
        if membership.user_id not in taken and membership.user.is_active
    ]


@require_POST
@login_required
def set_raters(request: HttpRequest, public_id: str) -> HttpResponse:
    client = get_visible_client_or_404(request.user, public_id)
    episode = _current_episode(client)
    form = RatersForm(request.POST)
    if not form.is_valid():
        return refused(form)
    try:
        services.set_raters(
            request.user, episode, form.cleaned_data["raters"], ip=client_ip(request)
        )
    except services.ServiceError as error:
        return refused(error)
    return redirect("client", public_id=client.public_id)


@require_POST
@login_required
def set_client_language(request: HttpRequest, public_id: str) -> HttpResponse:
    """The language of the client's own forms (links and kiosk passes made from now on)."""
    client = get_visible_client_or_404(request.user, public_id)
    form = ClientLanguageForm(request.POST)
    if not form.is_valid():
        return refused(form)
    try:
        services.update_client(
            request.user, client, language=form.cleaned_data["language"], ip=client_ip(request)
        )
    except services.ServiceError as error:
        return refused(error)
    return redirect("client", public_id=client.public_id)


@require_POST
@login_required
def share_client(request: HttpRequest, public_id: str) -> HttpResponse:
    client = get_visible_client_or_404(request.user, public_id)
    form = ShareForm(request.POST, colleagues=_colleagues(request.user, client))
    if not form.is_valid():  # someone of another agency, or not offered: not disclosed
        raise Http404("No such colleague")
    services.share_client(request.user, client, form.chosen(), ip=client_ip(request))
    return redirect("client", public_id=client.public_id)


def _form_choices(kind: str) -> list[tuple[str, str]]:
    from alliance.science.instruments import all_instruments

    language = translation.get_language() or "en"
    return [
        (instrument.code, instrument.name)
        for instrument in all_instruments(language)
        if (instrument.kind == "alliance") == (kind == "alliance")
    ]


@require_http_methods(["GET", "POST"])
@login_required
def new_client(request: AuthenticatedHttpRequest) -> HttpResponse:
    """A therapist adds a client of their own (an admin or supervisor adds one to themselves)."""
    from alliance.accounts.permissions import active_membership

    from .models import AgeBand

    membership = active_membership(request.user)
    if membership is None:
        raise Http404("No agency")
    outcome_forms, alliance_forms = _form_choices("outcome"), _form_choices("alliance")
    form = NewClientForm(
        request.POST if request.method == "POST" else None,
        outcome_forms=outcome_forms,
        alliance_forms=alliance_forms,
    )
    error = ""
    # A code the user already knows (a visible client of their agency) is offered, whatever else
    # the form says: open the client, or start a new episode. A client the user may not see is
    # only refused by the service, and another agency's code is no clash at all.
    code = str(form.data.get("display_code", "")).strip() if form.is_bound else ""
    existing = (
        visible_clients(request.user).filter(agency=membership.agency, display_code=code).first()
        if code
        else None
    )
    if existing is not None:
        pass
    elif form.is_bound and not form.is_valid():
        error = error_text(form)
    elif form.is_bound:
        fields = form.cleaned_data
        birth_year = fields["birth_year"]
        team = request.user.team_memberships.select_related("team").first()
        try:
            client = services.create_client(
                request.user,
                membership.agency,
                display_code=fields["display_code"],
                therapist=request.user,
                name=fields["name"],
                age_band=fields["age_band"] or age_band_for_year(birth_year),
                birth_year=birth_year,
                team=team.team if team else None,
                outcome_instrument=fields["outcome_instrument"] or None,
                alliance_instrument=fields["alliance_instrument"] or None,
                raters=fields["raters"],
                language=fields["language"],
                ip=client_ip(request),
            )
        except services.ServiceError as failure:
            error = str(failure)
        else:
            return redirect("client", public_id=client.public_id)
    # The template shows what was sent again (as typed), so a refused form need not be retyped.
    values = {"age_band": "", "raters": [], "language": ""}
    if form.is_bound:
        values = {name: form[name].value() for name in form.fields}
    context = {
        "values": values,
        "error": error,
        "age_bands": AgeBand.choices,
        "outcome_forms": outcome_forms,
        "alliance_forms": alliance_forms,
        "rater_choices": COLLATERAL_RATERS,
        "languages": form_languages(),
        "allow_names": membership.agency.allow_client_names,
        "existing": existing,
        "existing_open": existing is not None and existing.episodes.open().exists(),
    }
    return render(request, "care/new_client.html", context, status=400 if error else 200)


def age_band_for_year(birth_year: int) -> str:
    """The age band of someone born in birth_year, by their age this year."""
    return age_band_for_age(timezone.localdate().year - birth_year)


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


@require_http_methods(["GET", "POST"])
@login_required
def close_episode(request: HttpRequest, public_id: str) -> HttpResponse:
    """A confirmation page asks how the episode ended; only its POST closes the episode."""
    client = get_visible_client_or_404(request.user, public_id)
    episode = _current_episode(client)
    if not episode.is_open:
        return redirect("client", public_id=client.public_id)
    form = CloseEpisodeForm(request.POST if request.method == "POST" else None)
    error = ""
    if form.is_bound and not form.is_valid():
        error = error_text(form)
    elif form.is_bound:
        try:
            services.close_episode(
                request.user, episode, form.cleaned_data["ending"], ip=client_ip(request)
            )
        except services.ServiceError as failure:
            error = str(failure)
        else:
            return redirect("client", public_id=client.public_id)
    context = {
        "client": client,
        "episode": episode,
        "endings": ENDING_CHOICES,
        "chosen": form["ending"].value() if form.is_bound else "",
        "error": error,
    }
    return render(request, "care/close_episode.html", context, status=400 if error else 200)


# Each ending with what it means for the reports (the science core counts "unilateral" endings
# before the target as drop-outs).
ENDING_CHOICES = (
    (
        Ending.PLANNED,
        Ending.PLANNED.label,
        gettext_lazy(
            "Therapist and client agreed to end, including a planned referral to another service."
        ),
    ),
    (
        Ending.UNILATERAL,
        Ending.UNILATERAL.label,
        gettext_lazy(
            "The client stopped coming or ended without agreement; counts as a drop-out in the "
            "reports unless the client had already improved."
        ),
    ),
)


@require_POST
@login_required
def reopen_episode(request: HttpRequest, public_id: str) -> HttpResponse:
    client = get_visible_client_or_404(request.user, public_id)
    try:
        services.reopen_episode(request.user, _current_episode(client), ip=client_ip(request))
    except services.ServiceError as error:
        return refused(error)
    return redirect("client", public_id=client.public_id)


@require_POST
@login_required
def start_episode(request: HttpRequest, public_id: str) -> HttpResponse:
    """A returning client's new episode (the client's earlier episodes must all be closed)."""
    client = get_visible_client_or_404(request.user, public_id)
    try:
        services.start_episode(request.user, client, ip=client_ip(request))
    except services.ServiceError as error:
        return refused(error)
    return redirect("client", public_id=client.public_id)


def _forms_for(
    episode: Episode, rater: str = "client", only: str | None = None
) -> dict[str, FormState]:
    """The page's forms (the episode's outcome and alliance measures), or ``only`` that one."""
    states = {}
    language = translation.get_language() or "en"
    for code in (episode.outcome_instrument, episode.alliance_instrument):
        if only is not None and code != only:
            continue
        instrument = instrument_for(code, language)
        short_name = instrument.short_name or code.upper()
        states[code] = FormState(
            instrument, instrument.name, _("Save %(name)s") % {"name": short_name}, rater=rater
        )
    return states


def rater_steps(episode: Episode) -> list[str]:
    """The raters the session flow cycles through: the client first, then the others."""
    return ["client", *[r for r in episode.raters if r != "client"]]


def _current_rater(request: HttpRequest, episode: Episode) -> str:
    rater = request.GET.get("rater") or "client"
    return rater if rater in rater_steps(episode) else "client"


def _next_rater(episode: Episode, rater: str) -> str | None:
    """The next rater in the cycle (after the last comes the client again); None when alone."""
    steps = rater_steps(episode)
    if len(steps) < 2:
        return None
    index = steps.index(rater) if rater in steps else 0
    return steps[(index + 1) % len(steps)]


def _session_of(request: HttpRequest, public_id: str, number: int) -> tuple[Client, Session]:
    # One statement with the visibility rule written out: this is on the path of every rating.
    session = visible_session(request.user, public_id, number)
    if session is None:
        raise Http404("No such session")
    return session.episode.client, session


@require_http_methods(["GET", "POST"])
@login_required
def session_page(request: HttpRequest, public_id: str, number: int) -> HttpResponse:
    client, session = _session_of(request, public_id, number)
    episode = session.episode
    if request.method == "GET":
        record_request(request, client.agency_id, "session.viewed", session, number=number)
    rater = _current_rater(request, episode)
    if request.method != "POST":
        return _render_session(request, client, session, _forms_for(episode, rater), 200, rater)
    posted = RatingForm(
        request.POST, instruments=(episode.outcome_instrument, episode.alliance_instrument)
    )
    if not posted.is_valid() and "instrument" in posted.errors:
        return refused(posted)
    code = posted.cleaned_data["instrument"]
    # The posted form's state only: both forms are made when the page is shown (not on a save).
    form = _forms_for(episode, rater, only=code)[code]
    error, result = _record(request, session, form, posted)
    if result is None:  # refused: the page again, the posted form with its error
        forms = _forms_for(episode, rater)
        forms[code] = form
        return _render_session(request, client, session, forms, 400, rater)
    # Move on to the next rater who has not filled in this form yet (skip is a link).
    following = _next_rater(episode, rater)
    if following is not None and not _has_rated(session, following, code, result):
        rater = following
    if wants_fragment(request):
        return _render_session(request, client, session, _forms_for(episode, rater), 200, rater)
    url = reverse("session", kwargs={"public_id": client.public_id, "number": number})
    # Not redirect(): given a path, it first tries (and fails) to reverse it as a name.
    return HttpResponseRedirect(url + (f"?rater={rater}" if rater != "client" else ""))


def _low_lines(form: FormState) -> str:
    """The saved alliance lines below the item cutoff, in the page's language ("" if none)."""
    instrument, saved = form.instrument, form.saved
    if saved is None or saved.total_only or instrument.item_cutoff is None:
        return ""
    return ", ".join(
        f"{item.label} {saved.items[item.key]:.{item.decimals}f}"
        for item in instrument.items
        if item.key in saved.items and saved.items[item.key] < instrument.item_cutoff
    )


def _has_rated(
    session: Session, rater: str, instrument: str, result: services.RecordResult
) -> bool:
    if result.form_raters is not None:  # the save found out already (no query)
        return rater in result.form_raters
    return Administration.objects.filter(
        agency_id=session.agency_id, session=session, rater=rater, instrument=instrument
    ).exists()


def _record(
    request: HttpRequest, session: Session, form: FormState, posted: RatingForm
) -> tuple[str | None, services.RecordResult | None]:
    """Store the posted rating: (None, what was stored), or (the error shown on the form, None)."""
    if not posted.is_valid():
        form.error = error_text(posted)
        return form.error, None
    fields = posted.cleaned_data
    total = posted.total()
    try:
        items = {} if total else read_items(form, request.POST)
    except NotRated as error:
        form.error = str(error)
        return form.error, None
    try:
        result = services.record_administration(
            request.user,
            session,
            instrument=form.instrument.code,
            idempotency_key=fields["idempotency_key"],
            items=None if total else items,
            total=total or None,
            entry_mode=posted.chosen_entry_mode(),
            rater=fields["rater"] or form.rater,
            rater_relationship=fields["relationship"],
            replace=fields["replace"],
            ip=client_ip(request),
        )
    except ResponseError as error:
        form.refuse(error)
        return form.error, None
    except services.ServiceError as error:
        form.error = str(error)
        return form.error, None
    return None, result


def _render_session(
    request: HttpRequest,
    client: Client,
    session: Session,
    forms: dict[str, FormState],
    status: int,
    rater: str = "client",
) -> HttpResponse:
    episode = session.episode
    administrations = _administrations(episode)
    for administration in administrations:
        if administration.session_id == session.pk and administration.rater == rater:
            state = forms.get(administration.instrument)
            if state is not None:
                state.saved = administration
    feedback = services.episode_feedback(episode, administrations)
    outcome_form = forms[episode.outcome_instrument]
    alliance_form = forms[episode.alliance_instrument]
    alliance_instrument = alliance_form.instrument
    alliance_below = bool(
        alliance_form.saved
        and alliance_instrument.alliance_cutoff is not None
        and alliance_form.saved.total < alliance_instrument.alliance_cutoff
    )
    context = {
        "client": client,
        "episode": episode,
        "session": session,
        "outcome_form": outcome_form,
        "alliance_form": alliance_form,
        "entry_modes": [(mode.value, mode.label) for mode in MANUAL_ENTRY_MODES],
        "collateral": [
            a for a in administrations if a.session_id == session.pk and a.rater != rater
        ],
        "rater_steps": rater_steps(episode),
        "rater_index": rater_steps(episode).index(rater) + 1,
        "current_rater_label": rater_label(rater),
        "next_rater": _next_rater(episode, rater),
        "next_rater_label": rater_label(_next_rater(episode, rater) or "client"),
        "raters": RATERS,
        "attendance_choices": Attendance.choices,
        "zone_colour": feedback.signals.colours.get(session.number, ""),
        "zone_text": _zone_text(feedback.signals.colours.get(session.number))
        if outcome_form.saved
        else "",
        # A low SRS has its own prompt below the form (with its low lines): not a second one here.
        "prompts": [
            a
            for a in feedback.signals.alerts
            if a.session_number == session.number
            and a.code != services.SAFETY_CODE
            and not (alliance_below and a.code == "alliance_below_cutoff")
        ],
        **_safety_context(request, client, episode, feedback),
        "alliance_below": alliance_below,
        "alliance_low_lines": _low_lines(alliance_form) if alliance_below else "",
        "alliance_cutoff": alliance_instrument.alliance_cutoff,
        "alliance_colour": feedback.signals.alliance_colours.get(session.number),
        "graph": progress_svg(episode, administrations, feedback),
        "model_label": model_label(feedback),
        "live_stamp": live_stamp(session),
        "page_url": reverse(
            "session", kwargs={"public_id": client.public_id, "number": session.number}
        ),
        **session_page_context(request, session),  # the feedback app's link panel
    }
    template = "care/session.html#live" if wants_fragment(request) else "care/session.html"
    return render(request, template, context, status=status)


@require_POST
@login_required
def set_attendance(request: HttpRequest, public_id: str, number: int) -> HttpResponse:
    client, session = _session_of(request, public_id, number)
    form = AttendanceForm(request.POST)
    if not form.is_valid():
        return refused(form)
    try:
        services.set_attendance(
            request.user, session, form.cleaned_data["attendance"], ip=client_ip(request)
        )
    except services.ServiceError as error:
        return refused(error)
    return redirect("session", public_id=client.public_id, number=session.number)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def undo_administration(
    request: HttpRequest, public_id: str, number: int, administration_id: str
) -> HttpResponse:
    """The session page's Undo opens a confirmation page (GET); only its POST undoes."""
    client, session = _session_of(request, public_id, number)
    administration = get_object_or_404(
        Administration, agency_id=client.agency_id, session=session, public_id=administration_id
    )
    if request.method != "POST":
        context = {
            "client": client,
            "session": session,
            "administration": administration,
            "instrument": instrument_for(
                administration.instrument, translation.get_language() or "en"
            ),
            "rater": rater_label(administration.rater),
        }
        return render(request, "care/undo_administration.html", context)
    services.undo_administration(request.user, administration, ip=client_ip(request))
    if wants_fragment(request):
        rater = _current_rater(request, session.episode)
        forms = _forms_for(session.episode, rater)
        return _render_session(request, client, session, forms, 200, rater)
    return redirect("session", public_id=client.public_id, number=session.number)
