"""Instruments without an ETR model (PHQ-9, GAD-7, YCORS): every report renders what does not need
a model and says which parts do, on the web, in the PDF and in the API; never a 500."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alliance.api.services import create_token
from alliance.care.models import Episode
from alliance.science.simulate import simulate
from tests.reports.loader import load_frame

NO_MODEL = ["phq9", "gad7", "ycors"]
MAXIMUM = {"phq9": 27, "gad7": 21, "ycors": 40}


def symptom_table(instrument: str) -> pd.DataFrame:
    """Simulated ORS totals re-expressed on the instrument's scale (lower is better for PHQ/GAD)."""
    frame = simulate(40, 2, seed=11)
    frame = frame[frame["instrument"] == "ors"].copy()
    frame = frame.drop(columns=[c for c in frame.columns if c.startswith("item_")])
    top = MAXIMUM[instrument]
    scaled = frame["total"] / 40 * top
    frame["total"] = np.round(scaled) if instrument == "ycors" else np.round(top - scaled)
    frame["instrument"] = instrument
    frame["episode_id"] = instrument + "-" + frame["episode_id"].astype(str)
    frame["client_id"] = instrument + "-" + frame["client_id"].astype(str)
    frame["team_id"] = None
    return frame


@pytest.fixture
def symptom_history(personas):
    p = personas
    for instrument in NO_MODEL:
        load_frame(
            p.riverside,
            symptom_table(instrument),
            therapists={"T0001": p.tara, "T0002": p.theo},
            teams={},
        )
    return p


@pytest.mark.parametrize("instrument", NO_MODEL)
def test_the_effectiveness_page_renders_and_names_what_needs_a_model(
    client, symptom_history, instrument
):
    client.force_login(symptom_history.alice)
    response = client.get("/reports/effectiveness/", {"instrument": instrument})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Pre-post effect size" in page
    assert "each needs an expected treatment response model" in page


@pytest.mark.parametrize("instrument", NO_MODEL)
def test_the_effectiveness_pdf_renders(client, symptom_history, instrument):
    client.force_login(symptom_history.alice)
    response = client.get("/reports/effectiveness.pdf", {"instrument": instrument})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"


@pytest.mark.parametrize("instrument", NO_MODEL)
def test_the_api_report_answers_with_the_model_free_numbers(client, symptom_history, instrument):
    token = create_token(symptom_history.alice, scope="read").secret
    response = client.get(
        "/api/v1/reports/effectiveness",
        {"instrument": instrument},
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model"] is None
    assert body["result"]["overall"]["n_used"] > 0
    assert body["result"]["overall"]["es"]["value"] is not None
    assert body["result"]["overall"]["reached_target"] is None


@pytest.mark.parametrize("instrument", NO_MODEL)
def test_a_clients_page_and_pdf_render_without_a_model(client, symptom_history, instrument):
    p = symptom_history
    episode = Episode.objects.filter(agency=p.riverside, outcome_instrument=instrument).first()
    assert episode is not None
    client.force_login(episode.client.therapist)
    public_id = episode.client.public_id
    assert client.get(f"/clients/{public_id}/").status_code == 200
    pdf = client.get(f"/reports/clients/{public_id}/progress.pdf")
    assert pdf.status_code == 200


def test_an_instrument_without_reliable_change_shows_none_rather_than_zero_percent(
    client, symptom_history
):
    token = create_token(symptom_history.alice, scope="read").secret
    response = client.get(
        "/api/v1/reports/effectiveness",
        {"instrument": "ycors"},
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    overall = response.json()["result"]["overall"]
    assert overall["reliable_improvement"] is None
    assert overall["clinically_significant"] is None
    assert overall["es"]["value"] is not None
