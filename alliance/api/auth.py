"""Bearer-token authentication, scopes, roles and per-token rate limiting for the API."""

from __future__ import annotations

import math
import time

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _
from ninja.security import HttpBearer

from alliance.accounts import permissions
from alliance.accounts.models import Role
from alliance.accounts.permissions import api_require_role

from .models import ApiToken
from .services import find_token, token_acts_for, touch


class ApiError(Exception):
    """An error answered as JSON ``{"code", "message"}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str, errors: list | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.errors = status, code, message, errors


class RateLimited(Exception):
    def __init__(self, retry_after: int):
        super().__init__("rate limit exceeded")
        self.retry_after = retry_after


def clock() -> float:
    """The rate limit's clock (tests replace it: no test depends on where a window ends)."""
    return time.time()


def check_rate(token: ApiToken, now: float | None = None) -> int:
    """Count one request for the token; raise RateLimited past the limit. Returns what is left.

    A sliding window: the count of the current window of ``API_RATE_WINDOW_SECONDS`` plus the
    previous window's count weighted by how much of it still lies within the last
    ``API_RATE_WINDOW_SECONDS`` (so a burst at the end of one window and the start of the next is
    counted together, unlike fixed windows). The counts live in the Django cache, which every
    worker and process reads: Redis (REDIS_URL) or the database cache table. A refused request is
    not counted, so a client that waits gets through again.
    """
    limit = settings.API_RATE_LIMIT
    window = settings.API_RATE_WINDOW_SECONDS
    now = clock() if now is None else now
    slot = int(now // window)
    elapsed = now - slot * window
    key = f"api-rate:{token.pk}:{slot}"
    previous = cache.get(f"api-rate:{token.pk}:{slot - 1}", 0)
    weight = 1 - elapsed / window
    cache.add(key, 0, timeout=2 * window + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=2 * window + 1)
        count = 1
    used = previous * weight + count
    if used > limit + 1e-9:  # (the weight is a float: 3 * (1 - 20/60) is not quite 2)
        cache.decr(key)  # a refused request does not count
        current = count - 1
        if previous and current + 1 <= limit:
            # The previous window's weight falls until one more request fits.
            wait = window * (1 - (limit - current - 1) / previous) - elapsed
        else:
            wait = window - elapsed
        raise RateLimited(max(1, math.ceil(round(wait, 6))))
    return max(0, math.floor(limit - used))


class TokenAuth(HttpBearer):
    def authenticate(self, request, token: str) -> ApiToken | None:
        found = find_token(token)
        if found is None or token_acts_for(found) is None:
            return None
        request.rate_remaining = check_rate(found)
        touch(found)
        return found


def token_of(request) -> ApiToken:
    return request.auth


def actor(request):
    return request.auth.user


def require_write(request) -> None:
    if not request.auth.can_write:
        raise ApiError(403, "insufficient_scope", _("this token is read-only (scope read)"))


def require_admin(request) -> None:
    try:
        api_require_role(request, Role.ADMIN)
    except PermissionDenied:
        raise ApiError(403, "forbidden", _("only an agency admin may do this")) from None


def role_of(request) -> str:
    """The role of the user the token acts for ("" when none)."""
    return permissions.role_of(request.auth.user)
