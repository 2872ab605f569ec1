"""Dates: one plausible range (1900 to a year from today) everywhere a date comes in, and no
report or export brought down by an odd date already stored (issue 11, section 2)."""

from __future__ import annotations

import datetime

import pytest

from alliance.api.imports import import_table, read_csv
from alliance.care import services
from alliance.care.dates import birth_year_problem, date_problem, latest_date
from alliance.care.forms import NewClientForm
from alliance.care.models import Episode, Session
from tests.web.personas import START

TODAY = datetime.date(2026, 3, 1)


def test_a_date_is_plausible_from_1900_to_a_year_from_today():
    for fine in (datetime.date(1900, 1, 1), TODAY, datetime.date(2027, 3, 1)):
        assert date_problem(fine, TODAY) is None, fine
    for odd in (datetime.date(1, 1, 1), datetime.date(1899, 12, 31), datetime.date(2027, 3, 2)):
        assert date_problem(odd, TODAY) == (
            "The date must be between 1900-01-01 and 2027-03-01."
        ), odd
    assert date_problem(datetime.date(9999, 12, 31), TODAY)
    assert latest_date(datetime.date(2028, 2, 29)) == datetime.date(2029, 2, 28)


def test_a_birth_year_must_give_an_age_the_age_band_can_have():
    assert birth_year_problem(1990, "adult", TODAY) is None
    assert birth_year_problem(2015, "child", TODAY) is None  # 11 this year
    assert birth_year_problem(2015, None, TODAY) is None
    assert birth_year_problem(1990, "child", TODAY) == "The birth year does not fit the age band."
    assert birth_year_problem(2020, "adult", TODAY) == "The birth year does not fit the age band."
    for odd in (1, 1905, 2027, 9999):
        assert birth_year_problem(odd, None, TODAY) == (
            "The birth year must be between 1906 and 2026."
        ), odd


def test_the_new_client_form_refuses_a_birth_year_that_does_not_fit_the_band():
    form = NewClientForm({"display_code": "C-1", "birth_year": "1980", "age_band": "child"})
    assert not form.is_valid()
    assert form.errors["birth_year"] == ["The birth year does not fit the age band."]
    assert NewClientForm(
        {"display_code": "C-1", "birth_year": "1980", "age_band": "adult"}
    ).is_valid()


@pytest.mark.parametrize("date", ["0001-01-01", "9999-12-31", "1899-12-31"])
def test_the_api_refuses_a_session_date_out_of_range_with_a_clear_422(personas, api_as, date):
    api = api_as(personas.tara)
    response = api.post("/sessions", {"client": personas.tara_client.public_id, "date": date})
    assert response.status_code == 422
    assert response.json()["code"] == "rule_broken"
    assert response.json()["message"].startswith("The date must be between 1900-01-01 and ")
    assert not Session.objects.filter(date=datetime.date.fromisoformat(date)).exists()


def test_the_api_refuses_a_start_date_a_birth_year_or_a_closing_date_out_of_range(personas, api_as):
    api = api_as(personas.alice)
    start = api.post("/clients", {"display_code": "D-1", "start_date": "9999-01-01"})
    assert start.status_code == 422 and "1900-01-01" in start.json()["message"]
    child = api.post("/clients", {"display_code": "D-2", "age_band": "child", "birth_year": 1950})
    assert child.status_code == 422
    assert child.json()["message"] == "The birth year does not fit the age band."
    patch = api.patch(f"/clients/{personas.tara_client.public_id}", {"birth_year": 2024})
    assert patch.status_code == 422  # an adult born last year
    episode = personas.tara_client.episodes.get()
    closed = api.post(
        f"/episodes/{episode.public_id}/close", {"ending": "planned", "on": "0001-01-01"}
    )
    assert closed.status_code == 422
    # A number is not a date (it used to read as seconds since 1970).
    number = api.post("/clients", {"display_code": "D-3", "start_date": 0})
    assert number.status_code == 422 and number.json()["code"] == "invalid"


def test_an_import_row_with_a_session_date_out_of_range_is_an_error_row(personas):
    text = (
        "client_id,episode_id,therapist_id,session_number,session_date,instrument,rater,total\n"
        "I-1,IE-1,tara,1,2025-01-06,ors,client,20\n"
        "I-1,IE-1,tara,2,9999-01-13,ors,client,22\n"
        "I-2,IE-2,tara,1,0001-01-06,ors,client,20\n"
    )
    report = import_table(personas.alice, personas.riverside, read_csv(text), dry_run=True)
    problems = [(e["row"], e["column"]) for e in report.to_dict()["errors"]]
    assert (3, "session_date") in problems and (4, "session_date") in problems
    assert (2, "session_date") not in problems


def rate(personas, day: datetime.date, total: float, key: str):
    session = services.start_session(personas.tara, personas.tara_client, on=day)
    services.record_administration(
        personas.tara, session, instrument="ors", idempotency_key=key, total=total
    )
    return session


@pytest.mark.parametrize("year", [1, 9999])
def test_a_report_over_a_stored_date_in_year_1_or_9999_renders_and_names_what_it_left_out(
    personas, client, year
):
    first = rate(personas, START, 18.0, "k1")
    rate(personas, START + datetime.timedelta(days=7), 22.0, "k2")
    odd = rate(personas, START + datetime.timedelta(days=14), 25.0, "k3")
    # Written into the database directly, as no form or API can any more.
    Session.objects.filter(pk=odd.pk).update(date=datetime.date(year, 1, 1))
    Session.objects.filter(pk=first.pk).update(date=datetime.date(year, 12, 31))
    Episode.objects.filter(client=personas.tara_client).update(start_date=datetime.date(year, 1, 1))
    client.force_login(personas.alice)
    page = client.get("/reports/effectiveness/")
    assert page.status_code == 200
    assert "2 administrations left out: their session dates are not between 1900-01-01" in (
        page.content.decode()
    )
    assert client.get("/reports/effectiveness.pdf").status_code == 200
    assert client.get("/reports/alliance/").status_code == 200
    pdf = client.get(f"/reports/clients/{personas.tara_client.public_id}/progress.pdf")
    assert pdf.status_code == 200
    for kind in ("administrations", "episodes"):
        for research in ({}, {"research": "1"}):
            response = client.post(f"/reports/exports/{kind}.csv", research)
            assert response.status_code == 200
            text = b"".join(response.streaming_content).decode()
            assert len(text.splitlines()) >= 2
    fhir = client.post("/reports/exports/fhir/")
    assert fhir.status_code == 200 and b"".join(fhir.streaming_content)
