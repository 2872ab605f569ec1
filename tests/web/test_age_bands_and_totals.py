"""Age-band choices, default forms and the database's total checks derive from the science core's
definitions (instruments.age_bands and the instrument files), not a copy of them."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone, translation

from alliance.care import services
from alliance.care.models import FORMS_BY_AGE_BAND, Administration, AgeBand
from alliance.care.views import age_band_for_year
from alliance.science.instruments import DATA_DIR, load_directory
from alliance.science.instruments.age_bands import AGE_BANDS


def test_the_age_band_choices_are_the_science_cores_bands_in_order():
    assert AgeBand.values == [band.name for band in AGE_BANDS]
    assert [str(label) for label in AgeBand.labels] == [band.label for band in AGE_BANDS]
    assert {band.name: band.forms for band in AGE_BANDS} == FORMS_BY_AGE_BAND


def test_the_age_band_labels_are_still_translated():
    with translation.override("es"):
        assert str(AgeBand.YOUNG_CHILD.label) == "Niño/a pequeño/a (5 años o menos)"
        assert str(AgeBand.ADULT.label) == "Adulto/a (18+)"


@pytest.mark.parametrize(("age", "band"), [(5, "young_child"), (6, "child"), (17, "adolescent")])
def test_a_birth_year_gives_the_band_of_this_years_age(age, band):
    assert age_band_for_year(timezone.localdate().year - age) == band


@pytest.mark.parametrize("band", [band.name for band in AGE_BANDS])
def test_a_new_client_gets_the_forms_of_their_age_band(personas, band):
    client = services.create_client(
        personas.tara,
        personas.riverside,
        display_code=f"AB-{band}",
        therapist=personas.tara,
        age_band=band,
    )
    episode = client.episodes.get()
    assert (episode.outcome_instrument, episode.alliance_instrument) == FORMS_BY_AGE_BAND[band]


SHIPPED = sorted({code: i.total_max for (code, _), i in load_directory(DATA_DIR).items()}.items())


@pytest.mark.parametrize(("code", "total_max"), SHIPPED)
def test_the_database_refuses_a_total_above_the_instrument_files_maximum(personas, code, total_max):
    session = services.start_session(personas.tara, personas.tara_client)
    row = {"agency": personas.riverside, "episode": session.episode, "session": session}
    Administration.objects.create(**row, instrument=code, total=total_max, idempotency_key="top")
    with pytest.raises(IntegrityError), transaction.atomic():
        Administration.objects.create(
            **row, instrument=code, rater="parent", total=total_max + 0.1, idempotency_key="over"
        )
