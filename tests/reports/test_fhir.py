"""FHIR R4 (R4B classes of fhir.resources): questionnaires, responses, observations, bundle."""

from __future__ import annotations

import json

import pytest

from alliance.care.models import Administration
from alliance.reports.fhir import (
    bundle_for_agency,
    questionnaire_for,
    resources_for_administration,
    validate,
)
from alliance.science.instruments import all_instruments


@pytest.mark.parametrize("code", sorted(i.code for i in all_instruments()))
def test_every_instrument_has_a_valid_questionnaire(code):
    resource = questionnaire_for(code)
    parsed = validate(resource)
    assert parsed.url == f"urn:alliance:questionnaire:{code}"
    link_ids = [item["linkId"] for item in resource["item"]]
    assert link_ids[-1] == "total" and len(link_ids) == len(set(link_ids))


def test_an_administration_maps_to_a_valid_response_and_observation(history):
    adm = (
        Administration.objects.filter(agency=history.personas.riverside, instrument="ors")
        .select_related("session", "episode__client")
        .first()
    )
    response, observation = resources_for_administration(adm)
    validate(response)
    validate(observation)
    answers = {item["linkId"]: item["answer"][0]["valueDecimal"] for item in response["item"]}
    assert answers["total"] == adm.total
    assert sum(v for k, v in answers.items() if k != "total") == pytest.approx(adm.total)
    assert observation["valueQuantity"]["value"] == adm.total
    assert observation["effectiveDateTime"] == adm.session.date.isoformat()
    assert observation["derivedFrom"] == [{"reference": f"QuestionnaireResponse/{response['id']}"}]
    assert response["subject"]["reference"] == f"Patient/{adm.episode.client.public_id}"


def test_the_agency_bundle_validates_and_holds_every_administration(client, history):
    p = history.personas
    bundle = bundle_for_agency(p.riverside)
    parsed = validate(bundle)
    instruments = set(history.frame["instrument"])
    assert len(parsed.entry) == len(instruments) + 2 * len(history.frame)
    types = [entry["resource"]["resourceType"] for entry in bundle["entry"]]
    assert types.count("Questionnaire") == len(instruments)
    client.force_login(p.alice)
    response = client.post("/reports/exports/fhir/")
    downloaded = b"".join(response.streaming_content).decode()
    assert downloaded == json.dumps(bundle)
