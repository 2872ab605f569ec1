"""The small things a clinic notices (issue 13, section 3): a favicon, HEAD answered like GET, an
inverted date range that says so, one numbering in the audit list, an undo that asks first, and
a new-client form whose defaults are valid as they stand."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

from django.test import Client as Browser
from django.urls import reverse

import alliance
from alliance.audit import views as audit_views
from alliance.audit.models import AuditEvent
from alliance.audit.services import record
from alliance.care import services
from alliance.care.models import Administration, Client
from alliance.feedback import services as feedback
from tests.web.test_web_pages import ORS_POST, session_url

STATIC = Path(alliance.__file__).parent / "static" / "alliance"


def logged_in(user) -> Browser:
    browser = Browser()
    browser.force_login(user)
    return browser


# -- favicon -----------------------------------------------------------------------------------


def test_staff_and_client_pages_link_the_favicon_served_from_our_own_static_files(personas):
    icon = STATIC / "favicon.svg"
    assert icon.read_text().startswith("<svg") and "http://www.w3.org/2000/svg" in icon.read_text()
    assert "href=" not in icon.read_text()  # nothing loaded from elsewhere
    staff = logged_in(personas.tara).get("/").content.decode()
    session = services.start_session(personas.tara, personas.tara_client)
    link = feedback.create_link(personas.tara, session, instrument="srs")
    client_page = Browser().get(f"/f/{link.token}/").content.decode()
    for page in (staff, client_page, Browser().get("/login/").content.decode()):
        tag = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', page)
        assert tag and tag.group(1).startswith("/static/") and tag.group(1).endswith(".svg")


# -- HEAD --------------------------------------------------------------------------------------


def test_head_on_the_caseload_answers_like_get_without_a_body(personas):
    tara = logged_in(personas.tara)
    get, head = tara.get("/"), tara.head("/")
    assert head.status_code == get.status_code == 200
    assert head["Content-Type"] == get["Content-Type"] and head.content == b""
    anonymous = Browser().head("/")
    assert anonymous.status_code == 302 and anonymous.url.startswith("/login/")


def test_head_answers_like_get_on_every_read_only_page(personas):
    alice = logged_in(personas.alice)
    for url in ("/reports/", "/reports/effectiveness/", "/audit/", "/agency/", "/practice/"):
        assert alice.head(url).status_code == alice.get(url).status_code == 200, url
    assert alice.head("/agency/policies/").status_code == 200


def test_no_view_refuses_head_with_require_get():
    sources = Path(alliance.__file__).parent.rglob("*.py")
    offenders = [str(path) for path in sources if "require_GET" in path.read_text()]
    assert offenders == []


# -- an inverted date range --------------------------------------------------------------------


def test_an_end_date_before_the_start_date_says_so_instead_of_showing_nothing(personas):
    sam = logged_in(personas.sam)
    inverted = sam.get("/reports/effectiveness/", {"start": "2026-06-01", "end": "2026-01-01"})
    text = inverted.content.decode()
    assert inverted.status_code == 200 and 'data-testid="range-error"' in text
    assert "The end date is before the start date" in text
    ordered = sam.get("/reports/effectiveness/", {"start": "2026-01-01", "end": "2026-06-01"})
    assert 'data-testid="range-error"' not in ordered.content.decode()


def test_the_audit_list_says_when_its_end_date_is_before_its_start_date(personas):
    alice = logged_in(personas.alice)
    inverted = alice.get("/audit/", {"since": "2026-06-01", "until": "2026-01-01"})
    text = inverted.content.decode()
    assert inverted.status_code == 200 and 'data-testid="range-error"' in text
    assert "The end date is before the start date" in text
    ordered = alice.get("/audit/", {"since": "2026-01-01", "until": "2026-06-01"})
    assert 'data-testid="range-error"' not in ordered.content.decode()


# -- the audit list ----------------------------------------------------------------------------


def test_the_audit_list_numbers_its_rows_once_across_pages(personas, monkeypatch):
    monkeypatch.setattr(audit_views, "PAGE_SIZE", 3)
    for number, actor in enumerate([personas.alice, personas.tara, personas.sam] * 2):
        record(actor, personas.riverside, "test.numbered", ("client", f"c{number}"))
    numbered = AuditEvent.objects.filter(agency=personas.riverside, action="test.numbered")
    lanes = set(numbered.values_list("lane", "seq"))
    assert len(lanes) == 6  # each event's place in its own lane chain
    alice = logged_in(personas.alice)

    def numbers(page: int) -> list[int]:
        html = alice.get("/audit/", {"page": page, "action": "test."}).content.decode()
        return [int(n) for n in re.findall(r'<tr data-testid="audit-row"><td>(\d+)</td>', html)]

    assert numbers(1) + numbers(2) == [1, 2, 3, 4, 5, 6]


# -- undo asks first ---------------------------------------------------------------------------


def test_undo_on_the_session_page_opens_a_confirmation_and_only_its_post_undoes(
    personas,
):
    services.start_session(personas.tara, personas.tara_client)
    tara = logged_in(personas.tara)
    url = session_url(personas.tara_client)
    tara.post(url, {**ORS_POST, "idempotency_key": "undo-confirm"})
    administration = Administration.objects.get()
    undo = reverse(
        "undo_administration", args=[personas.tara_client.public_id, 1, administration.public_id]
    )
    page = tara.get(url).content.decode()
    assert f'href="{undo}"' in page and f'action="{undo}"' not in page
    confirmation = tara.get(undo)
    text = confirmation.content.decode()
    assert confirmation.status_code == 200 and 'data-testid="undo-confirm"' in text
    assert "Undo the Outcome Rating Scale rating?" in text and url in text  # cancel goes back
    assert Administration.objects.filter(pk=administration.pk).exists()  # asking removed nothing
    assert tara.post(undo).status_code == 302
    assert not Administration.objects.filter(pk=administration.pk).exists()


# -- the new-client form -----------------------------------------------------------------------


def test_the_new_client_form_submitted_untouched_with_only_a_code_creates_an_adult(personas):
    tara = logged_in(personas.tara)
    page = tara.get(reverse("new_client")).content.decode()
    # What the browser sends from the form as it opens: every field at its default.
    untouched = {
        "display_code": "UNTOUCHED-1",
        "name": "",
        "age_band": "",
        "birth_year": "",
        "outcome_instrument": "",
        "alliance_instrument": "",
    }
    assert 'name="age_band"' in page and "adult without one" in page
    response = tara.post(reverse("new_client"), untouched)
    assert response.status_code == 302
    client = Client.objects.get(display_code="UNTOUCHED-1")
    episode = client.episodes.get()
    assert client.age_band == "adult"
    assert (episode.outcome_instrument, episode.alliance_instrument) == ("ors", "srs")


def test_a_birth_year_that_contradicts_the_chosen_age_band_is_refused_with_a_clear_message(
    personas,
):
    tara = logged_in(personas.tara)
    year = str(datetime.date.today().year - 40)
    response = tara.post(
        reverse("new_client"),
        {"display_code": "CONTRA-1", "age_band": "child", "birth_year": year},
    )
    text = response.content.decode()
    assert response.status_code == 400 and "The birth year does not fit the age band." in text
    assert f'value="{year}"' in text  # kept as typed, to correct
    assert not Client.objects.filter(display_code="CONTRA-1").exists()
    fitting = str(datetime.date.today().year - 9)
    ok = tara.post(
        reverse("new_client"),
        {"display_code": "CONTRA-1", "age_band": "child", "birth_year": fitting},
    )
    assert ok.status_code == 302
