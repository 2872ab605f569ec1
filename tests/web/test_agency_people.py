"""People and teams for agency admins (alliance/agency/people.py, accounts.services): invitations,
roles, teams, deactivation with the hand-over of clients, two-factor resets; supervisors read
their teams' people; other agencies get 404; every action is audited."""

from __future__ import annotations

import datetime
import re

import pyotp
import pytest
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone

from alliance.accounts import services
from alliance.accounts.models import (
    Invitation,
    Membership,
    RecoveryCode,
    Role,
    Team,
    TeamMembership,
    TwoFactorDevice,
    User,
)
from alliance.accounts.security import check_code, new_recovery_codes, start_enrolment
from alliance.audit.models import AuditEvent
from alliance.care.models import Client
from alliance.feedback import services as feedback
from tests.web.personas import PASSWORD

NEW_PASSWORD = "a-long-and-quiet-river-42"


def as_user(user) -> Browser:
    browser = Browser(HTTP_ACCEPT_LANGUAGE="en")
    browser.force_login(user)
    return browser


def invite(browser: Browser, email: str = "nina@example.org", role: str = "therapist", **extra):
    return browser.post(reverse("agency:invite"), {"email": email, "role": role, **extra})


def link_in(message) -> str:
    match = re.search(r"http://testserver(/agency/join/[^/\s]+/)", message.body)
    assert match, message.body
    return match.group(1)


def accept(path: str, username: str = "nina", password: str = NEW_PASSWORD) -> Browser:
    browser = Browser(HTTP_ACCEPT_LANGUAGE="en")
    response = browser.post(
        path, {"username": username, "password1": password, "password2": password}
    )
    browser.last_response = response  # type: ignore[attr-defined]
    return browser


def actions(agency) -> list[str]:
    return list(AuditEvent.objects.filter(agency=agency).values_list("action", flat=True))


# --- invitations -----------------------------------------------------------------------------


def test_an_invitation_is_sent_by_email_and_only_the_hash_of_its_token_is_kept(
    personas, mailoutbox
):
    response = invite(as_user(personas.alice), team=personas.north.public_id)
    assert response.status_code == 302 and response.url == reverse("agency:people")
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["nina@example.org"]
    path = link_in(mailoutbox[0])
    token = path.rstrip("/").rsplit("/", 1)[1]
    invitation = Invitation.objects.get()
    assert (invitation.agency, invitation.role, invitation.team) == (
        personas.riverside,
        Role.THERAPIST,
        personas.north,
    )
    assert invitation.token_hash == services.hash_invitation_token(token)
    assert invitation.message_url == ""  # the sent link is forgotten
    assert token not in str(Invitation.objects.values().get())
    lifetime = invitation.expires_at - invitation.created_at
    assert abs(lifetime - datetime.timedelta(days=7)) < datetime.timedelta(minutes=1)
    assert "for 7 days" in mailoutbox[0].body
    assert "invitation.created" in actions(personas.riverside)


def test_the_invitee_chooses_username_and_password_and_joins_with_the_role_and_team(
    personas, mailoutbox
):
    invite(as_user(personas.alice), team=personas.north.public_id)
    path = link_in(mailoutbox[0])
    page = Browser().get(path)
    assert page.status_code == 200 and "Riverside" in page.content.decode()
    browser = accept(path)
    response = browser.last_response  # type: ignore[attr-defined]
    assert response.status_code == 302
    assert response.url.startswith(reverse("two_factor_setup"))
    nina = User.objects.get(username="nina")
    assert nina.check_password(NEW_PASSWORD) and nina.email == "nina@example.org"
    assert nina.membership.agency == personas.riverside
    assert nina.membership.role == Role.THERAPIST
    assert TeamMembership.objects.filter(user=nina, team=personas.north).exists()
    # signed in: the two-factor page offers set-up (not required of a therapist here)
    setup = browser.get(response.url)
    assert setup.status_code == 200 and "Not now" in setup.content.decode()
    assert browser.get(reverse("caseload")).status_code == 200
    invitation = Invitation.objects.get()
    assert invitation.accepted_at is not None and invitation.user == nina
    assert "invitation.accepted" in actions(personas.riverside)


def test_an_invitation_works_once_and_a_double_submit_creates_one_person(personas, mailoutbox):
    invite(as_user(personas.alice))
    path = link_in(mailoutbox[0])
    assert accept(path).last_response.status_code == 302  # type: ignore[attr-defined]
    again = accept(path, username="nina2").last_response  # type: ignore[attr-defined]
    assert again.status_code == 410 and "used already" in again.content.decode()
    assert Browser().get(path).status_code == 410
    assert not User.objects.filter(username="nina2").exists()
    assert User.objects.filter(email="nina@example.org").count() == 1


def test_an_expired_invitation_is_refused_and_creates_nobody(personas, mailoutbox):
    invite(as_user(personas.alice))
    Invitation.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    response = accept(link_in(mailoutbox[0])).last_response  # type: ignore[attr-defined]
    assert response.status_code == 410 and "expired" in response.content.decode()
    assert not User.objects.filter(username="nina").exists()


def test_an_unknown_invitation_link_is_a_404(db):
    assert Browser().get("/agency/join/not-a-real-invitation/").status_code == 404


def test_a_withdrawn_invitation_is_refused(personas, mailoutbox):
    browser = as_user(personas.alice)
    invite(browser)
    invitation = Invitation.objects.get()
    response = browser.post(reverse("agency:revoke_invitation", args=[invitation.public_id]))
    assert response.status_code == 302
    refused = Browser().get(link_in(mailoutbox[0]))
    assert refused.status_code == 410 and "withdrawn" in refused.content.decode()
    assert "invitation.revoked" in actions(personas.riverside)


def test_sending_again_makes_a_new_link_and_the_old_one_stops_working(personas, mailoutbox):
    browser = as_user(personas.alice)
    invite(browser)
    old = Invitation.objects.get()
    response = browser.post(reverse("agency:resend_invitation", args=[old.public_id]))
    assert response.status_code == 302
    assert len(mailoutbox) == 2
    first, second = link_in(mailoutbox[0]), link_in(mailoutbox[1])
    assert first != second
    assert Browser().get(first).status_code == 410
    assert Browser().get(second).status_code == 200
    assert (
        Invitation.objects.count() == 2
        and services.pending_invitations(personas.riverside).get().role == Role.THERAPIST
    )


def test_an_expired_invitation_is_listed_as_expired_and_can_be_sent_again(personas, mailoutbox):
    browser = as_user(personas.alice)
    invite(browser)
    Invitation.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    page = browser.get(reverse("agency:people")).content.decode()
    assert "nina@example.org" in page and "expired" in page
    old = Invitation.objects.get()
    assert (
        browser.post(reverse("agency:resend_invitation", args=[old.public_id])).status_code == 302
    )
    assert Browser().get(link_in(mailoutbox[1])).status_code == 200


def test_a_second_invitation_to_an_open_address_is_refused_so_a_double_submit_stores_one(
    personas, mailoutbox
):
    browser = as_user(personas.alice)
    assert invite(browser).status_code == 302
    again = invite(browser, email="Nina@Example.org")
    assert again.status_code == 400 and "still open" in again.content.decode()
    assert Invitation.objects.count() == 1 and len(mailoutbox) == 1


def test_a_bad_invitation_form_changes_nothing(personas, mailoutbox):
    browser = as_user(personas.alice)
    assert invite(browser, email="not-an-address").status_code == 400
    assert invite(browser, role="owner").status_code == 400
    other_team = Team.objects.get(agency=personas.hillside)
    assert invite(browser, team=other_team.public_id).status_code == 400
    assert not Invitation.objects.exists() and mailoutbox == []


def test_the_invitee_must_choose_a_password_the_validators_accept(personas, mailoutbox):
    invite(as_user(personas.alice))
    path = link_in(mailoutbox[0])
    weak = accept(path, password="123").last_response  # type: ignore[attr-defined]
    assert weak.status_code == 400
    taken = accept(path, username="TARA").last_response  # type: ignore[attr-defined]
    assert taken.status_code == 400
    assert Invitation.objects.get().accepted_at is None
    assert not User.objects.filter(email="nina@example.org").exists()


def test_a_signed_in_visitor_is_asked_to_log_out_before_accepting(personas, mailoutbox):
    invite(as_user(personas.alice))
    page = as_user(personas.theo).get(link_in(mailoutbox[0]))
    assert page.status_code == 200 and "Log out first" in page.content.decode()
    assert 'name="password1"' not in page.content.decode()


def test_an_invited_admin_sets_up_two_factor_before_getting_in_when_the_agency_requires_it(
    personas, mailoutbox
):
    personas.riverside.two_factor_admin = True
    personas.riverside.save()
    services.invite(
        personas.alice,
        personas.riverside,
        email="ada@example.org",
        role="admin",
        url_for=lambda token: f"http://testserver/agency/join/{token}/",
    )
    browser = accept(link_in(mailoutbox[0]), username="ada")
    ada = User.objects.get(username="ada")
    blocked = browser.get(reverse("agency:people"))
    assert blocked.status_code == 302 and blocked.url.startswith(reverse("two_factor_setup"))
    setup = browser.get(reverse("two_factor_setup"))
    assert "Not now" not in setup.content.decode()
    device = TwoFactorDevice.objects.get(user=ada)
    code = pyotp.TOTP(device.secret).now()
    assert browser.post(reverse("two_factor_setup"), {"code": code}).status_code == 200
    assert browser.get(reverse("agency:people")).status_code == 200


# --- the people pages ------------------------------------------------------------------------


def test_the_admin_lists_everyone_of_the_agency_and_nobody_else(personas):
    page = as_user(personas.alice).get(reverse("agency:people")).content.decode()
    for name in ("alice", "sam", "tara", "theo"):
        assert f">{name}<" in page
    assert ">olga<" not in page and ">oscar<" not in page
    assert reverse("agency:invite") in page


def test_a_supervisor_reads_their_teams_people_without_any_button(personas):
    browser = as_user(personas.sam)  # supervisor of North (tara)
    page = browser.get(reverse("agency:people")).content.decode()
    assert ">tara<" in page and ">sam<" in page and ">theo<" not in page
    assert reverse("agency:invite") not in page
    person = browser.get(reverse("agency:person", args=[personas.tara.public_id]))
    assert person.status_code == 200
    assert "<form" not in person.content.decode().split("<main", 1)[1]
    assert browser.get(reverse("agency:person", args=[personas.theo.public_id])).status_code == 404
    tara = personas.tara.public_id
    for name in ("set_role", "set_teams", "deactivate", "reset_two_factor"):
        assert browser.post(reverse(f"agency:{name}", args=[tara])).status_code == 403
    assert browser.post(reverse("agency:create_team"), {"name": "X"}).status_code == 403


def test_an_admin_of_another_agency_gets_404_for_riversides_people_and_teams(personas):
    browser = as_user(personas.olga)
    tara = personas.tara.public_id
    assert browser.get(reverse("agency:person", args=[tara])).status_code == 404
    assert browser.post(reverse("agency:set_role", args=[tara]), {"role": "admin"}).status_code == (
        404
    )
    deactivate = browser.post(
        reverse("agency:deactivate", args=[tara]),
        {"successor": personas.oscar.public_id, "confirm": "on"},
    )
    assert deactivate.status_code == 404
    north = personas.north.public_id
    assert browser.get(reverse("agency:team", args=[north])).status_code == 404
    assert browser.post(reverse("agency:rename_team", args=[north]), {"name": "Z"}).status_code == (
        404
    )
    personas.tara.refresh_from_db()
    assert personas.tara.is_active and personas.tara.membership.role == Role.THERAPIST
    assert Team.objects.get(pk=personas.north.pk).name == "North"


def test_an_admin_changes_a_role_and_it_is_audited(personas):
    browser = as_user(personas.alice)
    url = reverse("agency:set_role", args=[personas.tara.public_id])
    assert browser.post(url, {"role": "supervisor"}).status_code == 302
    assert Membership.objects.get(user=personas.tara).role == Role.SUPERVISOR
    event = AuditEvent.objects.get(action="person.role_changed")
    assert event.target_id == personas.tara.public_id and event.actor == personas.alice
    assert event.detail["previous"] == "therapist" and event.detail["role"] == "supervisor"
    assert browser.post(url, {"role": "supervisor"}).status_code == 302  # no change, no event
    assert AuditEvent.objects.filter(action="person.role_changed").count() == 1


def test_an_admin_cannot_change_their_own_role_nor_demote_the_last_admin(personas):
    url = reverse("agency:set_role", args=[personas.alice.public_id])
    response = as_user(personas.alice).post(url, {"role": "therapist"})
    assert response.status_code == 400
    assert Membership.objects.get(user=personas.alice).role == Role.ADMIN
    with pytest.raises(services.PeopleError):
        services.set_role(personas.tara, personas.riverside, personas.alice.public_id, "therapist")
    assert Membership.objects.get(user=personas.alice).role == Role.ADMIN


def test_an_admin_sets_a_persons_teams(personas):
    browser = as_user(personas.alice)
    url = reverse("agency:set_teams", args=[personas.tara.public_id])
    response = browser.post(url, {"teams": [personas.south.public_id]})
    assert response.status_code == 302
    teams = set(TeamMembership.objects.filter(user=personas.tara).values_list("team", flat=True))
    assert teams == {personas.south.pk}
    event = AuditEvent.objects.get(action="person.teams_changed")
    assert event.detail["added"] == [personas.south.public_id]
    assert event.detail["removed"] == [personas.north.public_id]
    other = Team.objects.get(agency=personas.hillside).public_id
    assert browser.post(url, {"teams": [other]}).status_code == 400


def deactivate(browser, person, successor=None, confirm=True):
    data = {"successor": successor.public_id if successor else ""}
    if confirm:
        data["confirm"] = "on"
    return browser.post(reverse("agency:deactivate", args=[person.public_id]), data)


def test_deactivating_hands_every_client_and_group_over_in_the_same_step(personas):
    group = feedback.create_group(
        personas.tara,
        personas.riverside,
        name="Thursday",
        leader=personas.tara,
        members=[personas.tara_client],
    )
    browser = as_user(personas.alice)
    response = deactivate(browser, personas.tara, personas.theo)
    assert response.status_code == 302
    personas.tara.refresh_from_db()
    assert not personas.tara.is_active
    assert not Client.objects.filter(therapist=personas.tara).exists()
    assert Client.objects.get(pk=personas.tara_client.pk).therapist == personas.theo
    group.refresh_from_db()
    assert group.leader == personas.theo
    event = AuditEvent.objects.get(action="person.deactivated")
    assert event.detail["clients_reassigned"] == 1 and event.detail["groups_reassigned"] == 1
    assert event.detail["successor"] == personas.theo.public_id
    moved = AuditEvent.objects.get(action="client.reassigned")
    assert moved.target_id == personas.tara_client.public_id
    # she can no longer sign in
    sign_in = Browser().post(reverse("login"), {"username": "tara", "password": PASSWORD})
    assert sign_in.status_code == 200 and "did not match" in sign_in.content.decode()
    # a double submit changes nothing more
    again = deactivate(browser, personas.tara, personas.theo)
    assert again.status_code == 400
    assert AuditEvent.objects.filter(action="person.deactivated").count() == 1


def test_deactivating_someone_with_clients_needs_a_successor_and_changes_nothing_without(
    personas,
):
    browser = as_user(personas.alice)
    response = deactivate(browser, personas.tara)
    assert response.status_code == 400 and "takes over" in response.content.decode()
    unconfirmed = deactivate(browser, personas.tara, personas.theo, confirm=False)
    assert unconfirmed.status_code == 400
    oscar = deactivate(browser, personas.tara, personas.oscar)  # another agency's therapist
    assert oscar.status_code == 400
    personas.tara.refresh_from_db()
    assert personas.tara.is_active
    assert Client.objects.get(pk=personas.tara_client.pk).therapist == personas.tara


def test_nobody_can_deactivate_themselves_or_the_last_admin(personas):
    browser = as_user(personas.alice)
    assert deactivate(browser, personas.alice, personas.sam).status_code == 400
    personas.alice.refresh_from_db()
    assert personas.alice.is_active
    with pytest.raises(services.PeopleError):
        services.deactivate(personas.sam, personas.riverside, personas.alice.public_id)
    second = User.objects.create(username="bea", is_staff=True)
    Membership.objects.create(agency=personas.riverside, user=second, role=Role.ADMIN)
    services.deactivate(second, personas.riverside, personas.alice.public_id)
    with pytest.raises(services.PeopleError):  # bea is now the last active admin
        services.deactivate(personas.sam, personas.riverside, second.public_id)


def test_a_deactivated_person_can_be_let_back_in(personas):
    browser = as_user(personas.alice)
    deactivate(browser, personas.tara, personas.theo)
    url = reverse("agency:reactivate", args=[personas.tara.public_id])
    assert browser.post(url).status_code == 302
    personas.tara.refresh_from_db()
    assert personas.tara.is_active
    assert "person.reactivated" in actions(personas.riverside)


def test_resetting_two_factor_removes_the_device_and_the_recovery_codes(personas):
    device = start_enrolment(personas.tara)
    check_code(device, pyotp.TOTP(device.secret).now())
    new_recovery_codes(personas.tara)
    browser = as_user(personas.alice)
    url = reverse("agency:reset_two_factor", args=[personas.tara.public_id])
    assert browser.post(url).status_code == 302
    assert not TwoFactorDevice.objects.filter(user=personas.tara).exists()
    assert not RecoveryCode.objects.filter(user=personas.tara).exists()
    event = AuditEvent.objects.get(action="two_factor.reset")
    assert event.detail["recovery_codes_removed"] == 10
    assert browser.post(url).status_code == 302  # nothing left: no second event
    assert AuditEvent.objects.filter(action="two_factor.reset").count() == 1


def test_a_locked_person_shows_an_unlock_button_that_lifts_the_lock(personas):
    device = start_enrolment(personas.tara)
    device.failure_count = 10
    device.last_failure_at = timezone.now()
    device.save()
    browser = as_user(personas.alice)
    page = browser.get(reverse("agency:person", args=[personas.tara.public_id])).content.decode()
    unlock = reverse("unlock_account", args=[personas.tara.public_id])
    assert unlock in page
    assert browser.post(unlock).status_code == 302
    device.refresh_from_db()
    assert device.failure_count == 0


# --- teams -----------------------------------------------------------------------------------


def test_an_admin_creates_renames_and_fills_a_team(personas):
    browser = as_user(personas.alice)
    response = browser.post(reverse("agency:create_team"), {"name": "West"})
    assert response.status_code == 302
    west = Team.objects.get(name="West")
    assert west.agency == personas.riverside
    again = browser.post(reverse("agency:create_team"), {"name": "West"})
    assert again.status_code == 400 and Team.objects.filter(name="West").count() == 1
    rename = browser.post(reverse("agency:rename_team", args=[west.public_id]), {"name": "Coast"})
    assert rename.status_code == 302
    west.refresh_from_db()
    assert west.name == "Coast"
    taken = browser.post(reverse("agency:rename_team", args=[west.public_id]), {"name": "North"})
    assert taken.status_code == 400
    add = reverse("agency:add_team_member", args=[west.public_id])
    assert browser.post(add, {"person": personas.sam.public_id}).status_code == 302
    assert browser.post(add, {"person": personas.theo.public_id}).status_code == 302
    assert browser.post(add, {"person": personas.oscar.public_id}).status_code == 400
    page = browser.get(reverse("agency:team", args=[west.public_id])).content.decode()
    supervisors = page.split('data-testid="team-supervisors"')[1].split("</ul>")[0]
    members = page.split('data-testid="team-members"')[1].split("</ul>")[0]
    assert "sam" in supervisors and "theo" in members and "theo" not in supervisors
    remove = reverse("agency:remove_team_member", args=[west.public_id, personas.theo.public_id])
    assert browser.post(remove).status_code == 302
    assert not TeamMembership.objects.filter(team=west, user=personas.theo).exists()
    done = actions(personas.riverside)
    for action in ("team.created", "team.renamed", "team.member_added", "team.member_removed"):
        assert action in done


def test_a_supervisor_added_to_a_team_reaches_its_people_and_clients(personas):
    from alliance.care.visibility import visible_clients

    sam = personas.sam
    assert not visible_clients(sam).filter(pk=personas.theo_client.pk).exists()
    services.add_to_team(
        personas.alice, personas.riverside, personas.south.public_id, sam.public_id
    )
    browser = as_user(sam)
    assert browser.get(reverse("agency:person", args=[personas.theo.public_id])).status_code == 200
    assert visible_clients(sam).filter(pk=personas.theo_client.pk).exists()
    teams = browser.get(reverse("agency:teams")).content.decode()
    assert "South" in teams and reverse("agency:create_team") not in teams
