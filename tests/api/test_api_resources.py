"""Resources, errors, pagination, rate limiting and the self-hosted docs of /api/v1/."""

from __future__ import annotations

import datetime
import re

import pytest
from django.test import Client as DjangoClient

from alliance.care.models import Administration, Episode
from tests.web.personas import START

DAY1 = START + datetime.timedelta(days=1)
WEEK = datetime.timedelta(weeks=1)
# ORS items 5.2 + 4.8 + 6.1 + 3.9 = 20.0
ORS_ITEMS = {"individually": 5.2, "interpersonally": 4.8, "socially": 6.1, "overall": 3.9}
SRS_ITEMS = {"relationship": 9.5, "goals_topics": 9.0, "approach": 9.2, "overall": 9.3}  # 37.0


def _session(api, client, day) -> str:
    response = api.post("/sessions", {"client": client.public_id, "date": day.isoformat()})
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_a_therapist_records_a_session_through_the_api(personas, api_as):
    api = api_as(personas.tara)
    session = _session(api, personas.tara_client, DAY1)
    body = {"session": session, "instrument": "ors", "idempotency_key": "ehr-0001-ors"}
    response = api.post("/administrations", {**body, "items": ORS_ITEMS})
    assert response.status_code == 201, response.content
    created = response.json()
    assert (created["total"], created["session_number"], created["total_only"]) == (20.0, 1, False)
    # The same key again: stored once, answered with the stored row (200).
    again = api.post("/administrations", {**body, "items": dict.fromkeys(ORS_ITEMS, 1.0)})
    assert again.status_code == 200
    assert again.json()["id"] == created["id"] and again.json()["total"] == 20.0
    srs = api.post(
        "/administrations",
        {
            "session": session,
            "instrument": "srs",
            "idempotency_key": "ehr-0001-srs",
            "items": SRS_ITEMS,
        },
    )
    assert srs.status_code == 201 and srs.json()["total"] == 37.0

    episode = api.get(f"/episodes/{created['episode']}").json()
    assert (episode["intake_total"], episode["last_alliance_total"], episode["session_count"]) == (
        20.0,
        37.0,
        1,
    )
    # Correct the ORS total, then remove the SRS.
    patched = api.patch(f"/administrations/{created['id']}", {"total": 22.5})
    assert patched.status_code == 200 and patched.json()["total"] == 22.5
    assert patched.json()["total_only"] is True
    assert api.delete(f"/administrations/{srs.json()['id']}").status_code == 204
    assert api.get(f"/administrations/{srs.json()['id']}").status_code == 404
    assert api.get(f"/episodes/{created['episode']}").json()["intake_total"] == 22.5


def test_the_signals_of_an_episode_carry_colours_alerts_and_the_etr_trajectory(personas, api_as):
    api = api_as(personas.tara)
    for week, total in enumerate([20.0, 12.0, 11.0]):
        session = _session(api, personas.tara_client, DAY1 + week * WEEK)
        api.post(
            "/administrations",
            {
                "session": session,
                "instrument": "ors",
                "idempotency_key": f"k-{week:04}",
                "total": total,
            },
        )
    episode = personas.tara_client.episodes.get().public_id
    signals = api.get(f"/episodes/{episode}/signals").json()
    assert signals["outcome"] == [[1, 20.0], [2, 12.0], [3, 11.0]]
    assert [c["session_number"] for c in signals["colours"]] == [1, 2, 3]
    # A drop of 9 points from intake exceeds the ORS reliable change (5): deterioration.
    assert "reliable_deterioration" in {a["code"] for a in signals["alerts"]}
    assert signals["latest_colour"] == "red"
    etr = signals["etr"]
    assert etr["provisional"] is True and etr["intake"] == 20.0
    assert etr["sessions"][0] == 1 and len(etr["target"]) == len(etr["sessions"])


def test_errors_are_json_with_a_stable_code_and_a_message(personas, api_as):
    api = api_as(personas.tara)
    missing = api.get("/clients/0000000000000000")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found" and missing.json()["message"]
    invalid = api.post("/clients", {"display_code": ""})
    assert invalid.status_code == 422
    assert invalid.json()["code"] == "invalid"
    assert invalid.json()["errors"]
    session = _session(api, personas.tara_client, DAY1)
    scores = api.post(
        "/administrations",
        {
            "session": session,
            "instrument": "ors",
            "idempotency_key": "k-bad-item",
            "items": {**ORS_ITEMS, "socially": 10.5},
        },
    )
    assert scores.status_code == 422
    assert scores.json()["code"] == "invalid_scores"
    assert scores.json()["errors"] == [{"item": "socially"}]
    assert Administration.objects.count() == 0
    rule = api.post(
        "/administrations",
        {"session": session, "instrument": "phq9", "idempotency_key": "k-phq9", "total": 5},
    )
    assert (rule.status_code, rule.json()["code"]) == (422, "rule_broken")
    duplicate = api.post("/clients", {"display_code": "R-TARA-1"})
    assert (duplicate.status_code, duplicate.json()["code"]) == (409, "conflict")


def test_a_display_code_in_use_answers_409_whether_stored_before_or_in_a_race(personas, api_as):
    from django.db.models.signals import pre_save

    from alliance.care.models import Client

    api = api_as(personas.tara)
    plain = api.post("/clients", {"display_code": "R-TARA-1"})
    raced = []

    def another_request_stores_it_first(sender, instance, **kwargs):
        # After every check of the request, just before its INSERT: a concurrent request wins.
        if instance.display_code == "R-RACE-1" and not raced:
            raced.append(instance)
            Client.objects.create(
                agency=personas.riverside, display_code="R-RACE-1", therapist=personas.tara
            )

    pre_save.connect(another_request_stores_it_first, sender=Client)
    try:
        race = api.post("/clients", {"display_code": "R-RACE-1"})
    finally:
        pre_save.disconnect(another_request_stores_it_first, sender=Client)
    assert raced, "the race was not staged"
    assert (plain.status_code, plain.json()) == (race.status_code, race.json())
    assert (race.status_code, race.json()["code"]) == (409, "conflict")
    assert "display code" in race.json()["message"]
    # The staged winner ran inside the request's transaction, so it went with the rollback.
    assert not Episode.objects.filter(client__display_code="R-RACE-1").exists()


def test_list_endpoints_paginate_with_limit_and_offset(personas, api_as):
    api = api_as(personas.alice)
    first = api.get("/clients", limit=2)
    assert first.json()["count"] == 3
    assert [c["display_code"] for c in first.json()["items"]] == ["R-TARA-1", "R-THEO-1"]
    second = api.get("/clients", limit=2, offset=2)
    assert [c["display_code"] for c in second.json()["items"]] == ["R-THEO-2"]
    assert api.get("/clients", limit=0).status_code == 422


def test_clients_can_be_updated_and_episodes_closed(personas, api_as):
    api = api_as(personas.tara)
    client = personas.tara_client.public_id
    response = api.patch(f"/clients/{client}", {"birth_year": 1990, "age_band": "adult"})
    assert response.status_code == 200 and response.json()["birth_year"] == 1990
    episode = personas.tara_client.episodes.get().public_id
    closed = api.post(f"/episodes/{episode}/close", {"ending": "planned", "on": DAY1.isoformat()})
    assert closed.status_code == 200
    assert (closed.json()["ending"], closed.json()["end_date"]) == ("planned", DAY1.isoformat())
    again = api.post(f"/episodes/{episode}/close", {"ending": "planned"})
    assert (again.status_code, again.json()["code"]) == (422, "rule_broken")
    assert Episode.objects.get(public_id=episode).ending == "planned"


def test_the_effectiveness_report_covers_only_the_visible_episodes(personas, api_as):
    tara = api_as(personas.tara)
    theo = api_as(personas.theo)
    clients = [
        (tara, personas.tara_client, 15.0),
        (theo, personas.theo_client, 13.0),
        (theo, personas.shared_client, 17.0),
    ]
    for api, client, intake in clients:
        for week, total in enumerate([intake, intake + 10.0]):  # each improves by 10 points
            session = _session(api, client, DAY1 + week * WEEK)
            api.post(
                "/administrations",
                {
                    "session": session,
                    "instrument": "ors",
                    "idempotency_key": f"{client.display_code}-{week}",
                    "total": total,
                },
            )
    report = api_as(personas.alice).get("/reports/effectiveness", by="therapist_id").json()
    assert report["n_administrations"] == 6, report
    assert report["error"] is None, report["error"]
    overall = report["result"]["overall"]
    assert overall["n_episodes"] == 3
    assert overall["change_mean"] == pytest.approx(10.0)
    # The page says so too: three episodes overall, one or two per therapist.
    browser = DjangoClient()
    browser.force_login(personas.alice)
    page = browser.get("/reports/effectiveness/", {"by": "therapist_id"}).content.decode()
    assert 'data-testid="small-sample"' in page
    assert page.count("(few episodes: uncertain)") == len(report["result"]["groups"]) == 2
    sam = api_as(personas.sam).get("/reports/effectiveness").json()  # sees tara's client only
    assert sam["n_administrations"] == 2
    # One episode: the indices are shown, flagged as a small sample, without the severity
    # adjustment (which needs three clinical-range intakes) and saying why.
    assert sam["error"] is None
    assert sam["result"]["overall"]["n_used"] == 1
    assert sam["result"]["overall"]["small_sample"] is True
    assert sam["result"]["overall"]["saes"]["value"] is None
    assert "at least 3" in sam["result"]["reference_note"]
    # Therapists have their caseload, not agency reports.
    forbidden = tara.get("/reports/effectiveness")
    assert (forbidden.status_code, forbidden.json()["code"]) == (403, "forbidden")
    bad = api_as(personas.alice).get("/reports/effectiveness", instrument="srs")
    assert (bad.status_code, bad.json()["code"]) == (422, "not_an_outcome")


def test_the_openapi_document_and_docs_load_nothing_from_outside(personas, client):
    schema = client.get("/api/v1/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/v1/clients", "/api/v1/administrations", "/api/v1/imports"} <= set(paths)
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    html = docs.content.decode()
    references = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert references, html
    assert all(ref.startswith("/") for ref in references), references
    assert "cdn" not in html.lower() and "//" not in "".join(r[1:] for r in references)
    for ref in references:
        assert client.get(ref).status_code == 200, ref
    # Swagger UI would otherwise fetch a badge from validator.swagger.io.
    assert '"validatorUrl": null' in html


def test_bearer_requests_need_no_csrf_token_and_cookies_alone_do_not_authenticate(
    personas, token_for
):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    raw = token_for(personas.tara)
    response = browser.post(
        "/api/v1/sessions",
        {"client": personas.tara_client.public_id},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 201
    # A logged-in browser session is not an API credential (no CSRF exposure through cookies).
    browser.force_login(personas.tara)
    assert browser.get("/api/v1/clients").status_code == 401


def test_an_episode_is_closed_reopened_and_a_returning_client_starts_a_new_one(personas, api_as):
    api = api_as(personas.tara)
    client = personas.tara_client
    episode = Episode.objects.get(client=client)
    assert api.post(f"/clients/{client.public_id}/episodes").status_code == 422  # one is open
    closed = api.post(f"/episodes/{episode.public_id}/close", {"ending": "planned"})
    assert closed.status_code == 200 and closed.json()["end_date"] is not None
    reopened = api.post(f"/episodes/{episode.public_id}/reopen")
    assert reopened.status_code == 200 and reopened.json()["end_date"] is None
    assert api.post(f"/episodes/{episode.public_id}/reopen").json()["code"] == "rule_broken"
    api.post(f"/episodes/{episode.public_id}/close", {"ending": "unilateral"})
    new = api.post(f"/clients/{client.public_id}/episodes")
    assert new.status_code == 201
    assert new.json()["id"] != episode.public_id and new.json()["end_date"] is None
    assert Episode.objects.filter(client=client).count() == 2
    # Another agency's therapist cannot reach either.
    oscar = api_as(personas.oscar)
    assert oscar.post(f"/episodes/{episode.public_id}/reopen").status_code == 404
    assert oscar.post(f"/clients/{client.public_id}/episodes").status_code == 404
