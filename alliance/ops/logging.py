"""Log lines with the request's id, plain for people or JSON for a log collector.

``ALLIANCE_LOG_FORMAT=json`` (settings.LOGGING) writes one JSON object per line. Every line
written while a request is served carries its id (``RequestContextFilter``), so an error can be
matched with the request line and with the proxy's access log (nginx sends ``X-Request-ID``).

Log lines never carry clinical or personal data: the request line names the method, the path
without its query string and with client-link tokens blanked, the status and the duration; the
path Django puts into its own warnings ("Not Found: /f/<token>/") is blanked the same way.
"""

from __future__ import annotations

import datetime
import json
import logging
from contextvars import ContextVar

# The id of the request being served in this thread or task (None outside a request).
request_id: ContextVar[str | None] = ContextVar("alliance_request_id", default=None)

# URL parameters that are credentials: a client's form link and a staff invitation link
# (/agency/join/<token>/) work for anyone holding them.
SECRET_URL_KWARGS = frozenset({"token"})
REDACTED = "<token>"

# Attributes that the request line passes through ``extra`` and the JSON line shows by name.
REQUEST_FIELDS = ("method", "path", "status", "duration_ms")


def safe_path(request) -> str:
    """The request's path without query string, with secret URL parameters blanked."""
    path = request.path
    match = getattr(request, "resolver_match", None)
    if match is None:
        return path
    for name, value in match.kwargs.items():
        if name in SECRET_URL_KWARGS and value:
            path = path.replace(str(value), REDACTED)
    return path


class RequestContextFilter(logging.Filter):
    """Adds ``request_id`` to every record and blanks secrets in the paths Django logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        if not getattr(record, "request_id", None):
            # Django logs a 4xx/5xx response after the middleware has returned: its record
            # carries the request itself.
            record.request_id = getattr(request, "id", None) or request_id.get() or "-"
        if request is not None and isinstance(record.args, tuple) and hasattr(request, "path"):
            # django.request and django.security log "%s: %s" % (reason, request.path).
            path = request.path
            record.args = tuple(safe_path(request) if arg == path else arg for arg in record.args)
        return True


class PlainFormatter(logging.Formatter):
    """``2026-11-29 15:30:00,123 INFO alliance.request [id] GET /path 200 3.1ms``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get() or "-"
        return super().format(record)


def _request_id(record: logging.LogRecord) -> str | None:
    value = getattr(record, "request_id", None)
    if value and value != "-":
        return value
    return getattr(getattr(record, "request", None), "id", None) or request_id.get()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, request_id, the request
    line's fields when present, and the traceback of an exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": _request_id(record),
        }
        for field in REQUEST_FIELDS:
            if hasattr(record, field):
                entry[field] = getattr(record, field)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)
