"""Group sessions: a group with members, the GSRS for each member, the leader's view."""

from __future__ import annotations

import re

from django.test import Client as Browser
from django.urls import reverse

from alliance.care import services
from alliance.care.models import Administration
from alliance.feedback.models import Group


def logged_in(user) -> Browser:
    browser = Browser()
    browser.force_login(user)
    return browser


def gsrs(values: list[float]) -> dict[str, str]:
    keys = re.findall(r'name="gsrs-([a-z_]+)"', GSRS_PAGE[0])
    return {f"gsrs-{key}": str(value) for key, value in zip(keys, values, strict=True)}


GSRS_PAGE: list[str] = [""]


def test_a_leader_creates_a_group_and_each_member_rates_it_with_skip(personas):
    second = services.create_client(
        personas.tara, personas.riverside, display_code="GRP-2", therapist=personas.tara
    )
    browser = logged_in(personas.tara)
    created = browser.post(
        reverse("feedback:new_group"),
        {
            "name": "Tuesday group",
            "members": [
                personas.tara_client.public_id,
                second.public_id,
                personas.theo_client.public_id,
            ],
        },
    )
    group = Group.objects.get()
    assert created.status_code == 302
    # theo's client is not visible to tara, so it could not be added.
    assert sorted(group.members.values_list("client__display_code", flat=True)) == [
        "GRP-2",
        "R-TARA-1",
    ]
    rate = reverse("feedback:group_rate", args=[group.public_id])
    first = browser.get(rate).content.decode()
    GSRS_PAGE[0] = first
    assert "Member GRP-2 (1 of 2)" in first and "Skip this member" in first
    # Skip GRP-2, rate R-TARA-1, then come back to GRP-2.
    skipped = browser.get(f"{rate}?member={personas.tara_client.public_id}").content.decode()
    assert "Member R-TARA-1 (2 of 2)" in skipped
    done = browser.post(
        f"{rate}?member={personas.tara_client.public_id}",
        {**gsrs([9.0, 9.5, 8.0, 9.5]), "confirmed": "1", "idempotency_key": "g1"},
    )
    assert done.status_code == 302 and done["Location"].endswith(f"?member={second.public_id}")
    last = browser.post(
        f"{rate}?member={second.public_id}",
        {**gsrs([7.0, 8.0, 8.5, 7.5]), "confirmed": "1", "idempotency_key": "g2"},
    )
    assert last.status_code == 302 and last["Location"].endswith(f"{group.public_id}/")
    totals = dict(
        Administration.objects.filter(instrument="gsrs").values_list(
            "episode__client__display_code", "total"
        )
    )
    assert totals == {"R-TARA-1": 36.0, "GRP-2": 31.0}
    view = browser.get(reverse("feedback:group", args=[group.public_id])).content.decode()
    assert "36.0" in view and "31.0" in view
    # 31.0 is below the GSRS cutoff of 36: the leader sees it marked.
    assert view.count('class="low-alliance"') == 1


def test_a_group_is_invisible_to_other_therapists_and_agencies(personas):
    group = Group.objects.create(agency=personas.riverside, name="Mine", leader=personas.tara)
    for outsider in (personas.theo, personas.oscar):
        browser = logged_in(outsider)
        assert browser.get(reverse("feedback:group", args=[group.public_id])).status_code == 404
        assert (
            browser.get(reverse("feedback:group_rate", args=[group.public_id])).status_code == 404
        )
    assert (
        logged_in(personas.alice).get(reverse("feedback:group", args=[group.public_id])).status_code
        == 200
    )
