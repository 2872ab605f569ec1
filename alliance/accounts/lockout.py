"""Password lockout, kept by django-axes; this module holds what Alliance adds around it.

django-axes counts failed sign-ins per username and per (username, address), the address coming
from ``network.client_ip`` (so a trusted proxy's header is honoured); never per address alone,
so that one person's typos at a clinic's address cannot lock colleagues out. Attempts made while
locked are not counted (settings: AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False), so the
lock ends LOCKOUT_WINDOW_SECONDS after the failure that set it. Two-factor codes are counted on
their own, on the user's TwoFactorDevice (security.check_code).
"""

from __future__ import annotations

import datetime

from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import User
from .tenancy import membership_of

LOCKED_MESSAGE = _(
    "Too many failed attempts. Sign-in is paused for %(minutes)s minutes; "
    "ask your agency admin if you need help sooner."
)


def normal_username(username: str | None) -> str:
    return (username or "").strip().lower()[:150]


def username_of(request, credentials: dict | None) -> str:  # noqa: ARG001
    """AXES_USERNAME_CALLABLE: "Tara " and "tara" are counted as one user."""
    return normal_username((credentials or {}).get("username"))


def lock_minutes() -> int:
    return max(1, settings.LOCKOUT_WINDOW_SECONDS // 60)


def locked_error() -> ValidationError:
    return ValidationError(LOCKED_MESSAGE, code="locked", params={"minutes": lock_minutes()})


def locked_usernames(*, now: datetime.datetime | None = None) -> set[str]:
    """Usernames locked for passwords now (from any address): axes' own rule, per username."""
    since = (now or timezone.now()) - settings.AXES_COOLOFF_TIME
    totals = (
        AccessAttempt.objects.filter(attempt_time__gte=since)
        .values("username")
        .annotate(failures=Sum("failures_since_start"))
        .filter(failures__gte=settings.AXES_FAILURE_LIMIT)
    )
    return {row["username"] for row in totals if row["username"]}


def reset_password_failures(username: str) -> int:
    return AxesProxyHandler.reset_attempts(username=normal_username(username))


def audit_lock(user: User, ip: str | None, kind: str) -> None:
    from alliance.audit.services import record

    membership = membership_of(user)
    if membership is not None:
        record(
            None,
            membership.agency_id,
            "login.locked",
            user,
            ip,
            {"username": user.username, "factor": kind},
        )


def on_locked_out(sender, request=None, username=None, ip_address=None, **kwargs) -> None:  # noqa: ARG001
    """axes' user_locked_out signal: one audit event when a lock starts (not per refused try)."""
    if request is not None and getattr(request, "alliance_lock_audited", False):
        return
    if request is not None and getattr(request, "axes_failures_since_start", None) is None:
        return  # refused while already locked (not counted): the lock was audited when it began
    user = User.objects.filter(username__iexact=normal_username(username)).first()
    if user is not None:
        audit_lock(user, ip_address, "password")
    if request is not None:
        request.alliance_lock_audited = True


def connect() -> None:
    user_locked_out.connect(on_locked_out, weak=False, dispatch_uid="accounts_axes_locked_out")
