"""Thin views of the reports app: parse the request, call services, render."""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.views.decorators.http import require_POST, require_safe

from alliance.accounts.models import Role
from alliance.accounts.network import client_ip
from alliance.accounts.permissions import (
    SUPERVISOR_OR_ADMIN,
    is_admin,
    require_role,
    role_required,
)
from alliance.accounts.tenancy import agency_of
from alliance.care.feedback import episode_feedback
from alliance.care.forms import refused
from alliance.care.models import Administration, AgeBand
from alliance.care.progress import model_label, progress_svg
from alliance.care.services import audit
from alliance.care.visibility import get_visible_client_or_404, visible_episodes

from . import services
from .data import ReportFilter, outcome_instruments, scoped_episodes
from .exports import administration_rows, csv_lines, episode_rows
from .fhir import bundle_json
from .forms import (
    DEFAULT_INSTRUMENT,
    GROUPINGS,
    REFIT_INSTRUMENTS,
    ExportForm,
    RefitForm,
    ReportFilterForm,
)
from .models import FittedModel, RefitJob
from .pdf import render_pdf
from .presentation import calibration_chart, charts_for, group_rows, summary_rows


@require_safe
@role_required(*SUPERVISOR_OR_ADMIN)
def dashboard(request: HttpRequest) -> HttpResponse:
    at_risk, caseload = services.supervisor_dashboard(
        request.user, language=translation.get_language() or "en"
    )
    return render(
        request,
        "reports/dashboard.html",
        {"at_risk": at_risk, "caseload": caseload, "is_admin": is_admin(request.user)},
    )


def _report_context(request: HttpRequest) -> dict:
    filters = ReportFilterForm(request.GET)
    report_filter = filters.report_filter()
    report = services.effectiveness_report(request.user, report_filter, filters.grouping())
    result = report.result
    return {
        "report": report,
        "filter": report_filter,
        "range_error": filters.range_problem(),
        "model_description": services.model_description(report.model),
        "summary": summary_rows(result["overall"]) if result else [],
        "groups": group_rows(result, report.labels) if result else [],
        "group_name": GROUPINGS.get(report.by, report.by),
        "charts": charts_for(report),
        "by_age_band": sorted((result["overall"]["by_age_band"] or {}).items()) if result else [],
        "collateral": sorted((result["overall"]["collateral_raters"] or {}).items())
        if result
        else [],
        "teams": services.team_choices(request.user),
        "therapists": services.therapist_choices(request.user),
        "instruments": outcome_instruments(),
        "age_bands": AgeBand.choices,
        "groupings": list(GROUPINGS.items()),
        "query": request.GET.urlencode(),
        "generated": timezone.now(),
    }


@require_safe
@role_required(*SUPERVISOR_OR_ADMIN)
def effectiveness(request: HttpRequest) -> HttpResponse:
    return render(request, "reports/effectiveness.html", _report_context(request))


@require_safe
@role_required(*SUPERVISOR_OR_ADMIN)
def effectiveness_pdf(request: HttpRequest) -> HttpResponse:
    context = _report_context(request)
    context["agency"] = agency_of(request.user)
    pdf = render_pdf("reports/effectiveness_print.html", context)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = 'attachment; filename="agency-report.pdf"'
    return response


# -- ETR refit --------------------------------------------------------------------------------


@role_required(Role.ADMIN)
def etr(request: HttpRequest) -> HttpResponse:
    agency = agency_of(request.user)
    assert agency is not None  # role_required admits agency members only
    if request.method == "POST":
        form = RefitForm(request.POST)
        if not form.is_valid():
            return refused(form)
        job = services.request_refit(request.user, form.instrument_code(), ip=client_ip(request))
        return redirect("reports:refit_job", public_id=job.public_id)
    shown = RefitForm(request.GET)
    instrument = shown.instrument_code() if shown.is_valid() else DEFAULT_INSTRUMENT
    models = list(FittedModel.objects.filter(agency=agency, instrument=instrument))
    active = services.model_or_none(agency.pk, instrument)
    return render(
        request,
        "reports/etr.html",
        {
            "instrument": instrument,
            "instruments": REFIT_INSTRUMENTS,
            "models": models,
            "active_description": services.model_description(active),
            "jobs": RefitJob.objects.filter(agency=agency)[:5],
            "available": services.closed_episode_count(agency, instrument),
            "minimum": services.MIN_REFIT_EPISODES,
        },
    )


@require_safe
@role_required(Role.ADMIN)
def refit_job(request: HttpRequest, public_id: str) -> HttpResponse:
    job = get_object_or_404(RefitJob, agency=agency_of(request.user), public_id=public_id)
    return render(request, "reports/refit_job.html", {"job": job})


@require_safe
@role_required(Role.ADMIN)
def fitted_model(request: HttpRequest, public_id: str) -> HttpResponse:
    fitted = get_object_or_404(FittedModel, agency=agency_of(request.user), public_id=public_id)
    calibration = fitted.calibration or {}
    return render(
        request,
        "reports/fitted_model.html",
        {
            "fitted": fitted,
            "calibration": calibration,
            "success": calibration.get("success") or {},
            "red": calibration.get("red_signal") or {},
            "chart": calibration_chart(calibration),
            "parameters": json.dumps(fitted.parameters, indent=2),
            "minimum": services.MIN_REFIT_EPISODES,
        },
    )


@require_POST
@role_required(Role.ADMIN)
def activate(request: HttpRequest, public_id: str) -> HttpResponse:
    fitted = get_object_or_404(FittedModel, agency=agency_of(request.user), public_id=public_id)
    services.activate_model(request.user, fitted, ip=client_ip(request))
    return redirect("reports:etr")


@require_POST
@role_required(Role.ADMIN)
def deactivate(request: HttpRequest) -> HttpResponse:
    form = RefitForm(request.POST)
    if not form.is_valid():
        return refused(form)
    instrument = form.instrument_code()
    services.deactivate_models(request.user, instrument, ip=client_ip(request))
    return redirect(f"{reverse('reports:etr')}?instrument={instrument}")


# -- exports ----------------------------------------------------------------------------------


@require_safe
@role_required(*SUPERVISOR_OR_ADMIN)
def exports(request: HttpRequest) -> HttpResponse:
    return render(request, "reports/exports.html", {"is_admin": is_admin(request.user)})


@require_POST
@role_required(*SUPERVISOR_OR_ADMIN)
def export_csv(request: HttpRequest, kind: str) -> HttpResponse | StreamingHttpResponse:
    form = ExportForm(request.POST)
    research = form.is_valid() and form.cleaned_data["research"]
    if research:  # de-identified extracts leave the agency: its admin decides
        require_role(request.user, Role.ADMIN)
    agency = agency_of(request.user)
    episodes = scoped_episodes(request.user, ReportFilter())
    rows_for = {"administrations": administration_rows, "episodes": episode_rows}.get(kind)
    if rows_for is None:
        return HttpResponse(status=404)
    assert agency is not None  # role_required admits agency members only
    audit(
        agency,
        request.user,
        "export.csv",
        agency,
        client_ip(request),
        kind=kind,
        research=research,
    )
    rows = rows_for(episodes, agency, research=research)
    response = StreamingHttpResponse(csv_lines(rows), content_type="text/csv; charset=utf-8")
    suffix = "research" if research else "identified"
    response["Content-Disposition"] = f'attachment; filename="{kind}-{suffix}.csv"'
    return response


@require_POST
@role_required(Role.ADMIN)
def export_fhir(request: HttpRequest) -> StreamingHttpResponse:
    agency = agency_of(request.user)
    assert agency is not None  # role_required admits agency members only
    audit(agency, request.user, "export.fhir", agency, client_ip(request))
    bundle = bundle_json(agency, visible_episodes(request.user))
    response = StreamingHttpResponse(bundle, content_type="application/fhir+json")
    response["Content-Disposition"] = 'attachment; filename="bundle.json"'
    return response


@require_safe
@login_required
def client_pdf(request: HttpRequest, public_id: str) -> HttpResponse:
    """Printable progress report of one client (anyone who may see the client)."""
    client = get_visible_client_or_404(request.user, public_id)
    episode = client.current_episode
    if episode is None:
        return HttpResponse(status=404)
    administrations = list(Administration.objects.of_episode(episode))
    feedback = episode_feedback(episode, administrations)
    audit(episode.agency, request.user, "report.client_pdf", client, client_ip(request))
    pdf = render_pdf(
        "reports/client_print.html",
        {
            "client": client,
            "episode": episode,
            "graph": progress_svg(episode, administrations, feedback),
            "model_label": model_label(feedback),
            "administrations": [a for a in administrations if a.rater == "client"],
            "alerts": list(episode.alerts.order_by("-session_number", "code")[:10]),
            "generated": timezone.now(),
        },
    )
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = 'attachment; filename="progress-report.pdf"'
    return response
