"""Every URL pattern and every API route x six actors, against an explicit table.

The actors, all looking at records of therapist tara (Riverside, team North):
  anon   not signed in                     tara   the client's own therapist
  theo   another therapist (team South)    sue    supervisor of another team (South)
  alice  Riverside's agency admin          olga   admin of another agency (Hillside)
Expected answers: "L" = to the login page (401 on the API), "404" across agencies and for
records a user may not see, "403" within the agency where the role is not enough, otherwise the
exact status of an allowed request (200, 201, 204, 302, or 400/422 for an empty form, which
shows the permission check passed). A route without an entry fails the test: add it here.
Every request runs in a rolled-back savepoint so that one actor's action does not change the
next actor's answer.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterator

import pytest
from django.db import transaction
from django.test import Client as Browser
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from alliance.accounts.models import Invitation, Role, User
from alliance.accounts.services import hash_invitation_token
from alliance.api.models import WebhookEndpoint
from alliance.api.services import create_token
from alliance.care import services
from alliance.care.models import Alert
from alliance.feedback import services as feedback
from alliance.practice.models import Objective
from alliance.reports.models import FittedModel, RefitJob
from alliance.science.signals import SAFETY_CODE
from tests.web.personas import make_user

ACTORS = ("anon", "tara", "theo", "sue", "alice", "olga")


def walk(patterns, prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str]]:
    """(route, name) for every URL pattern of the project, namespaces included."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            space = namespace
            if pattern.namespace:
                space = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from walk(pattern.url_patterns, prefix + str(pattern.pattern), space)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace else (pattern.name or "")
            yield prefix + str(pattern.pattern), name


def site_routes() -> dict[str, str]:
    """Every named route except the Django admin's (pinned separately below) and the API's
    (pinned per OpenAPI operation)."""
    operations = set(api_operations().values())
    routes = {}
    for route, name in walk(get_resolver().url_patterns):
        if name.startswith("admin:") or route.startswith("admin/"):
            continue
        as_openapi = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
        if as_openapi in operations:
            continue  # pinned per operation in API
        routes[name or route] = route
    return routes


def api_operations() -> dict[str, str]:
    from alliance.api.api import api

    schema = api.get_openapi_schema()
    return {
        f"{method.upper()} {path}": path
        for path, operations in schema["paths"].items()
        for method in operations
    }


# route name -> (method, expected answers for anon, tara, theo, sue, alice, olga)
SITE: dict[str, tuple[str, str]] = {
    # accounts (logout always lands on the login page)
    "login": ("GET", "200 302 302 302 302 302"),
    "logout": ("POST", "L L L L L L"),
    "two_factor_setup": ("GET", "L 200 200 200 200 200"),
    "two_factor_verify": ("GET", "L 302 302 302 302 302"),
    "recovery_codes": ("GET", "L 302 302 302 302 302"),  # to the set-up page until enrolled
    # sign-in locks: the agency admin lists and lifts them for the agency's own people
    "locked_accounts": ("GET", "L 403 403 403 200 200"),
    "unlock_account": ("POST", "L 403 403 403 302 404"),
    "password_change": ("GET", "L 200 200 200 200 200"),
    "password_change_done": ("GET", "L 200 200 200 200 200"),
    "handover_pin": ("GET", "L 200 200 200 200 200"),
    "set_language": ("POST", "302 302 302 302 302 302"),
    # care: tara's client is seen by tara and the agency admin only (404 for everyone else)
    "caseload": ("GET", "L 200 200 200 200 200"),
    "new_client": ("GET", "L 200 200 200 200 200"),
    "client": ("GET", "L 200 404 404 200 404"),
    "set_raters": ("POST", "L 302 404 404 302 404"),
    "share_client": ("POST", "L 302 404 404 302 404"),
    # an empty form is a valid choice: the staff member's language
    "set_client_language": ("POST", "L 302 404 404 302 404"),
    "close_episode": ("POST", "L 400 404 404 400 404"),
    "reopen_episode": ("POST", "L 400 404 404 400 404"),  # the episode is open: nothing to reopen
    "start_episode": ("POST", "L 400 404 404 400 404"),  # one is open: no new episode yet
    "client_episode": ("GET", "L 200 404 404 200 404"),
    # a safety alert: the client's therapist or a supervisor acknowledges it, not an admin
    "acknowledge_alert": ("POST", "L 302 404 404 403 404"),
    "start_session": ("POST", "L 302 404 404 302 404"),
    "session": ("GET", "L 200 404 404 200 404"),
    "set_attendance": ("POST", "L 400 404 404 400 404"),
    "undo_administration": ("POST", "L 302 404 404 302 404"),
    # hand-over: an empty form is refused (400) once the session is visible; the client's pages
    # lead to the caseload when nothing is handed over
    "start_handover": ("POST", "L 400 404 404 400 404"),
    "handover": ("GET", "L 302 302 302 302 302"),
    "handover_thanks": ("GET", "L 302 302 302 302 302"),
    "handover_give_back": ("GET", "L 302 302 302 302 302"),
    # feedback: the kiosk and the client's link are public by design (no staff data on them)
    "feedback:kiosk": ("GET", "200 200 200 200 200 200"),
    "feedback:kiosk_form": ("GET", "302 302 302 302 302 302"),
    "feedback:link_form": ("GET", "200 200 200 200 200 200"),
    "feedback:create_link": ("POST", "L 400 404 404 400 404"),
    "feedback:create_kiosk": ("POST", "L 400 404 404 400 404"),
    "feedback:live": ("GET", "L 200 404 404 200 404"),
    "feedback:link_ready": ("GET", "L 200 404 404 200 404"),
    "feedback:revoke_link": ("POST", "L 302 404 404 302 404"),
    "feedback:groups": ("GET", "L 200 200 200 200 200"),
    "feedback:new_group": ("GET", "L 200 200 200 200 200"),
    "feedback:group": ("GET", "L 200 404 404 200 404"),
    "feedback:group_rate": ("POST", "L 400 404 404 400 404"),
    # reports: aggregates for supervisors and admins (their own scope); ETR models for admins
    "reports:dashboard": ("GET", "L 403 403 200 200 200"),
    "reports:effectiveness": ("GET", "L 403 403 200 200 200"),
    "reports:effectiveness_pdf": ("GET", "L 403 403 200 200 200"),
    "reports:exports": ("GET", "L 403 403 200 200 200"),
    "reports:export_csv": ("POST", "L 403 403 200 200 200"),
    "reports:export_fhir": ("POST", "L 403 403 403 200 200"),
    "reports:etr": ("GET", "L 403 403 403 200 200"),
    "reports:deactivate": ("POST", "L 403 403 403 302 302"),
    "reports:refit_job": ("GET", "L 403 403 403 200 404"),
    "reports:fitted_model": ("GET", "L 403 403 403 200 404"),
    "reports:activate": ("POST", "L 403 403 403 302 404"),
    "reports:client_pdf": ("GET", "L 200 404 404 200 404"),
    "reports:alliance": ("GET", "L 403 403 200 200 200"),
    "reports:alliance_pdf": ("GET", "L 403 403 200 200 200"),
    # practice: everyone's own page; tara's page for her admin (her own link redirects to it);
    # her log is hers to write (404 for anyone else, even a supervisor who may read it)
    # agency administration (alliance/agency): admins run it, supervisors read parts of it.
    "agency:home": ("GET", "L 403 403 200 200 200"),
    # people and teams: admins change them; a supervisor reads their own teams' people (tara is
    # in North, sue supervises South: 404); every POST is an admin's (403 before any lookup)
    "agency:people": ("GET", "L 403 403 200 200 200"),
    "agency:invite": ("GET", "L 403 403 403 200 200"),
    "agency:resend_invitation": ("POST", "L 403 403 403 302 404"),
    "agency:revoke_invitation": ("POST", "L 403 403 403 302 404"),
    "agency:person": ("GET", "L 403 403 404 200 404"),
    "agency:set_role": ("POST", "L 403 403 403 400 404"),  # empty form
    "agency:set_teams": ("POST", "L 403 403 403 302 404"),  # no box ticked: no team
    "agency:deactivate": ("POST", "L 403 403 403 400 404"),  # not confirmed
    "agency:reactivate": ("POST", "L 403 403 403 302 404"),
    "agency:reset_two_factor": ("POST", "L 403 403 403 302 404"),
    "agency:teams": ("GET", "L 403 403 200 200 200"),
    "agency:create_team": ("POST", "L 403 403 403 400 400"),  # empty form
    "agency:team": ("GET", "L 403 403 404 200 404"),
    "agency:rename_team": ("POST", "L 403 403 403 400 404"),
    "agency:add_team_member": ("POST", "L 403 403 403 400 404"),
    "agency:remove_team_member": ("POST", "L 403 403 403 302 404"),
    # the invitation link is public by design: whoever holds it may join (signed-in staff are
    # asked to log out first)
    "agency:accept_invitation": ("GET", "200 200 200 200 200 200"),
    # policies: admins change them, supervisors read them (their POST is a 403, see
    # tests/web/test_agency_policies.py), therapists get a 403
    "agency:policies": ("GET", "L 403 403 200 200 200"),
    # API tokens: everyone their own (an empty form is refused); admins also any of the agency's
    "agency:tokens": ("GET", "L 200 200 200 200 200"),
    "agency:token_new": ("POST", "L 400 400 400 400 400"),
    "agency:token_created": ("GET", "L 302 302 302 302 302"),  # nothing to show: to the list
    "agency:token_revoke": ("POST", "L 400 404 404 400 404"),  # tara's token, unconfirmed
    # clients: reassign, merge, undo a merge (agency admins; tara's client, empty forms)
    "agency:clients": ("GET", "L 403 403 403 200 200"),
    "agency:client_reassign": ("POST", "L 403 403 403 400 404"),
    "agency:client_merge": ("POST", "L 403 403 403 400 404"),
    "agency:merge_undo": ("POST", "L 403 403 403 400 404"),
    "practice:mine": ("GET", "L 200 200 200 200 200"),
    "practice:team": ("GET", "L 403 403 200 200 200"),
    "practice:of": ("GET", "L 302 404 404 200 404"),
    "practice:create_objective": ("POST", "L 400 400 400 400 400"),
    "practice:add_reflection": ("POST", "L 400 404 404 404 404"),
    "practice:share_objective": ("POST", "L 302 404 404 404 404"),
    # API routes that are not operations: the schema and its viewer
    "api-v1:api-root": ("GET", "404 404 404 404 404 404"),
    "api-v1:openapi-json": ("GET", "200 200 200 200 200 200"),
    "api-v1:openapi-view": ("GET", "200 200 200 200 200 200"),
    # audit and privacy: agency admins, each for their own agency
    "audit:list": ("GET", "L 403 403 403 200 200"),
    "audit:export": ("GET", "L 403 403 403 200 200"),
    "audit:erasure": ("GET", "L 403 403 403 200 200"),
    "healthz": ("GET", "200 200 200 200 200 200"),  # for monitors: no sign-in, no clinical data
}

# "METHOD /api/v1/path" -> expected answers (anon gets 401: the API never redirects).
API: dict[str, str] = {
    "DELETE /api/v1/administrations/{administration_id}": "L 204 404 404 204 404",
    "DELETE /api/v1/webhooks/{webhook_id}": "L 403 403 403 204 404",
    "GET /api/v1/administrations": "L 200 200 200 200 200",
    "GET /api/v1/administrations/{administration_id}": "L 200 404 404 200 404",
    "GET /api/v1/clients": "L 200 200 200 200 200",
    "GET /api/v1/clients/{client_id}": "L 200 404 404 200 404",
    "GET /api/v1/episodes": "L 200 200 200 200 200",
    "GET /api/v1/episodes/{episode_id}": "L 200 404 404 200 404",
    "GET /api/v1/episodes/{episode_id}/signals": "L 200 404 404 200 404",
    "GET /api/v1/me": "L 200 200 200 200 200",
    "GET /api/v1/reports/effectiveness": "L 403 403 200 200 200",
    "GET /api/v1/reports/alliance": "L 403 403 200 200 200",
    "GET /api/v1/sessions": "L 200 200 200 200 200",
    "GET /api/v1/sessions/{session_id}": "L 200 404 404 200 404",
    "GET /api/v1/webhooks": "L 403 403 403 200 200",
    "GET /api/v1/webhooks/{webhook_id}/deliveries": "L 403 403 403 200 404",
    "PATCH /api/v1/administrations/{administration_id}": "L 200 404 404 200 404",
    "PATCH /api/v1/clients/{client_id}": "L 200 404 404 200 404",
    "PATCH /api/v1/sessions/{session_id}": "L 200 404 404 200 404",
    "POST /api/v1/administrations": "L 201 404 404 201 404",
    "POST /api/v1/clients": "L 201 201 201 201 201",
    "POST /api/v1/episodes/{episode_id}/close": "L 200 404 404 200 404",
    # the episode is open: nothing to reopen, no new episode yet (the rule speaks, not the role)
    "POST /api/v1/episodes/{episode_id}/reopen": "L 422 404 404 422 404",
    "POST /api/v1/clients/{client_id}/episodes": "L 422 404 404 422 404",
    "POST /api/v1/imports": "L 422 422 422 422 422",
    "POST /api/v1/imports/fhir": "L 403 403 403 422 422",
    "POST /api/v1/sessions": "L 201 404 404 201 404",
    "POST /api/v1/webhooks": "L 403 403 403 201 201",
}

# Django admin: the index for each actor; superusers only, so every actor here is sent to its
# login page (agency admins included).
ADMIN_INDEX = "302 302 302 302 302 302"


@pytest.fixture
def world(personas):
    sue = make_user(personas.riverside, "sue", Role.SUPERVISOR, personas.south)
    client = personas.tara_client
    session = services.start_session(personas.tara, client)
    administration = services.record_administration(
        personas.tara, session, instrument="ors", idempotency_key="matrix", total="20"
    ).administration
    link = feedback.create_link(personas.tara, session, instrument="srs")
    group = feedback.create_group(
        personas.tara, personas.riverside, name="Group", leader=personas.tara, members=[client]
    )
    fitted = FittedModel.objects.create(
        agency=personas.riverside,
        instrument="ors",
        parameters={},
        n_episodes=0,
        fitted_on="2026-01-01",
    )
    job = RefitJob.objects.create(agency=personas.riverside)
    safety_alert = Alert.objects.create(
        agency=personas.riverside,
        episode=client.episodes.get(),
        session_number=session.number,
        code=SAFETY_CODE,
        severity="red",
        reason="PHQ-9 item 9",
    )
    objective = Objective.objects.create(
        agency=personas.riverside,
        therapist=personas.tara,
        text="Invite honest feedback",
        started_on="2026-01-01",
        shared_with_supervisor=True,
    )
    webhook = WebhookEndpoint.objects.create(
        agency=personas.riverside, url="https://example.org/hook", secret="s", events=[]
    )
    users = {
        "tara": personas.tara,
        "theo": personas.theo,
        "sue": sue,
        "alice": personas.alice,
        "olga": personas.olga,
    }
    tokens = {name: create_token(user, scope="write").secret for name, user in users.items()}
    invitation_token = "matrix-invitation-token"
    invitation = Invitation.objects.create(
        agency=personas.riverside,
        email="new@example.org",
        role=Role.THERAPIST,
        token_hash=hash_invitation_token(invitation_token),
        expires_at=timezone.now() + datetime.timedelta(days=7),
    )
    merged = services.merge_clients(
        personas.alice,
        services.create_client(
            personas.tara, personas.riverside, display_code="R-DUP-B", therapist=personas.tara
        ),
        services.create_client(
            personas.tara, personas.riverside, display_code="R-DUP-A", therapist=personas.tara
        ),
    )
    values = {
        "public_id": client.public_id,
        "number": str(session.number),
        "administration_id": administration.public_id,
        "session_id": session.public_id,
        "link_id": link.link.public_id,
        "group_id": group.public_id,
        "agency_id": personas.riverside.public_id,
        "token": link.token,
        "kind": "administrations",
        "client_id": client.public_id,
        "episode_id": client.episodes.get().public_id,
        "webhook_id": webhook.public_id,
    }
    per_route = {
        "reports:refit_job": {"public_id": job.public_id},
        "reports:fitted_model": {"public_id": fitted.public_id},
        "reports:activate": {"public_id": fitted.public_id},
        "practice:of": {"public_id": personas.tara.public_id},
        "acknowledge_alert": {"alert_id": str(safety_alert.pk)},
        "unlock_account": {"public_id": personas.tara.public_id},
        "practice:add_reflection": {"public_id": objective.public_id},
        "practice:share_objective": {"public_id": objective.public_id},
        "agency:resend_invitation": {"public_id": invitation.public_id},
        "agency:revoke_invitation": {"public_id": invitation.public_id},
        "agency:team": {"public_id": personas.north.public_id},
        "agency:rename_team": {"public_id": personas.north.public_id},
        "agency:add_team_member": {"public_id": personas.north.public_id},
        "agency:remove_team_member": {
            "public_id": personas.north.public_id,
            "person_id": personas.tara.public_id,
        },
        "agency:accept_invitation": {"token": invitation_token},
        **{
            f"agency:{name}": {"public_id": personas.tara.public_id}
            for name in (
                "person",
                "set_role",
                "set_teams",
                "deactivate",
                "reactivate",
                "reset_two_factor",
            )
        },
        "agency:token_revoke": {"prefix": tokens["tara"].split("_")[1]},
        "agency:merge_undo": {"public_id": merged.public_id},
    }
    data = {"share_client": {"colleague": personas.theo.public_id}}
    # Valid bodies, so that an API answer shows the permission check, not the validation.
    bodies = {
        "POST /api/v1/clients": {"display_code": "API-NEW-1"},
        "POST /api/v1/episodes/{episode_id}/close": {"ending": "planned"},
        "POST /api/v1/sessions": {"client": client.public_id},
        "PATCH /api/v1/sessions/{session_id}": {"attendance": "cancelled"},
        "POST /api/v1/administrations": {
            "session": session.public_id,
            "instrument": "srs",
            "idempotency_key": "api-matrix",
            "total": 30,
        },
        "PATCH /api/v1/administrations/{administration_id}": {"total": 25},
        "PATCH /api/v1/clients/{client_id}": {"birth_year": 1990},
        "POST /api/v1/webhooks": {"url": "https://example.org/other"},
    }
    return {
        "users": users,
        "tokens": tokens,
        "values": values,
        "per_route": per_route,
        "data": data,
        "bodies": bodies,
    }


def fill(route: str, values: dict[str, str]) -> str:
    """The concrete URL of a route pattern (``<str:public_id>`` or ``{client_id}``)."""
    route = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values[m.group(1)], route)
    route = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], route)
    return route if route.startswith("/") else "/" + route


def answer(response, api: bool) -> str:
    status = response.status_code
    if api and status == 401:
        return "L"
    if not api and status == 302 and "/login/" in response.get("Location", ""):
        return "L"
    return str(status)


def ask(browser: Browser, method: str, url: str, **extra) -> object:
    with transaction.atomic():
        response = getattr(browser, method.lower())(url, **extra)
        transaction.set_rollback(True)
    return response


def observe_site(world, name: str, route: str, method: str) -> list[str]:
    values = {**world["values"], **world["per_route"].get(name, {})}
    url = fill(route, values)
    answers = []
    for actor in ACTORS:
        browser = Browser()
        if actor != "anon":
            browser.force_login(world["users"][actor])
        extra = {"data": world["data"][name]} if name in world["data"] else {}
        answers.append(answer(ask(browser, method, url, **extra), api=False))
    return answers


def observe_api(world, operation: str) -> list[str]:
    method, path = operation.split(" ", 1)
    url = fill(path, world["values"])
    answers = []
    for actor in ACTORS:
        headers = (
            {} if actor == "anon" else {"HTTP_AUTHORIZATION": f"Bearer {world['tokens'][actor]}"}
        )
        payload = json.dumps(world["bodies"].get(operation, {}))
        body = {"content_type": "application/json", "data": payload} if method != "GET" else {}
        answers.append(answer(ask(Browser(), method, url, **body, **headers), api=True))
    return answers


def test_every_url_pattern_has_an_entry():
    missing = sorted(set(site_routes()) - set(SITE))
    stale = sorted(set(SITE) - set(site_routes()))
    assert not missing, f"routes without an entry in the permission matrix: {missing}"
    assert not stale, f"entries for routes that no longer exist: {stale}"


def test_every_api_operation_has_an_entry():
    missing = sorted(set(api_operations()) - set(API))
    stale = sorted(set(API) - set(api_operations()))
    assert not missing, f"API operations without an entry in the permission matrix: {missing}"
    assert not stale, f"entries for API operations that no longer exist: {stale}"


@pytest.mark.parametrize("name", sorted(SITE))
def test_each_page_answers_each_actor_as_the_table_says(world, name):
    routes = site_routes()
    assert name in routes, f"{name} is in the table but not routed"
    method, expected = SITE[name]
    observed = observe_site(world, name, routes[name], method)
    assert dict(zip(ACTORS, observed, strict=True)) == dict(
        zip(ACTORS, expected.split(), strict=True)
    )


@pytest.mark.parametrize("operation", sorted(API))
def test_each_api_operation_answers_each_actor_as_the_table_says(world, operation):
    observed = observe_api(world, operation)
    assert dict(zip(ACTORS, observed, strict=True)) == dict(
        zip(ACTORS, API[operation].split(), strict=True)
    )


def test_the_django_admin_is_for_superusers_only(world):
    observed = []
    for actor in ACTORS:
        browser = Browser()
        if actor != "anon":
            browser.force_login(world["users"][actor])
        observed.append(str(browser.get("/admin/").status_code))
    assert observed == ADMIN_INDEX.split()
    root = User.objects.create_superuser("root", password="x" * 16)
    browser = Browser()
    browser.force_login(root)
    assert browser.get("/admin/").status_code == 200
