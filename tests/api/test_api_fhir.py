"""FHIR import of QuestionnaireResponse bundles, and the export -> import round trip."""

from __future__ import annotations

import copy
import datetime

import pytest

from alliance.api import fhir
from alliance.care import services
from alliance.care.models import Administration, Client
from alliance.reports.fhir import bundle_for_agency
from tests.web.personas import START

DAY1 = START + datetime.timedelta(days=1)
WEEK = datetime.timedelta(weeks=1)
ORS_ITEMS = {"individually": 5.2, "interpersonally": 4.8, "socially": 6.1, "overall": 3.9}  # 20.0
SRS_ITEMS = {"relationship": 9.5, "goals_topics": 9.0, "approach": 9.2, "overall": 9.3}  # 37.0


@pytest.fixture
def recorded(personas):
    """Two sessions of tara's client in Riverside: ORS items + SRS, then an ORS total of 26."""
    client = personas.tara_client
    first = services.start_session(personas.tara, client, on=DAY1)
    services.record_administration(
        personas.tara, first, instrument="ors", idempotency_key="f-1", items=ORS_ITEMS
    )
    services.record_administration(
        personas.tara, first, instrument="srs", idempotency_key="f-2", items=SRS_ITEMS
    )
    second = services.start_session(personas.tara, client, on=DAY1 + WEEK)
    services.record_administration(
        personas.tara, second, instrument="ors", idempotency_key="f-3", total=26.0
    )
    return client


def responses(bundle: dict) -> list[dict]:
    """The content of each QuestionnaireResponse, without ids (what must survive the trip)."""
    found = []
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] != "QuestionnaireResponse":
            continue
        found.append(
            (
                resource["questionnaire"],
                resource["authored"],
                resource["status"],
                "client" if "reference" in resource["source"] else resource["source"]["display"],
                tuple(
                    (item["linkId"], item["answer"][0]["valueDecimal"]) for item in resource["item"]
                ),
            )
        )
    return sorted(found)


def test_an_exported_bundle_imports_into_another_agency_and_exports_the_same(personas, recorded):
    exported = bundle_for_agency(personas.riverside)
    report = fhir.import_bundle(
        personas.olga, personas.hillside, exported, therapist="oscar", dry_run=False
    )
    assert report.committed, report.errors
    assert (report.clients, report.episodes, report.sessions, report.administrations) == (
        1,
        1,
        2,
        3,
    )
    imported = Client.objects.get(agency=personas.hillside, display_code=recorded.public_id)
    assert imported.therapist == personas.oscar
    episode = imported.episodes.get()
    assert (episode.intake_total, episode.last_outcome_total, episode.session_count) == (
        20.0,
        26.0,
        2,
    )
    ors = Administration.objects.get(episode=episode, session__number=1, instrument="ors")
    assert ors.items == ORS_ITEMS and ors.session.date == DAY1
    again = bundle_for_agency(personas.hillside)
    assert responses(again) == responses(exported)


def test_reimporting_an_agency_s_own_export_changes_nothing(personas, recorded):
    exported = bundle_for_agency(personas.riverside)
    before = Administration.objects.count()
    report = fhir.import_bundle(
        personas.alice, personas.riverside, exported, therapist="tara", dry_run=False
    )
    assert report.ok and not report.committed
    assert report.unchanged == 3
    assert Administration.objects.count() == before


def test_importing_the_same_bundle_twice_into_another_agency_changes_nothing(personas, recorded):
    exported = bundle_for_agency(personas.riverside)
    fhir.import_bundle(personas.olga, personas.hillside, exported, therapist="oscar", dry_run=False)
    count = Administration.objects.filter(agency=personas.hillside).count()
    again = fhir.import_bundle(
        personas.olga, personas.hillside, exported, therapist="oscar", dry_run=False
    )
    assert again.unchanged == 3 and again.administrations == 0
    assert Administration.objects.filter(agency=personas.hillside).count() == count


def test_an_invalid_bundle_is_refused_with_the_fhir_problems(personas):
    with pytest.raises(fhir.FhirImportError) as raised:
        fhir.import_bundle(
            personas.olga,
            personas.hillside,
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [
                    {
                        "resource": {
                            "resourceType": "QuestionnaireResponse",
                            "status": "completed",
                            "item": [{"linkId": "total", "answer": [{"valueDecimal": "abc"}]}],
                        }
                    }
                ],
            },
            therapist="oscar",
        )
    assert [e["location"] for e in raised.value.errors] == [
        "entry.0.resource.item.0.answer.0.valueDecimal"
    ]
    with pytest.raises(fhir.FhirImportError):
        fhir.import_bundle(personas.olga, personas.hillside, {"a": 1}, therapist="oscar")


def test_rows_of_a_bundle_are_reported_by_entry_number(personas, recorded):
    exported = bundle_for_agency(personas.riverside)
    broken = copy.deepcopy(exported)
    numbers = [
        n
        for n, entry in enumerate(broken["entry"], start=1)
        if entry["resource"]["resourceType"] == "QuestionnaireResponse"
    ]
    response = broken["entry"][numbers[0] - 1]["resource"]
    response["status"] = "in-progress"
    for item in response["item"]:
        if item["linkId"] == "total":
            item["answer"] = [{"valueDecimal": 55.0}]
    report = fhir.import_bundle(personas.olga, personas.hillside, broken, therapist="oscar")
    assert {(e.row, e.column) for e in report.errors} >= {
        (numbers[0], "status"),
    }
    assert all(e.row == numbers[0] for e in report.errors)


def test_the_api_imports_a_bundle_with_a_dry_run_first(personas, recorded, api_as):
    exported = bundle_for_agency(personas.riverside)
    api = api_as(personas.olga)
    dry = api.post("/imports/fhir?therapist=oscar", exported)
    assert dry.status_code == 200, dry.content
    assert dry.json()["created"]["administrations"] == 3
    done = api.post("/imports/fhir?therapist=oscar&dry_run=false", exported)
    assert done.status_code == 201 and done.json()["committed"]
    invalid = api.post("/imports/fhir", {"resourceType": "Bundle"})  # no type
    assert (invalid.status_code, invalid.json()["code"]) == (422, "invalid_fhir")
