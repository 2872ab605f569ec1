"""An idempotency key is remembered for the key, not for the row it saved (issue 11, section 3)."""

from __future__ import annotations

import datetime

from alliance.care.models import Administration
from tests.web.personas import START

DAY1 = START + datetime.timedelta(days=1)
ORS_ITEMS = {"individually": 5.2, "interpersonally": 4.8, "socially": 6.1, "overall": 3.9}  # 20
ORS_HIGHER = {"individually": 7.2, "interpersonally": 6.8, "socially": 8.1, "overall": 5.9}  # 28


def test_a_delayed_retry_of_an_older_key_answers_its_own_result_and_keeps_the_newer_edit(
    personas, api_as
):
    api = api_as(personas.tara)
    session = api.post(
        "/sessions", {"client": personas.tara_client.public_id, "date": DAY1.isoformat()}
    ).json()["id"]
    body = {"session": session, "instrument": "ors"}
    first = api.post("/administrations", {**body, "idempotency_key": "old", "items": ORS_ITEMS})
    assert first.status_code == 201
    # The newer edit is an explicit one (a second POST of the same form is refused: 409).
    again = api.post("/administrations", {**body, "idempotency_key": "new", "items": ORS_HIGHER})
    assert again.status_code == 409
    newer = api.patch(f"/administrations/{first.json()['id']}", {"items": ORS_HIGHER})
    assert newer.status_code == 200 and newer.json()["total"] == 28.0
    # The first request's retry arrives late (a flaky network): same key, same body.
    retry = api.post("/administrations", {**body, "idempotency_key": "old", "items": ORS_ITEMS})
    assert retry.status_code == 200
    assert retry.json()["id"] == first.json()["id"]
    assert retry.json()["total"] == 20.0  # what that key stored
    assert Administration.objects.get().total == 28.0  # the newer edit stands
    assert api.get(f"/administrations/{first.json()['id']}").json()["total"] == 28.0
