"""The agency's own administration: the landing page that leads to each area.

Each area keeps its views and URL patterns in its own module (people, tokens, policies...), and
``urls.py`` joins them. The models stay in the app that holds them (accounts, api, care); the
actions with side effects live in those apps' ``services.py``.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from alliance.accounts.permissions import SUPERVISOR_OR_ADMIN, role_required


@require_safe
@role_required(*SUPERVISOR_OR_ADMIN)
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "agency/home.html")
