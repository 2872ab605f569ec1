"""Two-factor enrolment and verification pages for staff."""

from __future__ import annotations

import qrcode
import qrcode.image.svg
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from alliance.accounts.network import client_ip
from alliance.audit.services import record

from .forms import TwoFactorForm
from .permissions import active_membership
from .security import (
    SESSION_VERIFIED,
    check_code,
    device_of,
    note_failure,
    provisioning_uri,
    start_enrolment,
)
from .tenancy import AuthenticatedHttpRequest, membership_of


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME) or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return "/"


def _qr_svg(uri: str) -> str:
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    return image.to_string(encoding="unicode")


def _qr_markup(device) -> str:
    if device.confirmed:
        return ""
    # The SVG is drawn by qrcode from our own otpauth URI: no user input reaches it.
    return mark_safe(_qr_svg(provisioning_uri(device)))  # nosec


def _audit(request: HttpRequest, action: str) -> None:
    membership = membership_of(request.user)
    if membership is not None:
        record(request.user, membership.agency_id, action, request.user, client_ip(request))


@require_http_methods(["GET", "POST"])
@login_required
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """Show a new secret (QR code and text); a correct code confirms it."""
    if active_membership(request.user) is None:
        return HttpResponse(status=404)
    device = device_of(request.user)
    if device is not None and device.confirmed and not request.session.get(SESSION_VERIFIED):
        return redirect("two_factor_verify")
    form = TwoFactorForm(request.POST or None)
    if request.method == "POST" and device is not None and not device.confirmed:
        if form.is_valid() and check_code(device, form.cleaned_data["code"]):
            request.session.cycle_key()
            request.session[SESSION_VERIFIED] = True
            _audit(request, "two_factor.enrolled")
            return redirect(_next_url(request))
        form.add_error("code", _("That code did not match. Check the time on your phone."))
    elif device is None or not device.confirmed:
        device = start_enrolment(request.user)
    context = {
        "form": form,
        "device": device,
        "qr": _qr_markup(device),
        "next": _next_url(request),
    }
    return render(request, "accounts/two_factor_setup.html", context, status=200)


@require_http_methods(["GET", "POST"])
@login_required
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    device = device_of(request.user)
    if device is None or not device.confirmed:
        return redirect("two_factor_setup")
    form = TwoFactorForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid() and check_code(device, form.cleaned_data["code"]):
            request.session.cycle_key()
            request.session[SESSION_VERIFIED] = True
            _audit(request, "two_factor.verified")
            return redirect(_next_url(request))
        # Wrong codes count towards the same lockout as wrong passwords.
        if note_failure(request.user.get_username(), client_ip(request)):
            from django.contrib.auth import logout

            logout(request)
            return redirect("login")
        form.add_error("code", _("That code did not match. Check the time on your phone."))
        status = 400
    return render(
        request,
        "accounts/two_factor_verify.html",
        {"form": form, "next": _next_url(request)},
        status=status,
    )


@require_http_methods(["GET", "POST"])
@login_required
def handover_pin(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The therapist's own hand-over PIN (what the agency may ask for to end a hand-over)."""
    from .forms import HandoverPinForm
    from .models import HandoverReauth
    from .services import set_handover_pin

    form = HandoverPinForm(request.POST or None, user=request.user)
    done = ""
    if request.method == "POST" and form.is_valid():
        pin = form.cleaned_data["pin"]
        set_handover_pin(request.user, pin, ip=client_ip(request))
        done = _("Your hand-over PIN is set.") if pin else _("Your hand-over PIN is removed.")
        form = HandoverPinForm(user=request.user)
    membership = active_membership(request.user)
    context = {
        "form": form,
        "done": done,
        "has_pin": bool(request.user.handover_pin),
        "uses_pin": membership is not None
        and membership.agency.handover_reauth == HandoverReauth.PIN,
    }
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "accounts/handover_pin.html", context, status=status)
