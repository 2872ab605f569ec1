"""The Policies page (alliance/agency/policies.py): who may see and change it, what a change does
(audited, nothing on error, once on a double submit) and that each policy really acts."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client as Browser
from django.urls import reverse

from alliance.accounts.models import Agency, User
from alliance.agency import services as policy_services
from alliance.audit.models import AuditEvent
from alliance.care import services
from alliance.care.models import Client
from alliance.feedback import services as feedback

URL = "/agency/policies/"


def logged_in(user) -> Browser:
    browser = Browser()
    browser.force_login(user)
    return browser


def form_data(agency: Agency, **changes) -> dict:
    """The page's form as the agency's policies fill it, with ``changes`` applied (a False
    checkbox is left out, as a browser does)."""
    values = {**policy_services.current_policies(agency), **changes}
    data = {}
    for name, value in values.items():
        if value is True:
            data[name] = "on"
        elif value is False:
            continue
        else:
            data[name] = "" if value is None else str(value)
    return data


def policy_events(agency: Agency):
    return AuditEvent.objects.filter(agency=agency, action="agency.policies_changed")


def close_long_ago(personas, code: str, ended: datetime.date) -> Client:
    client = services.create_client(
        personas.tara, personas.riverside, display_code=code, therapist=personas.tara
    )
    episode = client.episodes.get()
    episode.start_date = ended - datetime.timedelta(days=60)
    episode.save(update_fields=["start_date"])
    services.close_episode(personas.tara, episode, "planned", on=ended)
    return client


# -- who ---------------------------------------------------------------------------------------


def test_a_supervisor_reads_the_policies_but_cannot_change_them(personas):
    sam = logged_in(personas.sam)
    page = sam.get(URL)
    text = page.content.decode()
    assert page.status_code == 200 and 'data-testid="policies-read-only"' in text
    assert 'name="link_hours"' in text and "disabled" in text and "Save policies" not in text
    data = form_data(personas.riverside, link_hours=5)
    assert sam.post(URL, data).status_code == 403
    personas.riverside.refresh_from_db()
    assert personas.riverside.link_hours != 5 and not policy_events(personas.riverside).exists()


def test_a_therapist_may_neither_see_nor_change_the_policies(personas):
    tara = logged_in(personas.tara)
    assert tara.get(URL).status_code == 403
    assert tara.post(URL, form_data(personas.riverside, link_hours=5)).status_code == 403


def test_the_agency_page_links_to_the_policies(personas):
    assert URL in logged_in(personas.alice).get("/agency/").content.decode()


# -- changing ----------------------------------------------------------------------------------


def test_an_admin_changes_a_policy_and_the_audit_keeps_the_values_before_and_after(personas):
    agency = personas.riverside
    alice = logged_in(personas.alice)
    response = alice.post(URL, form_data(agency, link_hours=48, kiosk_enabled=False))
    assert response.status_code == 302 and response.url == f"{URL}?saved=1"
    agency.refresh_from_db()
    assert agency.link_hours == 48 and agency.kiosk_enabled is False
    event = policy_events(agency).get()
    assert event.actor == personas.alice
    assert event.detail["changes"]["link_hours"] == [24, 48]
    assert event.detail["changes"]["kiosk_enabled"] == [True, False]
    assert set(event.detail["changes"]) == {"link_hours", "kiosk_enabled"}
    assert 'data-testid="policies-saved"' in alice.get(response.url).content.decode()


def test_a_double_submit_changes_once_and_is_audited_once(personas):
    alice = logged_in(personas.alice)
    data = form_data(personas.riverside, two_factor_therapist=True)
    assert alice.post(URL, data).status_code == 302
    assert alice.post(URL, data).status_code == 302
    assert policy_events(personas.riverside).count() == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"link_hours": "0"}, "A link stays open between 1 and 336 hours (two weeks)."),
        ({"link_hours": "abc"}, "A link stays open between 1 and 336 hours (two weeks)."),
        ({"retention_years": "0"}, "Keep closed episodes for 1 to 100 years"),
        ({"handover_reauth": "fingerprint"}, "Choose how a therapist takes the device back."),
        ({"outcome_adult": "srs"}, "Choose a form from the list."),
        ({"alliance_child": "ors"}, "Choose a form from the list."),
    ],
)
def test_a_refused_change_says_why_and_changes_nothing(personas, changes, message):
    agency = personas.riverside
    before = policy_services.current_policies(agency)
    data = {**form_data(agency, kiosk_enabled=False), **changes}
    response = logged_in(personas.alice).post(URL, data)
    assert response.status_code == 400 and message in response.content.decode()
    agency.refresh_from_db()
    assert policy_services.current_policies(agency) == before
    assert not policy_events(agency).exists()


# -- each policy acts --------------------------------------------------------------------------


def test_two_factor_switched_on_for_therapists_holds_a_therapist_at_sign_in(personas):
    logged_in(personas.alice).post(URL, form_data(personas.riverside, two_factor_therapist=True))
    tara = logged_in(User.objects.get(pk=personas.tara.pk))  # signs in after the change
    response = tara.get(reverse("caseload"))
    assert response.status_code == 302 and response.url.startswith(reverse("two_factor_setup"))


def test_the_link_lifetime_of_the_agency_sets_when_a_new_link_expires(personas):
    logged_in(personas.alice).post(URL, form_data(personas.riverside, link_hours=3))
    session = services.start_session(personas.tara, personas.tara_client)
    personas.tara_client.refresh_from_db()
    new = feedback.create_link(personas.tara, session, instrument="srs")
    lifetime = new.link.expires_at - new.link.created_at
    assert datetime.timedelta(hours=3) - lifetime < datetime.timedelta(seconds=5)


def test_with_the_kiosk_off_the_tablet_and_new_kiosk_codes_are_refused(personas):
    session = services.start_session(personas.tara, personas.tara_client)
    earlier = feedback.create_kiosk_pass(personas.tara, session, instrument="srs")
    logged_in(personas.alice).post(URL, form_data(personas.riverside, kiosk_enabled=False))
    kiosk = f"/f/kiosk/{personas.riverside.public_id}/"
    tablet = Browser()
    page = tablet.get(kiosk)
    assert page.status_code == 403
    assert "This agency does not use the waiting-room kiosk." in page.content.decode()
    posted = tablet.post(kiosk, {"code": earlier.code, "pin": earlier.pin})
    assert posted.status_code == 403 and tablet.get(f"{kiosk}form/").status_code == 403
    tara = logged_in(personas.tara)
    refused = tara.post(f"/f/sessions/{session.public_id}/kiosk/", {"instrument": "srs"})
    assert refused.status_code == 400
    assert refused.content.decode() == "This agency does not use the waiting-room kiosk."
    session_page = tara.get(f"/clients/{personas.tara_client.public_id}/sessions/1/")
    assert 'data-testid="kiosk-off"' in session_page.content.decode()


def test_the_forms_chosen_for_an_age_band_are_those_a_new_client_and_its_links_get(personas):
    agency = personas.riverside
    data = form_data(agency, outcome_adult="cors", alliance_adult="csrs")
    assert logged_in(personas.alice).post(URL, data).status_code == 302
    tara = logged_in(personas.tara)
    response = tara.post(reverse("new_client"), {"display_code": "POL-1", "age_band": "adult"})
    assert response.status_code == 302
    client = Client.objects.get(agency=agency, display_code="POL-1")
    episode = client.episodes.get()
    assert (episode.outcome_instrument, episode.alliance_instrument) == ("cors", "csrs")
    session = services.start_session(personas.tara, client)
    assert feedback.create_link(personas.tara, session, instrument="csrs").link.instrument == "csrs"
    # a child band the agency left alone keeps its default forms
    child = services.create_client(
        personas.tara, agency, display_code="POL-2", therapist=personas.tara, age_band="child"
    )
    child_episode = child.episodes.get()
    assert (child_episode.outcome_instrument, child_episode.alliance_instrument) == ("cors", "csrs")
    agency.refresh_from_db()
    assert agency.instruments == {"adult": {"outcome": "cors", "alliance": "csrs"}}


def test_a_new_episode_without_an_earlier_one_takes_the_agency_forms(personas):
    agency = personas.riverside
    logged_in(personas.alice).post(URL, form_data(agency, outcome_adult="phq9"))
    agency.refresh_from_db()
    assert services.agency_forms(agency, "adult") == ("phq9", "srs")
    assert services.agency_forms(agency, "young_child") == ("ycors", "ycsrs")


# -- retention ---------------------------------------------------------------------------------


def test_the_retention_preview_counts_what_the_removal_then_removes(personas):
    agency = personas.riverside
    today = services.today()
    close_long_ago(personas, "OLD-1", today - datetime.timedelta(days=3 * 366))
    close_long_ago(personas, "OLD-2", today - datetime.timedelta(days=2 * 365 - 15))
    preview = policy_services.retention_preview(agency, 2)
    assert [point.clients for point in preview] == [1, 2, 2, 2, 2]
    assert preview[0].episodes == 1 and preview[0].on == today
    agency.retention_years = 2
    agency.save()
    assert services.apply_retention(agency) == preview[0].clients
    assert not Client.objects.filter(display_code="OLD-1").exists()


def test_a_new_retention_period_that_removes_clients_must_be_confirmed_after_the_preview(personas):
    agency = personas.riverside
    close_long_ago(personas, "OLD-1", services.today() - datetime.timedelta(days=3 * 366))
    alice = logged_in(personas.alice)
    preview = alice.post(URL, {**form_data(agency, retention_years=2), "action": "preview"})
    text = preview.content.decode()
    assert preview.status_code == 200 and 'data-testid="preview-row"' in text
    assert "What a retention period of 2 years would remove" in text
    agency.refresh_from_db()
    assert agency.retention_years is None  # a preview stores nothing
    refused = alice.post(URL, form_data(agency, retention_years=2))
    assert refused.status_code == 400 and "1 client would be removed" in refused.content.decode()
    agency.refresh_from_db()
    assert agency.retention_years is None
    saved = alice.post(URL, form_data(agency, retention_years=2, confirm_retention=True))
    assert saved.status_code == 302
    agency.refresh_from_db()
    assert agency.retention_years == 2


# -- the migration -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_agency_that_required_two_factor_still_requires_it_of_admins_and_supervisors():
    before = [("accounts", "0005_two_factor_failures_recovery_codes")]
    after = [("accounts", "0006_two_factor_policy_per_role")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        apps = MigrationExecutor(connection).loader.project_state(before).apps
        Old = apps.get_model("accounts", "Agency")
        Old.objects.create(name="Strict", require_two_factor=True)
        Old.objects.create(name="Relaxed", require_two_factor=False)
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        apps = MigrationExecutor(connection).loader.project_state(after).apps
        New = apps.get_model("accounts", "Agency")
        fields = ("two_factor_admin", "two_factor_supervisor", "two_factor_therapist")
        assert New.objects.values_list(*fields).get(name="Strict") == (True, True, False)
        assert New.objects.values_list(*fields).get(name="Relaxed") == (False, False, False)
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
        Agency.objects.filter(name__in=["Strict", "Relaxed"]).delete()
