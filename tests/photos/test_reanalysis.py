"""Re-analysis of the archive: a resumable run counted from the database, its page and its metrics."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.tasks import TaskResultStatus
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from exoderm import skinlab
from exoderm.photos import storage
from exoderm.photos.models import Analysis, AnalysisStatus, Photo, Reanalysis
from exoderm.photos.selectors import reanalysis_progress
from exoderm.photos.services import start_reanalysis, upload_photo
from exoderm.photos.tasks import REANALYSIS_PRIORITY, analyse_photo, finish_complete_reanalyses
from tests import factories
from tests.ops.test_metrics import TOKEN, sample, scrape
from tests.photos._images import MM_PER_PX, phantom_png
from tests.signin import login_with_mfa

NEW_VERSION = "99.0.0"


def _work() -> None:
    """Run every queued task in this process, as `exoderm worker` would."""
    call_command("db_worker", batch=True, startup_delay=False, reload=False, verbosity=0, interval=0)


def _waiting_analyses() -> list[int]:
    tasks = DBTaskResult.objects.filter(status=TaskResultStatus.READY, task_path=analyse_photo.module_path)
    return sorted(args["args"][0] for args in tasks.values_list("args_kwargs", flat=True))


@pytest.fixture
def archive(patient, photo_consent, clinician, django_capture_on_commit_callbacks, monkeypatch):
    """Three photos analysed by the engine of their day; then the engine's version changes."""
    photos = []
    for seed in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            photo, _ = upload_photo(
                patient=patient, chunks=[phantom_png(seed, side=240)], view="close_up", area="cheek_left",
                timepoint="follow_up", mm_per_px=MM_PER_PX, by=clinician,
            )  # fmt: skip
        photos.append(photo)
    _work()
    assert Analysis.objects.count() == 3

    from exoderm.skinlab import pipeline

    monkeypatch.setattr(skinlab, "ENGINE_VERSION", NEW_VERSION)
    monkeypatch.setattr(pipeline, "ENGINE_VERSION", NEW_VERSION)
    return photos


@pytest.mark.django_db(transaction=True)
def test_a_run_queues_each_photo_once_below_new_uploads_and_resumes(archive, patient, clinician, clinic):
    ids = [p.pk for p in archive]
    out = io.StringIO()
    call_command("reanalyze", "--clinic", str(clinic.pk), "--chunk", "2", stdout=out)
    assert "started re-analysis" in out.getvalue() and "queued 3 photo(s)" in out.getvalue()
    run = Reanalysis.objects.get()
    assert (run.clinic, run.engine_version, run.total, run.queued_up_to) == (clinic, NEW_VERSION, 3, ids[-1])
    assert _waiting_analyses() == ids
    assert set(
        DBTaskResult.objects.filter(status=TaskResultStatus.READY).values_list("priority", flat=True)
    ) == {REANALYSIS_PRIORITY}

    # run again (the command killed and started again, or a second operator): nothing is queued twice
    out = io.StringIO()
    call_command("reanalyze", "--clinic", str(clinic.pk), stdout=out)
    assert "resuming re-analysis" in out.getvalue() and "queued 0 photo(s)" in out.getvalue()
    assert Reanalysis.objects.count() == 1
    assert _waiting_analyses() == ids

    _work()
    assert (
        sorted(Analysis.objects.filter(engine_version=NEW_VERSION).values_list("photo_id", flat=True)) == ids
    )
    assert finish_complete_reanalyses() == [run.pk]
    call_command("reanalyze", "--clinic", str(clinic.pk), stdout=io.StringIO())  # a new run, nothing to do
    assert _waiting_analyses() == []


@pytest.mark.django_db
def test_an_engine_upgrade_closes_the_run_of_the_version_before(clinic, monkeypatch):
    before, _new = start_reanalysis(clinic=clinic, by=None)
    monkeypatch.setattr(skinlab, "ENGINE_VERSION", "100.0.0")
    after, new = start_reanalysis(clinic=clinic, by=None)
    before.refresh_from_db()
    assert new and after.engine_version == "100.0.0"
    assert before.finished_at is not None and after.finished_at is None


@pytest.mark.django_db(transaction=True)
def test_a_photo_waiting_for_its_analysis_is_not_queued_again_by_a_run(archive, patient, clinician, clinic):
    fresh, _ = upload_photo(
        patient=patient,
        chunks=[phantom_png(7, side=240)],
        view="close_up",
        area="cheek_left",
        timepoint="follow_up",
        mm_per_px=MM_PER_PX,
        by=clinician,
    )  # fmt: skip  (its task is queued at the commit, the default priority)
    assert _waiting_analyses() == [fresh.pk]
    call_command("reanalyze", stdout=io.StringIO())  # every clinic: the operator's run
    assert Reanalysis.objects.get().clinic is None
    assert _waiting_analyses() == sorted([*(p.pk for p in archive), fresh.pk])


@pytest.mark.django_db(transaction=True)
def test_progress_counts_done_queued_failed_and_the_rate(archive, clinic):
    run, new = start_reanalysis(clinic=clinic, by=None)
    assert new
    progress = reanalysis_progress(run)
    assert (progress.total, progress.done, progress.queued, progress.failed) == (3, 0, 0, 0)
    assert progress.not_queued == 3 and progress.seconds_left is None and not progress.complete

    call_command("reanalyze", "--clinic", str(clinic.pk), stdout=io.StringIO())
    broken = archive[0]
    storage.path_of(broken.file_name).write_bytes(b"not a photo any more")
    run.refresh_from_db()  # the command moved its cursor
    progress = reanalysis_progress(run)
    assert (progress.done, progress.queued, progress.not_queued) == (0, 3, 0)

    _work()
    progress = reanalysis_progress(run)
    assert (progress.total, progress.done, progress.queued, progress.failed) == (3, 2, 0, 1)
    assert Photo.objects.get(pk=broken.pk).analysis_status == AnalysisStatus.FAILED
    assert progress.complete and progress.percent == 100 and progress.seconds_left == 0
    assert progress.per_minute >= 2  # two results within the run's first minutes


@pytest.mark.django_db
def test_progress_costs_three_queries_whatever_the_number_of_photos(clinic, django_assert_num_queries):
    run = Reanalysis.objects.create(clinic=clinic, engine_version=NEW_VERSION, last_photo_id=10**6, total=0)
    with django_assert_num_queries(3):
        reanalysis_progress(run)


@pytest.mark.django_db(transaction=True)
def test_a_clinic_admin_starts_it_from_the_page_and_watches_it(
    archive, client, clinic_admin, django_capture_on_commit_callbacks
):
    login_with_mfa(client, clinic_admin)
    page = client.get(reverse("reanalysis"))
    assert page.status_code == 200 and "No re-analysis yet" in page.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(reverse("reanalysis")).status_code == 302
    run = Reanalysis.objects.get()
    assert (run.clinic_id, run.by) == (clinic_admin.clinic_id, clinic_admin)
    card = client.get(reverse("reanalysis-progress")).content.decode()
    assert "0 of 3" in card and 'hx-trigger="load delay:3s"' in card  # polls while it runs

    _work()  # the worker queues the photos (continue_reanalysis), then analyses them
    card = client.get(reverse("reanalysis-progress")).content.decode()
    assert "3 of 3" in card and 'value="3"' in card and "Finished" in card
    assert "hx-get" not in card  # done: no more polling
    assert Analysis.objects.filter(engine_version=NEW_VERSION).count() == 3


@pytest.mark.django_db
def test_only_a_clinic_admin_of_the_clinic_starts_a_run(
    client, clinic, clinician, clinic_admin, other_clinic
):
    client.force_login(clinician)
    assert client.get(reverse("reanalysis")).status_code == 403
    assert client.post(reverse("reanalysis")).status_code == 403
    with pytest.raises(PermissionDenied):
        start_reanalysis(clinic=other_clinic, by=clinic_admin)
    with pytest.raises(PermissionDenied):
        start_reanalysis(clinic=None, by=clinic_admin)  # every clinic is the operator's command
    assert not Reanalysis.objects.exists()


@pytest.mark.django_db
def test_a_clinic_admin_sees_their_own_clinics_run_only(client, clinic, other_clinic):
    start_reanalysis(clinic=clinic, by=None)
    start_reanalysis(clinic=None, by=None)
    other_admin = factories.UserFactory(clinic=other_clinic, role="clinic_admin")
    login_with_mfa(client, other_admin)
    assert "No re-analysis yet" in client.get(reverse("reanalysis-progress")).content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_metrics_show_each_open_run(archive, client, settings, clinic):
    settings.METRICS_TOKEN = TOKEN
    call_command("reanalyze", "--clinic", str(clinic.pk), stdout=io.StringIO())
    run = Reanalysis.objects.get()
    labels = {"run": str(run.pk), "engine_version": NEW_VERSION}
    exposition = scrape(client)
    assert sample(exposition, "exoderm_reanalysis_photos", state="queued", **labels) == 3
    assert sample(exposition, "exoderm_reanalysis_photos", state="done", **labels) == 0
    _work()
    exposition = scrape(client)
    assert sample(exposition, "exoderm_reanalysis_photos", state="done", **labels) == 3
    assert sample(exposition, "exoderm_reanalysis_photos", state="total", **labels) == 3
    assert sample(exposition, "exoderm_reanalysis_photos_per_minute", **labels) > 0
    finish_complete_reanalyses()
    assert "exoderm_reanalysis_photos{" not in scrape(client)  # a finished run leaves the dashboard
