"""The API's human-readable import messages follow Accept-Language; codes and columns do not."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from .test_api_import import BAD


def upload(api, content: bytes, language: str):
    return api.client.post(
        "/api/v1/imports?dry_run=false",
        {"file": SimpleUploadedFile("data.csv", content)},
        HTTP_AUTHORIZATION=f"Bearer {api.token}",
        HTTP_ACCEPT_LANGUAGE=language,
    )


def messages(answer) -> dict[tuple[int, str], str]:
    return {(e["row"], e["column"]): e["message"] for e in answer.json()["errors"]}


def test_a_refused_import_answers_its_row_messages_in_spanish(personas, api_as):
    api = api_as(personas.alice)
    spanish = upload(api, BAD.encode(), "es")
    english = upload(api, BAD.encode(), "en")
    assert spanish.status_code == english.status_code == 422
    assert spanish.json()["code"] == english.json()["code"] == "import_invalid"
    assert set(messages(spanish)) == set(messages(english))
    assert messages(spanish)[(4, "total")] == "debe estar entre 0 y 40"
    assert messages(spanish)[(6, "item_1")] == "indique los 4 ítems o ninguno"
    assert messages(spanish)[(3, "session_date")] == "no es una fecha (AAAA-MM-DD)"
    assert messages(english)[(4, "total")] == "must be between 0 and 40"
    assert messages(english)[(6, "item_1")] == "give all 4 items or none"


def test_an_unreadable_file_is_explained_in_spanish_with_the_same_code(personas, api_as):
    api = api_as(personas.alice)
    spanish = upload(api, b"\xff\xfe\x00bad", "es")
    english = upload(api, b"\xff\xfe\x00bad", "en")
    assert spanish.json()["code"] == english.json()["code"] == "unreadable"
    assert english.json()["message"].endswith("it is not a CSV text file")
    assert spanish.json()["message"].endswith("no es un archivo de texto CSV")


def test_a_bundle_that_is_not_fhir_is_explained_in_spanish_with_the_same_code(personas, api_as):
    api = api_as(personas.alice)
    spanish = api.post("/imports/fhir", {"resourceType": "Patient"}, HTTP_ACCEPT_LANGUAGE="es")
    english = api.post("/imports/fhir", {"resourceType": "Patient"}, HTTP_ACCEPT_LANGUAGE="en")
    assert spanish.status_code == english.status_code == 422
    assert spanish.json()["code"] == english.json()["code"] == "invalid_fhir"
    assert english.json()["message"] == "expected a FHIR Bundle (resourceType Bundle)"
    assert spanish.json()["message"] == "se esperaba un Bundle FHIR (resourceType Bundle)"
