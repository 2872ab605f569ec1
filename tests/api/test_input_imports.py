"""Imports: a hostile CSV header is refused before pandas reads the file; a FHIR bundle above the
limit gets the API's JSON 413 (issue 11, section 2)."""

from __future__ import annotations

import json
import time

import pytest

from alliance.api.imports import ImportFormatError, read, read_csv

HEADER = "client_id,episode_id,therapist_id,session_number,session_date,instrument,rater,total"


@pytest.fixture
def no_pandas(monkeypatch):
    """pandas must not be asked to parse the body of a refused file."""

    def refuse(*args, **kwargs):
        raise AssertionError("pandas parsed a file whose header should have been refused")

    monkeypatch.setattr(read.pd, "read_csv", refuse)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (",".join(f"c{i}" for i in range(1_000_000)), "longer than 8192 characters"),
        (",".join(f"c{i}" for i in range(300)), "more than 200 columns"),
        ("a" * 5_000_000, "the header line is longer than 8192 characters"),
        (HEADER + ",total", "the header repeats the column 'total'"),
        (HEADER + ", TOTAL ", "the header repeats the column 'total'"),
        ("", "the file has no header line"),
    ],
    ids=[
        "a million columns",
        "300 columns",
        "one endless line",
        "a repeated name",
        "repeated in disguise",
        "empty",
    ],
)
def test_a_hostile_header_is_refused_in_milliseconds_before_pandas_reads_it(
    no_pandas, header, message
):
    body = (header + "\n" + "1," * 1000 + "\n") * 3
    started = time.perf_counter()
    with pytest.raises(ImportFormatError, match=message):
        read_csv(body.encode())
    assert time.perf_counter() - started < 0.25


def test_a_header_with_a_lone_carriage_return_or_bad_bytes_is_a_clear_error_not_a_crash():
    # Found by schemathesis: the header check itself raised the csv module's error (a 500).
    with pytest.raises(ImportFormatError, match="not UTF-8"):
        read_csv(b"C\x9a\x9a\r\x9ayT\x9afn")
    assert list(read_csv(b"client_id\rE-1\n").columns) == ["client_id"]


def test_a_file_with_nul_characters_is_refused_as_not_text(no_pandas):
    with pytest.raises(ImportFormatError, match="NUL"):
        read_csv((HEADER + "\nA\x00,E,tara,1,2025-01-06,ors,client,20\n").encode())


def test_the_api_answers_a_hostile_header_with_a_clear_422(personas, api_as):
    api = api_as(personas.alice)
    header = ",".join(f"c{i}" for i in range(300))
    response = api.upload("/imports", (header + "\n").encode())
    assert response.status_code == 422
    assert response.json() == {
        "code": "unreadable",
        "message": "the header has more than 200 columns",
    }


def test_a_fhir_bundle_above_the_limit_gets_the_api_s_json_413(personas, api_as, settings):
    settings.FHIR_IMPORT_MAX_BYTES = 10_000
    api = api_as(personas.alice)
    big = {"resourceType": "Bundle", "type": "collection", "entry": [{"x": "y" * 20_000}]}
    response = api.post("/imports/fhir", big)
    assert response.status_code == 413
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == "too_large"
    # Below Django's own limit for ordinary bodies (2.5 MB) and above it alike.
    settings.FHIR_IMPORT_MAX_BYTES = 2 * 1024 * 1024
    huge = {"resourceType": "Bundle", "type": "collection", "entry": [{"x": "y" * 3_000_000}]}
    response = api.post("/imports/fhir", huge)
    assert response.status_code == 413 and response.json()["code"] == "too_large"


def test_a_fhir_bundle_larger_than_django_s_default_body_limit_is_read(personas, api_as):
    # 3 MB: Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) answered an HTML 400 before; an
    # agency's own export of a few thousand responses is larger than that.
    api = api_as(personas.alice)
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [], "pad": "x" * 3_000_000}
    response = api.post("/imports/fhir", bundle)
    assert response.status_code in (200, 422)
    assert response["Content-Type"].startswith("application/json")
    assert response.json().get("code") != "too_large"


def test_the_documented_fhir_limit_is_200_mb_by_default(settings):
    from alliance import settings as app_settings

    assert app_settings.FHIR_IMPORT_MAX_BYTES == 200 * 1024 * 1024


def test_a_fhir_body_that_is_not_an_object_is_a_json_400(personas, api_as):
    api = api_as(personas.alice)
    response = api.client.post(
        "/api/v1/imports/fhir",
        json.dumps([None, None]),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api.token}",
    )
    assert response.status_code == 400
    assert response.json()["message"] == "the body must be a JSON object"
