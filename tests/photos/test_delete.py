"""Deleting photos: the trash hides a photo everywhere at once, undo brings it back with its
analyses, purging removes analyses, row and (after the commit) the file, a failure in the middle
leaves everything as it was, and every step is in the audit trail. Real database, real files."""

from __future__ import annotations

import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import DatabaseError, connection
from django.test import Client
from django.utils import timezone
from pypdf import PdfReader

from exoderm.core.access import NotFound, in_clinic
from exoderm.photos import selectors, storage
from exoderm.photos.models import Analysis, AnalysisStatus, Photo, PhotoEvent, TrashReason
from exoderm.photos.report import patient_report
from exoderm.photos.services import (
    erase_photo,
    purge_expired,
    restore_photo,
    sweep_storage,
    trash_photo,
    upload_photo,
)
from exoderm.photos.tasks import run_analysis
from exoderm.treatments.models import TreatmentSession
from tests import factories
from tests.photos._images import MM_PER_PX, phantom_png
from tests.signin import login_with_mfa


def _analyse(*photos: Photo) -> None:
    """What the worker runs for each queued photo, called in this process: a db_worker run would
    close the test transaction's connection on PostgreSQL."""
    for photo in photos:
        assert run_analysis(photo.pk) == "analysed"


@pytest.fixture
def upload(clinician, django_capture_on_commit_callbacks):
    def make(patient, seed: int, days_ago: float, timepoint: str = "follow_up", by=None, **design):
        with django_capture_on_commit_callbacks(execute=True):
            photo, _created = upload_photo(
                patient=patient, chunks=[phantom_png(seed, **design)], view="close_up", area="cheek_left",
                timepoint=timepoint, mm_per_px=MM_PER_PX, by=by or clinician,
                taken_at=timezone.now() - dt.timedelta(days=days_ago),
            )  # fmt: skip
        return photo

    return make


@pytest.fixture
def course(patient, photo_consent, clinician, upload):
    """A session 10 days ago; a baseline before it, a healing photo a day after it and one today,
    all analysed. Returns (baseline, healing, latest)."""
    patient.identity.language = "en"
    patient.identity.save()
    TreatmentSession.objects.create(
        patient=patient, clinician=clinician, performed_at=timezone.now() - dt.timedelta(days=10)
    )
    photos = (
        upload(patient, 1, 60, timepoint="baseline", spots=30),
        upload(patient, 1, 9, timepoint="healing", spots=12),
        upload(patient, 1, 0, spots=4),
    )
    _analyse(*photos)
    assert Analysis.with_trashed.count() == 3
    return photos


def _file(photo: Photo):
    return storage.path_of(photo.file_name)


def _pdf_text(pdf: bytes) -> str:
    return " ".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages)


def _expire(*photos: Photo, days: int = 31) -> None:
    past = timezone.now() - dt.timedelta(days=days)
    Photo.with_trashed.filter(pk__in=[p.pk for p in photos]).update(trashed_at=past)


@pytest.fixture
def logged_in(client, clinician):
    client.force_login(clinician)
    return client


@pytest.mark.django_db
def test_a_trashed_photo_is_gone_from_every_read(course, patient, clinic, clinician, logged_in, api_as):
    baseline, healing, latest = course
    trash_photo(photo=latest, reason=TrashReason.FAILED_CAPTURE, by=clinician)

    # queries: the default manager, related managers, clinic scoping, every selector
    assert list(Photo.objects.values_list("pk", flat=True).order_by("pk")) == [baseline.pk, healing.pk]
    assert latest.pk not in {p.pk for p in patient.photos.all()}
    assert latest.pk not in {p.pk for p in in_clinic(Photo, clinic)}
    assert [p.pk for p in selectors.photos_of(patient=patient)] == [baseline.pk, healing.pk]
    with pytest.raises(NotFound):
        selectors.photo_of(clinic=clinic, photo_id=latest.pk)
    pair = selectors.baseline_and_latest(patient=patient, view="close_up", area="cheek_left")
    assert pair is not None and [p.pk for p in pair] == [baseline.pk, healing.pk]
    points = selectors.timeline(patient=patient, metric="spot_count", view="close_up", area="cheek_left")
    assert [p.photo_id for p in points] == [baseline.pk, healing.pk]
    (curve,) = selectors.healing_curves(patient=patient, view="close_up", area="cheek_left")
    assert [p.photo_id for _days, p in curve.points] == [healing.pk]
    assert selectors.analysis_progress(clinic=clinic, patient=patient).total == 2
    assert latest.pk not in selectors.statuses(clinic=clinic, photo_ids=[latest.pk, healing.pk])

    # the PDF compares the baseline with the newest photo that is still there
    text = _pdf_text(patient_report(patient=patient, by=clinician))
    day = lambda moment: moment.astimezone(ZoneInfo(clinic.time_zone)).date().isoformat()  # noqa: E731
    assert f"Latest: {day(healing.taken_at)}" in text and f"Latest: {day(latest.taken_at)}" not in text

    # pages
    page = logged_in.get(f"/photos/patient/{patient.pk}/")
    assert f"/photos/{latest.pk}/file".encode() not in page.content
    assert f"/photos/compare/{baseline.pk}/{latest.pk}".encode() not in page.content
    for url in (f"/photos/{latest.pk}/file", f"/photos/{latest.pk}/status",
                f"/photos/compare/{baseline.pk}/{latest.pk}"):  # fmt: skip
        assert logged_in.get(url).status_code == 404, url

    # API
    api = api_as(clinician)
    assert [p["id"] for p in api.get(f"/photos?patient={patient.pk}").json()["items"]] == [
        baseline.pk,
        healing.pk,
    ]
    gone = ("", "/file", "/status", "/analysis")
    for path in [f"/photos/{latest.pk}{end}" for end in gone] + [
        f"/photos/compare?before={baseline.pk}&after={latest.pk}"
    ]:
        response = api.get(path)
        assert response.status_code == 404 and response["Content-Type"] == "application/problem+json", path
    timeline = api.get(
        f"/photos/timeline?patient={patient.pk}&metric=spot_count&view=close_up&area=cheek_left"
    )
    assert [p["photo_id"] for p in timeline.json()] == [baseline.pk, healing.pk]
    assert api.get(f"/photos/progress?patient={patient.pk}").json()["total"] == 2

    # its measurements are hidden with it
    assert set(Analysis.objects.values_list("photo_id", flat=True)) == {baseline.pk, healing.pk}
    assert Analysis.with_trashed.filter(photo_id=latest.pk).count() == 1

    # the analysis queue: a queued task finds no photo, a re-analysis does not pick it up
    Analysis.with_trashed.filter(photo=latest).delete()
    assert run_analysis(latest.pk) == "photo gone"
    assert not Analysis.with_trashed.filter(photo_id=latest.pk).exists()
    out = io.StringIO()
    call_command("reanalyze", stdout=out)
    assert "queued 0 photo(s)" in out.getvalue()


@pytest.mark.django_db
def test_the_trashed_file_stays_on_disk_and_the_sweep_leaves_it(course, clinician):
    _baseline, _healing, latest = course
    trash_photo(photo=latest, reason=TrashReason.WRONG_PATIENT, by=clinician)
    sweep_storage(older_than_seconds=0)
    assert _file(latest).exists()


@pytest.mark.django_db
def test_undo_restores_the_photo_with_its_analyses(course, patient, clinician, logged_in):
    baseline, _healing, latest = course
    analyses = list(Analysis.with_trashed.filter(photo=latest).values())

    response = logged_in.post(f"/photos/{latest.pk}/delete", {"reason": "failed_capture"})
    assert response.status_code == 302 and response["Location"].endswith(f"?undo={latest.pk}")
    page = logged_in.get(response["Location"])
    assert f'action="/photos/{latest.pk}/restore"'.encode() in page.content  # the undo button
    assert b"is in the trash." in page.content and b'id="trash"' in page.content
    assert not Photo.objects.filter(pk=latest.pk).exists()

    response = logged_in.post(f"/photos/{latest.pk}/restore")
    assert response.status_code == 302
    restored = Photo.objects.get(pk=latest.pk)
    assert restored.trashed_at is None and restored.trash_reason == "" and restored.trashed_by is None
    assert restored.analysis_status == AnalysisStatus.DONE
    assert list(Analysis.objects.filter(photo=latest).values()) == analyses
    assert selectors.compare_photos(before=baseline, after=restored) is not None
    page = logged_in.get(f"/photos/patient/{patient.pk}/")
    assert f"/photos/{latest.pk}/file".encode() in page.content and b'id="trash"' not in page.content

    events = list(PhotoEvent.objects.filter(photo_id=latest.pk).values_list("kind", "reason", "by"))
    assert events == [("trashed", "failed_capture", clinician.pk), ("restored", "", clinician.pk)]


@pytest.mark.django_db
def test_the_delete_page_asks_why_and_posts_with_csrf(course, patient, clinician):
    _baseline, _healing, latest = course
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(clinician)
    page = browser.get(f"/photos/{latest.pk}/delete")
    assert page.status_code == 200
    assert patient.code.encode() in page.content and b'name="reason"' in page.content
    assert b"csrfmiddlewaretoken" in page.content
    # no CSRF token: refused, nothing deleted
    assert browser.post(f"/photos/{latest.pk}/delete", {"reason": "failed_capture"}).status_code == 403
    assert Photo.objects.filter(pk=latest.pk).exists()

    token = browser.cookies["csrftoken"].value
    refused = browser.post(f"/photos/{latest.pk}/delete", {"reason": "other", "csrfmiddlewaretoken": token})
    assert refused.status_code == 422 and b"Say why the photo is deleted." in refused.content
    refused = browser.post(f"/photos/{latest.pk}/delete", {"csrfmiddlewaretoken": token})
    assert refused.status_code == 422
    assert Photo.objects.filter(pk=latest.pk).exists() and not PhotoEvent.objects.exists()

    done = browser.post(
        f"/photos/{latest.pk}/delete",
        {"reason": "other", "note": "duplicate of the morning shot", "csrfmiddlewaretoken": token},
    )
    assert done.status_code == 302
    trashed = Photo.with_trashed.get(pk=latest.pk)
    assert (trashed.trash_reason, trashed.trash_note, trashed.trashed_by) == (
        "other", "duplicate of the morning shot", clinician,
    )  # fmt: skip
    # restoring and erasing are POST only
    assert browser.get(f"/photos/{latest.pk}/restore").status_code == 405
    assert browser.post(f"/photos/{latest.pk}/restore").status_code == 403  # without the token


@pytest.mark.django_db
def test_housekeeping_purges_after_the_trash_period(
    course, patient, clinician, settings, django_capture_on_commit_callbacks
):
    settings.PHOTO_TRASH_DAYS = 30
    baseline, healing, latest = course
    for photo in (healing, latest):
        trash_photo(photo=photo, reason=TrashReason.FAILED_CAPTURE, by=clinician)
    _expire(latest, days=31)
    _expire(healing, days=29)
    sha256 = latest.sha256

    with django_capture_on_commit_callbacks(execute=True):
        call_command("photo_housekeeping", stdout=io.StringIO())

    assert not Photo.with_trashed.filter(pk=latest.pk).exists()
    assert not Analysis.with_trashed.filter(photo_id=latest.pk).exists()
    assert not _file(latest).exists()
    # still within the period: still restorable, file and analyses kept
    assert Photo.with_trashed.filter(pk=healing.pk).exists() and _file(healing).exists()
    assert Analysis.with_trashed.filter(photo=healing).count() == 1
    assert Photo.objects.filter(pk=baseline.pk).exists() and _file(baseline).exists()

    purged = PhotoEvent.objects.get(photo_id=latest.pk, kind=PhotoEvent.Kind.PURGED)
    assert (purged.patient, purged.clinic, purged.by, purged.reason) == (
        patient, patient.clinic, None, "failed_capture",
    )  # fmt: skip
    # the audit trail keeps who, which photo id, when and why: no image data, no hash
    assert sha256 not in repr(list(PhotoEvent.objects.values()))

    _expire(healing, days=31)
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("purge_photo_trash", stdout=out)
    assert f"({healing.pk})" in out.getvalue()
    assert not Photo.with_trashed.filter(pk=healing.pk).exists() and not _file(healing).exists()


@pytest.mark.django_db
def test_purge_keeps_a_file_another_row_still_names(
    patient, photo_consent, clinician, other_clinic, upload, django_capture_on_commit_callbacks
):
    mine = upload(patient, 5, 1)
    # the same pixels in another clinic are a file of their own (the clinic is part of the path)
    stranger = factories.UserFactory(clinic=other_clinic, role="clinician")
    other_patient = factories.PatientFactory(clinic=other_clinic)
    factories.ConsentRecordFactory(
        patient=other_patient,
        template=factories.ConsentTemplateFactory(clinic=other_clinic, kind="photography", version=1),
    )
    theirs = upload(other_patient, 5, 1, by=stranger)
    assert theirs.sha256 == mine.sha256 and theirs.file_name != mine.file_name
    # and a row of the other clinic that names this very file (a storage shared across clinics)
    sharing = Photo.with_trashed.get(pk=theirs.pk)
    sharing.pk, sharing.source_sha256, sharing.sha256 = None, "0" * 64, "1" * 64
    sharing.file_name = mine.file_name
    sharing.save()

    trash_photo(photo=mine, reason=TrashReason.ERASURE_REQUEST, by=clinician)
    with django_capture_on_commit_callbacks(execute=True):
        erase_photo(photo=Photo.with_trashed.get(pk=mine.pk), by=clinician)
    assert not Photo.with_trashed.filter(pk=mine.pk).exists()
    assert _file(mine).exists()  # still named by the sharing row
    assert _file(theirs).exists()

    trash_photo(photo=sharing, reason=TrashReason.OTHER, note="test", by=stranger)
    with django_capture_on_commit_callbacks(execute=True):
        erase_photo(photo=Photo.with_trashed.get(pk=sharing.pk), by=stranger)
    assert not _file(mine).exists()  # the last row naming it is gone: so is the file
    assert _file(theirs).exists() and Photo.objects.filter(pk=theirs.pk).exists()


@pytest.mark.django_db
def test_an_upload_of_the_same_pixels_right_after_a_purge_keeps_its_file(
    patient, photo_consent, clinician, upload, django_capture_on_commit_callbacks
):
    photo = upload(patient, 15, 1)
    trash_photo(photo=photo, reason=TrashReason.ERASURE_REQUEST, by=clinician)
    with django_capture_on_commit_callbacks() as after_commit:
        erase_photo(photo=Photo.with_trashed.get(pk=photo.pk), by=clinician)
    # between the purge's commit and its file removal, the same photo is uploaded again
    again = upload(patient, 15, 1)
    assert again.pk != photo.pk and again.file_name == photo.file_name
    for callback in after_commit:
        callback()
    assert _file(again).exists()


def _refuse_deleting_photo_row(photo_id: int) -> None:
    """A real database refusal at the last step of a purge: a trigger that aborts the DELETE of
    one photo row (created inside the test transaction, so it is rolled back with it)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION refuse_photo_delete() RETURNS trigger AS $$ BEGIN "
                f"IF OLD.id = {int(photo_id)} THEN RAISE EXCEPTION 'photo row held'; END IF; "
                "RETURN OLD; END; $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER refuse_photo_delete BEFORE DELETE ON photos_photo "
                "FOR EACH ROW EXECUTE FUNCTION refuse_photo_delete()"
            )
        else:
            cursor.execute(
                "CREATE TRIGGER refuse_photo_delete BEFORE DELETE ON photos_photo "
                f"WHEN OLD.id = {int(photo_id)} BEGIN SELECT RAISE(ABORT, 'photo row held'); END"
            )


@pytest.mark.django_db
def test_a_failure_in_the_middle_of_a_purge_leaves_everything_as_it_was(
    course, clinician, django_capture_on_commit_callbacks
):
    _baseline, healing, latest = course
    for photo in (healing, latest):
        trash_photo(photo=photo, reason=TrashReason.ERASURE_REQUEST, by=clinician)
    _refuse_deleting_photo_row(latest.pk)
    events_before = PhotoEvent.objects.count()

    # erase now: analyses deleted and the event written before the row delete fails
    with pytest.raises(DatabaseError), django_capture_on_commit_callbacks(execute=True):
        erase_photo(photo=Photo.with_trashed.get(pk=latest.pk), by=clinician)
    kept = Photo.with_trashed.get(pk=latest.pk)
    assert kept.trashed_at is not None and _file(latest).exists()
    assert Analysis.with_trashed.filter(photo=latest).count() == 1
    assert PhotoEvent.objects.count() == events_before

    # housekeeping: the failing photo stays whole, the other one is purged, the command survives
    _expire(healing, latest)
    with django_capture_on_commit_callbacks(execute=True):
        purged = purge_expired()
    assert purged == [healing.pk]
    assert not Photo.with_trashed.filter(pk=healing.pk).exists() and not _file(healing).exists()
    assert Photo.with_trashed.filter(pk=latest.pk).exists() and _file(latest).exists()
    assert Analysis.with_trashed.filter(photo=latest).count() == 1
    assert list(PhotoEvent.objects.filter(kind="purged").values_list("photo_id", flat=True)) == [healing.pk]
    # and no row anywhere names a file that is missing
    assert all(_file(p).exists() for p in Photo.with_trashed.all())


@pytest.mark.django_db(transaction=True)
def test_a_purge_refused_at_commit_keeps_row_analyses_and_file(patient, photo_consent, clinician, upload):
    """The last possible failure: the database refuses the COMMIT (a deferred foreign key of
    another table still points at the photo row). The file is removed only after a commit, so the
    row that is still there still has its file."""
    photo = upload(patient, 13, 1)
    _analyse(photo)
    trash_photo(photo=photo, reason=TrashReason.ERASURE_REQUEST, by=clinician)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE test_hold_photo (photo_id bigint NOT NULL "
            "REFERENCES photos_photo (id) DEFERRABLE INITIALLY DEFERRED)"
        )
        cursor.execute("INSERT INTO test_hold_photo (photo_id) VALUES (%s)", [photo.pk])
    try:
        with pytest.raises(DatabaseError):
            erase_photo(photo=Photo.with_trashed.get(pk=photo.pk), by=clinician)
        kept = Photo.with_trashed.get(pk=photo.pk)
        assert kept.trashed_at is not None and _file(photo).exists()
        assert Analysis.with_trashed.filter(photo=photo).count() == 1
        assert not PhotoEvent.objects.filter(kind="purged").exists()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE test_hold_photo")
    # nothing holds it any more: the same call erases it, file included
    erase_photo(photo=Photo.with_trashed.get(pk=photo.pk), by=clinician)
    assert not Photo.with_trashed.filter(pk=photo.pk).exists() and not _file(photo).exists()


@pytest.mark.django_db
def test_erase_now_names_patient_and_photo_and_erases_at_once(
    course, patient, clinician, logged_in, django_capture_on_commit_callbacks
):
    _baseline, _healing, latest = course
    assert logged_in.get(f"/photos/{latest.pk}/erase").status_code == 404  # only from the trash
    logged_in.post(f"/photos/{latest.pk}/delete", {"reason": "erasure_request"})
    page = logged_in.get(f"/photos/patient/{patient.pk}/")
    assert f'href="/photos/{latest.pk}/erase"'.encode() in page.content
    confirm = logged_in.get(f"/photos/{latest.pk}/erase")
    assert confirm.status_code == 200
    text = confirm.content.decode()
    assert str(patient.identity) in text and patient.code in text and f"photo {latest.pk}" in text
    assert Photo.with_trashed.filter(pk=latest.pk).exists()  # asking erased nothing

    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in.post(f"/photos/{latest.pk}/erase")
    assert response.status_code == 302
    assert not Photo.with_trashed.filter(pk=latest.pk).exists() and not _file(latest).exists()
    assert not Analysis.with_trashed.filter(photo_id=latest.pk).exists()
    kinds = list(PhotoEvent.objects.filter(photo_id=latest.pk).values_list("kind", "reason", "by"))
    assert kinds == [
        ("trashed", "erasure_request", clinician.pk),
        ("purged", "erasure_request", clinician.pk),
    ]
    assert logged_in.post(f"/photos/{latest.pk}/restore").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "allowed"), [("clinician", True), ("clinic_admin", True),
                                               ("assistant", False), ("researcher", False)])  # fmt: skip
def test_who_may_delete(role, allowed, patient, photo_consent, clinic, upload, client):
    photo = upload(patient, 7, 1)
    user = factories.UserFactory(clinic=clinic, role=role)
    login_with_mfa(client, user)
    if role != "researcher":  # researchers do not see identified photos at all
        page = client.get(f"/photos/patient/{patient.pk}/")
        assert (f'href="/photos/{photo.pk}/delete"'.encode() in page.content) is allowed
    assert client.get(f"/photos/{photo.pk}/delete").status_code == (200 if allowed else 403)
    response = client.post(f"/photos/{photo.pk}/delete", {"reason": "failed_capture"})
    assert response.status_code == (302 if allowed else 403)
    assert Photo.objects.filter(pk=photo.pk).exists() is not allowed
    assert client.post(f"/photos/{photo.pk}/restore").status_code == (302 if allowed else 403)
    assert Photo.objects.filter(pk=photo.pk).exists()


@pytest.mark.django_db
def test_another_clinics_photo_is_not_found(course, clinician, other_clinic, client):
    _baseline, healing, latest = course
    trash_photo(photo=healing, reason=TrashReason.FAILED_CAPTURE, by=clinician)
    stranger = factories.UserFactory(clinic=other_clinic, role="clinic_admin")
    login_with_mfa(client, stranger)
    assert client.get(f"/photos/{latest.pk}/delete").status_code == 404
    assert client.post(f"/photos/{latest.pk}/delete", {"reason": "failed_capture"}).status_code == 404
    assert client.post(f"/photos/{healing.pk}/restore").status_code == 404
    assert client.get(f"/photos/{healing.pk}/erase").status_code == 404
    assert client.post(f"/photos/{healing.pk}/erase").status_code == 404
    assert Photo.objects.filter(pk=latest.pk).exists() and Photo.with_trashed.filter(pk=healing.pk).exists()
    with pytest.raises(NotFound):
        trash_photo(photo=latest, reason=TrashReason.FAILED_CAPTURE, by=stranger)
    with pytest.raises(NotFound):
        restore_photo(photo=Photo.with_trashed.get(pk=healing.pk), by=stranger)
    assert PhotoEvent.objects.filter(by=stranger).count() == 0


@pytest.mark.django_db
def test_uploading_a_trashed_file_again_restores_it(
    patient, photo_consent, clinician, clinic, upload, django_capture_on_commit_callbacks
):
    photo = upload(patient, 9, 1)
    _analyse(photo)
    trash_photo(photo=photo, reason=TrashReason.FAILED_CAPTURE, by=clinician)
    with django_capture_on_commit_callbacks(execute=True):
        again, created = upload_photo(
            patient=patient, chunks=[phantom_png(9)], view="close_up", area="cheek_left",
            timepoint="follow_up", mm_per_px=MM_PER_PX, by=clinician,
        )  # fmt: skip
    assert (again.pk, created, again.restored_from_trash) == (photo.pk, False, True)
    assert Photo.objects.get(pk=photo.pk).analysis_status == AnalysisStatus.DONE
    assert Analysis.with_trashed.filter(photo=photo).count() == 1
    restored = PhotoEvent.objects.get(photo_id=photo.pk, kind="restored")
    assert restored.by == clinician and restored.note == "uploaded again"

    # the file in the trash of another patient: refused with a way out, nothing written
    trash_photo(photo=again, reason=TrashReason.WRONG_PATIENT, by=clinician)
    right_patient = factories.PatientFactory(clinic=clinic)
    factories.ConsentRecordFactory(patient=right_patient, template=photo_consent.template)
    with pytest.raises(ValidationError) as refused:
        upload_photo(
            patient=right_patient, chunks=[phantom_png(9)], view="close_up", area="cheek_left",
            timepoint="follow_up", by=clinician,
        )  # fmt: skip
    assert "trash of another patient" in str(refused.value)
    assert Photo.with_trashed.get(pk=photo.pk).trashed_at is not None
    # once erased there, the same file can be stored for the right patient
    with django_capture_on_commit_callbacks(execute=True):
        erase_photo(photo=Photo.with_trashed.get(pk=photo.pk), by=clinician)
    stored = upload(right_patient, 9, 1)
    assert stored.patient == right_patient and _file(stored).exists()


@pytest.mark.django_db
def test_quota_counts_photos_in_the_trash(patient, photo_consent, clinician, clinic, upload):
    first = upload(patient, 11, 1)
    trash_photo(photo=first, reason=TrashReason.FAILED_CAPTURE, by=clinician)
    clinic.photo_quota_bytes = first.size_bytes + 10
    clinic.save(update_fields=["photo_quota_bytes"])
    with pytest.raises(ValidationError, match="storage is full"):
        upload(patient, 12, 1)
