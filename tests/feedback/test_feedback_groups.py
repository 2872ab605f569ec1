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


def test_a_group_rating_adds_no_session_to_the_members_individual_episode(personas):
    import datetime

    from alliance.care.models import Episode, Session
    from alliance.feedback import services as feedback
    from alliance.science.instruments import get_instrument

    client = personas.tara_client
    day = datetime.date(2026, 3, 3)
    individual = services.start_session(personas.tara, client, on=day)
    services.record_administration(
        personas.tara, individual, instrument="ors", idempotency_key="ors-1", total=20
    )
    group = feedback.create_group(
        personas.tara, personas.riverside, name="G", leader=personas.tara, members=[client]
    )
    items = dict.fromkeys(get_instrument("gsrs").item_keys, 9.0)
    for offset, key in ((0, "g-1"), (7, "g-2")):
        feedback.record_group_rating(
            personas.tara,
            group,
            client,
            on=day + datetime.timedelta(days=offset),
            items=items,
            idempotency_key=key,
        )
    episode = Episode.objects.get(pk=individual.episode_id)
    assert (episode.session_count, episode.last_session_date) == (1, day)
    group_sessions = Session.objects.filter(episode=episode, kind="group").order_by("number")
    assert [(s.number, s.date) for s in group_sessions] == [
        (1, day),
        (2, day + datetime.timedelta(days=7)),
    ]
    # The individual session of the same day keeps only the individual forms.
    assert list(individual.administrations.values_list("instrument", flat=True)) == ["ors"]
    # The next individual session is number 2, whatever the group sessions in between.
    following = services.start_session(personas.tara, client, on=day + datetime.timedelta(days=8))
    assert following.number == 2 and following.kind == "individual"
    # The client page lists the individual session only.
    page = logged_in(personas.tara).get(reverse("client", args=[client.public_id]))
    assert [row["session"].number for row in page.context["session_rows"]] == [1]
