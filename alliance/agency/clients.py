"""Clients, for the agency admin: reassign a client to another therapist, merge a duplicate
client code into the client kept, and undo a merge within 24 hours.

Every client is looked up through the visibility rules (an admin sees the agency's clients; a
client of another agency is a 404). The actions live in ``alliance.care.services``.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe

from alliance.accounts.models import Membership, Role
from alliance.accounts.network import client_ip
from alliance.accounts.permissions import require_role, role_required
from alliance.care import services
from alliance.care.models import ClientMerge
from alliance.care.services import ServiceError
from alliance.care.visibility import get_visible_client_or_404, visible_clients

PAGE_SIZE = 50


def _members(agency_id: int):
    return (
        Membership.objects.filter(agency_id=agency_id, user__is_active=True)
        .select_related("user")
        .order_by("user__username")
    )


def _recent_merges(agency_id: int):
    since = timezone.now() - services.MERGE_UNDO_WINDOW * 7
    return (
        ClientMerge.objects.filter(agency_id=agency_id, merged_at__gte=since)
        .select_related("kept", "merged_by", "undone_by")
        .order_by("-merged_at")[:20]
    )


@require_safe
@role_required(Role.ADMIN)
def client_list(request: HttpRequest) -> HttpResponse:
    membership = require_role(request.user, Role.ADMIN)
    code = request.GET.get("code", "").strip()[:40]
    clients = visible_clients(request.user).select_related("therapist").order_by("display_code")
    if code:
        clients = clients.filter(display_code__icontains=code)
    page = Paginator(clients, PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    merges = [
        {
            "merge": merge,
            "undo_open": merge.undone_at is None and now <= services.merge_undo_deadline(merge),
            "deadline": services.merge_undo_deadline(merge),
        }
        for merge in _recent_merges(membership.agency_id)
    ]
    return render(request, "agency/clients.html", {"page": page, "code": code, "merges": merges})


@require_http_methods(["GET", "POST"])
@role_required(Role.ADMIN)
def client_reassign(request: HttpRequest, public_id: str) -> HttpResponse:
    client = get_visible_client_or_404(request.user, public_id)
    members = [m for m in _members(client.agency_id) if m.user_id != client.therapist_id]
    error = ""
    if request.method == "POST":
        chosen = request.POST.get("therapist", "")
        target = next((m.user for m in members if m.user.public_id == chosen), None)
        if chosen and chosen == client.therapist.public_id:
            return redirect("agency:clients")  # the same form again: nothing to change
        if target is None:
            error = _("Choose the therapist who takes the client over.")
        else:
            try:
                services.reassign_client(request.user, client, target, ip=client_ip(request))
            except ServiceError as failure:
                error = str(failure)
            else:
                messages.success(
                    request,
                    _("%(code)s is now with %(therapist)s.")
                    % {"code": client.display_code, "therapist": target.username},
                )
                return redirect("agency:clients")
    return render(
        request,
        "agency/client_reassign.html",
        {"client": client, "members": members, "error": error},
        status=400 if error else 200,
    )


@require_http_methods(["GET", "POST"])
@role_required(Role.ADMIN)
def client_merge(request: HttpRequest, public_id: str) -> HttpResponse:
    membership = require_role(request.user, Role.ADMIN)
    already = ClientMerge.objects.filter(
        agency_id=membership.agency_id, duplicate_public_id=public_id, undone_at__isnull=True
    ).exists()
    if already and request.method == "POST":
        messages.info(request, _("This client was already merged."))
        return redirect("agency:clients")
    duplicate = get_visible_client_or_404(request.user, public_id)
    kept_code = request.POST.get("kept", "").strip()[:40]
    error = ""
    if request.method == "POST":
        kept = visible_clients(request.user).filter(display_code=kept_code).first()
        if kept is None:
            error = _("Enter the code of the client to keep (a client of this agency).")
        elif request.POST.get("confirm") != "yes":
            error = _("Tick the box to confirm.")
        else:
            try:
                services.merge_clients(request.user, duplicate, kept, ip=client_ip(request))
            except ServiceError as failure:
                error = str(failure)
            else:
                messages.success(
                    request,
                    _(
                        "%(duplicate)s is merged into %(kept)s. You can undo this for 24 hours "
                        "below."
                    )
                    % {"duplicate": duplicate.display_code, "kept": kept.display_code},
                )
                return redirect("agency:clients")
    return render(
        request,
        "agency/client_merge.html",
        {"client": duplicate, "kept_code": kept_code, "error": error},
        status=400 if error else 200,
    )


@require_http_methods(["GET", "POST"])
@role_required(Role.ADMIN)
def merge_undo(request: HttpRequest, public_id: str) -> HttpResponse:
    membership = require_role(request.user, Role.ADMIN)
    merge = (
        ClientMerge.objects.filter(agency_id=membership.agency_id, public_id=public_id)
        .select_related("kept")
        .first()
    )
    if merge is None:
        raise Http404("No such merge")
    error = ""
    if request.method == "POST":
        if merge.undone_at is not None:
            messages.info(request, _("This merge was already undone."))
            return redirect("agency:clients")
        if request.POST.get("confirm") != "yes":
            error = _("Tick the box to confirm.")
        else:
            try:
                restored = services.undo_merge(request.user, merge, ip=client_ip(request))
            except ServiceError as failure:
                error = str(failure)
            else:
                messages.success(
                    request,
                    _("The merge is undone: %(code)s is back.") % {"code": restored.display_code},
                )
                return redirect("agency:clients")
    return render(
        request,
        "agency/merge_undo.html",
        {"merge": merge, "deadline": services.merge_undo_deadline(merge), "error": error},
        status=400 if error else 200,
    )


urlpatterns = [
    path("clients/", client_list, name="clients"),
    path("clients/<str:public_id>/reassign/", client_reassign, name="client_reassign"),
    path("clients/<str:public_id>/merge/", client_merge, name="client_merge"),
    path("clients/merges/<str:public_id>/undo/", merge_undo, name="merge_undo"),
]
