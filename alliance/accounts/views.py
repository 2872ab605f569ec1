"""Two-factor enrolment, verification and recovery codes for staff; the admin's locked list."""

from __future__ import annotations

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME, logout
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from alliance.accounts.network import client_ip
from alliance.audit.services import record

from . import services
from .forms import LoginForm, TwoFactorForm, TwoFactorVerifyForm
from .lockout import LOCKED_MESSAGE, lock_minutes, locked_error
from .models import Role
from .permissions import active_membership, role_required, two_factor_required
from .security import (
    SESSION_VERIFIED,
    TwoFactorLocked,
    check_code,
    device_of,
    new_recovery_codes,
    provisioning_uri,
    recovery_codes_left,
    start_enrolment,
)
from .tenancy import AuthenticatedHttpRequest, agency_of, membership_of


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


def locked_response(request, original_response=None, credentials=None):  # noqa: ARG001
    """AXES_LOCKOUT_CALLABLE: the login page again, saying why (429 Too Many Requests)."""
    form = LoginForm(request, data={"username": (credentials or {}).get("username", "")})
    form.errors.clear()
    form.add_error(None, locked_error())
    next_url = request.POST.get("next", "") if request.method == "POST" else ""
    return render(request, "accounts/login.html", {"form": form, "next": next_url}, status=429)


def _locked_error() -> str:
    return LOCKED_MESSAGE % {"minutes": lock_minutes()}


def _show_recovery_codes(request: HttpRequest, codes: list[str], next_url: str) -> HttpResponse:
    """The one time the codes are shown: never cached, never stored in clear."""
    response = render(
        request, "accounts/recovery_codes.html", {"codes": codes, "next": next_url}, status=200
    )
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
@login_required
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """Show a new secret (QR code and text); a correct code confirms it and shows recovery codes.
    Two-factor is on only once a code from the authenticator has been confirmed."""
    if active_membership(request.user) is None:
        return HttpResponse(status=404)
    device = device_of(request.user)
    if device is not None and device.confirmed and not request.session.get(SESSION_VERIFIED):
        return redirect("two_factor_verify")
    form = TwoFactorForm(request.POST or None)
    if request.method == "POST" and device is not None and not device.confirmed:
        try:
            accepted = form.is_valid() and check_code(
                device, form.cleaned_data["code"], ip=client_ip(request)
            )
        except TwoFactorLocked:
            accepted = False
            form.add_error(None, _locked_error())
        if accepted:
            request.session.cycle_key()
            request.session[SESSION_VERIFIED] = True
            _audit(request, "two_factor.enrolled")
            codes = new_recovery_codes(request.user)
            _audit(request, "two_factor.recovery_codes_created")
            return _show_recovery_codes(request, codes, _next_url(request))
        if not form.errors:
            form.add_error("code", _("That code did not match. Check the time on your phone."))
    elif device is None or not device.confirmed:
        device = start_enrolment(request.user)
    context = {
        "form": form,
        "device": device,
        "qr": _qr_markup(device),
        "next": _next_url(request),
        "required": two_factor_required(active_membership(request.user)),
    }
    return render(request, "accounts/two_factor_setup.html", context)


@require_http_methods(["GET", "POST"])
@login_required
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    device = device_of(request.user)
    if device is None or not device.confirmed:
        return redirect("two_factor_setup")
    form = TwoFactorVerifyForm(request.POST or None)
    status = 200
    if request.method == "POST":
        used_before = recovery_codes_left(request.user)
        try:
            accepted = form.is_valid() and check_code(
                device, form.cleaned_data["code"], ip=client_ip(request)
            )
        except TwoFactorLocked:
            # Locked: sign out; the lock stands whatever happens to the password counter.
            logout(request)
            messages.error(request, _locked_error())
            return redirect("login")
        if accepted:
            request.session.cycle_key()
            request.session[SESSION_VERIFIED] = True
            _audit(request, "two_factor.verified")
            if recovery_codes_left(request.user) < used_before:
                _audit(request, "two_factor.recovery_code_used")
            return redirect(_next_url(request))
        if device.failure_count >= settings.LOCKOUT_USER_FAILURES:
            logout(request)
            messages.error(request, _locked_error())
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


@require_http_methods(["GET", "POST"])
@login_required
def recovery_codes(request: HttpRequest) -> HttpResponse:
    """How many recovery codes are left; a POST replaces them all with new ones (audited)."""
    device = device_of(request.user)
    if active_membership(request.user) is None or device is None or not device.confirmed:
        return redirect("two_factor_setup")
    if not request.session.get(SESSION_VERIFIED):
        return redirect("two_factor_verify")
    if request.method == "POST":
        codes = new_recovery_codes(request.user)
        _audit(request, "two_factor.recovery_codes_created")
        return _show_recovery_codes(request, codes, "")
    return render(
        request,
        "accounts/recovery_codes.html",
        {"codes": None, "left": recovery_codes_left(request.user)},
    )


@require_safe
@role_required(Role.ADMIN)
def locked_accounts(request: HttpRequest) -> HttpResponse:
    """The agency admin's list of its people whose sign-in is locked, each with an unlock button."""
    agency = agency_of(request.user)
    assert agency is not None  # role_required admits agency members only
    return render(
        request, "accounts/locked_accounts.html", {"locked": services.locked_members(agency)}
    )


@require_POST
@role_required(Role.ADMIN)
def unlock_account(request: HttpRequest, public_id: str) -> HttpResponse:
    agency = agency_of(request.user)
    assert agency is not None
    try:
        services.unlock(request.user, agency, public_id, ip=client_ip(request))
    except services.NotInAgency:
        raise Http404 from None
    messages.success(request, _("Sign-in is unlocked."))
    return redirect("locked_accounts")
