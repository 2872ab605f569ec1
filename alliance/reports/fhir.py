"""FHIR mapping of instruments and administrations (export; issue 6 imports and round-trips it).

FHIR R4-family resources as plain JSON dicts, validated with ``fhir.resources`` (its ``R4B``
package: R4B 4.3 is R4 4.0.1 plus fixes, identical for Questionnaire, QuestionnaireResponse,
Observation and Bundle as used here):

* ``questionnaire_for(instrument)``: one Questionnaire per instrument (items by key, decimal
  answers, plus a read-only ``total``), canonical url ``QUESTIONNAIRE_BASE + code``.
* ``resources_for_administration(adm)``: a QuestionnaireResponse (item answers, total) and an
  Observation (the total as a valueQuantity, ``derivedFrom`` the response), subject
  ``Patient/<client public id>`` (pseudonymous), the session date as authored/effective date;
  the rater in ``source`` (the client's Patient reference, or a display such as "parent").
* ``bundle_for_agency(agency, episodes=None)``: a ``collection`` Bundle with the questionnaires in
  use and both resources per administration; ``bundle_json(agency, episodes=None)`` the same
  bundle as JSON text in pieces, for a download whose memory stays bounded (the administrations
  come from the data layer's streaming mode). ``validate(resource)`` parses one resource.

Identifiers: every resource carries an identifier with system ``IDENTIFIER_SYSTEM`` and the
administration's public id, so an importer can recognise and de-duplicate what it exported.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from alliance.care.feedback import instrument_for
from alliance.care.models import Administration
from alliance.science.instruments import Instrument

from .data import administration_queryset, administration_stream

QUESTIONNAIRE_BASE = "urn:alliance:questionnaire:"
IDENTIFIER_SYSTEM = "urn:alliance:administration"
INSTRUMENT_SYSTEM = "urn:alliance:instrument"
# UK MHSDS codes the CORS total as SNOMED CT 718458005 (domain brief section 6).
SNOMED_TOTALS = {"cors": ("718458005", "Child Outcome Rating Scale total score")}
_NAMESPACE = uuid.UUID("6f1c2b3e-9a5d-4f57-8c1e-2d4b7a9e0c11")


def _instrument(instrument: Instrument | str) -> Instrument:
    return instrument if isinstance(instrument, Instrument) else instrument_for(instrument)


def questionnaire_url(code: str) -> str:
    return QUESTIONNAIRE_BASE + code


def questionnaire_for(instrument: Instrument | str) -> dict[str, Any]:
    definition = _instrument(instrument)
    items = [
        {
            "linkId": item.key,
            "text": item.label,
            "type": "decimal",
            "required": not definition.allows_total_only,
        }
        for item in definition.items
    ]
    items.append({"linkId": "total", "text": "Total", "type": "decimal", "readOnly": True})
    resource: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "id": f"{definition.code}-{definition.language}",
        "url": questionnaire_url(definition.code),
        "name": definition.code.upper(),
        "title": definition.name,
        "status": "active" if definition.validated else "draft",
        "subjectType": ["Patient"],
        "language": definition.language,
        "code": [{"system": INSTRUMENT_SYSTEM, "code": definition.code}],
        "item": items,
    }
    if getattr(definition, "copyright", ""):
        resource["copyright"] = definition.copyright
    return resource


def _uuid(kind: str, public_id: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{public_id}"))


@dataclass(frozen=True)
class AdministrationRecord:
    """What the FHIR resources of one administration are made of."""

    public_id: str
    instrument: str
    rater: str
    total: float
    items: dict | None
    date: datetime.date
    client_public_id: str

    @classmethod
    def of(cls, adm: Administration) -> AdministrationRecord:
        return cls(
            adm.public_id,
            adm.instrument,
            adm.rater,
            adm.total,
            adm.items,
            adm.session.date,
            adm.episode.client.public_id,
        )


# The record's fields as the data layer's streaming mode reads them.
RECORD_SOURCE = (
    "public_id",
    "instrument",
    "rater",
    "total",
    "items",
    "session__date",
    "episode__client__public_id",
)


def resources_for_administration(
    adm: Administration | AdministrationRecord,
) -> list[dict[str, Any]]:
    """[QuestionnaireResponse, Observation] for one administration.

    A model instance needs ``session`` and ``episode.client`` (use select_related in loops).
    """
    if isinstance(adm, Administration):
        adm = AdministrationRecord.of(adm)
    definition = instrument_for(adm.instrument)
    subject = {"reference": f"Patient/{adm.client_public_id}"}
    date = adm.date.isoformat()
    identifier = {"system": IDENTIFIER_SYSTEM, "value": adm.public_id}
    source = subject if adm.rater == "client" else {"display": adm.rater}
    answers = [
        {"linkId": key, "answer": [{"valueDecimal": float(adm.items[key])}]}
        for key in definition.item_keys
        if adm.items and adm.items.get(key) is not None
    ]
    answers.append({"linkId": "total", "answer": [{"valueDecimal": float(adm.total)}]})
    response_id = _uuid("qr", adm.public_id)
    response = {
        "resourceType": "QuestionnaireResponse",
        "id": response_id,
        "identifier": identifier,
        "questionnaire": questionnaire_url(definition.code),
        "status": "completed",
        "subject": subject,
        "authored": date,
        "source": source,
        "item": answers,
    }
    coding = [
        {
            "system": INSTRUMENT_SYSTEM,
            "code": f"{definition.code}-total",
            "display": f"{definition.name} total",
        }
    ]
    if definition.code in SNOMED_TOTALS:
        code, display = SNOMED_TOTALS[definition.code]
        coding.append({"system": "http://snomed.info/sct", "code": code, "display": display})
    observation = {
        "resourceType": "Observation",
        "id": _uuid("obs", adm.public_id),
        "identifier": [identifier],
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "survey",
                    }
                ]
            }
        ],
        "code": {"coding": coding, "text": f"{definition.name} total"},
        "subject": subject,
        "effectiveDateTime": date,
        "valueQuantity": {
            "value": float(adm.total),
            "unit": "score",
            "system": "http://unitsofmeasure.org",
            "code": "{score}",
        },
        "derivedFrom": [{"reference": f"QuestionnaireResponse/{response_id}"}],
    }
    if adm.rater != "client":
        observation["performer"] = [{"display": adm.rater}]
    return [response, observation]


def validate(resource: dict[str, Any]):
    """Parse a resource dict with fhir.resources; raises a pydantic ValidationError if invalid."""
    return get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def _bundle_parts(agency, episodes) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    """The bundle without its entries, and its entries one at a time."""
    in_use = administration_queryset(episodes, agency.pk, None, ("instrument",)).distinct()
    codes = sorted({code for (code,) in in_use})

    def entries() -> Iterator[dict[str, Any]]:
        for code in codes:
            questionnaire = questionnaire_for(code)
            yield {"fullUrl": questionnaire["url"], "resource": questionnaire}
        for row in administration_stream(episodes, agency.pk, RECORD_SOURCE):
            for resource in resources_for_administration(AdministrationRecord(*row)):
                yield {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}

    bundle = {
        "resourceType": "Bundle",
        "id": _uuid("bundle", agency.public_id),
        "type": "collection",
        "entry": [],
    }
    return bundle, entries()


def bundle_for_agency(agency, episodes=None) -> dict[str, Any]:
    """A collection Bundle: the questionnaires in use, then every administration's resources.

    ``episodes``: an already visibility-scoped Episode queryset (default: all of the agency's).
    """
    bundle, entries = _bundle_parts(agency, episodes)
    bundle["entry"] = list(entries)
    return bundle


def bundle_json(agency, episodes=None) -> Iterator[str]:
    """``json.dumps(bundle_for_agency(agency, episodes))`` in pieces, one entry at a time."""
    bundle, entries = _bundle_parts(agency, episodes)
    # "entry" is the last key: the text up to its (still empty) list, each entry, then the end.
    yield json.dumps(bundle).removesuffix("]}")
    for index, entry in enumerate(entries):
        yield (", " if index else "") + json.dumps(entry)
    yield "]}"
