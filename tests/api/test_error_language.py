"""Invalid requests are explained in the request's language, with the field they concern."""

from __future__ import annotations

import pytest
from django.utils import translation
from pydantic import BaseModel, Field, ValidationError
from tests import factories

from exoderm.api.validation import field_error

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


@pytest.fixture
def scene(clinic):
    return factories.SessionScene(clinic)


def session_with(scene, **changes):
    return ("post", "/sessions", scene.payload(**changes))


def application_with(scene, **changes):
    return session_with(scene, applications=[scene.application(**changes)])


def patient_with(**changes):
    body = {"fitzpatrick": 2, "glogau": 3, "given_name": "Erika", "family_name": "Muster"}
    return ("post", "/patients", {**body, "date_of_birth": "1980-05-17", **changes})


# (request, field, English, German); the request is built from the scene.
CASES = {
    "missing": (
        lambda scene: ("post", "/sessions", {"performed_at": scene.at.isoformat()}),
        "patient",
        "patient: A value is required.",
        "patient: Ein Wert ist erforderlich.",
    ),
    "integer": (
        lambda scene: ("get", "/sessions", {"patient": "abc"}),
        "query.patient",
        "query parameter patient: Give a whole number.",
        "Query-Parameter patient: Geben Sie eine ganze Zahl an.",
    ),
    "decimal": (
        lambda scene: application_with(scene, volume_ml="a lot"),
        "applications.0.volume_ml",
        "applications.0.volume_ml: Give a number.",
        "applications.0.volume_ml: Geben Sie eine Zahl an.",
    ),
    "boolean": (
        lambda scene: patient_with(allow_duplicate="maybe"),
        "allow_duplicate",
        "allow_duplicate: Give true or false.",
        "allow_duplicate: Geben Sie true oder false an.",
    ),
    "date": (
        lambda scene: patient_with(date_of_birth="17.05.1980"),
        "date_of_birth",
        "date_of_birth: Give a date, for example 2026-12-31.",
        "date_of_birth: Geben Sie ein Datum an, zum Beispiel 2026-12-31.",
    ),
    "datetime": (
        lambda scene: session_with(scene, performed_at="yesterday"),
        "performed_at",
        "performed_at: Give a date and time, for example 2026-12-01T10:00:00+01:00.",
        "performed_at: Geben Sie Datum und Uhrzeit an, zum Beispiel 2026-12-01T10:00:00+01:00.",
    ),
    "without offset": (
        lambda scene: ("get", "/sessions", {"performed_from": "2026-11-01T00:00:00"}),
        "query.performed_from",
        "query parameter performed_from: Give the time with its UTC offset, for example "
        "2026-12-01T10:00:00+01:00.",
        "Query-Parameter performed_from: Geben Sie die Zeit mit UTC-Versatz an, zum Beispiel "
        "2026-12-01T10:00:00+01:00.",
    ),
    "text": (
        lambda scene: patient_with(given_name=5),
        "given_name",
        "given_name: Give a text.",
        "given_name: Geben Sie einen Text an.",
    ),
    "list": (
        lambda scene: application_with(scene, areas="face"),
        "applications.0.areas",
        "applications.0.areas: Give a list.",
        "applications.0.areas: Geben Sie eine Liste an.",
    ),
    "at least": (
        lambda scene: ("get", "/sessions", {"limit": 0}),
        "query.limit",
        "query parameter limit: Give a value of at least 1.",
        "Query-Parameter limit: Geben Sie einen Wert von mindestens 1 an.",
    ),
    "at most": (
        lambda scene: session_with(scene, patient=2**63),
        "patient",
        "patient: Give a value of at most 9223372036854775807.",
        "patient: Geben Sie einen Wert von höchstens 9223372036854775807 an.",
    ),
    "choice": (
        lambda scene: ("get", "/visits", {"due": "tomorrow"}),
        "query.due",
        "query parameter due: Choose one of: today, overdue.",
        "Query-Parameter due: Wählen Sie eines von: today, overdue.",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_common_validation_error_is_worded_in_the_requests_language(api_as, scene, case):
    build, field, english, german = CASES[case]
    method, path, data = build(scene)
    client = api_as(scene.clinician)
    for language, detail in (("en", english), ("de", german)):
        response = getattr(client, method)(path, data, headers={"Accept-Language": language})
        assert (response.status_code, response["Content-Type"]) == (422, PROBLEM), response.json()
        body = response.json()
        assert body["detail"] == detail
        assert body["errors"] == [{"field": field, "message": detail.split(": ", 1)[1]}]
        assert (
            body["title"] == {"en": "The request is not valid.", "de": "Die Anfrage ist ungültig."}[language]
        )


def test_all_errors_of_a_request_are_listed_at_once(api_as, scene):
    response = api_as(scene.clinician).get(
        "/sessions", {"patient": "abc", "offset": -1}, headers={"Accept-Language": "de"}
    )
    assert response.json()["detail"] == (
        "Query-Parameter patient: Geben Sie eine ganze Zahl an.; "
        "Query-Parameter offset: Geben Sie einen Wert von mindestens 0 an."
    )


def test_a_body_that_is_not_json_is_explained_in_the_requests_language(api_as, scene):
    client = api_as(scene.clinician)
    for language, title, detail in (
        (
            "en",
            "The request body is not valid JSON.",
            "The JSON breaks off or goes wrong at line 2, column 3.",
        ),
        (
            "de",
            "Der Inhalt der Anfrage ist kein gültiges JSON.",
            "Das JSON bricht in Zeile 2, Spalte 3 ab oder ist dort fehlerhaft.",
        ),
    ):
        response = client.post(
            "/sessions",
            '{"patient": 1,\n  patient}',
            content_type="application/json",
            headers={"Accept-Language": language},
        )
        assert (response.status_code, response["Content-Type"]) == (400, PROBLEM)
        assert (response.json()["title"], response.json()["detail"]) == (title, detail)


class Limits(BaseModel):
    """Constraints no endpoint uses yet, validated like django-ninja does (its errors gain the
    request part in front of the location)."""

    code: str = Field(min_length=2, max_length=3)
    areas: list[str] = Field(min_length=1, max_length=2)
    depth: float = Field(gt=0, lt=2.5)


def worded(**data):
    with pytest.raises(ValidationError) as caught:
        Limits(**data)
    return [
        (error.field, error.message)
        for error in (
            field_error({**e, "loc": ("body", "payload", *e["loc"])}) for e in caught.value.errors()
        )
    ]


def test_lengths_and_open_limits_are_worded_with_plurals_and_the_users_numbers():
    with translation.override("de"):
        assert worded(code="x", areas=[], depth=0) == [
            ("code", "Geben Sie mindestens 2 Zeichen an."),
            ("areas", "Geben Sie mindestens 1 Eintrag an."),
            ("depth", "Geben Sie einen Wert über 0 an."),
        ]
        assert worded(code="wxyz", areas=["a", "b", "c"], depth=2.5) == [
            ("code", "Geben Sie höchstens 3 Zeichen an."),
            ("areas", "Geben Sie höchstens 2 Einträge an."),
            ("depth", "Geben Sie einen Wert unter 2,5 an."),
        ]
    with translation.override("en"):
        assert worded(code="x", areas=["a", "b", "c"], depth=3) == [
            ("code", "Give at least 2 characters."),
            ("areas", "Give at most 2 items."),
            ("depth", "Give a value below 2.5."),
        ]


def test_a_rare_error_keeps_pydantics_text():
    with translation.override("de"):
        error = field_error(
            {"type": "uuid_parsing", "loc": ("query", "id"), "msg": "Input should be a valid UUID"}
        )
    assert (error.field, error.place, error.message) == (
        "query.id",
        "Query-Parameter id",
        "Input should be a valid UUID",
    )
