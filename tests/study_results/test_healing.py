"""Healing in the study results: days until the redness after a session is back to half its peak,
per side, from the healing curve (exoderm.safety.healing) of real phantom close-ups analysed by the
real engine; pooled while the study is blinded, the within-participant difference of the arm sides
once it is unblinded, in the API's JSON, on the results page and in the report PDF."""

from __future__ import annotations

import datetime as dt
import io
import statistics

import pytest
from django.utils import timezone
from pypdf import PdfReader

from exoderm.courses.models import Visit, VisitKind, VisitStatus
from exoderm.photos.services import upload_photo
from exoderm.photos.tasks import run_analysis
from exoderm.safety.healing import session_healing
from exoderm.studies.analysis import figures, unblinding
from exoderm.studies.analysis.results import results_of
from exoderm.treatments.models import TreatmentSession
from tests import factories
from tests.photos._images import MM_PER_PX, phantom_png
from tests.photos.conftest import media_root  # noqa: F401 (fixture)

#: Radius of the red patches (mm) 1, 3 and 6 days after the session: the arm-A cheek calms down
#: within four days, the arm-B cheek takes more than five.
FAST = [(1.0, 7.0), (3.0, 6.0), (6.0, 1.5)]
SLOW = [(1.0, 7.0), (3.0, 6.5), (6.0, 4.5)]
PARTICIPANTS = 3


@pytest.fixture
def healed(clinic, django_capture_on_commit_callbacks, media_root):  # noqa: F811
    """A double-blind split-face study of three participants whose first session, 20 days ago,
    was followed by close-ups of each cheek; every follow-up visit is done."""
    scene = factories.SplitFaceStudyScene(clinic)
    photography = factories.ConsentTemplateFactory(clinic=clinic, kind="photography")
    performed_at = timezone.now().replace(microsecond=0) - dt.timedelta(days=20)
    scene.sessions = []
    for n in range(PARTICIPANTS):
        patient = scene.patient(consented_at=performed_at - dt.timedelta(days=3))
        factories.ConsentRecordFactory(
            patient=patient, template=photography, signed_at=performed_at - dt.timedelta(days=3)
        )
        participant = scene.participant(patient, first_session_at=performed_at, clinician=scene.clinician)
        session = TreatmentSession.objects.create(
            patient=patient, clinician=scene.clinician, performed_at=performed_at
        )
        Visit.objects.filter(course=participant.course, kind=VisitKind.SESSION, session_number=1).update(
            session=session, status=VisitStatus.DONE
        )
        Visit.objects.filter(course=participant.course, kind=VisitKind.FOLLOW_UP).update(
            status=VisitStatus.DONE
        )
        fast_area = "cheek_left" if participant.slot.arm_left == "A" else "cheek_right"
        for area in ("cheek_left", "cheek_right"):
            for step, (days, radius) in enumerate(FAST if area == fast_area else SLOW):
                with django_capture_on_commit_callbacks(execute=False):
                    photo, _created = upload_photo(
                        patient=patient, by=scene.clinician, view="close_up", area=area,
                        chunks=[phantom_png(100 * n + 10 * len(area) + step, red_patches=3,
                                            red_radius_mm=(radius, radius))],
                        timepoint="healing", mm_per_px=MM_PER_PX,
                        taken_at=performed_at + dt.timedelta(days=days),
                    )  # fmt: skip
                assert run_analysis(photo.pk) == "analysed"
        scene.sessions.append((participant, session))
    return scene


def _days_by_arm(scene):
    """Per participant the days to half of the arm-A and the arm-B cheek, straight from the
    safety app's healing curve of the session."""
    found = []
    for participant, session in scene.sessions:
        sides = session_healing(session=session).sides
        arm_of = {"face_left": participant.slot.arm_left, "face_right": participant.slot.arm_right}
        found.append({arm_of[side]: curve.days_to_half for side, curve in sides.items()})
    return found


def test_healing_is_pooled_while_blinded_and_by_arm_side_once_unblinded(api_as, client, healed):
    scene = healed
    expected = _days_by_arm(scene)
    assert all(3.0 < days["A"] < 5.0 < days["B"] < 6.0 for days in expected)

    pooled = api_as(scene.pi).get(f"/studies/{scene.study.pk}/results").json()
    assert pooled["analysis"] == "pooled"
    healing = pooled["healing"]
    assert healing["comparison"] == "days to half, pooled over arms" and healing["role"] == "exploratory"
    assert [arm["arm"] for arm in healing["per_arm"]] == ["pooled"]
    means = [(days["A"] + days["B"]) / 2 for days in expected]
    assert healing["estimate"] == pytest.approx(statistics.fmean(means))
    assert healing["n"] == PARTICIPANTS and healing["p_value"] is None
    assert healing["ci_low"] < healing["estimate"] < healing["ci_high"]
    assert set(figures.healing_series(results_of(study=scene.study, user=scene.pi))) == {"pooled"}

    unblinding.unblind_study(study=scene.study, by=scene.pi, reason="Last visit done")
    by_arm = api_as(scene.pi).get(f"/studies/{scene.study.pk}/results").json()
    healing = by_arm["healing"]
    assert healing["comparison"] == "A - B" and healing["n"] == PARTICIPANTS
    differences = [days["A"] - days["B"] for days in expected]
    assert healing["estimate"] == pytest.approx(statistics.fmean(differences))
    assert healing["ci_high"] < 0 and healing["p_value"] < 0.05  # the exosome side heals faster
    per_arm = {arm["arm"]: arm for arm in healing["per_arm"]}
    assert per_arm["A"]["estimate"] == pytest.approx(statistics.fmean(d["A"] for d in expected))
    assert per_arm["B"]["estimate"] == pytest.approx(statistics.fmean(d["B"] for d in expected))

    # the healing curves: each side's redness as a share of its peak, the arm-A cheek's falling faster
    curves = figures.healing_series(results_of(study=scene.study, user=scene.pi))
    assert set(curves) == {"A", "B"}
    share = {arm: {day: value for day, value, _n in points} for arm, points in curves.items()}
    assert share["A"][1] == share["B"][1] == 1.0  # the peak, on the first day
    assert all(share["A"][day] < share["B"][day] for day in (3, 6))
    assert all(n == PARTICIPANTS for *_x, n in curves["A"])
    assert "healing" in figures.matplotlib_figures(results_of(study=scene.study, user=scene.pi))

    client.force_login(scene.pi)
    page = client.get(f"/studies/{scene.study.pk}/results/").content.decode()
    assert 'id="healing"' in page and "A - B" in page and f"{healing['estimate']:.1f}" in page
    assert "Healing after the sessions: redness as a share of its peak" in page
    assert f"A · Exosome serum: 6 d, {share['A'][6]:.2f} (n={PARTICIPANTS})" in page  # the arm by its name
    report = client.get(f"/studies/{scene.study.pk}/results/report.pdf")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(report.content)).pages)
    assert "Healing: days to half" in text and f"{healing['estimate']:.1f}" in text
