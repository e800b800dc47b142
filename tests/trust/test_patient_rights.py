"""Patients' rights: the export of everything held (GDPR Art. 15/20), erasure on request within the
retention of medical records (Art. 17, §630f BGB) and consent withdrawal taking effect. Real
database, real photo files, real archive, PDF read back with pypdf."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import zipfile
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from pypdf import PdfReader

from exoderm.consent.models import ConsentKind, ConsentRecord
from exoderm.consent.services import withdraw_consent
from exoderm.core.errors import RuleViolations
from exoderm.courses.models import Visit, VisitStatus
from exoderm.courses.services import enroll
from exoderm.patients import erasure
from exoderm.patients.export import SECTIONS
from exoderm.patients.models import (
    ErasedApplication,
    ErasureRequest,
    Patient,
    PatientIdentity,
    RestrictedRecordAccess,
)
from exoderm.patients.tasks import records_housekeeping
from exoderm.photos import storage
from exoderm.photos.models import Analysis, Photo
from exoderm.photos.services import upload_photo
from exoderm.photos.tasks import run_analysis
from exoderm.treatments.models import TreatmentSession
from exoderm.treatments.recall import affected_by_lot, erased_applications
from tests import factories
from tests.photos._images import MM_PER_PX, phantom_png
from tests.signin import login_in_browser, login_with_mfa


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def _consent(patient, kind):
    template = factories.ConsentTemplateFactory(
        clinic=patient.clinic,
        kind=kind,
        version=1,
        title_en=f"{kind} consent",
        text_en=f"I consent ({kind}).",
    )
    return factories.ConsentRecordFactory(patient=patient, template=template)


class Scene:
    """A patient with an umlaut in the name, consented to everything, screened, enrolled in a
    course, treated once (a lot applied) and photographed twice, one photo analysed."""

    def __init__(self, clinic, capture) -> None:
        self.session_scene = factories.SessionScene(clinic)
        self.patient = self.session_scene.patient
        self.clinician = self.session_scene.clinician
        identity = self.patient.identity
        identity.given_name, identity.family_name, identity.language = "Jürgen", "Größmann", "de"
        identity.address = "Hauptstraße 1\n10115 Berlin"
        identity.save()
        self.photo_consent = _consent(self.patient, ConsentKind.PHOTOGRAPHY)
        self.research_consent = _consent(self.patient, ConsentKind.RESEARCH)
        self.session = self.session_scene.record()
        self.course = enroll(
            patient=self.patient,
            template=factories.CourseTemplateFactory(clinic=clinic),
            clinician=self.clinician,
            starts_at=timezone.now() + dt.timedelta(days=7),
            by=self.clinician,
        )
        self.photos = []
        for seed, days_ago in ((1, 3), (2, 1)):
            with capture(execute=False):
                photo, _created = upload_photo(
                    patient=self.patient, chunks=[phantom_png(seed, spots=10)], view="close_up",
                    area="cheek_left", timepoint="follow_up", mm_per_px=MM_PER_PX, by=self.clinician,
                    taken_at=timezone.now() - dt.timedelta(days=days_ago),
                )  # fmt: skip
            self.photos.append(photo)
        assert run_analysis(self.photos[0].pk) == "analysed"


@pytest.fixture
def scene(clinic, django_capture_on_commit_callbacks):
    return Scene(clinic, django_capture_on_commit_callbacks)


def _archive(response) -> zipfile.ZipFile:
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"] == "application/zip"
    assert "no-store" in response["Cache-Control"]
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


# --- export --------------------------------------------------------------------------------------


def test_the_archive_holds_every_section_the_photo_files_a_manifest_and_a_readable_pdf(scene, api_as):
    archive = _archive(api_as(scene.clinician).get(f"/patients/{scene.patient.pk}/export"))
    data = json.loads(archive.read("patient.json"))

    assert set(SECTIONS) <= set(data)
    assert data["identity"]["family_name"] == "Größmann"
    assert data["identity"]["address"] == "Hauptstraße 1\n10115 Berlin"
    assert data["record"]["code"] == scene.patient.code
    assert {answer["item"] for answer in data["screening"]}
    kinds = {consent["kind"]: consent for consent in data["consents"]}
    assert set(kinds) == {"treatment", "photography", "research"}
    assert (
        kinds["research"]["template_version"] == 1 and kinds["research"]["text_en"] == "I consent (research)."
    )
    (session,) = data["sessions"]
    assert session["procedures"][0]["kind"] == "microneedling"
    (application,) = session["applications"]
    assert application["lot_number"] == scene.session_scene.lot.number
    assert application["product"] == scene.session_scene.product.name
    assert Decimal(application["volume_ml"]) == Decimal("2.0")
    (course,) = data["courses"]
    assert len(course["visits"]) == Visit.objects.filter(course=scene.course).count() > 0
    photos = {photo["id"]: photo for photo in data["photos"]}
    assert set(photos) == {photo.pk for photo in scene.photos}
    analysed = photos[scene.photos[0].pk]["analyses"]
    assert len(analysed) == 1 and analysed[0]["data"] == Analysis.objects.get(photo=scene.photos[0]).data

    readme = archive.read("README.txt").decode()
    for photo in scene.photos:
        stored = storage.read(photo.file_name)  # decrypted: the archive holds the photo as uploaded
        in_archive = archive.read(photos[photo.pk]["file"])
        assert hashlib.sha256(in_archive).hexdigest() == photo.sha256 == hashlib.sha256(stored).hexdigest()
        assert f"{photo.sha256}  {photos[photo.pk]['file']}" in readme
    for name in ("patient.json", "patient.pdf"):
        assert f"{hashlib.sha256(archive.read(name)).hexdigest()}  {name}" in readme

    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(archive.read("patient.pdf"))).pages)
    assert "Jürgen Größmann" in text
    assert scene.session_scene.lot.number in text


def test_export_is_for_clinicians_and_admins_of_the_clinic(scene, api_as, clinic, assistant, researcher):
    url = f"/patients/{scene.patient.pk}/export"
    admin = factories.UserFactory(clinic=clinic, role="clinic_admin")
    assert _archive(api_as(admin).get(url)).read("patient.json")
    assert api_as(assistant).get(url).status_code == 403
    assert api_as(researcher).get(url).status_code == 403
    stranger = factories.UserFactory(clinic=factories.ClinicFactory(), role="clinic_admin")
    assert api_as(stranger).get(url).status_code == 404


def test_the_patient_page_exports_after_a_confirmation(scene, client):
    client.force_login(scene.clinician)
    page = client.get(f"/patients/{scene.patient.pk}/")
    assert f"/patients/{scene.patient.pk}/export/".encode() in page.content
    confirm = client.get(f"/patients/{scene.patient.pk}/export/")
    assert confirm.status_code == 200 and b"<form" in confirm.content
    archive = _archive(client.post(f"/patients/{scene.patient.pk}/export/"))
    assert json.loads(archive.read("patient.json"))["record"]["code"] == scene.patient.code


# --- erasure ------------------------------------------------------------------------------------


@pytest.fixture
def admin(clinic):
    return factories.UserFactory(clinic=clinic, role="clinic_admin")


def _erase(api_as, admin, patient, *, erase_photos=True):
    response = api_as(admin).post(
        f"/patients/{patient.pk}/erasure",
        {"received_on": timezone.localdate().isoformat(), "erase_photos": erase_photos, "note": "by letter"},
    )
    assert response.status_code == 201, response.json()
    return response.json()


def test_erasure_removes_contact_photos_and_research_use_at_once_and_restricts_the_record(
    scene, api_as, admin, django_capture_on_commit_callbacks
):
    files = [storage.path_of(photo.file_name) for photo in scene.photos]
    assert all(path.exists() for path in files)
    with django_capture_on_commit_callbacks(execute=True):
        body = _erase(api_as, admin, scene.patient)

    identity = PatientIdentity.objects.get(patient=scene.patient)
    assert (identity.email, identity.phone, identity.address) == ("", "", "")
    assert identity.family_name == "Größmann"  # the record stays attributable until erased for good
    assert not Photo.with_trashed.filter(patient=scene.patient).exists()
    assert not any(path.exists() for path in files)
    assert ConsentRecord.objects.get(pk=scene.research_consent.pk).withdrawn_at is not None
    assert not Visit.objects.filter(course=scene.course, status=VisitStatus.PLANNED).exists()
    patient = Patient.objects.get(pk=scene.patient.pk)
    assert patient.restricted_at is not None
    treated_on = scene.session.performed_at.astimezone(ZoneInfo(patient.clinic.time_zone)).date()
    assert body["retain_until"] == treated_on.replace(year=treated_on.year + 10).isoformat()
    request = ErasureRequest.objects.get()
    assert (request.patient_id, request.note, request.photos_erased) == (patient.pk, "by letter", True)

    again = api_as(admin).post(
        f"/patients/{patient.pk}/erasure",
        {"received_on": timezone.localdate().isoformat(), "erase_photos": True},
    )
    assert again.status_code == 404  # restricted: gone from the ordinary routes


def test_the_clinic_can_keep_the_photos_with_the_restricted_record(scene, api_as, admin):
    _erase(api_as, admin, scene.patient, erase_photos=False)
    assert Photo.objects.filter(patient=scene.patient).count() == 2
    clinician_api = api_as(scene.clinician)
    assert clinician_api.get(f"/photos/{scene.photos[0].pk}").status_code == 404
    assert clinician_api.get(f"/photos?patient={scene.patient.pk}").status_code == 404


def test_only_a_clinic_admin_records_an_erasure_request(scene, api_as, assistant):
    body = {"received_on": timezone.localdate().isoformat(), "erase_photos": True}
    for user in (scene.clinician, assistant):
        assert api_as(user).post(f"/patients/{scene.patient.pk}/erasure", body).status_code == 403
    stranger = factories.UserFactory(clinic=factories.ClinicFactory(), role="clinic_admin")
    assert api_as(stranger).post(f"/patients/{scene.patient.pk}/erasure", body).status_code == 404
    future = {**body, "received_on": (timezone.localdate() + dt.timedelta(days=3)).isoformat()}
    admin = factories.UserFactory(clinic=scene.patient.clinic, role="clinic_admin")
    refused = api_as(admin).post(f"/patients/{scene.patient.pk}/erasure", future)
    assert refused.status_code == 422 and "received_on" in json.dumps(refused.json())
    refused = api_as(admin).post(f"/patients/{scene.patient.pk}/erasure", {**body, "note": "by\x00mail"})
    assert refused.status_code == 422 and "note" in json.dumps(refused.json())
    assert Patient.objects.get(pk=scene.patient.pk).restricted_at is None


def test_a_restricted_record_is_hidden_from_every_list_but_counted_in_a_recall(scene, api_as, admin, client):
    other = factories.SessionScene(scene.patient.clinic)
    other.session = other.record()
    # a planned visit due today and an overdue one, so that the Today page and /visits would list them
    Visit.objects.filter(course=scene.course).update(
        due_from=timezone.localdate() - dt.timedelta(days=1),
        due_until=timezone.localdate() + dt.timedelta(days=1),
    )
    code, name = scene.patient.code, "Größmann"
    clinician_api = api_as(scene.clinician)
    assert code in json.dumps(clinician_api.get("/patients").json())
    _erase(api_as, admin, scene.patient, erase_photos=False)
    # cancelled visits aside, a planned one of a restricted record stays hidden: plan one again
    Visit.objects.filter(course=scene.course).update(status=VisitStatus.PLANNED)

    for user in (scene.clinician, admin):
        api = api_as(user)
        listed = json.dumps(api.get("/patients").json()) + json.dumps(api.get(f"/patients?q={name}").json())
        listed += json.dumps(api.get("/sessions").json()) + json.dumps(api.get("/visits").json())
        listed += json.dumps(api.get("/visits?due=overdue").json())
        assert code not in listed
        assert [session["id"] for session in api.get("/sessions").json()["items"]] == [other.session.pk]
    assert clinician_api.get(f"/patients/{scene.patient.pk}").status_code == 404
    assert clinician_api.get(f"/sessions/{scene.session.pk}").status_code == 404
    assert clinician_api.get(f"/patients/{scene.patient.pk}/export").status_code == 404

    client.force_login(scene.clinician)
    for url in ("/", "/patients/", "/patients/?q=Jürgen", "/sessions/", "/courses/calendar/"):
        page = client.get(url)
        assert (
            page.status_code == 200
            and code not in page.content.decode()
            and name not in page.content.decode()
        )
    assert client.get(f"/patients/{scene.patient.pk}/").status_code == 404
    assert client.get(f"/sessions/{scene.session.pk}/").status_code == 404

    (row,) = [row for row in affected_by_lot(scene.session_scene.lot) if row.patient_id == scene.patient.pk]
    assert row.restricted and (row.family_name, row.email, row.phone) == ("", "", "")
    affected = client.get(f"/lots/{scene.session_scene.lot.pk}/affected/").content.decode()
    assert "Restricted record: ask the clinic admin." in affected and name not in affected


def test_the_clinic_admin_reads_a_restricted_record_only_with_a_stored_reason(scene, api_as, admin, client):
    _erase(api_as, admin, scene.patient, erase_photos=False)
    api = api_as(admin)
    url = f"/patients/{scene.patient.pk}"
    assert api.get(url).status_code == 403
    assert api.get(f"{url}/export").status_code == 403
    assert api.post(f"{url}/unlock", {"reason": "  "}).status_code == 422
    assert api.post(f"{url}/unlock", {"reason": "a\x00b"}).status_code == 422
    assert api.post(f"{url}/unlock", {"reason": "x" * 501}).status_code == 422
    assert api_as(scene.clinician).post(f"{url}/unlock", {"reason": "curious"}).status_code == 403

    unlocked = api.post(f"{url}/unlock", {"reason": "insurer asks for the treatment dates"})
    assert unlocked.status_code == 201
    access = RestrictedRecordAccess.objects.get()
    assert (access.user, access.reason) == (admin, "insurer asks for the treatment dates")
    assert api.get(url).json()["identity"]["family_name"] == "Größmann"
    archive = _archive(api.get(f"{url}/export"))
    exported = json.loads(archive.read("patient.json"))
    assert exported["record"]["restricted_at"]
    assert [read["reason"] for read in exported["restricted_reads"]] == [
        "insurer asks for the treatment dates"
    ]
    # another admin has no unlock of their own; an expired unlock reads nothing
    assert (
        api_as(factories.UserFactory(clinic=scene.patient.clinic, role="clinic_admin")).get(url).status_code
        == 403
    )
    RestrictedRecordAccess.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert api.get(url).status_code == 403

    login_with_mfa(client, admin)
    page = client.get(f"/patients/{scene.patient.pk}/")
    assert page.status_code == 302 and page["Location"] == f"/patients/{scene.patient.pk}/unlock/"
    client.post(f"/patients/{scene.patient.pk}/unlock/", {"reason": "the patient asks for a copy"})
    shown = client.get(f"/patients/{scene.patient.pk}/").content.decode()
    assert "Größmann" in shown and "the patient asks for a copy" in shown
    assert RestrictedRecordAccess.objects.filter(reason="the patient asks for a copy", user=admin).exists()


def test_the_erasure_page_says_what_goes_now_and_what_is_restricted_until_when(scene, admin, client):
    login_with_mfa(client, admin)
    url = f"/patients/{scene.patient.pk}/erasure/"
    assert url.encode() in client.get(f"/patients/{scene.patient.pk}/").content
    page = client.get(url).content.decode()
    retain_until = erasure.retention_end(scene.patient)
    assert "Contact details: email, phone, address" in page
    assert "2 photos" in page and str(retain_until.year) in page
    done = client.post(
        url, {"received_on": timezone.localdate().isoformat(), "erase_photos": "no", "note": ""}
    )
    assert done.status_code == 302
    assert Patient.objects.get(pk=scene.patient.pk).restricted_at is not None
    client.force_login(scene.clinician)
    assert client.get(url).status_code == 403


def test_a_restricted_patient_is_not_treated_photographed_or_enrolled(scene, api_as, admin):
    _erase(api_as, admin, scene.patient, erase_photos=False)
    patient = Patient.objects.get(pk=scene.patient.pk)
    charting = scene.session_scene
    fresh = factories.ThawedVialFactory(lot=charting.lot, thawed_at=charting.at + dt.timedelta(minutes=10))
    applications = [charting.application(vial=fresh.pk)]
    with pytest.raises(RuleViolations) as refused:
        charting.record(patient=patient, applications=applications)
    assert "record-restricted" in [v.rule for v in refused.value.violations]
    response = api_as(scene.clinician).post("/sessions", charting.payload(applications=applications))
    assert response.status_code == 422 and "record-restricted" in json.dumps(response.json())
    with pytest.raises(RuleViolations) as refused:
        upload_photo(
            patient=patient, chunks=[phantom_png(9)], view="front", timepoint="follow_up", by=scene.clinician
        )
    assert refused.value.violations[0].rule == "record-restricted"
    with pytest.raises(RuleViolations) as refused:
        enroll(
            patient=patient,
            template=factories.CourseTemplateFactory(clinic=patient.clinic),
            clinician=scene.clinician,
            starts_at=timezone.now() + dt.timedelta(days=2),
            by=scene.clinician,
        )
    assert refused.value.violations[0].rule == "record-restricted"


# --- housekeeping after the retention period ----------------------------------------------------


def _restricted_patient_treated(clinic, admin, *, years_ago: float, lot):
    patient = factories.PatientFactory(clinic=clinic)
    factories.give_treatment_consent(patient)
    session = factories.TreatmentSessionFactory(
        patient=patient, performed_at=timezone.now() - dt.timedelta(days=365.25 * years_ago)
    )
    factories.ExosomeApplicationFactory(
        session=session, lot=lot, vial=factories.VialFactory(lot=lot, state="used")
    )
    factories.ScreeningAnswerFactory(patient=patient)
    erasure.request_erasure(patient=patient, by=admin, received_on=timezone.localdate(), erase_photos=True)
    return patient


def test_housekeeping_erases_a_record_after_its_retention_and_keeps_one_within(clinic, admin, client):
    lot = factories.LotFactory(product__clinic=clinic)
    old = _restricted_patient_treated(clinic, admin, years_ago=11, lot=lot)
    recent = _restricted_patient_treated(clinic, admin, years_ago=9, lot=lot)
    open_patient = factories.PatientFactory(clinic=clinic)

    out = io.StringIO()
    call_command("records_housekeeping", stdout=out)
    assert "records erased: 1" in out.getvalue() and old.code in out.getvalue()

    assert not Patient.objects.filter(pk=old.pk).exists()
    assert not TreatmentSession.objects.filter(patient_id=old.pk).exists()
    assert not PatientIdentity.objects.filter(patient_id=old.pk).exists()
    assert not ConsentRecord.objects.filter(patient_id=old.pk).exists()
    request = ErasureRequest.objects.get(patient_code=old.code)
    assert request.patient is None and request.erased_at is not None
    trace = ErasedApplication.objects.get()
    assert trace.lot == lot and trace.volume_ml == Decimal("2.0")

    assert Patient.objects.get(pk=recent.pk).restricted_at is not None
    assert TreatmentSession.objects.filter(patient=recent).exists()
    assert Patient.objects.filter(pk=open_patient.pk).exists()
    # the recall still counts both: the restricted record as a row, the erased one as a trace
    assert [row.patient_id for row in affected_by_lot(lot)] == [recent.pk]
    assert erased_applications(lot) == 1
    login_with_mfa(client, admin)
    assert (
        "1 further application was in a record erased for good"
        in client.get(f"/lots/{lot.pk}/affected/").content.decode()
    )


def _refuse_deleting(patient) -> None:
    """A database trigger that refuses to delete ``patient``'s row, as a reference the erasure does
    not know about (another app's PROTECT foreign key, an append-only table) would."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION keep_patient() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'still referenced'; END $$"
            )
            cursor.execute(
                "CREATE TRIGGER keep_patient BEFORE DELETE ON patients_patient FOR EACH ROW "
                f"WHEN (OLD.id = {int(patient.pk)}) EXECUTE FUNCTION keep_patient()"
            )
        else:
            cursor.execute(
                "CREATE TRIGGER keep_patient BEFORE DELETE ON patients_patient "
                f"WHEN OLD.id = {int(patient.pk)} BEGIN SELECT RAISE(ABORT, 'still referenced'); END"
            )


def test_a_record_that_cannot_be_erased_stays_restricted_whole_and_the_others_go(clinic, admin):
    lot = factories.LotFactory(product__clinic=clinic)
    blocked = _restricted_patient_treated(clinic, admin, years_ago=11, lot=lot)
    erasable = _restricted_patient_treated(clinic, admin, years_ago=11, lot=lot)
    _refuse_deleting(blocked)

    err = io.StringIO()
    with pytest.raises(CommandError, match="1 record"):
        call_command("records_housekeeping", stdout=io.StringIO(), stderr=err)
    assert f"could not erase {blocked.code}" in err.getvalue()

    assert not Patient.objects.filter(pk=erasable.pk).exists()
    kept = Patient.objects.get(pk=blocked.pk)  # rolled back whole: nothing half erased
    assert kept.restricted_at is not None
    assert TreatmentSession.objects.filter(patient=kept).count() == 1
    assert ConsentRecord.objects.filter(patient=kept).exists()
    assert ErasedApplication.objects.count() == 1
    assert ErasureRequest.objects.get(patient=kept).erased_at is None


def test_housekeeping_runs_as_a_task_and_counts_a_later_treatment(clinic, admin):
    lot = factories.LotFactory(product__clinic=clinic)
    patient = _restricted_patient_treated(clinic, admin, years_ago=12, lot=lot)
    # a session charted afterwards, 5 years ago, moves the end of retention
    factories.TreatmentSessionFactory(
        patient=patient, performed_at=timezone.now() - dt.timedelta(days=365 * 5)
    )
    result = records_housekeeping.call()
    assert result == {"erased": [], "kept": 1, "failed": {}}
    assert ErasureRequest.objects.get().retain_until == erasure.retention_end(patient)
    assert erasure.retention_end(patient).year == erasure.last_treatment_day(patient).year + 10


# --- consent withdrawal -------------------------------------------------------------------------


def test_withdrawn_treatment_consent_refuses_sessions_and_courses(clinic):
    scene = factories.SessionScene(clinic)
    # withdrawn before the session took place: a session is judged at its own time
    withdraw_consent(record=scene.consent, by=scene.clinician, at=scene.at - dt.timedelta(minutes=5))
    with pytest.raises(RuleViolations) as refused:
        scene.record()
    assert "consent-missing" in [v.rule for v in refused.value.violations]
    with pytest.raises(RuleViolations) as refused:
        enroll(
            patient=scene.patient,
            template=factories.CourseTemplateFactory(clinic=clinic),
            clinician=scene.clinician,
            starts_at=timezone.now() + dt.timedelta(days=2),
            by=scene.clinician,
        )
    assert refused.value.violations[0].rule == "consent-missing"


def test_withdrawn_photography_consent_refuses_new_photos(clinic, clinician):
    patient = factories.PatientFactory(clinic=clinic)
    consent = _consent(patient, ConsentKind.PHOTOGRAPHY)
    withdraw_consent(record=consent, by=clinician)
    with pytest.raises(RuleViolations) as refused:
        upload_photo(
            patient=patient, chunks=[phantom_png(5)], view="front", timepoint="baseline", by=clinician
        )
    assert refused.value.violations[0].rule == "consent-missing"
    assert not Photo.with_trashed.exists()


# --- in a real browser --------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_admin_records_an_erasure_request_and_reads_the_record_with_a_reason(
    browser_page, browser_base_url
):
    clinic = factories.ClinicFactory()
    admin = factories.UserFactory(clinic=clinic, role="clinic_admin")
    patient = factories.PatientFactory(clinic=clinic, identity__family_name="Weiß")
    factories.TreatmentSessionFactory(patient=patient)
    page = browser_page
    login_in_browser(page, browser_base_url, admin)
    page.goto(f"{browser_base_url}/patients/{patient.pk}/")
    page.click("text=Erasure request…")
    assert "Contact details: email, phone" in page.inner_text("#erasure-now")
    assert str(erasure.retention_end(patient).year) in page.inner_text("#erasure-restricted")
    page.check("input[name=erase_photos][value=no]")
    page.click("text=Record the erasure request")
    assert page.url.endswith("/patients/")
    assert "Weiß" not in page.inner_text("main")

    page.goto(f"{browser_base_url}/patients/{patient.pk}/")
    assert page.url.endswith(f"/patients/{patient.pk}/unlock/")
    page.fill("#id_reason", "the patient asks for a copy")
    page.click("text=Read the record")
    assert "the patient asks for a copy" in page.inner_text("#restricted-notice")
    assert RestrictedRecordAccess.objects.get().reason == "the patient asks for a copy"
    page.check_clean()


def test_corrections_keep_no_erased_contact_details_and_go_with_the_record(clinic, admin):
    from exoderm.patients.services import correct_patient
    from exoderm.records.models import Revision

    patient = factories.PatientFactory(clinic=clinic, identity__email="old@example.org")
    correct_patient(
        patient=patient, changes={"email": "new@example.org", "glogau": 3}, reason="typo", by=admin
    )
    (revision,) = Revision.objects.filter(patient=patient)
    assert revision.snapshot["email"] == "old@example.org" and "email" in revision.changes

    erasure.request_erasure(patient=patient, by=admin, received_on=timezone.localdate(), erase_photos=True)
    revision.refresh_from_db()
    assert "old@example.org" not in json.dumps([revision.snapshot, revision.changes])
    assert revision.changes == {"glogau": [2, 3]}  # the correction of the record itself stays

    after_retention = erasure.retention_end(patient) + dt.timedelta(days=1)
    assert erasure.erase_expired_records(today=after_retention).erased == [patient.code]
    assert not Patient.objects.filter(pk=patient.pk).exists() and not Revision.objects.exists()
