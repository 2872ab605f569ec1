"""Idle sessions end; staff with two-factor reach only the two-factor pages until they pass it."""

from __future__ import annotations

import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from .security import SESSION_LAST_SEEN, SESSION_VERIFIED, two_factor_pending

# Refresh the idle stamp at most this often (saves a session write per request under load).
TOUCH_EVERY = 60
RECHECK_EVERY = 300
SESSION_NOT_NEEDED = "two_factor_not_needed_at"


class AccountSecurityMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            response = self._check(request)
            if response is not None:
                return response
        return self.get_response(request)

    def _check(self, request):
        now = int(time.time())
        last_seen = request.session.get(SESSION_LAST_SEEN)
        if last_seen is not None and now - last_seen > settings.SESSION_IDLE_TIMEOUT:
            logout(request)
            messages.info(request, _("You were signed out after a period of inactivity."))
            return redirect(f"{reverse('login')}?{urlencode({'next': request.path})}")
        if last_seen is None or now - last_seen >= TOUCH_EVERY:
            request.session[SESSION_LAST_SEEN] = now
        if request.session.get(SESSION_VERIFIED):
            return None
        # "No two-factor needed" is decided at sign-in and remembered for a few minutes (no
        # queries per request); a policy switched on reaches signed-in staff within that time.
        if now - request.session.get(SESSION_NOT_NEEDED, -RECHECK_EVERY) < RECHECK_EVERY:
            return None
        pending = two_factor_pending(request.user)
        if pending is None:
            request.session[SESSION_NOT_NEEDED] = now
            return None
        allowed = {
            reverse("two_factor_setup"),
            reverse("two_factor_verify"),
            reverse("logout"),
        }
        if request.path in allowed or request.path.startswith(settings.STATIC_URL):
            return None
        target = "two_factor_setup" if pending == "setup" else "two_factor_verify"
        return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")


def on_sign_in(sender, request, user, **kwargs) -> None:  # noqa: ARG001
    """At sign-in: start the idle clock and decide once whether two-factor is pending."""
    session = getattr(request, "session", None)
    if session is None:
        return
    now = int(time.time())
    session[SESSION_LAST_SEEN] = now
    if two_factor_pending(user) is None:
        session[SESSION_NOT_NEEDED] = now
    else:
        session.pop(SESSION_NOT_NEEDED, None)
