"""Sign-in security: TOTP two-factor with its own lockout, recovery codes.

Password lockout is django-axes' (alliance.accounts.lockout); wrong two-factor codes are counted
here, on the device, so that a correct password never clears them.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets

import pyotp
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import RecoveryCode, TwoFactorDevice
from .permissions import active_membership
from .permissions import two_factor_required as role_needs_two_factor
from .tenancy import membership_of

SESSION_VERIFIED = "two_factor_verified"
SESSION_LAST_SEEN = "last_seen"
TOTP_ISSUER = "Alliance"
RECOVERY_CODES = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread
RECOVERY_LENGTH = 16  # 16 characters of 31: 79 bits


# --- two-factor ------------------------------------------------------------------------------


def device_of(user) -> TwoFactorDevice | None:
    try:
        return user.two_factor
    except (TwoFactorDevice.DoesNotExist, AttributeError):
        return None


def two_factor_required(user) -> bool:
    """True when this (active) user's role must use two-factor under their agency's policy."""
    return role_needs_two_factor(active_membership(user))


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


def two_factor_locked(device: TwoFactorDevice, *, at: datetime.datetime | None = None) -> bool:
    """True while this device has had too many wrong codes (the lock ends LOCKOUT_WINDOW_SECONDS
    after the failure that set it: attempts made while locked are not counted)."""
    now = at or timezone.now()
    return (
        device.failure_count >= settings.LOCKOUT_USER_FAILURES
        and device.last_failure_at is not None
        and now - device.last_failure_at < _window()
    )


def _window() -> datetime.timedelta:
    return datetime.timedelta(seconds=settings.LOCKOUT_WINDOW_SECONDS)


class TwoFactorLocked(Exception):
    """Too many wrong two-factor codes: no code is checked until the lock ends."""


def check_code(
    device: TwoFactorDevice,
    code: str,
    *,
    at: datetime.datetime | None = None,
    ip: str | None = None,
) -> bool:
    """Accept a 6-digit code of this step or the one before/after, each step only once; at
    sign-in (a confirmed device) a recovery code is accepted in its place, once.

    A wrong code counts on the device; the LOCKOUT_USER_FAILURES-th locks two-factor (audited
    as ``login.locked``) and TwoFactorLocked is raised while it lasts.
    """
    now = at or timezone.now()
    digits = "".join(ch for ch in (code or "") if ch.isdigit())
    totp = pyotp.TOTP(device.secret)
    step = int(now.timestamp()) // totp.interval
    with transaction.atomic():
        locked = TwoFactorDevice.objects.select_for_update().get(pk=device.pk)
        if two_factor_locked(locked, at=now):
            raise TwoFactorLocked
        accepted = False
        if len(digits) == 6 and len(digits) == len((code or "").strip().replace(" ", "")):
            for candidate in (step - 1, step, step + 1):
                if candidate <= locked.last_step:
                    continue
                if pyotp.utils.strings_equal(totp.generate_otp(candidate), digits):
                    locked.last_step = candidate
                    if locked.confirmed_at is None:
                        locked.confirmed_at = now
                    accepted = True
                    break
        elif locked.confirmed and _use_recovery_code(locked, code, now):
            accepted = True
        if accepted:
            locked.failure_count, locked.last_failure_at = 0, None
        else:
            if locked.last_failure_at is None or now - locked.last_failure_at >= _window():
                locked.failure_count = 0  # earlier failures are too old to count
            locked.failure_count += 1
            locked.last_failure_at = now
        locked.save(update_fields=["last_step", "confirmed_at", "failure_count", "last_failure_at"])
        for field in ("last_step", "confirmed_at", "failure_count", "last_failure_at"):
            setattr(device, field, getattr(locked, field))
    if not accepted and two_factor_locked(locked, at=now):
        from .lockout import audit_lock

        audit_lock(device.user, ip, "two_factor")
    return accepted


def reset_two_factor_failures(user) -> bool:
    """Lift a two-factor lock (an admin's action); True when there was something to clear."""
    return bool(
        TwoFactorDevice.objects.filter(user=user, failure_count__gt=0).update(
            failure_count=0, last_failure_at=None
        )
    )


# --- recovery codes --------------------------------------------------------------------------


def _normal_recovery(code: str) -> str:
    return "".join(ch for ch in (code or "").lower() if ch in RECOVERY_ALPHABET)


def _hash(code: str) -> str:
    return hashlib.sha256(_normal_recovery(code).encode()).hexdigest()


def _use_recovery_code(device: TwoFactorDevice, code: str, now: datetime.datetime) -> bool:
    normal = _normal_recovery(code)
    if len(normal) != RECOVERY_LENGTH:
        return False
    used = RecoveryCode.objects.filter(
        user_id=device.user_id, code_hash=_hash(normal), used_at__isnull=True
    ).update(used_at=now)
    return used == 1


@transaction.atomic
def new_recovery_codes(user) -> list[str]:
    """RECOVERY_CODES fresh codes (the old ones stop working); only their hashes are kept, so
    the caller shows them once."""
    membership = membership_of(user)
    if membership is None:
        raise ValueError("two-factor is for agency staff")
    RecoveryCode.objects.filter(user=user).delete()
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
        codes.append("-".join(raw[i : i + 4] for i in range(0, RECOVERY_LENGTH, 4)))
    RecoveryCode.objects.bulk_create(
        RecoveryCode(agency_id=membership.agency_id, user=user, code_hash=_hash(code))
        for code in codes
    )
    return codes


def recovery_codes_left(user) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()
