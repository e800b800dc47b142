"""The study API: pseudonymised outcome rows for researchers, as JSON pages and as CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from dataclasses import dataclass

import openpyxl
import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from tests import factories
from tests.photos._images import MM_PER_PX, phantom_png
from tests.photos.conftest import media_root, repeatability  # noqa: F401 (fixtures)

from exoderm.consent.models import ConsentKind, ConsentTemplate
from exoderm.core.spreadsheet import XLSX_CONTENT_TYPE
from exoderm.courses.models import CourseTemplate
from exoderm.courses.services import enroll
from exoderm.evidence.pseudonyms import for_clinic
from exoderm.evidence.selectors import COLUMNS
from exoderm.patients.models import Patient
from exoderm.photos import selectors as photo_selectors
from exoderm.photos.models import Analysis, Photo
from exoderm.photos.services import trash_photo, upload_photo
from exoderm.skinlab import ENGINE_VERSION

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("repeatability")]


@dataclass
class Study:
    patient: Patient
    template: CourseTemplate
    baseline: Photo
    follow_up: Photo
    other_scale: Photo
    trashed: Photo
    without_course: Photo
    foreign: Photo


def _consented(clinic, **identity):
    """A patient of ``clinic`` who consented to treatment, to photography and to research use."""
    patient = factories.ConsentedPatientFactory(clinic=clinic, **identity)
    for kind in (ConsentKind.PHOTOGRAPHY, ConsentKind.RESEARCH):
        template = ConsentTemplate.objects.filter(clinic=clinic, kind=kind).first()
        factories.ConsentRecordFactory(
            patient=patient, template=template or factories.ConsentTemplateFactory(clinic=clinic, kind=kind)
        )
    return patient


def _close_up(patient, by, seed, taken_at, *, timepoint="follow_up", mm_per_px=MM_PER_PX, **design):
    photo, _created = upload_photo(
        patient=patient, chunks=[phantom_png(seed, **design)], view="close_up", area="cheek_left",
        timepoint=timepoint, mm_per_px=mm_per_px, taken_at=taken_at, by=by,
    )  # fmt: skip
    return photo


@pytest.fixture
def study(clinic, clinician, other_clinic, django_capture_on_commit_callbacks):
    """A patient 45 years old in a course: a baseline close-up, a follow-up with fewer spots, one at
    another scale (not comparable), one in the trash; a patient without a course; another clinic's."""
    born = timezone.localdate() - dt.timedelta(days=int(45.5 * 365.25))
    patient = _consented(clinic, identity__given_name="Erika", identity__date_of_birth=born)
    template = factories.CourseTemplateFactory(clinic=clinic, name="Exosomes after microneedling")
    start = timezone.now() - dt.timedelta(days=60)
    enroll(patient=patient, template=template, clinician=clinician, starts_at=start, by=clinician)
    loner = _consented(clinic)
    stranger = factories.UserFactory(clinic=other_clinic, role="clinician")
    foreign_patient = _consented(other_clinic)
    foreign_patient.code = "B-SECRET-CODE"
    foreign_patient.save(update_fields=["code"])
    day = dt.timedelta(days=1)
    with django_capture_on_commit_callbacks(execute=True):
        baseline = _close_up(patient, clinician, 1, start - day / 24, timepoint="baseline", spots=30)
        photos = Study(
            patient=patient,
            template=template,
            baseline=baseline,
            follow_up=_close_up(patient, clinician, 1, start + 42 * day, spots=4),
            other_scale=_close_up(patient, clinician, 4, start + 43 * day, mm_per_px=0.06),
            trashed=_close_up(patient, clinician, 2, start + 14 * day, spots=9),
            without_course=_close_up(loner, clinician, 5, start, timepoint="baseline"),
            foreign=_close_up(foreign_patient, stranger, 6, start, timepoint="baseline"),
        )
    call_command("db_worker", batch=True, startup_delay=False, reload=False, verbosity=0, interval=0)
    trash_photo(photo=photos.trashed, reason="failed_capture", by=clinician)
    return photos


def _all_rows(api, **params):
    response = api.get("/study/outcomes", {"limit": 500, **params})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == len(body["items"])
    return body["items"]


def _csv_text(value):
    """A JSON value as the CSV writes it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return json.dumps(value)
    return str(value)


def test_a_researcher_gets_pseudonymised_rows_with_the_comparison_to_the_baseline(api_as, researcher, study):
    rows = _all_rows(api_as(researcher))
    pseudonyms = for_clinic(study.patient.clinic_id)
    by_photo = {}
    for row in rows:
        by_photo.setdefault(row["photo"], []).append(row)
    assert Analysis.with_trashed.filter(photo=study.trashed).exists()  # measured, then trashed
    assert set(by_photo) == {
        pseudonyms.photo(study.baseline.pk),
        pseudonyms.photo(study.follow_up.pk),
        pseudonyms.photo(study.other_scale.pk),
        pseudonyms.photo(study.without_course.pk),
    }

    spots = {row["photo"]: row for row in rows if row["metric"] == "spot_count" and row["region"] == "full"}
    baseline = spots[pseudonyms.photo(study.baseline.pk)]
    assert baseline["pseudonym"] == pseudonyms.patient(study.patient.pk) and baseline["age_band"] == "40-49"
    assert baseline["course_template"] == "Exosomes after microneedling"
    assert baseline["course_template_id"] == study.template.pk
    assert baseline["days_from_baseline"] == 0 and baseline["days_from_course_start"] == pytest.approx(
        -1 / 24, abs=0.01
    )
    assert baseline["baseline_photo"] == baseline["photo"] and baseline["comparable"] is None
    assert baseline["engine_version"] == ENGINE_VERSION and baseline["unit"] == "count"

    expected = photo_selectors.compare_photos(before=study.baseline, after=study.follow_up)
    change = next(c for c in expected.regions["full"] if c.key == "spot_count")
    follow_up = spots[pseudonyms.photo(study.follow_up.pk)]
    assert follow_up["baseline_photo"] == baseline["photo"]
    assert follow_up["days_from_baseline"] == pytest.approx(42 + 1 / 24, abs=0.01)
    assert follow_up["timepoint"] == "follow_up" and follow_up["usable"] is True
    assert (follow_up["baseline_value"], follow_up["value"]) == (change.before, change.after)
    assert (follow_up["delta"], follow_up["mdc"]) == (change.delta, 3.0)
    assert follow_up["beyond_noise"] is True and follow_up["comparable"] is True
    assert follow_up["not_comparable_reasons"] == ""

    other_scale = spots[pseudonyms.photo(study.other_scale.pk)]
    assert other_scale["comparable"] is False and other_scale["not_comparable_reasons"] == "scale"
    assert other_scale["beyond_noise"] is None and other_scale["value"] is not None

    loner = spots[pseudonyms.photo(study.without_course.pk)]
    assert loner["course_template"] is None and loner["days_from_course_start"] is None


def test_no_identity_no_date_and_no_other_clinic_in_json_or_csv(api_as, researcher, study):
    api = api_as(researcher)
    identity = study.patient.identity
    secrets = [
        identity.given_name, identity.family_name, identity.email, identity.phone,
        identity.date_of_birth.isoformat(), identity.date_of_birth.strftime("%d.%m.%Y"),
        study.baseline.taken_at.date().isoformat(), study.follow_up.taken_at.date().isoformat(),
        "B-SECRET", study.baseline.sha256, study.baseline.file_name, study.patient.code,
    ]  # fmt: skip
    for response in (api.get("/study/outcomes", {"limit": 500}), api.get("/study/outcomes.csv")):
        text = response.content.decode()
        pseudonym = for_clinic(study.patient.clinic_id).patient(study.patient.pk)
        assert response.status_code == 200 and pseudonym in text
        assert [secret for secret in secrets if secret in text] == []
        assert re.search(r"\d{4}-\d{2}-\d{2}|\d{1,2}\.\d{1,2}\.\d{4}", text) is None  # no date at all
    foreign = for_clinic(study.foreign.patient.clinic_id)
    assert foreign.photo(study.foreign.pk) not in {row["photo"] for row in _all_rows(api)}


def test_the_csv_has_a_header_and_the_json_rows_which_are_paged_like_every_list(api_as, researcher, study):
    api = api_as(researcher)
    response = api.get("/study/outcomes.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="study-outcomes.csv"'
    reader = csv.reader(io.StringIO(response.content.decode("utf-8"), newline=""))
    header, *lines = list(reader)
    rows = _all_rows(api)
    assert header == list(rows[0])
    assert lines == [[_csv_text(row[column]) for column in header] for row in rows]
    assert "mm²" in response.content.decode("utf-8")

    assert rows[14]["photo"] != rows[18]["photo"]  # a page across two photos
    page = api.get("/study/outcomes", {"limit": 5, "offset": 14}).json()
    assert page["count"] == len(rows) and page["items"] == rows[14:19]
    assert api.get("/study/outcomes").json()["items"] == rows[:50]


def test_filters_by_course_template_view_region_and_metric(api_as, researcher, study):
    api = api_as(researcher)
    pseudonyms = for_clinic(study.patient.clinic_id)
    everything = _all_rows(api)
    in_course = _all_rows(api, course_template=study.template.pk)
    assert in_course == [row for row in everything if row["course_template_id"] == study.template.pk]
    assert {row["photo"] for row in in_course} == {
        pseudonyms.photo(study.baseline.pk),
        pseudonyms.photo(study.follow_up.pk),
        pseudonyms.photo(study.other_scale.pk),
    }
    other_template = factories.CourseTemplateFactory(clinic=study.template.clinic)
    assert _all_rows(api, course_template=other_template.pk) == []
    spots = _all_rows(api, metric="spot_count")
    assert spots == [row for row in everything if row["metric"] == "spot_count"] and len(spots) == 4
    assert _all_rows(api, view="close_up", region="full") == everything
    assert _all_rows(api, view="front") == [] and _all_rows(api, region="face") == []
    assert api.get("/study/outcomes", {"view": "sideways"}).status_code == 422
    csv_spots = api.get("/study/outcomes.csv", {"metric": "spot_count"}).content.decode()
    assert len(csv_spots.splitlines()) == 1 + len(spots)


def test_clinical_staff_get_403(api_as, assistant, clinician, clinic_admin):
    """Staff know patients by name and code: with the study rows too they could link pseudonyms back."""
    for user in (assistant, clinician, clinic_admin):
        api = api_as(user)
        for path in ("/study/outcomes", "/study/outcomes.csv", "/study/outcomes.xlsx"):
            response = api.get(path)
            assert response.status_code == 403 and response["Content-Type"] == "application/problem+json"


def test_the_schema_documents_both_formats():
    from exoderm.api.main import api

    paths = api.get_openapi_schema()["paths"]
    csv_response = paths["/api/v1/study/outcomes.csv"]["get"]["responses"][200]
    assert "text/csv" in csv_response["content"] and ", ".join(COLUMNS) in csv_response["description"]
    listed = paths["/api/v1/study/outcomes"]["get"]
    assert {p["name"] for p in listed["parameters"]} >= {
        "course_template",
        "view",
        "region",
        "metric",
        "limit",
    }


def test_the_researchers_home_page_points_to_the_study_data(client, researcher):
    client.force_login(researcher)
    html = client.get(reverse("today")).content.decode()
    assert "/api/v1/study/outcomes.csv" in html and 'href="/api/v1/docs"' in html
    assert f'action="{reverse("study-outcomes-csv")}"' in html
    assert "no names, contact details or dates" in html


def test_the_browser_download_is_the_apis_csv(client, api_as, researcher, assistant, study):
    api = api_as(researcher)
    client.force_login(researcher)
    url = reverse("study-outcomes-csv")
    assert client.get(url).content == api.get("/study/outcomes.csv").content
    in_course = client.get(url, {"course_template": study.template.pk, "view": "close_up"})
    assert in_course["Content-Disposition"] == 'attachment; filename="study-outcomes.csv"'
    assert in_course.content == api.get("/study/outcomes.csv", {"course_template": study.template.pk}).content
    foreign = factories.CourseTemplateFactory(clinic=study.foreign.clinic)
    refused = client.get(url, {"course_template": foreign.pk})  # another clinic's course: not a choice
    assert refused.status_code == 400 and "Download CSV" in refused.content.decode()
    client.force_login(assistant)
    assert client.get(url).status_code == 403


def test_the_xlsx_holds_the_csvs_rows_with_typed_cells(client, api_as, researcher, study):
    api = api_as(researcher)
    response = api.get("/study/outcomes.xlsx")
    assert response.status_code == 200 and response["Content-Type"] == XLSX_CONTENT_TYPE
    assert response["Content-Disposition"] == 'attachment; filename="study-outcomes.xlsx"'
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    header, *lines = ([c.value for c in row] for row in sheet.iter_rows())
    rows = _all_rows(api)
    assert header == COLUMNS and len(lines) == len(rows)
    first = dict(zip(header, lines[0], strict=True))
    assert first == {column: rows[0][column] for column in COLUMNS}
    assert isinstance(first["fitzpatrick"], int) and isinstance(first["usable"], bool)
    assert sheet.freeze_panes == "A2"
    client.force_login(researcher)
    assert client.get(reverse("study-outcomes-xlsx"))["Content-Type"] == XLSX_CONTENT_TYPE
    assert f'formaction="{reverse("study-outcomes-xlsx")}"' in client.get(reverse("today")).content.decode()
