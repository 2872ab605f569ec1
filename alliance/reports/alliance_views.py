"""The agency's alliance-outcome page and its PDF (supervisors for their teams, admins)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from alliance.accounts.permissions import SUPERVISOR_OR_ADMIN, role_required

from . import services
from .alliance_outcome import alliance_outcome_report
from .data import outcome_instruments
from .forms import ReportFilterForm
from .pdf import render_pdf


def _context(request: HttpRequest) -> dict:
    report_filter = ReportFilterForm(request.GET).report_filter()
    membership = services.require_reader(request.user)
    return {
        "agency": membership.agency,
        "filter": report_filter,
        "report": alliance_outcome_report(request.user, report_filter),
        "teams": services.team_choices(request.user),
        "instruments": [
            (code, name) for code, name in outcome_instruments() if code in ("ors", "cors", "ycors")
        ],
        "query": request.GET.urlencode(),
        "generated": timezone.now(),
    }


@require_safe
@role_required(*SUPERVISOR_OR_ADMIN)
def alliance_outcome(request: HttpRequest) -> HttpResponse:
    return render(request, "reports/alliance.html", _context(request))


@require_safe
@role_required(*SUPERVISOR_OR_ADMIN)
def alliance_outcome_pdf(request: HttpRequest) -> HttpResponse:
    pdf = render_pdf("reports/alliance_print.html", _context(request))
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = 'attachment; filename="alliance-outcome.pdf"'
    return response
