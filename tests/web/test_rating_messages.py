"""Messages a person reads when a rating is refused are written for people, in English and
Spanish (issue 17): never a Python repr such as "'Total' must be between 0 and 40, got 45"."""

from __future__ import annotations

import pytest
from django.test import Client as Browser
from django.urls import reverse
from django.utils import translation

from alliance.care import services
from alliance.care.feedback import instrument_for
from alliance.care.models import Administration
from alliance.care.rating_form import FormState, NotRated, read_items, response_message
from alliance.feedback import services as feedback
from alliance.science.instruments import ResponseError

ORS = {
    "instrument": "ors",
    "ors-individually": "5.2",
    "ors-interpersonally": "4.8",
    "ors-socially": "6.1",
    "ors-overall": "3.9",
    "confirmed": "1",
}
PHQ9_KEYS = [item.key for item in instrument_for("phq9").items]


def logged_in(user, language: str = "en") -> Browser:
    browser = Browser(HTTP_ACCEPT_LANGUAGE=language)
    browser.force_login(user)
    return browser


def refusal(instrument: str, items=None, total=None) -> str:
    definition = instrument_for(instrument)
    try:
        if total is not None:
            definition.score_total(total)
        else:
            definition.score(items)
    except ResponseError as error:
        return response_message(definition, error)
    raise AssertionError("the response was accepted")


def test_a_total_out_of_range_reads_the_total_must_be_between_0_and_40():
    assert refusal("ors", total="45") == "The total must be between 0 and 40."
    assert refusal("ors", total="forty") == "The total must be between 0 and 40."
    assert refusal("ors", total="31.25") == (
        "The total can have at most one decimal (for example 31.5)."
    )


def test_an_item_message_names_the_line_in_words():
    items = {"individually": "11", "interpersonally": 5, "socially": 5, "overall": 5}
    assert refusal("ors", items) == "“Individually” must be between 0 and 10."
    items["individually"] = "7.25"
    assert refusal("ors", items) == "“Individually” can have at most one decimal (for example 7.5)."


def test_a_phq9_answer_that_is_not_one_of_the_choices_says_so():
    items = dict.fromkeys(PHQ9_KEYS, 1)
    items["sleep"] = "1.5"
    message = refusal("phq9", items)
    assert message == (
        "For “Trouble falling or staying asleep, or sleeping too much”, choose one of the answers."
    )
    assert refusal("phq9", total="12") == (
        "PHQ-9 needs an answer to every question: a total on its own is not saved."
    )


def test_the_messages_are_spanish_in_a_spanish_session():
    with translation.override("es"):
        assert refusal("ors", total="45") == "El total debe estar entre 0 y 40."
        items = dict.fromkeys(PHQ9_KEYS, 1)
        items["down"] = "2.5"
        assert refusal("phq9", items).startswith("En «Feeling down")


def test_no_message_is_a_python_repr():
    cases = [
        refusal("ors", total="45"),
        refusal("srs", {"relationship": "x", "goals_topics": 5, "approach": 5, "overall": 5}),
        refusal("phq9", {**dict.fromkeys(PHQ9_KEYS, 1), "interest": "-1"}),
    ]
    for message in cases:
        assert "got" not in message and "'" not in message and message.endswith(".")


def test_a_likert_form_asks_for_every_answer_without_the_tick_box():
    form = FormState(instrument_for("phq9"), "PHQ-9", "Save")
    assert form.likert
    data = {f"phq9-{key}": "1" for key in PHQ9_KEYS}
    assert read_items(form, data) == dict.fromkeys(PHQ9_KEYS, "1")
    del data["phq9-interest"]
    with pytest.raises(NotRated, match="Please answer every question"):
        read_items(form, data)
    assert not FormState(instrument_for("ors"), "ORS", "Save").likert


@pytest.mark.django_db
def test_the_session_page_refuses_a_half_point_on_the_phq9_with_a_clear_message(personas):
    client = services.create_client(
        personas.tara,
        personas.riverside,
        display_code="PHQ-M1",
        therapist=personas.tara,
        outcome_instrument="phq9",
    )
    session = services.start_session(personas.tara, client)
    url = reverse("session", kwargs={"public_id": client.public_id, "number": session.number})
    post = {"instrument": "phq9", "idempotency_key": "k1"}
    post.update({f"phq9-{key}": "1" for key in PHQ9_KEYS})
    post["phq9-tired"] = "1.5"
    for language, expected in (
        ("en", "For “Feeling tired or having little energy”, choose one of the answers."),
        ("es", "En «Se ha sentido cansado(a) o con poca energía», elija una de las respuestas."),
    ):
        response = logged_in(personas.tara, language).post(url, post)
        assert response.status_code == 400
        assert expected in response.content.decode()
    assert not Administration.objects.exists()
    post["phq9-tired"] = "2"
    assert logged_in(personas.tara).post(url, post).status_code == 302
    stored = Administration.objects.get()
    assert stored.total == 10 and float(stored.total).is_integer()


@pytest.mark.django_db
def test_the_session_page_says_the_total_must_be_between_0_and_40(personas):
    session = services.start_session(personas.tara, personas.tara_client)
    url = reverse(
        "session", kwargs={"public_id": personas.tara_client.public_id, "number": session.number}
    )
    response = logged_in(personas.tara).post(
        url, {**ORS, "ors-total": "45", "entry_mode": "paper", "idempotency_key": "t"}
    )
    assert response.status_code == 400
    assert "The total must be between 0 and 40." in response.content.decode()
    assert "got" not in response.content.decode()


@pytest.mark.django_db
def test_the_client_link_form_explains_a_refused_line_in_words(personas):
    session = services.start_session(personas.tara, personas.tara_client)
    link = feedback.create_link(personas.tara, session, instrument="ors")
    response = Browser(HTTP_ACCEPT_LANGUAGE="en").post(
        f"/f/{link.token}/", {**ORS, "ors-socially": "12", "idempotency_key": "x"}
    )
    assert response.status_code == 400
    assert "“Socially” must be between 0 and 10." in response.content.decode()
