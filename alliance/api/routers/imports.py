"""``/imports``: bulk import of an administrations CSV or a FHIR Bundle (dry run by default)."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from ninja import File, Router, Schema, Status
from ninja.files import UploadedFile

from .. import fhir, imports, schemas
from ..auth import ApiError, actor, require_admin, require_write
from ..errors import ERRORS
from ..parsing import NUL_MESSAGE, has_nul

router = Router(tags=["imports"])

MAX_UPLOAD_BYTES = 200 * 1024 * 1024
ANSWERS: dict[int | frozenset[int], type[Schema]] = {
    200: schemas.ImportReportOut,
    201: schemas.ImportReportOut,
    **ERRORS,
}


def _may_import(request, dry_run: bool) -> None:
    """Agency admins import; a dry run only reads, a commit needs a write token."""
    require_admin(request)
    if not dry_run:
        require_write(request)


def _answer(report: imports.ImportReport):
    body = report.to_dict()
    if report.dry_run:
        return Status(200, body)
    if not report.ok:
        raise ApiError(
            422,
            "import_invalid",
            ngettext(
                "%(count)s problem found: nothing was imported",
                "%(count)s problems found: nothing was imported",
                report.error_count,
            )
            % {"count": report.error_count},
            body["errors"],
        )
    return Status(201, body)


@router.post("/imports", response=ANSWERS)
def import_csv(request, file: File[UploadedFile], dry_run: bool = True):
    """Import an administrations CSV (docs/api.md). ``dry_run=true`` (default) only validates."""
    _may_import(request, dry_run)
    if (file.size or 0) > MAX_UPLOAD_BYTES:
        raise ApiError(413, "too_large", _("the file is larger than 200 MB"))
    try:
        frame = imports.read_csv(file.read())
    except imports.ImportFormatError as error:
        raise ApiError(422, "unreadable", str(error)) from None
    return _answer(
        imports.import_table(actor(request), request.auth.agency, frame, dry_run=dry_run)
    )


# The bundle is read here, not by the API's parser: it has its own limit (settings
# FHIR_IMPORT_MAX_BYTES, 200 MB unless ALLIANCE_FHIR_IMPORT_MAX_MB says otherwise) above Django's
# limit for ordinary bodies, and beyond it the answer is the API's JSON 413.
FHIR_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "a FHIR R4 Bundle of QuestionnaireResponse resources",
                    "additionalProperties": True,
                }
            }
        },
    }
}


def read_bundle(request) -> dict[str, Any]:
    """The request's JSON object, refused as JSON 413 beyond the FHIR limit and 400 if not one."""
    limit = settings.FHIR_IMPORT_MAX_BYTES
    too_large = ApiError(
        413, "too_large", _("the bundle is larger than %(size)s MB") % {"size": limit // 2**20}
    )
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ApiError(400, "bad_request", _("the Content-Length header is not a number")) from None
    if length > limit:
        raise too_large
    if not hasattr(request, "_body"):
        request._body = request.read(limit + 1)  # later readers of request.body see it too
    raw = request._body
    if len(raw) > limit:
        raise too_large
    try:
        bundle = json.loads(raw)
    except (ValueError, RecursionError):
        raise ApiError(400, "bad_request", _("the body is not JSON")) from None
    if not isinstance(bundle, dict):
        raise ApiError(400, "bad_request", _("the body must be a JSON object"))
    if has_nul(bundle):
        raise ApiError(422, "invalid", str(NUL_MESSAGE))
    return bundle


@router.post("/imports/fhir", response=ANSWERS, openapi_extra=FHIR_BODY)
def import_fhir(request, dry_run: bool = True, therapist: str | None = None):
    """Import a FHIR Bundle of QuestionnaireResponse resources for the shipped instruments.

    ``therapist``: username for responses without an author (default: the token's user).
    The bundle may be up to 200 MB (``ALLIANCE_FHIR_IMPORT_MAX_MB``); beyond, 413.
    """
    _may_import(request, dry_run)
    bundle = read_bundle(request)
    try:
        report = fhir.import_bundle(
            actor(request),
            request.auth.agency,
            bundle,
            therapist=therapist or actor(request).username,
            dry_run=dry_run,
        )
    except fhir.FhirImportError as error:
        raise ApiError(422, "invalid_fhir", str(error), error.errors) from None
    return _answer(report)
