"""Results from stored analyses: before/after table with the noise, timeline, healing curves."""

from __future__ import annotations

import datetime as dt
import functools
import importlib

import pytest
from django.core.management import call_command
from django.utils import timezone

from exoderm.photos import selectors
from exoderm.photos.models import Analysis
from exoderm.photos.services import upload_photo
from exoderm.photos.wording import word_remark
from exoderm.skinlab.compare import COMPRESSION_SENSITIVE
from exoderm.skinlab.phantom import Perturbation
from exoderm.treatments.models import TreatmentSession
from tests.photos._images import MM_PER_PX, phantom_jpeg, phantom_png

skinlab_compare = importlib.import_module("exoderm.skinlab.compare")


def _work() -> None:
    call_command("db_worker", batch=True, startup_delay=False, reload=False, verbosity=0, interval=0)


@pytest.fixture
def close_up(patient, photo_consent, clinician, django_capture_on_commit_callbacks):
    def make(seed: int, taken_at: dt.datetime, timepoint: str = "follow_up", encode=phantom_png, **design):
        with django_capture_on_commit_callbacks(execute=True):
            photo, _ = upload_photo(
                patient=patient, chunks=[encode(seed, **design)], view="close_up", area="cheek_left",
                timepoint=timepoint, mm_per_px=MM_PER_PX, taken_at=taken_at, by=clinician,
            )  # fmt: skip
        return photo

    return make


@pytest.mark.django_db(transaction=True)
def test_changes_beyond_the_noise_are_marked_and_the_rest_is_no_measurable_change(close_up, repeatability):
    now = timezone.now()
    before = close_up(1, now - dt.timedelta(days=60), timepoint="baseline", spots=30)
    after = close_up(1, now, spots=4)
    _work()

    comparison = selectors.compare_photos(before=before, after=after)
    assert comparison is not None and comparison.comparable, comparison
    rows = {c.key: c for c in comparison.regions["full"]}
    spots = rows["spot_count"]
    assert spots.delta < -3 and spots.verdict == selectors.Verdict.BEYOND_NOISE and spots.better is True
    assert spots.words.startswith("lower by")
    lightness = rows["L_median"]
    assert abs(lightness.delta) <= 1.2
    assert lightness.verdict == selectors.Verdict.NO_CHANGE and lightness.words == "no measurable change"
    assert lightness.better is None
    assert rows["texture_rms"].verdict == selectors.Verdict.NOT_JUDGED  # no mdc in the study
    assert [key for _r, c in comparison.changes_beyond_noise() for key in [c.key]] == ["spot_count"]


@pytest.mark.django_db(transaction=True)
def test_a_png_baseline_and_a_jpeg_follow_up_are_not_judged_on_what_compression_changes(
    close_up, repeatability
):
    now = timezone.now()
    before = close_up(1, now - dt.timedelta(days=60), timepoint="baseline", spots=30)
    after = close_up(1, now, encode=functools.partial(phantom_jpeg, quality=92), spots=4)
    assert (before.stored_lossless, after.stored_lossless) == (True, False)
    _work()

    comparison = selectors.compare_photos(before=before, after=after)
    assert comparison is not None and comparison.comparable, comparison
    rows = {c.key: c for c in comparison.regions["full"]}
    # a real change, called beyond the noise between two PNGs (above), but one JPEG alone could fake
    assert "spot_count" in COMPRESSION_SENSITIVE
    assert rows["spot_count"].delta < -3 and rows["spot_count"].verdict == selectors.Verdict.NOT_JUDGED
    assert rows["L_median"].verdict == selectors.Verdict.NO_CHANGE  # the rest is judged
    assert comparison.changes_beyond_noise() == []
    assert any("lossy (JPEG, HEIC) and the other lossless" in note for note in comparison.notes)


@pytest.mark.django_db(transaction=True)
def test_close_ups_with_a_colour_chart_are_judged_against_the_calibrated_noise(close_up):
    """Skin 2 L* brighter, photographed at another exposure (-8 % and +8 %): with a chart in both
    close-ups, both analyses are calibrated and the change is beyond the shipped study's noise of
    calibrated photos, which an uncalibrated pair's (about 5 L*) would hide."""
    now = timezone.now()

    def with_chart(exposure: float):
        perturb = Perturbation(exposure=exposure, noise_sd=2.0)
        return functools.partial(phantom_png, side=900, chart=True, chart_pitch_mm=4.0, perturb=perturb)

    before = close_up(3, now - dt.timedelta(days=42), timepoint="baseline", encode=with_chart(0.92))
    after = close_up(3, now, encode=with_chart(1.08), base_lab=(66.0, 11.0, 16.0))
    _work()

    assert [a.data["calibration"]["calibrated"] for a in Analysis.objects.order_by("pk")] == [True, True]
    comparison = selectors.compare_photos(before=before, after=after)
    assert comparison is not None and comparison.comparable, comparison
    lightness = {c.key: c for c in comparison.regions["full"]}["L_median"]
    assert 1.5 < lightness.delta < 2.5 and lightness.mdc < 1.0, lightness
    assert lightness.verdict == selectors.Verdict.BEYOND_NOISE
    (note,) = [n for n in comparison.notes if getattr(n, "kind", "") == "calibrated_study"]
    assert word_remark(note).startswith("Both photos were calibrated with a colour chart")


@pytest.mark.django_db(transaction=True)
def test_without_a_study_nothing_is_claimed(close_up, tmp_path, monkeypatch):
    monkeypatch.setattr(skinlab_compare, "REPEATABILITY_PATH", tmp_path / "missing.json")
    now = timezone.now()
    before = close_up(2, now - dt.timedelta(days=30), spots=30)
    after = close_up(2, now, spots=3)
    assert selectors.compare_photos(before=before, after=after) is None  # not analysed yet
    _work()
    comparison = selectors.compare_photos(before=before, after=after)
    assert comparison is not None
    assert {c.verdict for rows in comparison.regions.values() for c in rows} == {selectors.Verdict.NOT_JUDGED}
    assert any("repeatability" in note for note in comparison.notes)


@pytest.mark.django_db(transaction=True)
def test_timeline_and_healing_curve_from_stored_analyses(close_up, patient, clinician):
    session_at = timezone.now() - dt.timedelta(days=20)
    TreatmentSession.objects.create(patient=patient, clinician=clinician, performed_at=session_at)
    later_session = TreatmentSession.objects.create(
        patient=patient, clinician=clinician, performed_at=session_at + dt.timedelta(days=5)
    )
    design = {"spots": 5, "wrinkles": 0, "pores": 50, "red_radius_mm": (2.0, 2.0)}
    photos = [  # the same skin with 0, 3, 2 and 1 red patches of 2 mm radius
        close_up(10, session_at - dt.timedelta(days=1), timepoint="baseline", red_patches=0, **design),
        close_up(10, session_at + dt.timedelta(days=1), timepoint="healing", red_patches=3, **design),
        close_up(10, session_at + dt.timedelta(days=3), timepoint="healing", red_patches=2, **design),
        close_up(10, session_at + dt.timedelta(days=9), timepoint="healing", red_patches=1, **design),
    ]
    _work()
    assert Analysis.objects.count() == 4

    points = selectors.timeline(patient=patient, metric="red_area_pct", view="close_up", area="cheek_left")
    assert [p.photo_id for p in points] == [p.pk for p in photos]
    values = [p.value for p in points]
    assert values[1] > values[2] > values[3] > values[0]

    first, second = selectors.healing_curves(
        patient=patient, metric="red_area_pct", view="close_up", area="cheek_left"
    )
    assert first.before is not None and first.before.photo_id == photos[0].pk
    assert [round(days) for days, _p in first.points] == [1, 3]  # the next session ends this curve
    assert second.session_id == later_session.pk
    assert [round(days) for days, _p in second.points] == [4]
    with pytest.raises(ValueError):
        selectors.healing_curves(patient=patient, metric="spot_count")
