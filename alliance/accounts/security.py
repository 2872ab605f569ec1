"""Sign-in security: lockout after repeated failures, TOTP two-factor, idle session expiry."""

from __future__ import annotations

import datetime

import pyotp
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import LoginFailure, TwoFactorDevice, User
from .permissions import TWO_FACTOR_ROLES, active_membership
from .tenancy import membership_of

SESSION_VERIFIED = "two_factor_verified"
SESSION_LAST_SEEN = "last_seen"
TOTP_ISSUER = "Alliance"


# --- lockout ---------------------------------------------------------------------------------


def _window_start() -> datetime.datetime:
    return timezone.now() - datetime.timedelta(seconds=settings.LOCKOUT_WINDOW_SECONDS)


def _normal(username: str) -> str:
    return (username or "").strip().lower()[:150]


def is_locked_out(username: str, ip: str | None) -> bool:
    """True when the username or the address has too many recent failures."""
    since = _window_start()
    recent = LoginFailure.objects.filter(at__gte=since)
    if username and (
        recent.filter(username=_normal(username)).count() >= settings.LOCKOUT_USER_FAILURES
    ):
        return True
    return bool(ip and recent.filter(ip_address=ip).count() >= settings.LOCKOUT_IP_FAILURES)


def note_failure(username: str, ip: str | None) -> bool:
    """Store a failed attempt; True when this failure locks the username or the address."""
    already = is_locked_out(username, ip)
    # Keep the table small: failures older than a day no longer count for anything.
    LoginFailure.objects.filter(at__lt=timezone.now() - datetime.timedelta(days=1)).delete()
    LoginFailure.objects.create(
        username=_normal(username), ip_address=ip or None, at=timezone.now()
    )
    locked = already or is_locked_out(username, ip)
    if locked and not already:  # one audit event per lock, not per attempt while locked
        _audit_lockout(username, ip)
    return locked


def clear_failures(username: str) -> None:
    LoginFailure.objects.filter(username=_normal(username)).delete()


def _audit_lockout(username: str, ip: str | None) -> None:
    from alliance.audit.services import record

    user = User.objects.filter(username__iexact=_normal(username)).first()
    membership = membership_of(user) if user is not None else None
    if user is not None and membership is not None:
        record(None, membership.agency_id, "login.locked", user, ip, {"username": user.username})


# --- two-factor ------------------------------------------------------------------------------


def device_of(user) -> TwoFactorDevice | None:
    try:
        return user.two_factor
    except (TwoFactorDevice.DoesNotExist, AttributeError):
        return None


def two_factor_required(user) -> bool:
    """Admins and supervisors must use two-factor when their agency's policy says so."""
    membership = active_membership(user)
    return bool(
        membership and membership.agency.require_two_factor and membership.role in TWO_FACTOR_ROLES
    )


def two_factor_pending(user) -> str | None:
    """ "setup" or "verify" when this signed-in user must still pass two-factor, else None."""
    device = device_of(user)
    if device is not None and device.confirmed:
        return "verify"
    if two_factor_required(user):
        return "setup"
    return None


@transaction.atomic
def start_enrolment(user) -> TwoFactorDevice:
    """A new unconfirmed secret (replacing an unconfirmed one); a confirmed device is kept."""
    device = device_of(user)
    if device is not None and device.confirmed:
        return device
    membership = membership_of(user)
    if membership is None:
        raise ValueError("two-factor is for agency staff")
    if device is None:
        device = TwoFactorDevice(user=user, agency_id=membership.agency_id)
    device.secret = pyotp.random_base32()
    device.last_step = 0
    device.save()
    return device


def provisioning_uri(device: TwoFactorDevice) -> str:
    return pyotp.TOTP(device.secret).provisioning_uri(
        name=device.user.get_username(), issuer_name=TOTP_ISSUER
    )


def check_code(device: TwoFactorDevice, code: str, *, at: datetime.datetime | None = None) -> bool:
    """Accept a 6-digit code of this step or the one before/after, each step only once."""
    code = "".join(ch for ch in (code or "") if ch.isdigit())
    if len(code) != 6:
        return False
    totp = pyotp.TOTP(device.secret)
    now = at or timezone.now()
    step = int(now.timestamp()) // totp.interval
    with transaction.atomic():
        locked = TwoFactorDevice.objects.select_for_update().get(pk=device.pk)
        for candidate in (step - 1, step, step + 1):
            if candidate <= locked.last_step:
                continue
            expected = totp.generate_otp(candidate)
            if pyotp.utils.strings_equal(expected, code):
                locked.last_step = candidate
                if locked.confirmed_at is None:
                    locked.confirmed_at = timezone.now()
                locked.save(update_fields=["last_step", "confirmed_at"])
                device.last_step, device.confirmed_at = locked.last_step, locked.confirmed_at
                return True
    return False
