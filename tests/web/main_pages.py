"""The main pages of the product, each as the role that uses it, with realistic data behind them:
one catalogue for the structural page test (ids, accessible names, focusable table regions) and
the axe-core browser test, so a new page is added once and checked by both."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from alliance.accounts.services import invite
from alliance.api.services import create_token
from alliance.care import services
from alliance.care.feedback import instrument_for
from alliance.feedback import services as feedback


@dataclass(frozen=True)
class MainPage:
    name: str
    actor: str | None  # a persona attribute (tara, sam, alice), or None for a client / visitor
    path: str
    # The kiosk form opens only after its code and PIN were entered on the kiosk page.
    kiosk: tuple[str, str, str] | None = None  # (kiosk page path, code, pin)


def _rate(therapist, session, code: str, value: float) -> None:
    items = {item.key: value for item in instrument_for(code).items}
    services.record_administration(
        therapist, session, instrument=code, items=items, idempotency_key=uuid.uuid4().hex
    )


def build_main_pages(personas) -> list[MainPage]:
    """Create the data (sessions, links, a kiosk pass, a group) and list the pages."""
    tara, riverside = personas.tara, personas.riverside
    client = personas.tara_client
    session = services.start_session(tara, client)
    _rate(tara, session, "ors", 5.5)
    _rate(tara, session, "srs", 8.5)
    # Links are for a later session: a link for a form already given answers 410 (gone).
    later = services.start_session(tara, client, on=services.today() + datetime.timedelta(days=1))
    feedback.create_link(tara, later, instrument="srs")
    ors_link = feedback.create_link(tara, later, instrument="ors")
    srs_link = feedback.create_link(tara, later, instrument="srs")

    phq = services.create_client(
        tara, riverside, display_code="PHQ-P1", therapist=tara, outcome_instrument="phq9"
    )
    phq_session = services.start_session(tara, phq)
    _rate(tara, phq_session, "phq9", 2)
    phq_later = services.start_session(tara, phq, on=services.today() + datetime.timedelta(days=1))
    phq_link = feedback.create_link(tara, phq_later, instrument="phq9")
    gad = services.create_client(
        tara, riverside, display_code="GAD-P1", therapist=tara, outcome_instrument="gad7"
    )
    gad_session = services.start_session(tara, gad)
    kiosk = feedback.create_kiosk_pass(tara, gad_session, instrument="gad7")
    kiosk_path = f"/f/kiosk/{riverside.public_id}/"

    child = services.create_client(
        tara, riverside, display_code="KID-P1", therapist=tara, age_band="child"
    )
    child_session = services.start_session(tara, child)
    cors_link = feedback.create_link(tara, child_session, instrument="cors")

    group = feedback.create_group(tara, riverside, name="Thursday", leader=tara, members=[client])
    group_path = f"/f/groups/{group.public_id}/"

    invitation_tokens: list[str] = []
    invite(
        personas.alice,
        riverside,
        email="nina@example.org",
        role="therapist",
        url_for=lambda token: invitation_tokens.append(token) or f"/agency/join/{token}/",
    )
    invitation_token = invitation_tokens[0]
    token = create_token(tara, name="Scripts").token
    create_token(personas.alice, name="Records system", kind="integration")
    merged = services.merge_clients(
        personas.alice,
        services.create_client(tara, riverside, display_code="DUP-P2", therapist=tara),
        services.create_client(tara, riverside, display_code="DUP-P1", therapist=tara),
    )

    def session_path(owner, number: int) -> str:
        return f"/clients/{owner.public_id}/sessions/{number}/"

    return [
        MainPage("login", None, "/login/"),
        MainPage("caseload", "tara", "/"),
        MainPage("new client", "tara", "/clients/new/"),
        MainPage("client", "tara", f"/clients/{client.public_id}/"),
        MainPage("session ORS and SRS", "tara", session_path(client, session.number)),
        MainPage("session PHQ-9", "tara", session_path(phq, phq_session.number)),
        MainPage("session GAD-7", "tara", session_path(gad, gad_session.number)),
        MainPage("session child", "tara", session_path(child, child_session.number)),
        MainPage("link form ORS", None, f"/f/{ors_link.token}/"),
        MainPage("link form SRS", None, f"/f/{srs_link.token}/"),
        MainPage("link form PHQ-9", None, f"/f/{phq_link.token}/"),
        MainPage("link form CORS", None, f"/f/{cors_link.token}/"),
        MainPage("kiosk", None, kiosk_path),
        MainPage(
            "kiosk form GAD-7", None, f"{kiosk_path}form/", (kiosk_path, kiosk.code, kiosk.pin)
        ),
        MainPage("groups", "tara", "/f/groups/"),
        MainPage("group", "tara", group_path),
        MainPage("group rate", "tara", f"{group_path}rate/"),
        MainPage("my practice", "tara", "/practice/"),
        MainPage("two-factor", "tara", "/account/two-factor/"),
        MainPage("password", "tara", "/account/password/"),
        MainPage("dashboard", "sam", "/reports/"),
        MainPage("effectiveness", "sam", "/reports/effectiveness/"),
        MainPage("alliance report", "sam", "/reports/alliance/"),
        MainPage("team practice", "sam", "/practice/team/"),
        MainPage("etr", "alice", "/reports/etr/"),
        MainPage("exports", "alice", "/reports/exports/"),
        MainPage("audit", "alice", "/audit/"),
        MainPage("people", "alice", "/agency/people/"),
        MainPage("invite", "alice", "/agency/people/invite/"),
        MainPage("person", "alice", f"/agency/people/{tara.public_id}/"),
        MainPage("teams", "alice", "/agency/teams/"),
        MainPage("team", "alice", f"/agency/teams/{personas.north.public_id}/"),
        MainPage("people (supervisor)", "sam", "/agency/people/"),
        MainPage("invitation", None, f"/agency/join/{invitation_token}/"),
        MainPage("policies", "alice", "/agency/policies/"),
        MainPage("api tokens", "alice", "/agency/tokens/"),
        MainPage("new api token", "tara", "/agency/tokens/new/"),
        MainPage("revoke api token", "tara", f"/agency/tokens/{token.prefix}/revoke/"),
        MainPage("agency clients", "alice", "/agency/clients/"),
        MainPage("reassign client", "alice", f"/agency/clients/{client.public_id}/reassign/"),
        MainPage("merge client", "alice", f"/agency/clients/{gad.public_id}/merge/"),
        MainPage("undo merge", "alice", f"/agency/clients/merges/{merged.public_id}/undo/"),
    ]
