"""The agency admin's view of the audit trail: a filtered list, a CSV export, a chain check."""

from __future__ import annotations

import datetime

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe

from alliance.accounts.models import Role
from alliance.accounts.network import client_ip
from alliance.accounts.permissions import role_required
from alliance.accounts.tenancy import agency_of

from .forms import ErasureForm
from .models import AuditEvent
from .services import export_csv, record_request, verify_agency

PAGE_SIZE = 100
# Every page here is the agency admin's: other staff of the agency get a 403 (role_required).


def _filtered(request: HttpRequest, agency):
    events = AuditEvent.objects.filter(agency=agency).order_by("-at", "-id")
    filters = {
        "action": request.GET.get("action", "").strip()[:60],
        "target": request.GET.get("target", "").strip()[:64],
        "actor": request.GET.get("actor", "").strip()[:150],
        "since": request.GET.get("since", "").strip()[:10],
        "until": request.GET.get("until", "").strip()[:10],
    }
    if filters["action"]:
        events = events.filter(action__startswith=filters["action"])
    if filters["target"]:
        events = events.filter(target_id=filters["target"])
    if filters["actor"]:
        events = events.filter(actor_name=filters["actor"])
    days: dict[str, datetime.date] = {}
    for key, lookup in (("since", "at__date__gte"), ("until", "at__date__lte")):
        try:
            day = datetime.date.fromisoformat(filters[key]) if filters[key] else None
        except ValueError:
            day = None
            filters[key] = ""
        if day is not None:
            days[key] = day
            events = events.filter(**{lookup: day})
    return events, filters, _range_problem(days)


def _range_problem(days: dict[str, datetime.date]) -> str:
    """Why the dates select nothing whatever the trail holds (the end before the start), or ""."""
    if "since" in days and "until" in days and days["until"] < days["since"]:
        return str(_("The end date is before the start date: swap them to see any events."))
    return ""


@require_safe
@role_required(Role.ADMIN)
def event_list(request: HttpRequest) -> HttpResponse:
    agency = agency_of(request.user)
    assert agency is not None  # role_required admits agency members only
    events, filters, range_error = _filtered(request, agency)
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    checked, broken = (None, None)
    if request.GET.get("verify"):
        checked, broken = verify_agency(agency.pk)
    actions = (
        AuditEvent.objects.filter(agency=agency).order_by("action").values_list("action", flat=True)
    ).distinct()
    context = {
        "page": page,
        "filters": filters,
        "range_error": range_error,
        "actions": list(actions),
        "checked": checked,
        "broken": broken,
        "verified": request.GET.get("verify") is not None,
    }
    return render(request, "audit/list.html", context)


@require_safe
@role_required(Role.ADMIN)
def export(request: HttpRequest) -> HttpResponse:
    agency = agency_of(request.user)
    assert agency is not None  # role_required admits agency members only
    events, filters, _range_error = _filtered(request, agency)
    body = export_csv(events.order_by("lane", "seq").iterator(chunk_size=2000))
    record_request(
        request,
        agency,
        "audit.exported",
        agency,
        filters={key: value for key, value in filters.items() if value},
    )
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    stamp = datetime.date.today().isoformat()
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
@role_required(Role.ADMIN)
def erasure(request: HttpRequest) -> HttpResponse:
    """Erase a client on request: the agency admin types the client's code twice (POST only, so
    the code never appears in a URL)."""
    from alliance.care.services import erase_client
    from alliance.care.visibility import visible_clients

    context: dict = {"done": None, "problem": ""}
    status = 200
    if request.method == "POST":
        form = ErasureForm(request.POST)
        code = form.code()
        client = visible_clients(request.user).filter(display_code=code).first() if code else None
        if client is None:
            context["problem"], status = "missing", 404
        elif not form.confirmed():
            context["problem"], status = "mismatch", 400
        else:
            context["done"] = erase_client(
                request.user, client, reason="request", ip=client_ip(request)
            )
    return render(request, "audit/erasure.html", context, status=status)
