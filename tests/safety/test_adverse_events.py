"""Adverse events in the domain: recording, the rules of an event, corrections that keep history,
who may do what, and clinic isolation (exoderm.safety services and selectors)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from exoderm.core.access import NotFound
from exoderm.patients.selectors import clinic_today
from exoderm.records.models import Revision
from exoderm.records.selectors import revisions_of
from exoderm.safety.models import AdverseEvent
from exoderm.safety.selectors import adverse_event_of, adverse_events_of, clinic_adverse_events
from exoderm.safety.services import record_adverse_event, update_adverse_event
from tests import factories

pytestmark = pytest.mark.django_db


def event_data(patient, **changes):
    today = clinic_today(patient.clinic)
    data = {
        "patient": patient,
        "term": "erythema",
        "onset": today - dt.timedelta(days=2),
        "severity": 1,
        "serious": False,
        "related_to_procedure": "probable",
        "related_to_product": "possible",
    }
    return {**data, **changes}


def refusal(error: ValidationError) -> dict[str, list[str]]:
    return error.message_dict


@pytest.fixture
def patient(clinic):
    return factories.PatientFactory(clinic=clinic)


def test_a_recorded_event_is_stored_with_who_recorded_it(clinician, patient):
    event = record_adverse_event(user=clinician, **event_data(patient, side="face_left"))

    stored = AdverseEvent.objects.get(pk=event.pk)
    assert (stored.term, stored.side, stored.severity, stored.recorded_by) == (
        "erythema",
        "face_left",
        1,
        clinician,
    )
    assert stored.is_open
    assert list(adverse_events_of(patients=[patient])) == [stored]


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"term": "other"}, "description", "other"),
        ({"serious": True}, "report_date", "serious"),
        ({"severity": 6}, "severity", "6"),
        ({"severity": 0}, "severity", "0"),
        ({"related_to_product": "maybe"}, "related_to_product", "maybe"),
        ({"side": "neck"}, "side", "neck"),
        ({"term": "rash"}, "term", "rash"),
    ],
)
def test_an_event_breaking_a_rule_is_refused_naming_the_field(clinician, patient, changes, field, words):
    with pytest.raises(ValidationError) as refused:
        record_adverse_event(user=clinician, **event_data(patient, **changes))

    messages = refusal(refused.value)
    assert field in messages, messages
    assert not AdverseEvent.objects.exists()


def test_dates_follow_the_clinics_calendar(clinician, patient):
    today = clinic_today(patient.clinic)
    cases = [
        ({"onset": today + dt.timedelta(days=1)}, "onset", "The onset lies in the future."),
        ({"onset": dt.date(1999, 12, 31)}, "onset", "This lies before 01 Jan 2000: check the year."),
        (
            {"resolved_on": today - dt.timedelta(days=3)},
            "resolved_on",
            "The event cannot resolve before its onset.",
        ),
        (
            {"resolved_on": today + dt.timedelta(days=1)},
            "resolved_on",
            "The resolution date lies in the future.",
        ),
        (
            {"serious": True, "report_date": today - dt.timedelta(days=5)},
            "report_date",
            "The report date lies before the onset.",
        ),
        (
            {"serious": True, "report_date": today + dt.timedelta(days=1)},
            "report_date",
            "The report date lies in the future.",
        ),
    ]
    for changes, field, message in cases:
        with pytest.raises(ValidationError) as refused:
            record_adverse_event(user=clinician, **event_data(patient, **changes))
        assert refusal(refused.value)[field] == [message], changes

    event = record_adverse_event(
        user=clinician, **event_data(patient, onset=today, resolved_on=today, serious=True, report_date=today)
    )
    assert event.resolved_on == today


def test_the_onset_cannot_lie_before_the_session_it_follows(clinician, patient):
    tz = ZoneInfo(patient.clinic.time_zone)
    session = factories.TreatmentSessionFactory(patient=patient, clinician=clinician)
    session_day = session.performed_at.astimezone(tz).date()

    with pytest.raises(ValidationError) as refused:
        record_adverse_event(
            user=clinician, **event_data(patient, session=session, onset=session_day - dt.timedelta(days=1))
        )
    assert refusal(refused.value) == {"onset": ["The onset lies before the session the event follows."]}

    event = record_adverse_event(user=clinician, **event_data(patient, session=session, onset=session_day))
    assert event.session == session


def test_the_session_must_be_the_same_patients(clinician, patient, clinic, other_clinic):
    other_patients = factories.TreatmentSessionFactory(patient=factories.PatientFactory(clinic=clinic))
    with pytest.raises(ValidationError) as refused:
        record_adverse_event(user=clinician, **event_data(patient, session=other_patients))
    assert refusal(refused.value) == {"session": ["The session is another patient's."]}

    other_clinics = factories.TreatmentSessionFactory(patient=factories.PatientFactory(clinic=other_clinic))
    with pytest.raises(NotFound):
        record_adverse_event(user=clinician, **event_data(patient, session=other_clinics))
    assert not AdverseEvent.objects.exists()


def test_another_clinics_patient_is_not_found(clinician, other_clinic):
    stranger = factories.PatientFactory(clinic=other_clinic)
    with pytest.raises(NotFound):
        record_adverse_event(user=clinician, **event_data(stranger))

    theirs = record_adverse_event(
        user=factories.UserFactory(clinic=other_clinic, role="clinician"), **event_data(stranger)
    )
    with pytest.raises(NotFound):
        adverse_event_of(clinic=clinician.clinic, event_id=theirs.pk)
    assert not clinic_adverse_events(clinic=clinician.clinic).exists()
    with pytest.raises(NotFound):
        update_adverse_event(user=clinician, event=theirs, reason="typo", severity=2)


def test_clinical_staff_record_only_clinicians_and_admins_correct_researchers_neither(
    clinician, assistant, clinic_admin, researcher, patient
):
    by_assistant = record_adverse_event(user=assistant, **event_data(patient))
    record_adverse_event(user=clinic_admin, **event_data(patient))
    with pytest.raises(PermissionDenied):
        record_adverse_event(user=researcher, **event_data(patient))

    for not_allowed in (assistant, researcher):
        with pytest.raises(PermissionDenied):
            update_adverse_event(user=not_allowed, event=by_assistant, reason="regraded", severity=2)
    update_adverse_event(user=clinic_admin, event=by_assistant, reason="regraded", severity=2)
    assert AdverseEvent.objects.get(pk=by_assistant.pk).severity == 2


def test_a_correction_keeps_the_version_before_with_the_reason(clinician, patient):
    event = record_adverse_event(user=clinician, **event_data(patient))
    today = clinic_today(patient.clinic)

    corrected = update_adverse_event(
        user=clinician, event=event, reason="Seen again: resolved, graded 2", resolved_on=today, severity=2
    )

    assert (corrected.resolved_on, corrected.severity) == (today, 2)
    (revision,) = revisions_of(clinic=patient.clinic, obj=event)
    assert revision.reason == "Seen again: resolved, graded 2"
    assert revision.patient == patient
    assert revision.changes == {"resolved_on": [None, today.isoformat()], "severity": [1, 2]}
    assert revision.snapshot["severity"] == 1


def test_a_correction_is_checked_like_a_new_event_and_saved_whole_or_not_at_all(clinician, patient):
    event = record_adverse_event(user=clinician, **event_data(patient))

    with pytest.raises(ValidationError) as refused:
        update_adverse_event(user=clinician, event=event, reason="serious", serious=True, severity=3)
    assert "report_date" in refusal(refused.value)
    with pytest.raises(ValidationError) as refused:
        update_adverse_event(user=clinician, event=event, reason="", severity=3)
    assert refusal(refused.value) == {"reason": ["Give the reason for the correction."]}
    with pytest.raises(ValidationError) as refused:
        update_adverse_event(user=clinician, event=event, reason="move", patient=factories.PatientFactory())
    assert refusal(refused.value) == {"patient": ["This field cannot be changed."]}

    stored = AdverseEvent.objects.get(pk=event.pk)
    assert (stored.serious, stored.severity) == (False, 1)
    assert not Revision.objects.exists()


def test_a_correction_that_changes_nothing_is_refused_and_writes_nothing(clinician, patient):
    event = record_adverse_event(user=clinician, **event_data(patient))
    with pytest.raises(ValidationError, match="Nothing was changed"):
        update_adverse_event(user=clinician, event=event, reason="checked", severity=1, term="erythema")
    assert not Revision.objects.exists()


def test_the_selector_filters_by_onset_and_leaves_out_restricted_records(clinician, patient, clinic):
    today = clinic_today(clinic)
    old = record_adverse_event(user=clinician, **event_data(patient, onset=today - dt.timedelta(days=30)))
    new = record_adverse_event(user=clinician, **event_data(patient, onset=today - dt.timedelta(days=1)))
    hidden = factories.PatientFactory(clinic=clinic)
    record_adverse_event(user=clinician, **event_data(hidden))
    hidden.restricted_at = timezone.now()
    hidden.save()

    assert list(adverse_events_of(patients=[patient, hidden])) == [new, old]
    assert list(adverse_events_of(patients=[patient], since=today - dt.timedelta(days=7))) == [new]
    with pytest.raises(ValidationError) as refused:
        record_adverse_event(user=clinician, **event_data(hidden))
    assert "patient" in refusal(refused.value)


def test_the_clinic_list_filters_open_serious_and_term(clinician, patient, clinic):
    today = clinic_today(clinic)
    resolved = record_adverse_event(user=clinician, **event_data(patient, resolved_on=today))
    serious = record_adverse_event(
        user=clinician, **event_data(patient, term="infection", serious=True, report_date=today, severity=3)
    )

    assert list(clinic_adverse_events(clinic=clinic, resolved=False)) == [serious]
    assert list(clinic_adverse_events(clinic=clinic, resolved=True)) == [resolved]
    assert list(clinic_adverse_events(clinic=clinic, serious=False)) == [resolved]
    assert list(clinic_adverse_events(clinic=clinic, term="infection")) == [serious]


def test_events_and_their_corrections_go_with_the_record_erased_for_good(clinician, clinic_admin, patient):
    from exoderm.patients import erasure

    session = factories.TreatmentSessionFactory(patient=patient, clinician=clinician)
    onset = session.performed_at.astimezone(ZoneInfo(patient.clinic.time_zone)).date()
    event = record_adverse_event(user=clinician, **event_data(patient, session=session, onset=onset))
    update_adverse_event(user=clinician, event=event, reason="regraded", severity=2)
    erasure.request_erasure(
        patient=patient, by=clinic_admin, received_on=timezone.localdate(), erase_photos=True
    )

    # restricted: hidden and closed to new events and corrections, kept until the retention ends
    assert not adverse_events_of(patients=[patient]).exists()
    with pytest.raises(ValidationError) as refused:
        update_adverse_event(user=clinician, event=event, reason="late", severity=3)
    assert "patient" in refusal(refused.value)
    assert AdverseEvent.objects.get(pk=event.pk).severity == 2

    after_retention = erasure.retention_end(patient) + dt.timedelta(days=1)
    assert erasure.erase_expired_records(today=after_retention).erased == [patient.code]
    assert not AdverseEvent.objects.exists() and not Revision.objects.exists()
