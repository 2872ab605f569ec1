"""The hand-over pages: the client's form (one scale at a time), the neutral thank-you page and
the give-back page where the therapist re-authenticates. The lock itself is handover.py."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from alliance.accounts.network import client_ip
from alliance.accounts.services import check_handover_secret, handover_method
from alliance.accounts.tenancy import AuthenticatedHttpRequest
from alliance.science.instruments import ResponseError

from . import handover, services
from .feedback import instrument_for
from .forms import refused
from .models import EntryMode, Rater, Session
from .rating_form import FormState, NotRated, keep_posted, read_items
from .views import _session_of
from .visibility import visible_clients


class StartHandoverForm(forms.Form):
    scales = forms.ChoiceField(
        choices=[("outcome", "outcome"), ("alliance", "alliance"), ("both", "both")],
        error_messages={
            "required": gettext_lazy("Choose the form to hand over."),
            "invalid_choice": gettext_lazy("Choose the form to hand over."),
        },
    )


@require_POST
@login_required
def start_handover(request: HttpRequest, public_id: str, number: int) -> HttpResponse:
    client, session = _session_of(request, public_id, number)
    form = StartHandoverForm(request.POST)
    if not form.is_valid():
        return refused(form)
    episode = session.episode
    chosen = form.cleaned_data["scales"]
    instruments = {
        "outcome": [episode.outcome_instrument],
        "alliance": [episode.alliance_instrument],
        "both": [episode.outcome_instrument, episode.alliance_instrument],
    }[chosen]
    try:
        services.start_handover(request.user, session, instruments, ip=client_ip(request))
    except services.ServiceError as error:
        return refused(error)
    handover.keep(
        request,
        handover.Handover(
            agency_id=client.agency_id,
            session_id=session.public_id,
            client_id=client.public_id,
            number=session.number,
            instruments=instruments,
        ),
    )
    return redirect("handover")


def _locked_session(request: HttpRequest, state: handover.Handover) -> Session | None:
    """The session being handed over, if the therapist still sees it and it is open."""
    return (
        Session.objects.select_related("episode", "episode__client")
        .filter(
            agency_id=state.agency_id,
            public_id=state.session_id,
            episode__client__in=visible_clients(request.user),
            episode__end_date__isnull=True,
        )
        .first()
    )


def _client_form(code: str) -> FormState:
    instrument = instrument_for(code, translation.get_language() or "en")
    name = instrument.short_name or code.upper()
    return FormState(
        instrument, instrument.name, _("Save %(name)s") % {"name": name}, rater=Rater.CLIENT
    )


@require_http_methods(["GET", "POST"])
@login_required
def handover_page(request: HttpRequest) -> HttpResponse:
    """The client's side: the next scale of the hand-over, and nothing of the therapist's view."""
    state = handover.current(request)
    if state is None:
        return redirect("caseload")
    code = state.next_instrument()
    session = _locked_session(request, state)
    if code is None or session is None:
        return redirect("handover_thanks")
    form = _client_form(code)
    status = 200
    if request.method == "POST":
        if request.POST.get("instrument") != code:  # a stale page: show the current scale
            return redirect("handover")
        error = _record(request, session, form)
        if error is None:
            state.done.append(code)
            name = form.instrument.short_name or form.instrument.name
            following = state.next_instrument()
            if following is None:
                state.announce = _("%(name)s saved. Thank you.") % {"name": name}
            else:
                state.announce = _("%(name)s saved. Next: %(next)s.") % {
                    "name": name,
                    "next": instrument_for(following).short_name or following.upper(),
                }
            handover.keep(request, state)
            return redirect(state.home())
        status = 400
    announce, state.announce = state.announce, ""
    handover.keep(request, state)
    context = {
        "form": form,
        "announce": announce,
        "step": state.instruments.index(code) + 1,
        "steps": len(state.instruments),
        "client_screen": True,
        "confirm_required": True,
    }
    return render(request, "care/handover.html", context, status=status)


def _record(request: HttpRequest, session: Session, form: FormState) -> str | None:
    try:
        items = read_items(form, request.POST)
        services.record_administration(
            request.user,
            session,
            instrument=form.code,
            idempotency_key=request.POST.get("idempotency_key", "")[:64],
            items=items,
            entry_mode=EntryMode.IN_SESSION,
            rater=Rater.CLIENT,
            ip=client_ip(request),
        )
    except ResponseError as error:
        form.error, form.error_item = str(error), error.item
    except (NotRated, services.ServiceError) as error:
        form.error = str(error)
    if form.error:
        keep_posted(form, request.POST)
        return form.error
    return None


@require_http_methods(["GET"])
@login_required
def handover_thanks(request: HttpRequest) -> HttpResponse:
    """The neutral page the device stays on until the therapist takes it back."""
    state = handover.current(request)
    if state is None:
        return redirect("caseload")
    if state.next_instrument() is not None and _locked_session(request, state) is not None:
        return redirect("handover")
    announce, state.announce = state.announce, ""
    handover.keep(request, state)
    return render(request, "care/handover_thanks.html", {"announce": announce})


@require_http_methods(["GET", "POST"])
@login_required
def handover_give_back(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The therapist re-authenticates (PIN or password, per agency) to take the device back."""
    state = handover.current(request)
    if state is None:
        return redirect("caseload")
    method = handover_method(request.user)
    error = ""
    if request.method == "POST":
        ip = client_ip(request)
        if check_handover_secret(request.user, request.POST.get("secret", "")):
            services.end_handover(
                request.user, state.agency_id, state.session_id, method=method, ip=ip
            )
            handover.clear(request)
            return redirect(
                reverse("session", kwargs={"public_id": state.client_id, "number": state.number})
            )
        state.failures += 1
        if services.handover_reauth_failed(
            request.user, state.agency_id, state.session_id, failures=state.failures, ip=ip
        ):
            logout(request)
            messages.error(
                request,
                _("Signed out after too many wrong attempts to end a hand-over. Please sign in."),
            )
            return redirect("login")
        handover.keep(request, state)
        left = services.HANDOVER_MAX_FAILURES - state.failures
        wrong = _("That PIN is not right.") if method == "pin" else _("That password is not right.")
        error = " ".join(
            [
                wrong,
                _("The device stays locked. Tries left before signing out: %(n)d.") % {"n": left},
            ]
        )
    context = {"method": method, "error": error, "back": state.home()}
    return render(request, "care/handover_give_back.html", context, status=400 if error else 200)
