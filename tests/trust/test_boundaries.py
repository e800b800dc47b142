"""Hardened boundaries (issue 14, item 8): what a client or a browser sends is refused with a 422
(a 404 or 413 where that is the answer) naming the field, never a server error, never stored.

Each server error the issue lists has its regression test here, through the real API or pages.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.test.client import MULTIPART_CONTENT
from django.urls import reverse
from django.utils import timezone

from exoderm.api.main import api as ninja_api
from exoderm.consent.models import ConsentTemplate
from exoderm.core.ids import MAX_ID
from exoderm.core.text import DOCUMENT, NOTE, SHORT_TEXT
from exoderm.courses.models import CourseTemplate
from exoderm.patients.models import PatientIdentity, ScreeningAnswer
from exoderm.products.models import Lot, LotStatus, Product, TemperatureReading
from tests import factories
from tests.signin import login_with_mfa
from tests.test_deploy import _production_env

PROBLEM = "application/problem+json"
LONE_SURROGATE = "\ud800"
MEGABYTE = "x" * 1024**2


def refused(response, field: str) -> list[str]:
    """The messages of a 422 problem for ``field``; fails unless the response is one."""
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == PROBLEM
    messages = [error["message"] for error in response.json()["errors"] if error["field"] == field]
    assert messages, response.json()
    return messages


def new_patient(**changes):
    body = {
        "fitzpatrick": 3,
        "glogau": 2,
        "given_name": "Erika",
        "family_name": "Mustermann",
        "date_of_birth": "1980-05-17",
    }
    return {**body, **changes}


def new_product(**changes):
    body = {
        "name": "ExoSkin",
        "source": "umbilical_cord_msc",
        "storage_form": "frozen",
        "storage_min_c": -25,
        "storage_max_c": -15,
        "use_by_minutes": 60,
        "max_freeze_thaw_cycles": 1,
        "volume_min_ml": 1,
        "volume_max_ml": 3,
    }
    return {**body, **changes}


def new_lot(product, **changes):
    expires = (timezone.localdate() + dt.timedelta(days=180)).isoformat()
    return {"product": product.pk, "number": "A-1", "expires_on": expires, "vials_received": 2, **changes}


def new_consent_template(**changes):
    body = {
        "kind": "treatment",
        "title_de": "Einwilligung",
        "title_en": "Consent",
        "text_de": "…",
        "text_en": "…",
    }
    return {**body, **changes}


# --- texts: lone surrogates, NUL, length ----------------------------------------------------------


def test_lone_surrogate_in_the_token_username_is_a_422(client):
    response = client.post(
        "/api/v1/auth/token", {"username": LONE_SURROGATE, "password": "x"}, content_type="application/json"
    )
    assert "surrogate" in refused(response, "username")[0]


@pytest.mark.parametrize("field", ["given_name", "family_name", "address"])
def test_lone_surrogate_in_a_patient_name_or_address_is_a_422(api_as, assistant, field):
    response = api_as(assistant).post("/patients", new_patient(**{field: f"Ma{LONE_SURROGATE}x"}))
    refused(response, field)
    assert not PatientIdentity.objects.exists()


def test_lone_surrogate_in_a_product_name_is_a_422(api_as, clinic_admin):
    refused(api_as(clinic_admin).post("/products", new_product(name=LONE_SURROGATE)), "name")
    assert not Product.objects.exists()


def test_lone_surrogate_in_a_lot_number_is_a_422(api_as, clinic, assistant):
    product = factories.ProductFactory(clinic=clinic)
    refused(api_as(assistant).post("/lots", new_lot(product, number=LONE_SURROGATE)), "number")
    assert not Lot.objects.exists()


def test_lone_surrogate_in_a_course_template_name_is_a_422(api_as, clinic_admin):
    body = {"name": LONE_SURROGATE, "session_count": 3, "interval_weeks": 4}
    refused(api_as(clinic_admin).post("/course-templates", body), "name")
    assert not CourseTemplate.objects.exists()


def test_lone_surrogate_in_a_consent_template_is_a_422(api_as, clinic_admin):
    response = api_as(clinic_admin).post("/consent-templates", new_consent_template(text_en=LONE_SURROGATE))
    refused(response, "text_en")
    assert not ConsentTemplate.objects.exists()


def test_lone_surrogate_in_a_query_parameter_is_a_422(api_as, assistant):
    # A query string is percent-decoded with replacement characters, so a surrogate cannot arrive
    # there; NUL can.
    refused(api_as(assistant).get("/patients", {"q": "Mu\x00"}), "query.q")


@pytest.mark.parametrize("field", ["given_name", "family_name"])
def test_nul_in_a_patient_name_is_a_422(api_as, assistant, field):
    messages = refused(api_as(assistant).post("/patients", new_patient(**{field: "Eri\x00ka"})), field)
    assert "NUL" in messages[0]
    assert not PatientIdentity.objects.exists()


def test_a_product_name_of_50_000_characters_is_a_422(api_as, clinic_admin):
    response = api_as(clinic_admin).post("/products", new_product(name="x" * 50_001))
    assert refused(response, "name") == [f"Give at most {SHORT_TEXT} characters."]


def test_a_lot_number_of_50_000_characters_is_a_422(api_as, clinic, assistant):
    product = factories.ProductFactory(clinic=clinic)
    refused(api_as(assistant).post("/lots", new_lot(product, number="7" * 50_001)), "number")


def test_a_course_template_name_of_50_000_characters_is_a_422(api_as, clinic_admin):
    body = {"name": "x" * 50_001, "session_count": 3, "interval_weeks": 4}
    refused(api_as(clinic_admin).post("/course-templates", body), "name")


def test_services_check_the_length_before_looking_for_a_duplicate(clinic, clinic_admin, assistant):
    """Pages and commands call the services directly: a name longer than its column is refused by
    the column's length, before the case-insensitive duplicate check builds a LIKE pattern of it."""
    from exoderm.courses.services import create_course_template
    from exoderm.products.services import create_product, receive_lot

    with pytest.raises(ValidationError) as product_error:
        create_product(clinic=clinic, by=clinic_admin, **{**new_product(name="x" * 50_001)})
    assert "name" in product_error.value.message_dict
    with pytest.raises(ValidationError) as template_error:
        create_course_template(
            clinic=clinic,
            name="x" * 50_001,
            session_count=3,
            interval_weeks=4,
            followup_weeks=[],
            window_days=3,
            by=clinic_admin,
        )
    assert "name" in template_error.value.message_dict
    product = factories.ProductFactory(clinic=clinic)
    with pytest.raises(ValidationError) as lot_error:
        receive_lot(
            product=product,
            number="7" * 50_001,
            expires_on=timezone.localdate() + dt.timedelta(days=180),
            vials_received=2,
            by=assistant,
        )
    assert "number" in lot_error.value.message_dict


def test_a_one_megabyte_address_is_a_422(api_as, assistant):
    response = api_as(assistant).post("/patients", new_patient(address=MEGABYTE))
    assert refused(response, "address") == [f"Give at most {NOTE} characters."]
    assert not PatientIdentity.objects.exists()


def test_a_one_megabyte_quarantine_reason_is_a_422(api_as, clinic, assistant):
    lot = factories.LotFactory(product__clinic=clinic, status=LotStatus.RELEASED)
    refused(api_as(assistant).post(f"/lots/{lot.pk}/quarantine", {"reason": MEGABYTE}), "reason")
    lot.refresh_from_db()
    assert lot.status == LotStatus.RELEASED


def test_a_consent_text_beyond_the_document_limit_is_a_422(api_as, clinic_admin):
    response = api_as(clinic_admin).post(
        "/consent-templates", new_consent_template(text_de="x" * (DOCUMENT + 1))
    )
    refused(response, "text_de")
    assert not ConsentTemplate.objects.exists()


# --- PATCH with null ----------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["phone", "email", "address", "given_name", "fitzpatrick"])
def test_patching_a_patient_field_to_null_is_a_422(api_as, clinic, assistant, field):
    patient = factories.PatientFactory(clinic=clinic)
    before = PatientIdentity.objects.get(patient=patient)
    response = api_as(assistant).patch(f"/patients/{patient.pk}", {field: None})
    refused(response, field)
    after = PatientIdentity.objects.get(patient=patient)
    assert (after.phone, after.email, after.address) == (before.phone, before.email, before.address)


def test_patching_a_product_name_to_null_is_a_422(api_as, clinic, clinic_admin):
    product = factories.ProductFactory(clinic=clinic)
    refused(api_as(clinic_admin).patch(f"/products/{product.pk}", {"name": None}), "name")


def test_patch_schemas_do_not_offer_null():
    schemas = ninja_api.get_openapi_schema()["components"]["schemas"]
    for name in ("PatientPatch", "ProductPatch"):
        for field, schema in schemas[name]["properties"].items():
            types = [option.get("type") for option in schema.get("anyOf", [schema])]
            assert "null" not in types, (name, field, schema)


# --- dates --------------------------------------------------------------------------------------


def test_a_session_dated_0001_01_02_is_a_422(api_as, clinic):
    scene = factories.SessionScene(clinic)
    year_one = dt.datetime(1, 1, 2, 10, 0, tzinfo=dt.UTC)
    payload = scene.payload(
        performed_at=year_one.isoformat(),
        procedures=[
            scene.procedure(started_at=year_one, ended_at=year_one + dt.timedelta(minutes=20)),
        ],
        applications=[],
    )
    response = api_as(scene.clinician).post("/sessions", payload)
    assert "check the year" in refused(response, "performed_at")[0]


def test_a_screening_dated_0001_01_01_is_a_422(api_as, clinic, clinician):
    patient = factories.PatientFactory(clinic=clinic)
    body = {"answered_on": "0001-01-01", "answers": [{"item": "pregnancy", "present": False}]}
    refused(api_as(clinician).post(f"/patients/{patient.pk}/screening", body), "answered_on")
    assert not ScreeningAnswer.objects.exists()


def test_an_isotretinoin_dose_in_year_one_is_a_422(api_as, clinic, clinician):
    patient = factories.PatientFactory(clinic=clinic)
    answer = {"item": "isotretinoin", "present": True, "last_dose_on": "0001-01-01"}
    body = {"answered_on": timezone.localdate().isoformat(), "answers": [answer]}
    refused(api_as(clinician).post(f"/patients/{patient.pk}/screening", body), "answers.0.last_dose_on")


def test_a_temperature_reading_in_year_one_is_refused_and_does_not_quarantine(api_as, clinic, assistant):
    lot = factories.LotFactory(product__clinic=clinic, status=LotStatus.RELEASED)
    reading = {"recorded_at": "0001-01-01T00:00:00+00:00", "celsius": -20}
    response = api_as(assistant).post(f"/lots/{lot.pk}/temperatures", {"readings": [reading]})
    assert "check the year" in refused(response, "readings")[0]
    lot.refresh_from_db()
    assert lot.status == LotStatus.RELEASED
    assert not TemperatureReading.objects.exists()


def test_a_logger_csv_from_1970_is_refused(api_as, clinic, assistant):
    lot = factories.LotFactory(product__clinic=clinic, status=LotStatus.RELEASED)
    csv = "recorded_at,celsius\n1970-01-01T00:00:00+00:00,-20\n"
    response = api_as(assistant).post(f"/lots/{lot.pk}/temperatures", csv, content_type="text/csv")
    refused(response, "readings")
    lot.refresh_from_db()
    assert lot.status == LotStatus.RELEASED


def test_a_vial_thawed_in_year_one_is_a_422(api_as, clinic, assistant):
    vial = factories.VialFactory(lot__product__clinic=clinic)
    response = api_as(assistant).post(
        f"/lots/{vial.lot_id}/vials/{vial.pk}/thaw", {"at": "0001-01-01T00:00:00+00:00"}
    )
    refused(response, "at")
    vial.refresh_from_db()
    assert vial.thawed_at is None


def test_a_consent_signed_in_year_one_is_a_422(api_as, clinic, clinician):
    factories.ConsentTemplateFactory(clinic=clinic)
    patient = factories.PatientFactory(clinic=clinic)
    body = {"kind": "treatment", "signed_by_name": "Erika", "signed_at": "0001-01-01T00:00:00+00:00"}
    refused(api_as(clinician).post(f"/patients/{patient.pk}/consents", body), "signed_at")


# --- ids ----------------------------------------------------------------------------------------


def test_thawing_a_vial_of_lot_2_to_the_63_is_a_422(api_as, assistant):
    response = api_as(assistant).post(f"/lots/{MAX_ID + 1}/vials/1/thaw", {})
    refused(response, "path.lot_id")


@pytest.mark.parametrize(
    "path",
    [
        f"/lots/{MAX_ID + 1}",
        f"/products/{MAX_ID + 1}",
        f"/patients/{MAX_ID + 1}",
        f"/photos/{MAX_ID + 1}",
        f"/visits/{MAX_ID + 1}",
        f"/sessions/{MAX_ID + 1}",
    ],
)
def test_an_id_beyond_the_database_range_is_a_422_on_every_route(api_as, clinician, path):
    assert api_as(clinician).get(path).status_code == 422


def test_an_id_beyond_the_database_range_in_a_body_is_a_422(api_as, clinic, assistant):
    body = {**new_lot(factories.ProductFactory(clinic=clinic)), "product": MAX_ID + 1}
    refused(api_as(assistant).post("/lots", body), "product")


def test_the_largest_id_is_looked_up_and_not_found(api_as, clinician):
    assert api_as(clinician).get(f"/lots/{MAX_ID}").status_code == 404


@pytest.mark.parametrize("name", ["patient", "lot", "product-edit"])
def test_a_page_for_an_id_beyond_the_database_range_is_a_404(client, clinic_admin, name):
    login_with_mfa(client, clinic_admin)
    assert client.get(reverse(name, args=[1]).replace("/1/", f"/{MAX_ID + 1}/")).status_code == 404


def test_a_photo_file_for_an_id_beyond_the_database_range_is_a_404(client, clinician):
    client.force_login(clinician)
    assert client.get(f"/photos/{MAX_ID + 1}/file").status_code == 404


# --- bodies -------------------------------------------------------------------------------------


def test_an_11_megabyte_body_is_a_413_problem(api_as, assistant):
    body = json.dumps(new_patient(address="x" * (11 * 1024**2)))
    response = api_as(assistant).post("/patients", body, content_type="application/json")
    assert response.status_code == 413
    assert response["Content-Type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == 413 and problem["instance"] == "/api/v1/patients"
    assert not PatientIdentity.objects.exists()


def test_an_oversized_form_is_a_413_page(client, assistant):
    client.force_login(assistant)
    body = "given_name=" + "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    response = client.post(reverse("patient-new"), body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")
    assert b"The request is too large." in response.content


def test_an_oversized_field_of_an_api_upload_is_a_413_problem(api_as, clinic, clinician):
    """Uploaded files do not count towards the limit, the other fields of the form do."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    patient = factories.PatientFactory(clinic=clinic)
    form = {
        "file": SimpleUploadedFile("face.jpg", b"not a photo", content_type="image/jpeg"),
        "patient": str(patient.pk),
        "view": "front",
        "timepoint": "baseline",
        "area": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1),
    }
    response = api_as(clinician).post("/photos", form, content_type=MULTIPART_CONTENT)
    assert response.status_code == 413
    assert response["Content-Type"] == PROBLEM


def test_an_oversized_multipart_form_is_a_413_page(client, assistant):
    client.force_login(assistant)
    data = {**new_patient(address="x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)), "language": "de"}
    response = client.post(reverse("patient-new"), data, content_type=MULTIPART_CONTENT)
    assert response.status_code == 413
    assert b"The request is too large." in response.content
    assert not PatientIdentity.objects.exists()


# --- headers ------------------------------------------------------------------------------------


def _cache_control(response) -> set[str]:
    return {part.strip() for part in response.get("Cache-Control", "").split(",")}


def test_api_responses_are_not_stored(api_as, client, clinician):
    assert "no-store" in _cache_control(api_as(clinician).get("/patients"))
    token = client.post(
        "/api/v1/auth/token",
        {"username": clinician.username, "password": factories.PASSWORD},
        content_type="application/json",
    )
    assert token.status_code == 200 and "no-store" in _cache_control(token)


def test_pages_for_a_logged_in_user_are_not_stored(client, clinician):
    client.force_login(clinician)
    for name in ("today", "patients", "lots"):
        assert "no-store" in _cache_control(client.get(reverse(name))), name


def test_static_files_keep_their_caching(live_server):
    import urllib.request

    with urllib.request.urlopen(f"{live_server.url}/static/photos/capture.js") as response:
        assert "no-store" not in response.headers.get("Cache-Control", "")


def test_every_response_has_a_permissions_policy(client, clinician):
    anonymous = client.get(reverse("login"))
    client.force_login(clinician)
    for response in (anonymous, client.get(reverse("today")), client.get("/api/v1/patients")):
        policy = dict(item.split("=", 1) for item in response["Permissions-Policy"].split(", "))
        assert policy["camera"] == "(self)"
        assert policy["microphone"] == policy["geolocation"] == policy["payment"] == "()"


def test_hsts_is_sent_over_tls_when_tls_is_configured(client, settings):
    settings.SECURE_HSTS_SECONDS = 31_536_000
    response = client.get(reverse("login"), secure=True)
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


def test_tls_settings_turn_hsts_on_without_their_own_variable(tmp_path):
    """A deployment that says it runs behind TLS gets HSTS for a year unless it sets its own."""
    env = _production_env(tmp_path)
    env.pop("SECURE_HSTS_SECONDS")  # SECURE_HSTS_PRELOAD stays a deliberate choice of its own
    code = "from django.conf import settings; print(settings.SECURE_HSTS_SECONDS)"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import django, os; os.environ['DJANGO_SETTINGS_MODULE']='exoderm.settings'; {code}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "31536000", result.stderr
    checked = subprocess.run(
        [sys.executable, "-m", "exoderm.cli", "manage", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


# --- the OpenAPI document -----------------------------------------------------------------------


def _walk(node, path=()):
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, (*path, index))


def _resolve(document, ref: str):
    assert ref.startswith("#/"), ref
    node = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_every_reference_of_the_openapi_document_resolves(client, clinician):
    client.force_login(clinician)
    document = client.get("/api/v1/openapi.json").json()
    refs = [
        (path, node["$ref"]) for path, node in _walk(document) if isinstance(node, dict) and "$ref" in node
    ]
    assert refs
    for path, ref in refs:
        try:
            _resolve(document, ref)
        except (KeyError, IndexError, AssertionError):
            pytest.fail(f"{'/'.join(map(str, path))}: {ref} does not resolve")


def _inputs(document):
    """(where, schema) of every parameter and request body of the API, references resolved."""

    def expand(schema, where):
        if "$ref" in schema:
            schema = _resolve(document, schema["$ref"])
        yield where, schema
        for key in ("anyOf", "oneOf", "allOf"):
            for index, option in enumerate(schema.get(key, [])):
                yield from expand(option, f"{where}/{key}{index}")
        for name, prop in schema.get("properties", {}).items():
            yield from expand(prop, f"{where}.{name}")
        if isinstance(schema.get("items"), dict):
            yield from expand(schema["items"], f"{where}[]")
        if isinstance(schema.get("additionalProperties"), dict):
            yield from expand(schema["additionalProperties"], f"{where}{{}}")

    for route, methods in document["paths"].items():
        for method, operation in methods.items():
            for parameter in operation.get("parameters", []):
                yield from expand(
                    parameter["schema"], f"{method} {route} {parameter['in']} {parameter['name']}"
                )
            for content_type, body in operation.get("requestBody", {}).get("content", {}).items():
                yield from expand(body["schema"], f"{method} {route} {content_type}")


ID_NAMES = {"patient", "clinician", "lot", "vial", "product", "visit", "session", "before", "after"}


def test_every_text_input_has_a_maximum_length_and_every_id_the_database_range():
    document = ninja_api.get_openapi_schema()
    unlimited, unbounded = [], []
    decimals: set[str] = set()
    for where, schema in _inputs(document):
        plain_text = schema.get("type") == "string" and "enum" not in schema and "format" not in schema
        # pydantic documents a decimal as a number or its digits in a string: no text to store
        decimal_digits = where.endswith("/anyOf1") and where.removesuffix("/anyOf1") in decimals
        if schema.get("anyOf") == [{"type": "number"}, {"type": "string"}]:
            decimals.add(where)
        if plain_text and "maxLength" not in schema and "text/csv" not in where and not decimal_digits:
            unlimited.append(where)
        name = where.rsplit(" ", 1)[-1].rsplit(".", 1)[-1].split("/")[0]
        is_id = name in ID_NAMES or name.endswith("_id") or name == "confirm_patient"
        bounds = (schema.get("minimum"), schema.get("maximum"))
        if is_id and schema.get("type") == "integer" and bounds != (1, MAX_ID):
            unbounded.append(where)
    assert not unlimited, unlimited
    assert not unbounded, unbounded


# --- pages --------------------------------------------------------------------------------------


def _all_forms():
    from exoderm.photos import forms as photo_forms
    from exoderm.web import charting, study_forms
    from exoderm.web import forms as web_forms

    for module in (web_forms, charting, photo_forms, study_forms):
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, forms.BaseForm)
                and value.__module__ == module.__name__
            ):
                yield value


def test_every_text_field_of_every_form_has_a_maximum_length():
    unlimited = []
    for form_class in _all_forms():
        for name, field in form_class.base_fields.items():
            if isinstance(field, forms.CharField) and field.max_length is None:
                unlimited.append(f"{form_class.__name__}.{name}")
    assert not unlimited, unlimited


def test_a_one_megabyte_address_on_the_patient_page_is_refused(client, assistant):
    client.force_login(assistant)
    data = {**new_patient(address=MEGABYTE), "language": "de"}
    response = client.post(reverse("patient-new"), data)
    assert response.status_code == 200  # the form again, with the error at the field
    assert response.context["form"].errors["address"]
    assert not PatientIdentity.objects.exists()


def test_nul_in_a_name_on_the_patient_page_is_refused(client, assistant):
    client.force_login(assistant)
    data = {**new_patient(given_name="Eri\x00ka"), "language": "de"}
    response = client.post(reverse("patient-new"), data)
    assert response.context["form"].errors["given_name"]
    assert not PatientIdentity.objects.exists()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_browser_applies_the_permissions_policy(browser_page, live_server):
    """The photo capture page may use the camera; no page the microphone, location or payment."""
    page = browser_page
    clinician = factories.UserFactory(clinic=factories.ClinicFactory())
    patient = factories.PatientFactory(clinic=clinician.clinic)
    page.goto(live_server.url + reverse("login"))
    page.fill("#id_username", clinician.username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/")
    page.goto(live_server.url + reverse("photos:patient", args=[patient.pk]))
    allowed = page.evaluate(
        "['camera', 'microphone', 'geolocation', 'payment'].map(f => document.featurePolicy.allowsFeature(f))"
    )
    assert allowed == [True, False, False, False]
    page.check_clean()
