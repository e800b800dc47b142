"""record_session: what it saves, what it refuses as bad input, who may chart, and the reads."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone, translation
from tests import factories

from exoderm.core.access import NotFound
from exoderm.core.errors import RuleViolations
from exoderm.courses.models import Course, Visit, VisitKind, VisitStatus
from exoderm.products.models import LotStatus, Vial, VialState
from exoderm.treatments import selectors
from exoderm.treatments.models import ExosomeApplication, Procedure, ProtocolWarning, TreatmentSession

pytestmark = pytest.mark.django_db

MIN = dt.timedelta(minutes=1)


@pytest.fixture
def scene(clinic):
    return factories.SessionScene(clinic)


def invalid(scene, **kwargs):
    """The field errors of a session refused as bad input."""
    with pytest.raises(ValidationError) as caught:
        scene.record(**kwargs)
    return caught.value.message_dict


def counts():
    return (
        TreatmentSession.objects.count(),
        Procedure.objects.count(),
        ExosomeApplication.objects.count(),
        ProtocolWarning.objects.count(),
        list(Vial.objects.order_by("pk").values_list("state", flat=True)),
    )


# --- what a session saves ----------------------------------------------------------------------


def test_a_session_saves_its_procedures_applications_and_uses_its_vial(scene):
    laser = scene.laser(started_at=scene.at + 20 * MIN, ended_at=scene.at + 30 * MIN, areas=["neck"])
    session = scene.record(
        procedures=[
            scene.procedure(params={"device": "Dermapen 4", "needle_depth_mm": 1.5, "passes": 3}),
            laser,
        ],
        applications=[
            scene.application(),
            scene.application(areas=["neck"], volume_ml=Decimal("1.5"), applied_at=scene.at + 35 * MIN),
        ],
        notes="tolerated well",
    )
    needling, lasered = session.procedures.order_by("started_at")
    assert (needling.device, needling.needle_depth_mm, needling.passes) == ("Dermapen 4", Decimal("1.5"), 3)
    assert (lasered.laser_type, lasered.wavelength_nm, lasered.density_pct) == ("non_ablative", 1550, 10)
    assert [a.volume_ml for a in session.applications.all()] == [Decimal("2.0"), Decimal("1.5")]
    assert session.notes == "tolerated well"
    scene.vial.refresh_from_db()
    assert scene.vial.state == VialState.USED


def test_nothing_is_saved_when_the_protocol_refuses(scene):
    before = counts()
    scene.consent.delete()
    with pytest.raises(RuleViolations):
        scene.record(applications=[scene.application(volume_ml=Decimal("4"))])
    assert counts() == before


def test_nothing_is_saved_when_a_warning_is_not_acknowledged(scene):
    before = counts()
    with pytest.raises(RuleViolations) as caught:
        scene.record(
            applications=[scene.application(volume_ml=Decimal("4"))],
            acknowledged_warnings=["contraindication"],
        )
    assert [v.severity for v in caught.value.violations] == ["warn"]
    assert counts() == before


def test_acknowledged_warnings_are_recorded_with_who_and_when(scene):
    session = scene.record(
        applications=[scene.application(volume_ml=Decimal("4"))], acknowledged_warnings=["dose-out-of-range"]
    )
    warning = session.warnings.get()
    assert warning.rule == "dose-out-of-range"
    assert warning.acknowledged_by == scene.clinician
    assert timezone.now() - warning.acknowledged_at < dt.timedelta(minutes=1)
    assert "4.00" in warning.message


def test_a_recorded_warning_is_worded_in_the_readers_language(clinic):
    scene = factories.SessionScene(clinic, keloid=True)
    answered_on = scene.patient.screening_answers.get(item="keloid").answered_on
    with translation.override("en"):
        session = scene.record(
            applications=[scene.application(volume_ml=Decimal("4"))],
            acknowledged_warnings=["contraindication", "dose-out-of-range"],
        )
    contraindication, dose = session.warnings.order_by("rule")
    assert contraindication.recorded_message.startswith("Contraindication: Keloid tendency")
    with translation.override("de"):
        assert contraindication.message == (
            f"Kontraindikation: Neigung zu Keloiden (Screening vom {answered_on:%d.%m.%Y})."
        )
        assert dose.message.startswith("4,00 ml je Areal")


def test_a_warning_recorded_without_params_shows_its_recorded_message(scene):
    session = scene.record(
        applications=[scene.application(volume_ml=Decimal("4"))], acknowledged_warnings=["dose-out-of-range"]
    )
    session.warnings.update(params={}, recorded_message="4.00 ml per area, as recorded before params.")
    with translation.override("de"):
        assert session.warnings.get().message == "4.00 ml per area, as recorded before params."


def test_without_a_named_vial_the_most_recently_thawed_unused_one_is_used(scene):
    older = scene.vial
    newest = factories.ThawedVialFactory(lot=scene.lot, thawed_at=scene.at + 15 * MIN)
    factories.ThawedVialFactory(lot=scene.lot, thawed_at=scene.at + 20 * MIN, state=VialState.USED)
    session = scene.record(applications=[scene.application(vial=None)])
    assert session.applications.get().vial == newest
    older.refresh_from_db()
    assert older.state == VialState.THAWED


def test_the_last_vial_depletes_the_lot(scene):
    scene.lot.vials_received = 1
    scene.lot.save()
    scene.record()
    scene.lot.refresh_from_db()
    assert scene.lot.status == LotStatus.DEPLETED


def test_two_applications_may_share_a_vial_up_to_its_volume(scene):
    procedure = scene.procedure(areas=["face", "neck"])
    neck = scene.application(areas=["neck"], volume_ml=Decimal("3.5"))
    errors = invalid(scene, procedures=[procedure], applications=[scene.application(), neck])
    assert list(errors) == ["applications.1.volume_ml"]
    neck = scene.application(areas=["neck"], volume_ml=Decimal("2.5"))
    session = scene.record(procedures=[procedure], applications=[scene.application(), neck])
    assert session.applications.count() == 2


def test_a_session_completes_the_planned_session_visit_due_that_day(scene):
    course = Course.objects.create(
        patient=scene.patient,
        template=factories.CourseTemplateFactory(clinic=scene.clinic),
        clinician=scene.clinician,
        starts_at=scene.at,
    )
    day = scene.at.date()

    def visit(kind, due_from, due_until):
        return Visit.objects.create(
            course=course,
            kind=kind,
            session_number=1,
            planned_at=scene.at,
            due_from=due_from,
            due_until=due_until,
        )

    follow_up = visit(VisitKind.FOLLOW_UP, day - dt.timedelta(days=3), day + dt.timedelta(days=3))
    past = visit(VisitKind.SESSION, day - dt.timedelta(days=30), day - dt.timedelta(days=20))
    due = visit(VisitKind.SESSION, day - dt.timedelta(days=3), day + dt.timedelta(days=3))
    session = scene.record()
    for v in (follow_up, past, due):
        v.refresh_from_db()
    assert (due.status, due.session) == (VisitStatus.DONE, session)
    assert follow_up.status == past.status == VisitStatus.PLANNED


def test_a_session_dated_in_the_future_saves_nothing_and_says_so_in_the_users_language(scene):
    before = counts()
    with translation.override("de"), pytest.raises(RuleViolations) as caught:
        scene.record(performed_at=scene.ahead())
    [violation] = caught.value.violations
    assert (violation.rule, violation.field) == ("time-in-future", "performed_at")
    assert "Zukunft" in violation.message
    assert counts() == before


# --- bad input ---------------------------------------------------------------------------------


def test_naive_datetimes_are_refused(scene):
    naive = scene.at.replace(tzinfo=None)
    errors = invalid(
        scene,
        performed_at=naive,
        applications=[scene.application(applied_at=(scene.at + 25 * MIN).replace(tzinfo=None))],
    )
    assert set(errors) == {"performed_at", "applications.0.applied_at"}
    assert "UTC offset" in errors["performed_at"][0]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"needle_depth_mm": 0, "passes": 3}, "needle_depth_mm"),
        ({"needle_depth_mm": 3.5, "passes": 3}, "needle_depth_mm"),
        ({"needle_depth_mm": -1, "passes": 3}, "needle_depth_mm"),
        ({"needle_depth_mm": 1.234, "passes": 3}, "needle_depth_mm"),
        ({"needle_depth_mm": "deep", "passes": 3}, "needle_depth_mm"),
        ({"needle_depth_mm": 1, "passes": 0}, "passes"),
        ({"needle_depth_mm": 1, "passes": 11}, "passes"),
        ({"needle_depth_mm": 1, "passes": 2.5}, "passes"),
        ({"passes": 3}, "needle_depth_mm"),
        ({"needle_depth_mm": 1, "passes": 3, "wavelength_nm": 1550}, "wavelength_nm"),
    ],
)
def test_absurd_microneedling_parameters_are_refused(scene, params, field):
    errors = invalid(scene, procedures=[scene.procedure(params=params)])
    assert list(errors) == [f"procedures.0.params.{field}"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"laser_type": None}, "laser_type"),
        ({"laser_type": "plasma"}, "laser_type"),
        ({"wavelength_nm": 400}, "wavelength_nm"),
        ({"wavelength_nm": 12000}, "wavelength_nm"),
        ({"pulse_energy_mj": 0}, "pulse_energy_mj"),
        ({"pulse_energy_mj": 501}, "pulse_energy_mj"),
        ({"density_pct": 0}, "density_pct"),
        ({"density_pct": 101}, "density_pct"),
        ({"needle_depth_mm": 1}, "needle_depth_mm"),
    ],
)
def test_absurd_laser_parameters_are_refused(scene, change, field):
    laser = scene.laser()
    laser["params"] = {k: v for k, v in {**laser["params"], **change}.items() if v is not None}
    errors = invalid(scene, procedures=[laser])
    assert list(errors) == [f"procedures.0.params.{field}"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "peeling"}, "kind"),
        ({"areas": []}, "areas"),
        ({"areas": ["elbow"]}, "areas"),
        ({"areas": ["face", "face"]}, "areas"),
        ({"ended_at": "START"}, "ended_at"),
        ({"started_at": "EARLY"}, "started_at"),
    ],
)
def test_bad_procedures_are_refused(scene, change, field):
    moments = {"START": scene.at, "EARLY": scene.at - 7 * 60 * MIN}
    change = {
        key: moments.get(value, value) if isinstance(value, str) else value for key, value in change.items()
    }
    errors = invalid(scene, procedures=[scene.procedure(**change)], applications=[])
    assert list(errors) == [f"procedures.0.{field}"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"volume_ml": Decimal("-1")}, "volume_ml"),
        ({"volume_ml": Decimal("0")}, "volume_ml"),
        ({"volume_ml": Decimal("50")}, "volume_ml"),
        ({"volume_ml": Decimal("1.005")}, "volume_ml"),
        ({"areas": ["face", "moon"]}, "areas"),
        ({"applied_at": "LATE"}, "applied_at"),
    ],
)
def test_bad_applications_are_refused(scene, change, field):
    if change.get("applied_at") == "LATE":
        change["applied_at"] = scene.at + 8 * 60 * MIN
    errors = invalid(scene, applications=[scene.application(**change)])
    assert list(errors) == [f"applications.0.{field}"]


def test_every_bad_field_is_named_at_once_and_nothing_is_saved(scene):
    before = counts()
    errors = invalid(
        scene,
        procedures=[scene.procedure(params={"needle_depth_mm": 9, "passes": 99, "speed": 3})],
        applications=[scene.application(volume_ml=Decimal("-2"))],
    )
    assert set(errors) == {
        "procedures.0.params.needle_depth_mm",
        "procedures.0.params.passes",
        "procedures.0.params.speed",
        "applications.0.volume_ml",
    }
    assert counts() == before


def test_acknowledging_an_unknown_rule_is_refused(scene):
    errors = invalid(scene, acknowledged_warnings=["dose-out-of-range", "dose-out-of-rang"])
    assert list(errors) == ["acknowledged_warnings"]
    assert "dose-out-of-range" in errors["acknowledged_warnings"][0]


def test_an_empty_session_is_refused(scene):
    assert list(invalid(scene, procedures=[], applications=[])) == ["procedures"]


def test_a_used_vial_is_refused(scene):
    scene.vial.state = VialState.USED
    scene.vial.save()
    assert list(invalid(scene)) == ["applications.0.vial"]


# --- clinic isolation and roles ----------------------------------------------------------------


def test_another_clinics_lot_vial_or_patient_is_not_found(scene, other_clinic):
    elsewhere = factories.SessionScene(other_clinic)
    with pytest.raises(NotFound):
        scene.record(applications=[scene.application(lot=elsewhere.lot.pk, vial=None)])
    with pytest.raises(NotFound):
        scene.record(applications=[scene.application(vial=elsewhere.vial.pk)])
    with pytest.raises(NotFound):
        scene.record(patient=elsewhere.patient)
    assert TreatmentSession.objects.count() == 0


def test_a_vial_of_another_lot_is_not_found(scene):
    other_lot = factories.LotFactory(product=scene.product)
    other_vial = factories.ThawedVialFactory(lot=other_lot)
    with pytest.raises(NotFound):
        scene.record(applications=[scene.application(vial=other_vial.pk)])


@pytest.mark.parametrize("role", ["assistant", "researcher", "clinic_admin"])
def test_only_clinicians_chart_sessions(scene, role):
    user = factories.UserFactory(clinic=scene.clinic, role=role)
    with pytest.raises(PermissionDenied):
        scene.record(clinician=user)


def test_selectors_stay_within_the_clinic(scene, other_clinic):
    mine = scene.record()
    elsewhere = factories.SessionScene(other_clinic)
    theirs = elsewhere.record()
    assert list(selectors.sessions_of_clinic(clinic=scene.clinic)) == [mine]
    assert list(selectors.sessions_of_clinic(clinic=scene.clinic, patient_id=elsewhere.patient.pk)) == []
    assert selectors.session_detail(clinic=scene.clinic, pk=mine.pk) == mine
    with pytest.raises(NotFound):
        selectors.session_detail(clinic=scene.clinic, pk=theirs.pk)


def test_sessions_filter_by_patient_and_time(scene):
    first = scene.record()
    second_patient = factories.SessionScene(scene.clinic)
    second = second_patient.record()
    assert list(selectors.sessions_of_clinic(clinic=scene.clinic, patient_id=scene.patient.pk)) == [first]
    later = scene.at + 60 * MIN
    assert list(selectors.sessions_of_clinic(clinic=scene.clinic, performed_from=later)) == []
    assert set(selectors.sessions_of_clinic(clinic=scene.clinic, performed_until=later)) == {first, second}
