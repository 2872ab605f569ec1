"""FHIR import: Bundles of QuestionnaireResponse resources for the shipped instruments.

Reads what ``alliance.reports.fhir.bundle_for_agency`` exports (and other systems' bundles that
follow the same conventions) into the administrations table, then imports it with
``alliance.api.imports.import_table`` (same validation, dry run, idempotency):

* the instrument from ``questionnaire`` (``urn:alliance:questionnaire:<code>``, or any canonical
  URL whose last path segment is the code, ``|version`` ignored);
* the client from ``subject`` (``Patient/<id>``: the id becomes the client's display code);
* the episode from an extension ``urn:alliance:episode`` (valueString) when present, else one
  episode per client; the session number from an extension ``urn:alliance:session-number``
  (valueInteger) when present, else the rank of the authored date within the episode;
* the rater from ``source``: the subject's Patient (or none) is the client, otherwise its
  ``display`` (``parent``, ``partner``, ...);
* answers by ``linkId`` (item keys and ``total``), ``valueDecimal`` or ``valueInteger``;
* the therapist: ``author.identifier.value`` or ``author.display`` when present, else the
  username given to the import.

Other resources (Questionnaire, Observation) are ignored. Responses whose identifier
(``urn:alliance:administration``) names an administration already in the agency are skipped as
unchanged, so re-importing an agency's own export changes nothing.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from django.utils.translation import gettext as _
from pydantic import ValidationError

from .imports import PROBLEM_COLUMN, ROW_COLUMN, ImportReport, import_table

EPISODE_EXTENSION = "urn:alliance:episode"
SESSION_EXTENSION = "urn:alliance:session-number"
IDENTIFIER_SYSTEM = "urn:alliance:administration"
MAX_ITEMS = 10


class FhirImportError(ValueError):
    def __init__(self, message: str, errors: list[dict] | None = None):
        super().__init__(message)
        self.errors = errors


def validate_bundle(bundle: Any) -> None:
    """Validate with fhir.resources (R4B models); raises FhirImportError listing the problems."""
    from fhir.resources.R4B import get_fhir_model_class

    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise FhirImportError(_("expected a FHIR Bundle (resourceType Bundle)"))
    try:
        get_fhir_model_class("Bundle").model_validate(bundle)
    except ValidationError as error:
        problems = [
            {"location": ".".join(str(part) for part in e["loc"]), "message": e["msg"]}
            for e in error.errors()[:100]
        ]
        raise FhirImportError(_("the bundle is not valid FHIR"), problems) from None
    except (ValueError, TypeError, KeyError) as error:
        raise FhirImportError(
            _("the bundle is not valid FHIR: %(error)s") % {"error": error}
        ) from None


def _instrument_code(canonical: str) -> str:
    text = canonical.split("|", 1)[0].rstrip("/")
    for separator in ("/", ":"):
        text = text.rsplit(separator, 1)[-1]
    return text.lower()


def _extension(resource: dict, url: str) -> Any:
    for extension in resource.get("extension") or []:
        if extension.get("url") == url:
            for key, value in extension.items():
                if key.startswith("value"):
                    return value
    return None


def _reference_id(reference: dict | None) -> str:
    text = (reference or {}).get("reference") or ""
    return text.rsplit("/", 1)[-1] if "/" in text else text


def _answer(item: dict) -> str:
    for answer in item.get("answer") or []:
        for key in ("valueDecimal", "valueInteger"):
            if answer.get(key) is not None:
                return str(answer[key])
    return ""


def _identifier(resource: dict) -> str:
    identifiers = resource.get("identifier") or []
    if isinstance(identifiers, dict):
        identifiers = [identifiers]
    for identifier in identifiers:
        if identifier.get("system") == IDENTIFIER_SYSTEM:
            return identifier.get("value") or ""
    return ""


def bundle_to_table(bundle: Any, *, therapist: str, known_ids: set[str] | None = None):
    """(frame of text columns in the administrations table format, number skipped as known).

    ``known_ids``: administration public ids already stored in the agency (skipped).
    """
    from alliance.care.feedback import instrument_for
    from alliance.science.instruments import UnknownInstrumentError

    validate_bundle(bundle)
    known_ids = known_ids or set()
    rows: list[dict[str, str]] = []
    skipped = 0
    for number, entry in enumerate(bundle.get("entry") or [], start=1):
        resource = entry.get("resource") or {}
        if resource.get("resourceType") != "QuestionnaireResponse":
            continue
        if _identifier(resource) and _identifier(resource) in known_ids:
            skipped += 1
            continue
        code = _instrument_code(resource.get("questionnaire") or "")
        try:
            keys = instrument_for(code).item_keys
        except UnknownInstrumentError:
            keys = ()
        answers = {item.get("linkId"): _answer(item) for item in resource.get("item") or []}
        client = _reference_id(resource.get("subject"))
        source = resource.get("source") or {}
        if (
            not source
            or _reference_id(source) == client
            or source.get("reference", "").startswith("Patient/")
        ):
            rater = "client"
        else:
            rater = (source.get("display") or "other").lower()
        author = resource.get("author") or {}
        episode = _extension(resource, EPISODE_EXTENSION)
        session = _extension(resource, SESSION_EXTENSION)
        row = {
            ROW_COLUMN: str(number),
            "client_id": client,
            "episode_id": str(episode) if episode else (f"fhir-{client}" if client else ""),
            "therapist_id": (author.get("identifier") or {}).get("value")
            or author.get("display")
            or therapist,
            "session_number": "" if session is None else str(session),
            "session_date": str(resource.get("authored") or "")[:10],
            "instrument": code,
            "rater": rater,
            "total": answers.get("total", ""),
        }
        if resource.get("status") not in ("completed", "amended"):
            row[PROBLEM_COLUMN] = "status: " + _(
                "only completed or amended responses can be imported"
            )
        for position, key in enumerate(keys[:MAX_ITEMS], start=1):
            row[f"item_{position}"] = answers.get(key, "")
        rows.append(row)
    frame = pd.DataFrame(rows, dtype=str).fillna("")
    if frame.empty:
        return frame, skipped
    missing = frame["session_number"] == ""
    if missing.any():
        dates = frame.loc[missing, ["episode_id", "session_date"]].drop_duplicates()
        dates = dates.sort_values(["episode_id", "session_date"])
        dates["rank"] = dates.groupby("episode_id").cumcount() + 1
        ranks = {
            (e, d): str(r)
            for e, d, r in dates[["episode_id", "session_date", "rank"]].itertuples(index=False)
        }
        frame.loc[missing, "session_number"] = [
            ranks[(e, d)]
            for e, d in frame.loc[missing, ["episode_id", "session_date"]].itertuples(index=False)
        ]
    return frame, skipped


def import_bundle(actor, agency, bundle: Any, *, therapist: str, dry_run: bool = True):
    """Validate, convert and import a bundle; raises FhirImportError for an invalid bundle."""
    from alliance.care.models import Administration

    validate_bundle(bundle)
    ids = {
        _identifier(entry.get("resource") or {})
        for entry in bundle.get("entry") or []
        if (entry.get("resource") or {}).get("resourceType") == "QuestionnaireResponse"
    } - {""}
    known = (
        set(
            Administration.objects.filter(agency=agency, public_id__in=ids).values_list(
                "public_id", flat=True
            )
        )
        if ids
        else set()
    )
    frame, skipped = bundle_to_table(bundle, therapist=therapist, known_ids=known)
    if frame.empty:  # nothing new (or no responses at all)
        report = ImportReport(dry_run=dry_run)
    else:
        report = import_table(actor, agency, frame, dry_run=dry_run)
    report.unchanged += skipped
    report.rows += skipped
    return report
