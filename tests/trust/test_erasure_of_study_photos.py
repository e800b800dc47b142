"""Erasure (GDPR Art. 17) of a study participant's photos that a blinded rating task shows: the
pixels go, the study keeps that the rating existed and its scores, without the image. A refusal
on the page or the API is a message or a problem, never a server error."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from exoderm.core.access import NotFound
from exoderm.patients.models import ErasureRequest, Patient
from exoderm.photos import storage
from exoderm.photos.models import Photo
from exoderm.photos.services import purge_expired, trash_photo, upload_photo
from exoderm.studies.models import Rating, RatingImage, RatingScore, RatingTask
from exoderm.studies.page_selectors import rating_sides
from exoderm.studies.selectors import rating_image, rating_queue
from exoderm.studies.services import record_rating
from tests import factories
from tests.photos._images import MM_PER_PX, phantom_png
from tests.signin import login_with_mfa


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def admin(clinic):
    return factories.UserFactory(clinic=clinic, role="clinic_admin", language="de")


class RatedScene:
    """A participant of a split-face study whose baseline and follow-up photos a rating task
    shows, rated by one rater."""

    def __init__(self, clinic, capture) -> None:
        self.study_scene = factories.SplitFaceStudyScene(clinic)
        self.participant = self.study_scene.participant(
            first_session_at=timezone.now() - dt.timedelta(weeks=12), clinician=self.study_scene.clinician
        )
        self.patient = self.participant.patient
        photography = factories.ConsentTemplateFactory(clinic=clinic, kind="photography")
        factories.ConsentRecordFactory(patient=self.patient, template=photography)
        visit = self.participant.course.visits.filter(kind="follow_up").first()
        self.photos = []
        for seed, timepoint in ((1, "baseline"), (2, "follow_up")):
            with capture(execute=False):
                photo, _created = upload_photo(
                    patient=self.patient, chunks=[phantom_png(seed, spots=10)], view="close_up",
                    area="cheek_left", timepoint=timepoint, mm_per_px=MM_PER_PX,
                    by=self.study_scene.clinician, taken_at=timezone.now() - dt.timedelta(days=seed),
                )  # fmt: skip
            self.photos.append(photo)
        self.task = RatingTask.objects.create(
            study=self.study_scene.study,
            participant=self.participant,
            visit=visit,
            order_key="0" * 32,
            created_at=timezone.now(),
        )
        for photo in self.photos:
            RatingImage.objects.create(
                task=self.task,
                side="face_left",
                timepoint=photo.timepoint,
                photo=photo,
                token=photo.sha256[:32],
            )
        self.rating = Rating.objects.create(
            task=self.task, rater=self.study_scene.raters[0], rated_at=timezone.now()
        )
        RatingScore.objects.create(rating=self.rating, side="face_left", gais="improved")


@pytest.fixture
def rated(clinic, django_capture_on_commit_callbacks):
    return RatedScene(clinic, django_capture_on_commit_callbacks)


def _study_keeps_the_rating_without_the_image(rated: RatedScene) -> None:
    assert not Photo.with_trashed.filter(patient=rated.patient).exists()
    assert not any(storage.path_of(photo.file_name).exists() for photo in rated.photos)
    rating = Rating.objects.get(pk=rated.rating.pk)
    assert list(rating.scores.values_list("side", "gais")) == [("face_left", "improved")]
    images = RatingImage.objects.filter(task=rated.task)
    assert images.count() == 2 and not images.filter(photo__isnull=False).exists()
    for image in images:
        with pytest.raises(NotFound):
            rating_image(study=rated.study_scene.study, user=rated.study_scene.pi, token=image.token)


def test_the_erasure_page_erases_photos_a_rating_task_shows(
    rated, admin, client, django_capture_on_commit_callbacks
):
    login_with_mfa(client, admin)
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(
            f"/patients/{rated.patient.pk}/erasure/",
            {"received_on": timezone.localdate().isoformat(), "erase_photos": "yes", "note": ""},
        )
    assert done.status_code == 302, done.content.decode()[:2000]
    assert ErasureRequest.objects.get(patient=rated.patient).photos_erased
    _study_keeps_the_rating_without_the_image(rated)


def test_the_erasure_api_erases_photos_a_rating_task_shows(
    rated, admin, api_as, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(admin).post(
            f"/patients/{rated.patient.pk}/erasure",
            {"received_on": timezone.localdate().isoformat(), "erase_photos": True},
        )
    assert response.status_code == 201, response.content
    _study_keeps_the_rating_without_the_image(rated)


def _refuse_deleting_photos() -> None:
    """A database trigger that refuses every photo deletion: a reference the erasure cannot
    remove, as another app might add one tomorrow."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION refuse_photo_delete() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'photo kept' USING ERRCODE = '23503'; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER refuse_photo_delete BEFORE DELETE ON photos_photo "
                "FOR EACH ROW EXECUTE FUNCTION refuse_photo_delete()"
            )
        else:
            cursor.execute(
                "CREATE TRIGGER refuse_photo_delete BEFORE DELETE ON photos_photo "
                "BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END"
            )


def test_an_erasure_refused_by_the_database_is_a_message_on_the_page_not_a_server_error(rated, admin, client):
    _refuse_deleting_photos()
    login_with_mfa(client, admin)
    page = client.post(
        f"/patients/{rated.patient.pk}/erasure/",
        {"received_on": timezone.localdate().isoformat(), "erase_photos": "yes", "note": ""},
    )
    assert page.status_code == 200
    assert "Die Löschung wurde nicht ausgeführt" in page.content.decode()  # the clinic reads German
    assert Patient.objects.get(pk=rated.patient.pk).restricted_at is None  # nothing half done
    assert not ErasureRequest.objects.exists()


def test_an_erasure_refused_by_the_database_is_a_problem_in_the_api(rated, admin, api_as):
    _refuse_deleting_photos()
    response = api_as(admin).post(
        f"/patients/{rated.patient.pk}/erasure",
        {"received_on": timezone.localdate().isoformat(), "erase_photos": True},
    )
    assert response.status_code == 409, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert Photo.objects.filter(patient=rated.patient).count() == 2


def test_a_rated_photo_erased_from_the_trash_keeps_the_rating_without_the_image(
    rated, django_capture_on_commit_callbacks
):
    clinician = rated.study_scene.clinician
    for photo in rated.photos:
        trash_photo(photo=photo, reason="failed_capture", by=clinician)
    with django_capture_on_commit_callbacks(execute=True):
        purged = purge_expired(now=timezone.now() + dt.timedelta(days=365))
    assert sorted(purged) == sorted(photo.pk for photo in rated.photos)
    _study_keeps_the_rating_without_the_image(rated)


def test_a_task_whose_photo_was_erased_is_not_rated_any_more(rated, api_as, admin):
    api_as(admin).post(
        f"/patients/{rated.patient.pk}/erasure",
        {"received_on": timezone.localdate().isoformat(), "erase_photos": True},
    )
    second_rater = rated.study_scene.raters[1]
    assert rating_queue(study=rated.study_scene.study, rater=second_rater) == []
    with pytest.raises(ValidationError) as refused:
        record_rating(
            task=rated.task, rater=second_rater, scores={"face_left": "improved", "face_right": "improved"}
        )
    assert "task" in refused.value.message_dict
    (side,) = [s for s in rating_sides(task=rated.task)]
    assert (side.baseline, side.follow_up) == (None, None)
