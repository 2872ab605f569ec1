"""Every request gets an id (``request.id``), echoed in ``X-Request-ID``, and one log line."""

from __future__ import annotations

import logging
import re
import time
import uuid

from django.conf import settings
from django.http import HttpResponseBadRequest, JsonResponse
from django.utils.cache import add_never_cache_headers

from .logging import request_id, safe_path

logger = logging.getLogger("alliance.request")

HEADER = "X-Request-ID"
# nginx's $request_id is 32 hex digits, Caddy's a UUID; anything else is not from our proxy.
VALID_ID = re.compile(r"[A-Za-z0-9._-]{8,128}")


def incoming_id(request) -> str | None:
    """The proxy's request id, trusted only behind a proxy that sets it (a client's own header
    would otherwise let anyone write into the logs)."""
    if not getattr(settings, "TRUSTED_PROXIES", 0):
        return None
    value = request.META.get("HTTP_X_REQUEST_ID", "")
    return value if VALID_ID.fullmatch(value) else None


class RequestIdMiddleware:
    """Outermost middleware: the id is known to every log line written while serving."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.id = incoming_id(request) or uuid.uuid4().hex
        token = request_id.set(request.id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[HEADER] = request.id
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            path = safe_path(request)
            logger.info(
                "%s %s %s %.1fms",
                request.method,
                path,
                response.status_code,
                duration_ms,
                extra={
                    "method": request.method,
                    "path": path,
                    "status": response.status_code,
                    "duration_ms": duration_ms,
                },
            )
            return response
        finally:
            request_id.reset(token)


class RejectNulMiddleware:
    """A NUL character in the path or the query is refused before any view sees it.

    No page or API route means one, and a PostgreSQL text column cannot store or compare it (a
    lookup with one was a server error). Pages answer 400; the API answers a JSON 422, as for
    NUL characters in its bodies (alliance.api.parsing).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        query = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "%00" in query or "\x00" in query:
            message = "the address may not contain NUL characters"
            if request.path.startswith("/api/"):
                return JsonResponse({"code": "invalid", "message": message}, status=422)
            return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


class NoStoreMiddleware:
    """Nothing the application serves is kept by a browser or a proxy cache.

    Client pages, graphs, PDFs, exports and API responses carry clinical data; one rule for every
    dynamic response (``Cache-Control: no-store`` with Django's never-cache headers) is simpler
    to trust than a decorator on each view. Static files never reach it (WhiteNoise answers
    them first, with their own long cache headers).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "no-store" not in response.get("Cache-Control", ""):
            add_never_cache_headers(response)
        return response
