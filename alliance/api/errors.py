"""Every error the API answers, as JSON ``{"code", "message"}`` (and ``errors`` when per item).

``register`` installs the handlers on the NinjaAPI instance; ``ERRORS`` is the response map
every operation documents, so the OpenAPI document lists the error answers it may give.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

from alliance.care.services import DuplicateError, ServiceError
from alliance.science.instruments import ResponseError

from . import schemas
from .auth import ApiError, RateLimited

ERROR_STATUSES = frozenset({400, 401, 403, 404, 409, 413, 422, 429})
ERRORS: dict[int | frozenset[int], type[Schema]] = {ERROR_STATUSES: schemas.Error}


def jsonable(value):
    """Dates, decimals and the like as JSON text, the way the report and error bodies send them."""
    return json.loads(json.dumps(value, default=str))


def register(api: NinjaAPI) -> None:
    def answer(request, status: int, code: str, message: str, errors=None, headers=None):
        body = {"code": code, "message": message}
        if errors is not None:
            body["errors"] = jsonable(errors)
        response = api.create_response(request, body, status=status)
        for name, value in (headers or {}).items():
            response[name] = value
        return response

    def api_error(request, exc: ApiError):
        return answer(request, exc.status, exc.code, exc.message, exc.errors)

    def not_found(request, exc):
        return answer(request, 404, "not_found", _("not found (or not visible to this token)"))

    def unauthenticated(request, exc):
        return answer(
            request,
            401,
            "unauthenticated",
            _("a valid, unexpired bearer token is required"),
            headers={"WWW-Authenticate": 'Bearer realm="alliance"'},
        )

    def rate_limited(request, exc: RateLimited):
        return answer(
            request,
            429,
            "rate_limited",
            _("too many requests; retry after %(seconds)s s") % {"seconds": exc.retry_after},
            headers={"Retry-After": str(exc.retry_after)},
        )

    def invalid(request, exc: ValidationError):
        return answer(request, 422, "invalid", _("the request is not valid"), exc.errors)

    def http_error(request, exc: HttpError):
        # ninja wraps a body refused by the parser (parsing.StrictParser) as "Cannot parse
        # request body": the parser's own reason is the clearer message.
        cause = exc.__cause__
        if isinstance(cause, RequestDataTooBig):
            return answer(request, 413, "too_large", _("the request body is too large"))
        if isinstance(cause, HttpError):
            code = "invalid" if cause.status_code == 422 else "bad_request"
            return answer(request, cause.status_code, code, str(cause))
        return answer(request, exc.status_code, "bad_request", str(exc))

    def rule_broken(request, exc):
        return answer(request, 422, "rule_broken", str(exc))

    def invalid_response(request, exc: ResponseError):
        item = getattr(exc, "item", None)
        errors = [{"item": item}] if item else None
        return answer(request, 422, "invalid_scores", str(exc), errors)

    def duplicate(request, exc: DuplicateError):
        return answer(request, 409, "conflict", str(exc))

    def conflict(request, exc):
        return answer(request, 409, "conflict", _("this conflicts with an existing record"))

    handlers: tuple[tuple[type[Exception], Callable[[HttpRequest, Any], HttpResponse]], ...] = (
        (ApiError, api_error),
        (Http404, not_found),
        (AuthenticationError, unauthenticated),
        (RateLimited, rate_limited),
        (ValidationError, invalid),
        (HttpError, http_error),
        (DuplicateError, duplicate),
        (ServiceError, rule_broken),
        (ResponseError, invalid_response),
        (IntegrityError, conflict),
    )
    for exception, handler in handlers:
        api.add_exception_handler(exception, handler)
