"""Thin views of the practice pages: who may see whom is practice.visibility's decision."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from alliance.accounts.network import client_ip
from alliance.accounts.permissions import SUPERVISOR_OR_ADMIN, active_membership, role_required
from alliance.accounts.tenancy import AuthenticatedHttpRequest, membership_of
from alliance.audit.services import record_request
from alliance.reports.data import outcome_instruments
from alliance.science.alliance_profile import MIN_EPISODES

from . import presentation, services
from .forms import ObjectiveForm, ReflectionForm, SharingForm
from .models import Objective
from .visibility import get_visible_therapist_or_404, visible_objectives, visible_therapists


def _instrument(request: HttpRequest) -> str:
    wanted = request.GET.get("instrument", "ors")
    return wanted if wanted in dict(outcome_instruments()) else "ors"


def _render(request: HttpRequest, therapist, *, objective_form=None, status: int = 200):
    instrument = _instrument(request)
    objectives = list(visible_objectives(request.user, therapist).prefetch_related("reflections"))
    page = services.practice_for(therapist, instrument, objectives)
    is_self = therapist.pk == request.user.pk
    context = {
        "therapist": therapist,
        "is_self": is_self,
        "page": page,
        "min_episodes": MIN_EPISODES,
        "instrument": instrument,
        "instruments": outcome_instruments(),
        "effectiveness_rows": presentation.effectiveness_rows(page),
        "profile_rows": presentation.profile_rows(page),
        "repair_rows": presentation.repair_rows(page),
        "hard_rows": presentation.hard_rows(page),
        "trend_chart": presentation.trend_chart(page) if page.trend else "",
        "profile_chart": presentation.profile_chart(page) if page.profile else "",
        "objectives": [
            {
                "objective": o,
                "progress": page.progress.get(o.pk),
                "reflection_form": ReflectionForm(initial={"written_on": services.today()}),
            }
            for o in objectives
        ],  # fmt: skip
        "objective_form": objective_form or ObjectiveForm(initial={"started_on": services.today()}),
    }
    return render(request, "practice/page.html", context, status=status)


@require_safe
@login_required
def my_practice(request: HttpRequest) -> HttpResponse:
    """The signed-in person's own practice page."""
    if active_membership(request.user) is None:
        raise Http404("No agency")
    return _render(request, request.user)


@require_safe
@login_required
def practice_of(request: AuthenticatedHttpRequest, public_id: str) -> HttpResponse:
    """One therapist's practice page (themself, their team's supervisor, an admin)."""
    therapist = get_visible_therapist_or_404(request.user, public_id)
    if therapist.pk == request.user.pk:
        return redirect("practice:mine")
    membership = membership_of(request.user)
    assert membership is not None  # a visible therapist means the viewer belongs to the agency
    record_request(request, membership.agency_id, "practice.viewed", therapist)
    return _render(request, therapist)


@require_safe
@role_required(*SUPERVISOR_OR_ADMIN)
def team(request: AuthenticatedHttpRequest) -> HttpResponse:
    """A supervisor's (or admin's) people, by name: each opens one profile at a time."""
    people = visible_therapists(request.user).exclude(pk=request.user.pk)
    people = people.order_by("last_name", "first_name", "username")
    return render(request, "practice/team.html", {"people": people})


@require_POST
@login_required
def create_objective(request: HttpRequest) -> HttpResponse:
    form = ObjectiveForm(request.POST)
    if not form.is_valid():
        return _render(request, request.user, objective_form=form, status=400)
    try:
        services.create_objective(
            request.user,
            text=form.cleaned_data["text"],
            measure=form.cleaned_data["measure"],
            started_on=form.cleaned_data["started_on"],
            shared=form.cleaned_data["share_with_supervisor"],
            ip=client_ip(request),
        )
    except services.PracticeError as error:
        form.add_error(None, str(error))
        return _render(request, request.user, objective_form=form, status=400)
    return redirect(reverse("practice:mine") + "#log")


def _own_objective(request: AuthenticatedHttpRequest, public_id: str) -> Objective:
    return get_object_or_404(visible_objectives(request.user, request.user), public_id=public_id)


@require_POST
@login_required
def add_reflection(request: AuthenticatedHttpRequest, public_id: str) -> HttpResponse:
    objective = _own_objective(request, public_id)
    form = ReflectionForm(request.POST)
    if not form.is_valid():
        return _render(request, request.user, status=400)
    services.add_reflection(
        request.user,
        objective,
        text=form.cleaned_data["text"],
        written_on=form.cleaned_data["written_on"],
        ip=client_ip(request),
    )
    return redirect(reverse("practice:mine") + f"#objective-{objective.public_id}")


@require_POST
@login_required
def share_objective(request: AuthenticatedHttpRequest, public_id: str) -> HttpResponse:
    objective = _own_objective(request, public_id)
    form = SharingForm(request.POST)
    form.is_valid()
    services.set_sharing(
        request.user,
        objective,
        bool(form.cleaned_data.get("share_with_supervisor")),
        ip=client_ip(request),
    )
    return redirect(reverse("practice:mine") + f"#objective-{objective.public_id}")
