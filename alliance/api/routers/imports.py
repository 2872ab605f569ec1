"""``/imports``: bulk import of an administrations CSV or a FHIR Bundle (dry run by default)."""

from __future__ import annotations

from typing import Any

from ninja import Body, File, Router, Schema, Status
from ninja.files import UploadedFile

from .. import fhir, imports, schemas
from ..auth import ApiError, actor, require_admin, require_write
from ..errors import ERRORS

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
            f"{report.error_count} problem(s) found: nothing was imported",
            body["errors"],
        )
    return Status(201, body)


@router.post("/imports", response=ANSWERS)
def import_csv(request, file: File[UploadedFile], dry_run: bool = True):
    """Import an administrations CSV (docs/api.md). ``dry_run=true`` (default) only validates."""
    _may_import(request, dry_run)
    if (file.size or 0) > MAX_UPLOAD_BYTES:
        raise ApiError(413, "too_large", "the file is larger than 200 MB")
    try:
        frame = imports.read_csv(file.read())
    except imports.ImportFormatError as error:
        raise ApiError(422, "unreadable", str(error)) from None
    return _answer(
        imports.import_table(actor(request), request.auth.agency, frame, dry_run=dry_run)
    )


@router.post("/imports/fhir", response=ANSWERS)
def import_fhir(
    request, bundle: Body[dict[str, Any]], dry_run: bool = True, therapist: str | None = None
):
    """Import a FHIR Bundle of QuestionnaireResponse resources for the shipped instruments.

    ``therapist``: username for responses without an author (default: the token's user).
    """
    _may_import(request, dry_run)
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
