"""Erasure on request (GDPR Art. 17) within the retention the law asks of medical records.

A clinic admin records a patient's erasure request (:func:`request_erasure`). What the law does
not require the clinic to keep goes at once, in the same transaction:

- the contact details (e-mail, phone, postal address): needed to reach a patient, not to document
  a treatment; also from the old versions that corrections kept (:func:`exoderm.records.services.redact`);
- the photos with their analyses, files and overlays, if the clinic chooses so when it records the
  request (``erase_photos``). Photos taken for treatment documentation may belong to the record
  (§630f BGB), so it is the clinic's decision, made and stored with the request. A photo a
  study's blinded rating task shows goes too: the study keeps the pseudonymous task, its ratings
  and scores (that a rating was given and what it said, for the study's integrity and audit),
  its rating image without the photo (``RatingImage.photo`` is set NULL), and nobody rates it
  any more; the metrics the study drew from the photo's analyses go with them;
- research use: every research consent still in force is withdrawn, so no study data of the
  patient is produced from then on;
- planned visits are cancelled: nobody is booked who asked to be forgotten.

The medical record itself (identity names and date of birth that attribute it, screening,
consents with their texts, sessions, procedures, applications, warnings, courses, kept photos) must
be kept ``RECORD_RETENTION_YEARS`` (Germany: 10, §630f (3) BGB) after the last treatment
(:func:`retention_end`). Until then it is **restricted** (``Patient.restricted_at``): hidden from
every list, search, calendar and API list (:func:`exoderm.patients.selectors.open_records`), not
treated, photographed or enrolled, and readable only by a clinic admin who gives a reason each
time (:func:`unlock`, valid ``RESTRICTED_ACCESS_MINUTES``, the reason stored). A recall still
counts the record and says to ask the clinic admin.

When the retention ends, :func:`erase_expired_records` (``exoderm manage records_housekeeping``,
or the task :func:`exoderm.patients.tasks.records_housekeeping`) erases the record for good: photos,
sessions with procedures, applications and warnings, courses with visits, consents, screening,
identity and the record. Lots and vials keep an anonymous :class:`ErasedApplication` per
application (volume and day, nothing about the patient) so that a recall still counts it. The
:class:`ErasureRequest` stays, with the pseudonymous code and ``erased_at``, as the proof that the
request was honoured. A reference the erasure cannot remove (a ``PROTECT`` foreign key from an app
that does not know about erasure) rolls that record's erasure back whole; it stays restricted, the
failure is logged and reported, and the next run tries again. A study participant's record is such
a case today: the study's participant, visits and ratings still name it. On request, such a
refusal is :class:`ErasureRefused` (the page's message, the API's 409), never a server error.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Max, ProtectedError, QuerySet
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from exoderm.clinics.models import User
from exoderm.consent.models import ConsentKind, ConsentRecord
from exoderm.core.clock import EARLIEST, too_early
from exoderm.core.permissions import Action, require
from exoderm.core.text import text_problem
from exoderm.courses.models import Course, Visit, VisitStatus
from exoderm.patients.models import (
    ErasedApplication,
    ErasureRequest,
    Patient,
    PatientIdentity,
    RestrictedRecordAccess,
)
from exoderm.patients.selectors import clinic_today
from exoderm.photos.models import Photo, PhotoEvent
from exoderm.photos.services import erase_photos_of_patient
from exoderm.records.models import Revision
from exoderm.records.services import redact
from exoderm.treatments.models import ExosomeApplication, TreatmentSession

logger = logging.getLogger(__name__)

#: What the law does not require the clinic to keep: erased at once on request.
CONTACT_FIELDS = ("email", "phone", "address")
NOTE_MAX = 1000
REASON_MAX = 500


class ErasureRefused(Exception):
    """The database refused part of an erasure request (a reference the erasure does not know to
    remove); nothing of the request was saved. Its message says so in the active language."""


def _years_later(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year + years, day=28)


def last_treatment_day(patient: Patient) -> dt.date:
    """The clinic day of the patient's last session or visit that took place; the day the record
    was created when there was none (screening and consents are documentation too)."""
    tz = zoneinfo.ZoneInfo(patient.clinic.time_zone)
    moments = [
        TreatmentSession.objects.filter(patient=patient).aggregate(last=Max("performed_at"))["last"],
        Visit.objects.filter(course__patient=patient, status=VisitStatus.DONE).aggregate(
            last=Max("planned_at")
        )["last"],
    ]
    treated = [moment for moment in moments if moment is not None]
    return (max(treated) if treated else patient.created_at).astimezone(tz).date()


def retention_end(patient: Patient) -> dt.date:
    """The last day the record must be kept: ``RECORD_RETENTION_YEARS`` after the last treatment."""
    return _years_later(last_treatment_day(patient), settings.RECORD_RETENTION_YEARS)


@dataclass(frozen=True)
class ErasurePlan:
    """What an erasure request recorded now would do: shown before the admin confirms."""

    contact_details: list[str]
    photo_count: int
    research_consents: int
    planned_visits: int
    retain_until: dt.date
    sessions: int
    kept: list[str] = field(default_factory=list)


def erasure_plan(*, patient: Patient) -> ErasurePlan:
    """What goes at once and what stays restricted until when, for the confirmation step."""
    identity = PatientIdentity.objects.filter(patient=patient).first()
    labels = {"email": _("email"), "phone": _("phone"), "address": _("address")}
    contact = [label for name, label in labels.items() if identity is not None and getattr(identity, name)]
    return ErasurePlan(
        contact_details=contact,
        photo_count=Photo.with_trashed.filter(patient=patient).count(),
        research_consents=_research_consents_in_force(patient).count(),
        planned_visits=Visit.objects.filter(course__patient=patient, status=VisitStatus.PLANNED).count(),
        retain_until=retention_end(patient),
        sessions=TreatmentSession.objects.filter(patient=patient).count(),
        kept=[
            _("name and date of birth"),
            _("screening"),
            _("consents"),
            _("treatment sessions"),
            _("courses and visits"),
        ],
    )


def _research_consents_in_force(patient: Patient) -> QuerySet[ConsentRecord]:
    now = timezone.now()
    return ConsentRecord.objects.filter(patient=patient, template__kind=ConsentKind.RESEARCH).exclude(
        withdrawn_at__lte=now
    )


@transaction.atomic
def request_erasure(
    *, patient: Patient, by: User, received_on: dt.date, erase_photos: bool, note: str = ""
) -> ErasureRequest:
    """Record the patient's erasure request and carry out what may go now (module docstring)."""
    require(by, Action.ERASE_PATIENT)
    if by.clinic_id != patient.clinic_id:
        raise ValidationError({"patient": _("The patient belongs to another clinic.")})
    patient = Patient.objects.select_for_update().select_related("clinic").get(pk=patient.pk)
    note = note.strip()
    errors: dict[str, str] = {}
    if patient.restricted_at is not None:
        errors["patient"] = _("An erasure request was recorded for this patient already.")
    if received_on > clinic_today(patient.clinic):
        errors["received_on"] = _("The request cannot have been received in the future.")
    elif too_early(received_on, earliest=EARLIEST):
        errors["received_on"] = _("The request cannot have been received before %(earliest)s.") % {
            "earliest": date_format(EARLIEST, "SHORT_DATE_FORMAT")
        }
    if len(note) > NOTE_MAX:
        errors["note"] = _("Keep the note under %(max)d characters.") % {"max": NOTE_MAX}
    elif (problem := text_problem(note)) is not None:
        errors["note"] = problem
    if errors:
        raise ValidationError(errors)

    try:
        return _carry_out(
            patient=patient, by=by, received_on=received_on, erase_photos=erase_photos, note=note
        )
    except (ProtectedError, IntegrityError) as error:
        # the whole request rolls back with this transaction: nothing half erased
        logger.exception("erasure request for %s refused by the database", patient.code)
        raise ErasureRefused(
            _(
                "The erasure was not carried out: some data of the patient is still referenced "
                "elsewhere and cannot be removed. Nothing was changed; please report this to "
                "your administrator."
            )
        ) from error


def _carry_out(
    *, patient: Patient, by: User, received_on: dt.date, erase_photos: bool, note: str
) -> ErasureRequest:
    """What goes at once (module docstring). A photo a study's rating task shows goes too: its
    rating image keeps the task's trace without it (``RatingImage.photo``)."""
    now = timezone.now()
    # phone_digits is derived from the phone and goes with it
    PatientIdentity.objects.filter(patient=patient).update(
        **dict.fromkeys((*CONTACT_FIELDS, "phone_digits"), "")
    )
    redact(patient=patient, fields=CONTACT_FIELDS)  # old versions kept by corrections hold them too
    _research_consents_in_force(patient).update(withdrawn_at=now, withdrawn_by=by)
    Visit.objects.filter(course__patient=patient, status=VisitStatus.PLANNED).update(
        status=VisitStatus.CANCELLED
    )
    if erase_photos:
        erase_photos_of_patient(patient=patient, by=by, note=_("erasure request"))
    patient.restricted_at = now
    patient.save(update_fields=["restricted_at"])
    request = ErasureRequest(
        clinic=patient.clinic,
        patient=patient,
        patient_code=patient.code,
        received_on=received_on,
        note=note,
        photos_erased=erase_photos,
        retain_until=retention_end(patient),
        recorded_by=by,
    )
    request.full_clean()
    request.save()
    return request


@transaction.atomic
def unlock(*, patient: Patient, by: User, reason: str) -> RestrictedRecordAccess:
    """Let the clinic admin ``by`` read the restricted ``patient`` for ``RESTRICTED_ACCESS_MINUTES``,
    storing the reason they gave."""
    require(by, Action.ERASE_PATIENT)
    reason = reason.strip()
    if by.clinic_id != patient.clinic_id or patient.restricted_at is None:
        raise ValidationError({"patient": _("Only a restricted record of your clinic is unlocked.")})
    if not reason:
        raise ValidationError({"reason": _("Say why you need to read this restricted record.")})
    if len(reason) > REASON_MAX:
        raise ValidationError(
            {"reason": _("Keep the reason under %(max)d characters.") % {"max": REASON_MAX}}
        )
    if (problem := text_problem(reason)) is not None:
        raise ValidationError({"reason": problem})
    now = timezone.now()
    access = RestrictedRecordAccess(
        patient=patient,
        user=by,
        reason=reason,
        granted_at=now,
        expires_at=now + dt.timedelta(minutes=settings.RESTRICTED_ACCESS_MINUTES),
    )
    access.full_clean()
    access.save()
    return access


def _erase_record(patient: Patient, *, now: dt.datetime) -> None:
    """Erase one restricted record for good, as far as foreign keys allow (module docstring)."""
    erase_photos_of_patient(patient=patient, by=None, note=_("retention period over"))
    applications = ExosomeApplication.objects.filter(session__patient=patient).select_related("session")
    tz = zoneinfo.ZoneInfo(patient.clinic.time_zone)
    ErasedApplication.objects.bulk_create(
        ErasedApplication(
            lot_id=application.lot_id,
            vial_id=application.vial_id,
            volume_ml=application.volume_ml,
            applied_on=application.applied_at.astimezone(tz).date(),
            erased_at=now,
        )
        for application in applications
    )
    Course.objects.filter(patient=patient).delete()  # with their visits
    TreatmentSession.objects.filter(patient=patient).delete()  # procedures, applications, warnings
    ConsentRecord.objects.filter(patient=patient).delete()
    PhotoEvent.objects.filter(patient=patient).delete()  # the deletion trail of photos now gone
    Revision.objects.filter(patient=patient).delete()  # old versions of what is erased now
    ErasureRequest.objects.filter(patient=patient).update(erased_at=now)
    patient.delete()  # identity, screening and unlocks go with it; the request keeps the code


@dataclass
class HousekeepingResult:
    erased: list[str] = field(default_factory=list)
    kept: int = 0
    failed: dict[str, str] = field(default_factory=dict)


def erase_expired_records(*, today: dt.date | None = None) -> HousekeepingResult:
    """Erase every restricted record whose retention ended before ``today`` (default: each clinic's
    today), one transaction each: a failure leaves that record restricted and the others done."""
    result = HousekeepingResult()
    requests = ErasureRequest.objects.filter(patient__isnull=False, erased_at__isnull=True).select_related(
        "patient__clinic"
    )
    for request in list(requests.order_by("pk")):
        patient = request.patient
        assert patient is not None  # filtered above
        end = retention_end(patient)
        if end >= (today or clinic_today(patient.clinic)):
            if end != request.retain_until:  # a later session or visit (charted afterwards) moved it
                ErasureRequest.objects.filter(pk=request.pk).update(retain_until=end)
            result.kept += 1
            continue
        try:
            with transaction.atomic():
                _erase_record(patient, now=timezone.now())
        except (ProtectedError, DatabaseError) as error:
            logger.exception("erasing the restricted record %s failed", request.patient_code)
            result.failed[request.patient_code] = str(error)
        else:
            result.erased.append(request.patient_code)
    return result
