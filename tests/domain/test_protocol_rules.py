"""Every rule of protocol-rules.md, blocked and allowed, through the one entry point record_session."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone, translation
from tests import factories

from exoderm.consent.models import ConsentRecord
from exoderm.core.clock import FUTURE_TOLERANCE
from exoderm.core.errors import RuleViolations
from exoderm.patients.models import ScreeningAnswer
from exoderm.products.models import LotStatus, StorageForm, Vial, VialState
from exoderm.treatments.models import ProtocolWarning, TreatmentSession

pytestmark = pytest.mark.django_db

MIN = dt.timedelta(minutes=1)


@pytest.fixture
def scene(clinic):
    return factories.SessionScene(clinic)


def refused(scene, **kwargs):
    """The violations of a refused session (and proof that it was refused)."""
    with pytest.raises(RuleViolations) as caught:
        scene.record(**kwargs)
    return caught.value.violations


def rules(violations):
    return {v.rule for v in violations}


def moved(scene, by):
    """The scene's session shifted by ``by``, its vial thawed 10 minutes into it as before."""
    at = scene.at + by
    Vial.objects.filter(pk=scene.vial.pk).update(thawed_at=at + 10 * MIN)
    return {
        "performed_at": at,
        "procedures": [scene.procedure(started_at=at, ended_at=at + 20 * MIN)],
        "applications": [scene.application(applied_at=at + 25 * MIN)],
    }


# --- time-in-future ----------------------------------------------------------------------------


def test_a_session_in_the_future_is_refused_with_every_future_time(scene):
    violations = refused(scene, **moved(scene, dt.timedelta(days=1)))
    assert rules(violations) == {"time-in-future"}
    assert [v.field for v in violations] == [
        "performed_at",
        "procedures.0.started_at",
        "procedures.0.ended_at",
        "applications.0.applied_at",
    ]
    assert {v.severity for v in violations} == {"block"}
    assert "future" in violations[0].message
    assert TreatmentSession.objects.count() == 0
    assert Vial.objects.get(pk=scene.vial.pk).state == VialState.THAWED


def test_a_time_within_the_clock_tolerance_is_allowed_and_beyond_it_refused(scene):
    # The application, the session's last time, lies just within / just beyond the tolerance.
    last = 25 * MIN
    within = timezone.now() + FUTURE_TOLERANCE - MIN - (scene.at + last)
    beyond = timezone.now() + FUTURE_TOLERANCE + MIN - (scene.at + last)
    late = refused(scene, **moved(scene, beyond))
    assert [(v.rule, v.field) for v in late] == [("time-in-future", "applications.0.applied_at")]
    assert scene.record(**moved(scene, within))


def test_a_session_dated_ahead_of_its_procedures_is_refused_for_its_date(scene):
    violations = refused(scene, performed_at=scene.ahead())
    assert [(v.rule, v.field) for v in violations] == [("time-in-future", "performed_at")]


# --- exosome-requires-barrier-disruption -------------------------------------------------------


def test_exosomes_without_any_procedure_are_refused(scene):
    violations = refused(scene, procedures=[])
    assert rules(violations) == {"exosome-requires-barrier-disruption"}
    assert violations[0].field == "applications.0"
    assert violations[0].severity == "block"


def test_exosomes_before_the_procedure_ended_are_refused(scene):
    violations = refused(scene, applications=[scene.application(applied_at=scene.at + 10 * MIN)])
    assert rules(violations) == {"exosome-requires-barrier-disruption", "application-window"}


def test_exosomes_after_a_procedure_are_allowed(scene):
    session = scene.record()
    assert session.procedures.count() == 1
    assert session.applications.count() == 1


def test_a_procedure_without_exosomes_is_allowed(scene):
    session = scene.record(applications=[])
    assert session.applications.count() == 0


# --- application-area-not-treated --------------------------------------------------------------


def test_exosomes_on_an_untreated_area_are_refused(scene):
    violations = refused(scene, applications=[scene.application(areas=["face", "neck"])])
    assert rules(violations) == {"application-area-not-treated"}
    assert violations[0].field == "applications.0.areas"
    assert "Neck" in violations[0].message


def test_exosomes_on_the_whole_face_after_a_cheek_only_procedure_are_refused(scene):
    violations = refused(
        scene,
        procedures=[scene.procedure(areas=["cheek_left"])],
        applications=[scene.application(areas=["face"])],
    )
    assert rules(violations) == {"application-area-not-treated"}


def test_exosomes_on_parts_of_a_treated_face_are_allowed(scene):
    session = scene.record(
        applications=[scene.application(areas=["cheek_left", "cheek_right"], volume_ml=Decimal("4"))]
    )
    assert session.applications.get().areas == ["cheek_left", "cheek_right"]


# --- application-window ------------------------------------------------------------------------


def test_exosomes_after_the_window_are_refused(scene):
    violations = refused(scene, applications=[scene.application(applied_at=scene.at + 51 * MIN)])
    assert rules(violations) == {"application-window"}
    assert violations[0].field == "applications.0.applied_at"
    assert "31" in violations[0].message and "30" in violations[0].message


def test_a_part_of_a_minute_past_the_window_is_refused(scene):
    late = scene.application(applied_at=scene.at + 50 * MIN + dt.timedelta(seconds=20))
    [violation] = refused(scene, applications=[late])
    assert violation.rule == "application-window"
    assert "31 minutes" in violation.message


def test_exosomes_at_the_end_of_the_window_are_allowed(scene):
    assert scene.record(applications=[scene.application(applied_at=scene.at + 50 * MIN)])


def test_the_window_is_the_clinics(scene):
    scene.clinic.application_window_minutes = 60
    scene.clinic.save()
    scene.clinician.refresh_from_db()
    violations = refused(scene, applications=[scene.application(applied_at=scene.at + 81 * MIN)])
    assert rules(violations) == {"application-window"}
    assert scene.record(applications=[scene.application(applied_at=scene.at + 80 * MIN)])


def test_the_window_runs_from_the_procedure_on_that_area(scene):
    """A later procedure elsewhere does not reopen the window for the face."""
    procedures = [
        scene.procedure(),
        scene.laser(areas=["neck"], started_at=scene.at + 30 * MIN, ended_at=scene.at + 50 * MIN),
    ]
    face_late = scene.application(applied_at=scene.at + 55 * MIN)
    violations = refused(scene, procedures=procedures, applications=[face_late])
    assert rules(violations) == {"application-window"}
    neck = scene.application(areas=["neck"], applied_at=scene.at + 55 * MIN)
    assert scene.record(procedures=procedures, applications=[neck])


# --- lot-not-usable ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status", [LotStatus.QUARANTINED, LotStatus.RECALLED, LotStatus.EXPIRED, LotStatus.DEPLETED]
)
def test_a_lot_that_is_not_released_is_refused(scene, status):
    scene.lot.status = status
    scene.lot.save()
    violations = refused(scene)
    assert rules(violations) == {"lot-not-usable"}
    assert violations[0].field == "applications.0.lot"
    assert scene.lot.number in violations[0].message


def test_a_lot_past_its_expiry_date_is_refused(scene):
    scene.lot.expires_on = scene.day - dt.timedelta(days=1)
    scene.lot.save()
    assert rules(refused(scene)) == {"lot-not-usable"}


def test_a_lot_on_its_expiry_day_in_the_clinics_time_zone_is_allowed(scene):
    scene.lot.expires_on = scene.day
    scene.lot.save()
    assert scene.record()


def test_a_lot_without_a_usable_vial_is_refused(scene):
    Vial.objects.filter(lot=scene.lot).update(state=VialState.USED)
    violations = refused(scene, applications=[scene.application(vial=None)])
    assert rules(violations) == {"lot-not-usable"}


# --- use-window-exceeded -----------------------------------------------------------------------


def test_a_vial_past_its_use_by_time_is_refused(scene):
    scene.vial.thawed_at = scene.at + 25 * MIN - 121 * MIN
    scene.vial.save()
    violations = refused(scene)
    assert rules(violations) == {"use-window-exceeded"}
    assert violations[0].field == "applications.0.vial"


def test_a_vial_at_the_end_of_its_use_by_time_is_allowed(scene):
    scene.vial.thawed_at = scene.at + 25 * MIN - 120 * MIN
    scene.vial.save()
    assert scene.record()


def test_a_frozen_vial_never_thawed_is_refused(scene):
    stored = factories.VialFactory(lot=scene.lot)
    assert rules(refused(scene, applications=[scene.application(vial=stored.pk)])) == {"use-window-exceeded"}


def test_a_vial_thawed_only_after_the_application_is_refused(scene):
    scene.vial.thawed_at = scene.at + 40 * MIN
    scene.vial.save()
    assert rules(refused(scene)) == {"use-window-exceeded"}


def test_a_thaw_after_the_application_is_told_in_the_users_date_format_and_clinics_time(scene):
    scene.vial.thawed_at = scene.at + 40 * MIN
    scene.vial.save()
    with translation.override("de"):
        [violation] = refused(scene)
    berlin = ZoneInfo(scene.clinic.time_zone)
    thawed, applied = (moment.astimezone(berlin) for moment in (scene.at + 40 * MIN, scene.at + 25 * MIN))
    assert violation.message == (
        f"Fläschchen {scene.vial} wurde um {thawed:%d.%m.%Y %H:%M} aufgetaut oder rekonstituiert, "
        f"erst nach der Anwendung um {applied:%d.%m.%Y %H:%M}."
    )


def test_an_application_entered_to_the_minute_of_the_thaw_is_accepted(scene):
    """A page enters the application to the minute: 10:25 may stand for 10:25:40, after a thaw
    at 10:25:30. A time with seconds before the thaw is still refused."""
    applied = scene.at + 25 * MIN
    scene.vial.thawed_at = applied + dt.timedelta(seconds=30)
    scene.vial.save()
    assert scene.record()


def test_an_application_timed_to_the_second_before_the_thaw_is_refused(scene):
    scene.vial.thawed_at = scene.at + 25 * MIN + dt.timedelta(seconds=30)
    scene.vial.save()
    early = scene.application(applied_at=scene.at + 25 * MIN + dt.timedelta(seconds=10))
    [violation] = refused(scene, applications=[early])
    assert (violation.rule, violation.field) == ("use-window-exceeded", "applications.0.vial")


def test_an_expired_lot_is_told_with_the_users_date_format(scene):
    scene.lot.expires_on = dt.date(2026, 9, 9)
    scene.lot.save()
    with translation.override("de"):
        [violation] = refused(scene)
    assert violation.message == f"Charge {scene.lot.number} ist am 09.09.2026 abgelaufen."


def test_a_vial_thawed_too_often_is_refused(scene):
    scene.vial.freeze_thaw_cycles = 2
    scene.vial.save()
    violations = refused(scene)
    assert rules(violations) == {"use-window-exceeded"}
    assert "2" in violations[0].message


def test_a_refrigerated_liquid_needs_no_thaw(clinic):
    product = factories.ProductFactory(
        clinic=clinic, storage_form=StorageForm.REFRIGERATED_LIQUID, storage_min_c=2, storage_max_c=8
    )
    scene = factories.SessionScene(clinic, product=product)
    stored = factories.VialFactory(lot=scene.lot)
    assert scene.record(applications=[scene.application(vial=stored.pk)])


# --- consent-missing ---------------------------------------------------------------------------


def test_no_consent_is_refused(scene):
    ConsentRecord.objects.filter(patient=scene.patient).delete()
    violations = refused(scene)
    assert rules(violations) == {"consent-missing"}
    assert violations[0].field == "patient"


def test_a_withdrawn_consent_is_refused(scene):
    scene.consent.withdrawn_at = scene.at - 10 * MIN
    scene.consent.withdrawn_by = scene.clinician
    scene.consent.save()
    assert rules(refused(scene)) == {"consent-missing"}


def test_a_consent_withdrawn_only_after_the_session_is_allowed(scene):
    scene.consent.withdrawn_at = scene.at + 3 * 60 * MIN
    scene.consent.withdrawn_by = scene.clinician
    scene.consent.save()
    assert scene.record()


def test_a_consent_of_an_outdated_version_is_refused(scene):
    factories.ConsentTemplateFactory(clinic=scene.clinic, version=2)
    assert rules(refused(scene)) == {"consent-missing"}


def test_a_photo_consent_is_no_treatment_consent(scene):
    ConsentRecord.objects.filter(patient=scene.patient).delete()
    photo = factories.ConsentTemplateFactory(clinic=scene.clinic, kind="photography")
    factories.ConsentRecordFactory(patient=scene.patient, template=photo, signed_at=scene.at - 60 * MIN)
    assert rules(refused(scene)) == {"consent-missing"}


# --- contraindication --------------------------------------------------------------------------


def test_pregnancy_is_refused(clinic):
    scene = factories.SessionScene(clinic, pregnancy=True)
    violations = refused(scene)
    assert rules(violations) == {"contraindication"}
    assert violations[0].field == "screening.pregnancy"
    assert violations[0].severity == "block"


def test_an_infection_in_the_treated_area_is_refused(clinic):
    scene = factories.SessionScene(clinic, active_infection={"areas": ["perioral"]})
    assert rules(refused(scene)) == {"contraindication"}


def test_an_infection_elsewhere_is_allowed(clinic):
    scene = factories.SessionScene(clinic, active_infection={"areas": ["hands"]})
    assert scene.record()


def test_an_area_specific_item_without_areas_counts_everywhere(clinic):
    scene = factories.SessionScene(clinic, malignancy=True)
    assert rules(refused(scene)) == {"contraindication"}


def test_a_warning_item_needs_acknowledgement_and_is_then_allowed(clinic):
    scene = factories.SessionScene(clinic, keloid=True)
    violations = refused(scene)
    assert [(v.rule, v.severity, v.field) for v in violations] == [
        ("contraindication", "warn", "screening.keloid")
    ]
    session = scene.record(acknowledged_warnings=["contraindication"])
    warning = session.warnings.get()
    assert (warning.rule, warning.acknowledged_by) == ("contraindication", scene.clinician)


def test_a_contraindication_is_told_in_the_users_language_with_its_date(clinic):
    scene = factories.SessionScene(clinic, keloid=True)
    answered_on = ScreeningAnswer.objects.get(patient=scene.patient, item="keloid").answered_on
    with translation.override("de"):
        [violation] = refused(scene)
    assert (
        violation.message == f"Kontraindikation: Neigung zu Keloiden (Screening vom {answered_on:%d.%m.%Y})."
    )
    assert violation.params == {"item": "keloid", "answered_on": answered_on.isoformat()}


def test_isotretinoin_within_6_months_warns_for_microneedling(clinic):
    recent = {"last_dose_on": timezone.localdate() - dt.timedelta(days=60)}
    scene = factories.SessionScene(clinic, isotretinoin=recent)
    assert [(v.rule, v.severity) for v in refused(scene)] == [("contraindication", "warn")]
    assert scene.record(acknowledged_warnings=["contraindication"])


def test_isotretinoin_within_6_months_blocks_ablative_laser_even_if_acknowledged(clinic):
    recent = {"last_dose_on": timezone.localdate() - dt.timedelta(days=60)}
    scene = factories.SessionScene(clinic, isotretinoin=recent)
    violations = refused(
        scene, procedures=[scene.laser("ablative_co2")], acknowledged_warnings=["contraindication"]
    )
    assert [(v.rule, v.severity) for v in violations] == [("contraindication", "block")]
    assert "ablative" in violations[0].message
    assert scene.record(procedures=[scene.laser("non_ablative")], acknowledged_warnings=["contraindication"])


def test_isotretinoin_more_than_6_months_ago_is_allowed_even_for_ablative_laser(clinic):
    old = {"last_dose_on": timezone.localdate() - dt.timedelta(days=200)}
    scene = factories.SessionScene(clinic, isotretinoin=old)
    assert scene.record(procedures=[scene.laser("ablative_eryag")])


def test_missing_screening_is_refused(scene):
    ScreeningAnswer.objects.filter(patient=scene.patient).delete()
    violations = refused(scene)
    assert [(v.rule, v.field, v.severity) for v in violations] == [("contraindication", "screening", "block")]


def test_outdated_screening_is_refused_and_recent_screening_allowed(scene):
    ScreeningAnswer.objects.filter(patient=scene.patient).update(
        answered_on=timezone.localdate() - dt.timedelta(days=95)
    )
    assert rules(refused(scene)) == {"contraindication"}
    factories.screen_patient(scene.patient, answered_on=timezone.localdate() - dt.timedelta(days=30))
    assert scene.record()


def test_the_newest_answer_counts(clinic):
    scene = factories.SessionScene(clinic, pregnancy=True)
    ScreeningAnswer.objects.filter(patient=scene.patient, item="pregnancy").update(
        answered_on=timezone.localdate() - dt.timedelta(days=10)
    )
    factories.ScreeningAnswerFactory(
        patient=scene.patient,
        item="pregnancy",
        present=False,
        answered_on=timezone.localdate() - dt.timedelta(days=1),
    )
    assert scene.record()


def test_the_clinic_sets_each_items_severity(clinic):
    clinic.contraindication_policy = {**clinic.contraindication_policy, "keloid": "block", "pregnancy": "off"}
    clinic.save()
    keloid = factories.SessionScene(clinic, keloid=True)
    assert [v.severity for v in refused(keloid, acknowledged_warnings=["contraindication"])] == ["block"]
    pregnant = factories.SessionScene(clinic, pregnancy=True)
    assert pregnant.record()


# --- dose-out-of-range -------------------------------------------------------------------------


def test_too_much_per_area_warns(scene):
    violations = refused(scene, applications=[scene.application(volume_ml=Decimal("4"))])
    assert [(v.rule, v.severity, v.field) for v in violations] == [
        ("dose-out-of-range", "warn", "applications.0.volume_ml")
    ]


def test_a_dose_is_told_with_the_users_decimal_separator(scene):
    with translation.override("de"):
        [violation] = refused(scene, applications=[scene.application(volume_ml=Decimal("4.5"))])
    assert violation.message.startswith("4,50 ml je Areal")


def test_too_little_per_area_warns_and_is_recorded_when_acknowledged(scene):
    low = [scene.application(volume_ml=Decimal("0.5"))]
    assert rules(refused(scene, applications=low)) == {"dose-out-of-range"}
    session = scene.record(applications=low, acknowledged_warnings=["dose-out-of-range"])
    assert list(session.warnings.values_list("rule", "acknowledged_by")) == [
        ("dose-out-of-range", scene.clinician.pk)
    ]


def test_the_volume_is_divided_among_the_areas(scene):
    session = scene.record(
        procedures=[scene.procedure(areas=["face", "neck"])],
        applications=[scene.application(areas=["face", "neck"], volume_ml=Decimal("4"))],
    )
    assert not session.warnings.exists()


# --- all at once -------------------------------------------------------------------------------


def test_every_violated_rule_is_listed_at_once_and_nothing_is_saved(clinic):
    scene = factories.SessionScene(clinic, pregnancy=True)
    ConsentRecord.objects.filter(patient=scene.patient).delete()
    scene.lot.status = LotStatus.QUARANTINED
    scene.lot.save()
    scene.vial.freeze_thaw_cycles = 2
    scene.vial.save()
    violations = refused(
        scene,
        applications=[
            scene.application(areas=["neck"], volume_ml=Decimal("5"), applied_at=scene.at + 90 * MIN)
        ],
    )
    assert rules(violations) == {
        "application-area-not-treated",
        "application-window",
        "lot-not-usable",
        "use-window-exceeded",
        "consent-missing",
        "contraindication",
        "dose-out-of-range",
    }
    assert TreatmentSession.objects.count() == 0
    assert ProtocolWarning.objects.count() == 0
