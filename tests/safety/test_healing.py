"""The healing curve per side: redness of each cheek after a session from real phantom close-ups,
analysed by the real engine (exoderm.safety.healing)."""

from __future__ import annotations

import datetime as dt

import pytest

from exoderm.photos.models import Photo
from exoderm.photos.services import trash_photo
from exoderm.safety.healing import latest_healing, session_healing
from tests import factories
from tests.safety._photos import healing_scene

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene(clinic, clinician, django_capture_on_commit_callbacks):
    patient = factories.PatientFactory(clinic=clinic)
    return healing_scene(patient, clinician, django_capture_on_commit_callbacks)


def test_each_side_has_its_series_of_redness_after_the_session(scene):
    healing = session_healing(session=scene)

    assert set(healing.sides) == {"face_left", "face_right"}
    left, right = healing.sides["face_left"], healing.sides["face_right"]
    assert (left.view, left.area, left.regions) == ("close_up", "cheek_left", ["full"])
    assert right.area == "cheek_right"
    assert [point.days for point in left.points] == [1.0, 3.0, 6.0]
    assert left.reference is not None and left.reference.days == -1.0 and left.reference.value == 0.0
    # the patches shrink on the left: redness falls from its peak on day 1
    values = [point.value for point in left.points]
    assert values == sorted(values, reverse=True) and values[0] > 10
    assert left.peak == left.points[0]
    # a photo on the day after the session is far redder than before it: beyond the noise
    assert left.points[0].beyond_noise is True and right.points[0].beyond_noise is True


def test_the_days_until_half_the_peak_are_interpolated_and_none_while_not_yet(scene):
    healing = session_healing(session=scene)
    left, right = healing.sides["face_left"], healing.sides["face_right"]

    # half of the peak's excess over the reference (none here: 0 % red before the session)
    assert left.half_level == pytest.approx(left.peak.value / 2)
    day3, day6 = left.points[1], left.points[2]
    assert day3.value > left.half_level >= day6.value
    expected = 3.0 + (day3.value - left.half_level) / (day3.value - day6.value) * 3.0
    assert left.days_to_half == round(expected, 1)
    assert 3.0 < left.days_to_half < 6.0
    assert min(point.value for point in right.points) > right.half_level
    assert right.days_to_half is None


def test_a_photo_in_the_trash_leaves_the_curve(scene, clinician):
    last_left = Photo.objects.get(
        area="cheek_left", pk=session_healing(session=scene).sides["face_left"].points[-1].photo_id
    )
    trash_photo(photo=last_left, reason="failed_capture", by=clinician)

    left = session_healing(session=scene).sides["face_left"]
    assert [point.days for point in left.points] == [1.0, 3.0]
    assert left.days_to_half is None


def test_the_next_session_ends_the_window(scene, clinician):
    factories.TreatmentSessionFactory(
        patient=scene.patient,
        clinician=clinician,
        performed_at=scene.performed_at + dt.timedelta(days=4),
    )
    healing = session_healing(session=scene)
    assert healing.window_days == 4.0
    assert [point.days for point in healing.sides["face_left"].points] == [1.0, 3.0]


def test_a_session_without_photos_after_it_has_no_sides(clinic, clinician):
    session = factories.TreatmentSessionFactory(
        patient=factories.PatientFactory(clinic=clinic), clinician=clinician
    )
    assert session_healing(session=session).sides == {}
    with pytest.raises(ValueError):
        session_healing(session=session, metric="spot_count")


def test_the_latest_sessions_curves_are_read_at_once(scene, clinician, django_assert_max_num_queries):
    later = factories.TreatmentSessionFactory(
        patient=scene.patient, clinician=clinician, performed_at=scene.performed_at + dt.timedelta(days=8)
    )

    with django_assert_max_num_queries(3):  # sessions, photos, their analyses
        found = latest_healing(patient=scene.patient)

    # the later session has no photo after it; the earlier one's window ends when it begins
    assert [healing.session_id for healing in found] == [scene.pk]
    assert found[0].window_days == 8.0
    assert (
        found[0].sides["face_left"].days_to_half
        == session_healing(session=scene).sides["face_left"].days_to_half
    )
    assert later.pk not in [healing.session_id for healing in found]
