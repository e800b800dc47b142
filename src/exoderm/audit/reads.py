"""Reads of identifiable data, recorded by route: one table from URL route to what it shows.

After a successful (2xx) GET or HEAD, :class:`AuditMiddleware` looks the matched route up in
:data:`READS` and writes one event: the object the route's id names and the patient it concerns,
or, for a list, the query that selected it. Every route of the site and the API is either in
:data:`READS` or in :data:`NO_PATIENT_DATA` with the reason it shows none;
``tests/trust/test_audit_coverage.py`` walks the URLconf and fails on a route in neither, so a new
route cannot slip through unrecorded.

The table is keyed by the route pattern (``request.resolver_match.route``): django-ninja registers
one URL pattern per operation but the first pattern of a path answers every method of it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from exoderm.audit import chain, context
from exoderm.audit.models import AuditAction
from exoderm.clinics.middleware import client_address


def _patient_itself(object_id: int) -> int | None:
    return object_id


def _patient_of(label: str, path: str = "patient_id") -> Callable[[int], int | None]:
    """The patient of the row ``object_id`` of model ``label``: one lookup by primary key."""

    def find(object_id: int) -> int | None:
        from django.apps import apps

        model = apps.get_model(label)
        return model._base_manager.filter(pk=object_id).values_list(path, flat=True).first()

    return find


@dataclass(frozen=True)
class Read:
    """What a route shows: ``object_type``; the URL kwarg (or, with ``in_query``, the query
    parameter) holding its id, if one object; how to find the patient from that id."""

    object_type: str
    key: str = ""
    patient: Callable[[int], int | None] | None = None
    in_query: bool = False
    action: str = AuditAction.READ


PATIENT = "patients.patient"
PHOTO = "photos.photo"
SESSION = "treatments.treatmentsession"
VISIT = "courses.visit"
LOT = "products.lot"
APPOINTMENT = "booking.appointment"

_patient = Read(PATIENT, "pk", _patient_itself)
_photo_by_id = Read(PHOTO, "photo_id", _patient_of("photos.Photo"))
_api_patient = Read(PATIENT, "patient_id", _patient_itself)
_patient_in_query = Read(PATIENT, "patient", _patient_itself, in_query=True)
ADVERSE_EVENT = "safety.adverseevent"
_adverse_event = Read(ADVERSE_EVENT, "event_id", _patient_of("safety.AdverseEvent"))
STUDY = "studies.study"
_study_participant = Read("studies.participant", "participant_pk", _patient_of("studies.Participant"))
_participant = Read("studies.participant", "participant_id", _patient_of("studies.Participant"))

READS: dict[str, Read] = {
    # pages
    "": Read("today"),  # the day's sessions and visits, by patient name
    "today/overdue/": Read(VISIT),  # the overdue visits, by patient name
    "today/visits/": Read(  # one patient's visits of a day, by name
        VISIT, "visit", _patient_of("courses.Visit", "course__patient_id"), in_query=True
    ),
    "patients/": Read(PATIENT),
    "patients/<id:pk>/": _patient,
    "patients/<id:pk>/edit/": _patient,
    "patients/<id:pk>/consents/": _patient,
    "patients/<id:pk>/screening/": _patient,
    "patients/<id:pk>/consents/<id:consent_pk>/withdraw/": _patient,
    "patients/<id:pk>/enrol/": _patient,
    "patients/<id:pk>/consents/tablet/": _patient,  # the consent text and the patient's name
    "patients/<id:pk>/intake/": _patient,  # the patient's intake answers waiting for review
    "api/v1/patients/<patient_id>/intakes": _api_patient,
    "sessions/": Read(SESSION),
    "sessions/new/": Read(SESSION),  # the form names the patient chosen and offers the others
    "sessions/<id:pk>/": Read(SESSION, "pk", _patient_of("treatments.TreatmentSession")),
    "lots/<id:pk>/affected/": Read(LOT, "pk"),  # the recall list: patients who received the lot
    "courses/": Read("courses.course"),
    "courses/calendar/": Read(VISIT),
    "courses/calendar/mine.ics": Read(VISIT, action=AuditAction.EXPORT),
    "calendar/<str:token>.ics": Read(VISIT, action=AuditAction.EXPORT),
    "visits/<id:pk>/<slug:action>/": Read(VISIT, "pk", _patient_of("courses.Visit", "course__patient_id")),
    "study/outcomes.csv": Read("study.outcomes", action=AuditAction.EXPORT),
    "study/outcomes.xlsx": Read("study.outcomes", action=AuditAction.EXPORT),
    "photos/<id:photo_id>/file": _photo_by_id,
    "photos/<id:photo_id>/overlay.png": _photo_by_id,
    "photos/<id:photo_id>/thumb.jpg": _photo_by_id,
    "photos/<id:photo_id>/delete": _photo_by_id,
    "photos/<id:photo_id>/erase": _photo_by_id,
    "photos/report/<id:patient_id>.pdf": Read(
        PATIENT, "patient_id", _patient_itself, action=AuditAction.EXPORT
    ),
    "photos/patient/<id:patient_id>/": _api_patient,
    "photos/patient/<id:patient_id>/results": _api_patient,
    "photos/patient/<id:patient_id>/collage": _api_patient,  # the offer; the image (POST) records itself
    "photos/compare/<id:before_id>/<id:after_id>": Read(PHOTO, "before_id", _patient_of("photos.Photo")),
    "patients/<id:pk>/screening/<id:answer_pk>/correct/": _patient,
    "patients/<id:pk>/consents/<id:consent_pk>/correct/": _patient,
    "patients/<id:pk>/export/": _patient,  # the confirmation; the archive (POST) records itself
    "patients/<id:pk>/erasure/": _patient,  # the confirmation: what goes now, what stays until when
    "patients/<id:pk>/unlock/": _patient,  # the reason form of a restricted record
    "sessions/<id:pk>/correct/": Read(SESSION, "pk", _patient_of("treatments.TreatmentSession")),
    "audit/patient/<id:pk>/": Read("audit.auditevent"),
    "audit/user/<id:pk>/": Read("audit.auditevent"),
    # API
    "api/v1/patients": Read(PATIENT),
    "api/v1/patients/<patient_id>": _api_patient,
    "api/v1/patients/<patient_id>/screening": _api_patient,
    "api/v1/patients/<patient_id>/consents": _api_patient,
    "api/v1/patients/<patient_id>/visits": _api_patient,
    "api/v1/patients/<patient_id>/courses": _api_patient,
    "api/v1/lots/<lot_id>/recall": Read(LOT, "lot_id"),
    "api/v1/lots/<lot_id>/recall.csv": Read(LOT, "lot_id", action=AuditAction.EXPORT),
    "api/v1/lots/<lot_id>/recall.xlsx": Read(LOT, "lot_id", action=AuditAction.EXPORT),
    "api/v1/sessions": Read(SESSION),
    "api/v1/sessions/<session_id>": Read(SESSION, "session_id", _patient_of("treatments.TreatmentSession")),
    "api/v1/visits": Read(VISIT),
    "api/v1/visits.ics": Read(VISIT, action=AuditAction.EXPORT),
    "api/v1/visits/<visit_id>": Read(VISIT, "visit_id", _patient_of("courses.Visit", "course__patient_id")),
    "api/v1/photos": _patient_in_query,
    "api/v1/photos/trash": _patient_in_query,
    "api/v1/photos/events": _patient_in_query,
    "api/v1/photos/timeline": _patient_in_query,
    "api/v1/photos/healing": _patient_in_query,
    "api/v1/photos/report": Read(
        PATIENT, "patient", _patient_itself, in_query=True, action=AuditAction.EXPORT
    ),
    "api/v1/photos/compare": Read(PHOTO, "before", _patient_of("photos.Photo"), in_query=True),
    "api/v1/photos/<photo_id>": _photo_by_id,
    "api/v1/photos/<photo_id>/analysis": _photo_by_id,
    "api/v1/photos/<photo_id>/file": _photo_by_id,
    "api/v1/study/outcomes": Read("study.outcomes"),
    "api/v1/study/outcomes.csv": Read("study.outcomes", action=AuditAction.EXPORT),
    "api/v1/study/outcomes.xlsx": Read("study.outcomes", action=AuditAction.EXPORT),
    "api/v1/patients/<patient_id>/revisions": _api_patient,  # old versions: identity included
    "api/v1/patients/<patient_id>/screening/<answer_id>/revisions": _api_patient,
    "api/v1/patients/<patient_id>/consents/<consent_id>/revisions": _api_patient,
    "api/v1/sessions/<session_id>/revisions": Read(
        SESSION, "session_id", _patient_of("treatments.TreatmentSession")
    ),
    "api/v1/audit": Read("audit.auditevent"),
    "api/v1/appointments": Read(APPOINTMENT),  # the list; its POST (a booking) records itself
    "api/v1/appointments/<appointment_id>": Read(
        APPOINTMENT, "appointment_id", _patient_of("booking.Appointment")
    ),  # and its PATCH (a move), recorded by the model signals
    "booking/day/": Read(APPOINTMENT),  # the day's appointments by patient name
    "booking/week/": Read(APPOINTMENT),
    "booking/appointments/new/": Read(APPOINTMENT),  # the form offers the clinic's patients
    "booking/appointments/<id:pk>/": Read(APPOINTMENT, "pk", _patient_of("booking.Appointment")),
    "booking/appointments/<id:pk>/<slug:action>/": Read(
        APPOINTMENT, "pk", _patient_of("booking.Appointment")
    ),  # the confirmation names the patient
    "api/v1/audit.csv": Read("audit.auditevent", action=AuditAction.EXPORT),
    "patients/<id:pk>/adverse-events/new/": _patient,  # the form names the patient and their sessions
    "adverse-events/": Read(ADVERSE_EVENT),
    "adverse-events/<id:pk>/correct/": Read(ADVERSE_EVENT, "pk", _patient_of("safety.AdverseEvent")),
    "sessions/<id:pk>/healing/": Read(SESSION, "pk", _patient_of("treatments.TreatmentSession")),
    "api/v1/patients/<patient_id>/adverse-events": _api_patient,
    "api/v1/adverse-events": Read(ADVERSE_EVENT),
    "api/v1/adverse-events.csv": Read(ADVERSE_EVENT, action=AuditAction.EXPORT),
    "api/v1/adverse-events.xlsx": Read(ADVERSE_EVENT, action=AuditAction.EXPORT),
    "api/v1/adverse-events/<event_id>": _adverse_event,
    "api/v1/adverse-events/<event_id>/revisions": _adverse_event,
    "api/v1/sessions/<session_id>/healing-curve": Read(
        SESSION, "session_id", _patient_of("treatments.TreatmentSession")
    ),
    # study pages: participants by pseudonym and (for staff) by name, kits, allocations, rating photos
    "studies/<id:pk>/": Read(STUDY, "pk"),
    "studies/<id:pk>/enrol/": Read(STUDY, "pk"),  # the patients not yet enrolled, to choose from
    "studies/<id:pk>/deviations/new/": Read(STUDY, "pk"),  # the participants to choose from
    "studies/<id:pk>/adverse-events/new/": Read(STUDY, "pk"),
    "studies/<id:pk>/participants/<id:participant_pk>/withdraw/": _study_participant,
    "studies/<id:pk>/participants/<id:participant_pk>/unblind/": _study_participant,  # the reason form
    "studies/<id:pk>/participants/<id:participant_pk>/satisfaction/": _study_participant,
    "studies/<id:pk>/participants/<id:participant_pk>/chart/": _study_participant,  # the charting form
    "studies/<id:pk>/allocation/": Read(STUDY, "pk"),
    "studies/<id:pk>/allocation/<id:participant_pk>/": _study_participant,  # one allocation revealed
    "studies/<id:pk>/rate/": Read("studies.ratingtask"),
    "studies/<id:pk>/rate/<id:task_pk>/": Read(
        "studies.ratingtask", "task_pk", _patient_of("studies.RatingTask", "participant__patient_id")
    ),
    "studies/<id:pk>/images/<str:token>": Read("studies.ratingimage"),  # a de-identified rating photo
    # studies: participants are patients (by id and code); kits, ratings and events name them
    "api/v1/studies/<study_id>/participants": Read("studies.participant"),
    "api/v1/studies/<study_id>/participants/<participant_id>": _participant,
    "api/v1/studies/<study_id>/participants/<participant_id>/visits": _participant,
    "api/v1/studies/<study_id>/participants/<participant_id>/allocation": _participant,
    "api/v1/studies/<study_id>/screen-failures": Read("studies.screenfailure"),
    "api/v1/studies/<study_id>/satisfaction": Read("studies.satisfaction"),
    "api/v1/studies/<study_id>/kits": Read("studies.kit"),
    "api/v1/studies/<study_id>/kits/<code>": Read("studies.kit"),
    "api/v1/studies/<study_id>/rating-tasks": Read("studies.ratingtask"),
    # a de-identified photo of a participant, by its opaque token (no id to record)
    "api/v1/studies/<study_id>/rating-images/<token>": Read("studies.ratingimage"),
    "api/v1/studies/<study_id>/ratings": Read("studies.rating"),
    "api/v1/studies/<study_id>/adverse-events": Read("safety.adverseevent"),
    "api/v1/studies/<study_id>/deviations": Read("studies.deviation"),
    # messages to patients (exoderm.messaging): names, addresses and texts
    "messages/": Read("messaging.outboxmessage"),
    "patients/<id:pk>/messages/": _patient,
    # the confirmation before a resend: the message, the patient's name and current address
    "messages/<id:pk>/resend/": Read("messaging.outboxmessage", "pk", _patient_of("messaging.OutboxMessage")),
    "lots/<id:pk>/recall-notices/": Read(LOT, "pk"),  # the notices: patients who received the lot
    "api/v1/messages": Read("messaging.outboxmessage"),
    "api/v1/messages/<message_id>": Read(
        "messaging.outboxmessage", "message_id", _patient_of("messaging.OutboxMessage")
    ),
    "api/v1/patients/<patient_id>/message-preferences": _api_patient,
    "api/v1/lots/<lot_id>/recall-notices": Read(LOT, "lot_id"),
    # study results: participant-level rows under their study pseudonyms leave the system
    "api/v1/studies/<study_id>/export": Read("studies.participant", action=AuditAction.EXPORT),
    "api/v1/studies/<study_id>/report.pdf": Read("studies.participant", action=AuditAction.EXPORT),
    "studies/<id:study_id>/results/export": Read("studies.participant", action=AuditAction.EXPORT),
    "studies/<id:study_id>/results/report.pdf": Read("studies.participant", action=AuditAction.EXPORT),
}

_WRITES = "only writes (POST, PATCH, DELETE), recorded by the model signals"
_STOCK = "products, lots and vials: no patient data"
_OWN_ACCOUNT = "the user's own account (password, second factor, tokens): no patient data"
_STUDY_DEFINITION = "a study's definition (arms, criteria, endpoints, amendments): no patient data"
_EXPORTS_ITSELF = "the archive records its export itself (patients.export), one event per archive"
NO_PATIENT_DATA: dict[str, str] = {
    "healthz": "liveness for load balancers: no data",
    "readyz": "readiness checks: states of database, migrations, storage and workers, no data",
    "metrics": "Prometheus metrics: counts and latencies by route pattern, queue depth, no records",
    "login/": "sign-in (recorded as login / login_failed)",
    "logout/": "sign-out (recorded as logout)",
    "language/": _WRITES,
    "patients/new/": "an empty form (a duplicate check answers the POST)",
    "sessions/lot-status/": _STOCK,
    "sessions/window/": "the application window's length for a procedure time",
    "lots/": _STOCK,
    "lots/receive/": _STOCK,
    "lots/<id:pk>/": _STOCK,
    "lots/<id:pk>/release/": _STOCK,
    "lots/<id:pk>/quarantine/": _STOCK,
    "lots/<id:pk>/temperatures/": _STOCK,
    "lots/<id:pk>/recall/": "the recall form: how many patients received the lot, no one named",
    "lots/<id:pk>/vials/<id:vial_pk>/<slug:action>/": _STOCK,
    "products/": _STOCK,
    "products/new/": _STOCK,
    "products/<id:pk>/": _STOCK,
    "courses/templates/new/": "course templates: no patient data",
    "courses/calendar/subscribe/": "the user's own feed address",
    "manage/users/": "staff accounts, not patients (changes recorded by the model signals)",
    "manage/users/new/": "staff accounts, not patients",
    "manage/users/<id:pk>/": "staff accounts, not patients",
    "manage/consents/": "consent templates: no patient data",
    "manage/clinic/": "clinic settings",
    "manage/group/": "the clinic group's clinics: names, settings, numbers of users",
    "manage/group/new/": "a new clinic of the group and its administrator (recorded by the model signals)",
    "manage/reanalysis/": "counts of the clinic's photos re-analysed: no patient, no image",
    "manage/reanalysis/progress": "the same counts, polled while a re-analysis runs",
    "photos/<id:photo_id>/restore": _WRITES,
    "photos/patient/<id:patient_id>/check": "POST only: checks an image before upload; nothing stored",
    "photos/<id:photo_id>/status": "a photo's analysis status, polled while it runs: no image, no identity",
    "api/v1/openapi.json": "the API's schema",
    "api/v1/docs": "the API's documentation",
    "api/v1/": "the API's root",
    "api/v1/auth/token": "sign-in (recorded as the token's creation / login_failed)",
    "api/v1/products": _STOCK,
    "api/v1/products/<product_id>": _STOCK,
    "api/v1/lots": _STOCK,
    "api/v1/lots/<lot_id>": _STOCK,
    "api/v1/lots/<lot_id>/release": _STOCK,
    "api/v1/lots/<lot_id>/quarantine": _STOCK,
    "api/v1/lots/<lot_id>/vials": _STOCK,
    "api/v1/lots/<lot_id>/vials/<vial_id>/thaw": _STOCK,
    "api/v1/lots/<lot_id>/vials/<vial_id>/reconstitute": _STOCK,
    "api/v1/lots/<lot_id>/vials/<vial_id>/refreeze": _STOCK,
    "api/v1/lots/<lot_id>/vials/<vial_id>/discard": _STOCK,
    "api/v1/lots/<lot_id>/temperatures": _STOCK,
    "api/v1/lots/<lot_id>/temperatures/preview": _STOCK,
    "api/v1/course-templates": "course templates: no patient data",
    "api/v1/course-templates/<template_id>": "course templates: no patient data",
    "api/v1/consent-templates": "consent templates: no patient data",
    "api/v1/consent-templates/<template_id>": "consent templates: no patient data",
    "api/v1/calendar-feed": _WRITES,
    "api/v1/visits/<visit_id>/reschedule": _WRITES,
    "api/v1/visits/<visit_id>/missed": _WRITES,
    "api/v1/visits/<visit_id>/cancel": _WRITES,
    "api/v1/visits/<visit_id>/done": _WRITES,
    "api/v1/patients/<patient_id>/consents/<consent_id>/withdraw": _WRITES,
    "api/v1/appointments/<appointment_id>/cancel": _WRITES,
    "api/v1/appointments/<appointment_id>/no-show": _WRITES,
    "api/v1/appointments/<appointment_id>/check-in": _WRITES,
    "api/v1/appointments/<appointment_id>/undo-check-in": _WRITES,
    "booking/appointments/<id:pk>/move/": _WRITES,  # a GET only redirects to the appointment
    "booking/appointments/<id:pk>/check-in/": _WRITES,  # a GET only redirects to the appointment
    "booking/appointments/<id:pk>/undo-check-in/": _WRITES,
    "booking/settings/": "opening hours, holidays, rooms, devices, closures: no patient data",
    "booking/settings/clinicians/<id:pk>/": "a clinician's working hours: no patient data",
    "api/v1/photos/check": "checks an image before upload; nothing stored, no patient",
    "api/v1/photos/progress": "counts of analyses waiting: no patient data",
    "api/v1/photos/<photo_id>/status": "a photo's analysis status: no image, no identity",
    "api/v1/photos/<photo_id>/restore": _WRITES,
    "api/v1/photos/<photo_id>/erase": _WRITES,
    "api/v1/patients/<patient_id>/export": _EXPORTS_ITSELF,
    "api/v1/patients/<patient_id>/erasure": _WRITES,
    "api/v1/patients/<patient_id>/unlock": _WRITES,
    "api/v1/patients/<patient_id>/screening/<answer_id>": _WRITES,
    "api/v1/patients/<patient_id>/consents/<consent_id>": _WRITES,
    "api/v1/lots/<lot_id>/revisions": _STOCK,
    "api/v1/auth/tokens": _OWN_ACCOUNT,
    "api/v1/auth/tokens/<token_id>": _WRITES,
    "login/code/": "sign-in's second step (recorded as login / login_failed)",
    "password/reset/": _OWN_ACCOUNT,
    "password/reset/sent/": _OWN_ACCOUNT,
    "password/reset/<uidb64>/<token>/": _OWN_ACCOUNT,
    "password/reset/done/": _OWN_ACCOUNT,
    "account/": _OWN_ACCOUNT,
    "account/password/": _OWN_ACCOUNT,
    "account/second-factor/": _OWN_ACCOUNT,
    "account/recovery-codes/": _OWN_ACCOUNT,
    "account/tokens/<id:token_pk>/revoke/": _WRITES,
    "lots/<id:pk>/correct/": _STOCK,
    "manage/users/<id:pk>/unlock/": "staff accounts, not patients",
    "manage/users/<id:pk>/second-factor/reset/": "staff accounts, not patients",
    "manage/users/<id:pk>/tokens/<id:token_pk>/revoke/": "staff accounts, not patients",
    "manage/users/<id:pk>/password/temporary/": "staff accounts, not patients",
    "manage/users/<id:pk>/password/reset-email/": "staff accounts, not patients",
    "studies/": "the studies' titles and participant counts: no patient data",
    "studies/new/": "the form defining a study: no patient data",
    "studies/<id:pk>/roles/": _WRITES,
    "studies/<id:pk>/rating-tasks/": _WRITES,
    "api/v1/studies": _STUDY_DEFINITION,
    "api/v1/studies/<study_id>": _STUDY_DEFINITION,
    "api/v1/studies/<study_id>/amendments": _STUDY_DEFINITION,
    "api/v1/studies/<study_id>/roles": "staff assigned to study roles, not patients",
    "api/v1/studies/<study_id>/roles/<role_id>": _WRITES,
    "api/v1/studies/<study_id>/allocation-list": _WRITES,
    "api/v1/studies/<study_id>/randomization": "the allocation list's seed and parameters: no patient data",
    "api/v1/studies/<study_id>/flow": "counts of the CONSORT flow: no patient named",
    "api/v1/studies/<study_id>/results": "aggregate statistics of a study: no participant named",
    "studies/<id:study_id>/results/": "aggregate statistics and figures of a study: no participant named",
    "api/v1/studies/<study_id>/consort": "counts of the CONSORT flow: no patient named",
    "api/v1/studies/<study_id>/unblinding-at-end": "a write only: the act is itself an audit event",
    "api/v1/studies/<study_id>/participants/<participant_id>/course": _WRITES,
    "api/v1/studies/<study_id>/participants/<participant_id>/unblinding": _WRITES,
    "api/v1/studies/<study_id>/participants/<participant_id>/withdrawal": _WRITES,
    "api/v1/studies/<study_id>/participants/<participant_id>/sessions": _WRITES,
    "api/v1/studies/<study_id>/participants/<participant_id>/satisfaction": _WRITES,
    "api/v1/studies/<study_id>/deviations/overdue-visits": _WRITES,
    "messages/templates/": "message templates: wording with placeholders, no patient data",
    "messages/templates/<slug:kind>/<slug:channel>/<slug:language>/": "a message template and its "
    "preview with sample values: no patient data",
    "messages/templates/<slug:kind>/<slug:channel>/<slug:language>/preview/": "POST only: a template's "
    "preview with sample values",
    "api/v1/messages/<message_id>/resend": _WRITES,
    "api/v1/messages/<message_id>/bounce": _WRITES,
    "api/v1/message-templates": "message templates: no patient data",
    "api/v1/group/clinics": "the clinic group's clinics (names, settings, numbers of users) and new ones",
    "api/v1/message-templates/reset": _WRITES,
    "api/v1/message-templates/preview": "a template's preview with sample values: no patient data",
    "patients/<id:pk>/consents/<id:consent_pk>/signed.pdf": (
        "the signed consent's PDF (tablet or scan) records its download itself, as an export "
        "(consent.services)"
    ),
    "patients/<id:pk>/consents/<id:consent_pk>/email/": (
        "POST only: e-mails the signed PDF to the patient, recorded as an export (consent.services)"
    ),
    "patients/<id:pk>/consents/<id:consent_pk>/scan/": _WRITES,
    "patients/<id:pk>/intake/<id:intake_pk>/review/": _WRITES,
    "api/v1/patients/<patient_id>/tablet-signatures": _WRITES,
    "api/v1/patients/<patient_id>/consents/<consent_id>/scan": _WRITES,
    "api/v1/patients/<patient_id>/consents/<consent_id>/signed.pdf": (
        "the signed consent's PDF (tablet or scan) records its download itself, as an export "
        "(consent.services)"
    ),
    "api/v1/patients/<patient_id>/consents/<consent_id>/email": (
        "POST only: e-mails the signed PDF to the patient, recorded as an export (consent.services)"
    ),
    "api/v1/patients/<patient_id>/intakes/<intake_id>/confirm": _WRITES,
    "api/v1/patients/<patient_id>/intakes/<intake_id>/discard": _WRITES,
    # The one page without a login: the one-time link's token opens it. It shows the patient's given
    # name only, and records that read itself, in the clinic's chain with the patient
    # (patients.intake.intake_for_token): the middleware would know neither without a user.
    "intake/<str:token>/": "public intake form: records its own read, with clinic and patient",
    "api/v1/studies/<study_id>/kits/<code>/discard": _WRITES,
}
# Django's admin site: no model with patient data is registered there (the coverage test checks).
NO_PATIENT_DATA_PREFIXES = ("admin/",)

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,64}")
_LIST_QUERY_LIMIT = 20
_PLACEHOLDER = re.compile(r"<(?:\w+:)?(?P<key>\w+)>")


def _int(text: str | None) -> int | None:
    try:
        number = int(text or "")
    except ValueError:
        return None
    return number if 0 < number < 2**63 else None


def address_of(route: str, object_id: str, query: Any) -> str:
    """The address a read event records, as the reader would have typed it: the route's pattern
    (``/photos/<int:photo_id>/thumb.jpg``) with the id of what was read in its place (other parts
    of the pattern as "…": the event keeps only that id), and the query as ``before=1&after=2``."""
    rule = READS.get(route.removeprefix("/"))
    key = rule.key if rule is not None and not rule.in_query else None

    def filled(part: re.Match[str]) -> str:
        return object_id if part["key"] == key and object_id else "…"

    path = _PLACEHOLDER.sub(filled, route)
    if not isinstance(query, dict) or not query:
        return path
    return f"{path}?{urlencode(query, doseq=True)}"


def record_read(request: HttpRequest, rule: Read, route: str, kwargs: dict[str, Any]) -> None:
    """One event for the read ``rule`` describes; the user's clinic is the chain."""
    raw = request.GET.get(rule.key) if rule.in_query else (str(kwargs[rule.key]) if rule.key else None)
    object_id = _int(raw)
    patient_id = rule.patient(object_id) if rule.patient is not None and object_id is not None else None
    query = {k: request.GET.getlist(k)[:_LIST_QUERY_LIMIT] for k in list(request.GET)[:_LIST_QUERY_LIMIT]}
    user = getattr(request, "user", None)
    # A list downloaded as a file (?format=csv or xlsx, as the recall list offers) leaves the system.
    action = AuditAction.EXPORT if request.GET.get("format") in {"csv", "xlsx"} else rule.action
    chain.append(
        action=action,
        object_type=rule.object_type,
        object_id=object_id or "",
        clinic_id=getattr(user, "clinic_id", None),
        patient_id=patient_id,
        route="/" + route,
        query=query,
    )


class AuditMiddleware:
    """Sets the audit context of a request (channel, request id, address, user agent, the user
    once known), records a read of a route in :data:`READS` after a 2xx GET or HEAD, and sends the
    request id back as ``X-Request-ID``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SANE_REQUEST_ID.fullmatch(incoming) else str(uuid.uuid4())
        audit_context = context.Context(
            channel=context.Channel.API if request.path.startswith("/api/") else context.Channel.WEB,
            request_id=request_id,
            ip=client_address(request) or "",
            user_agent=request.headers.get("User-Agent", "")[:300],
            request=request,
        )
        with context.bound(audit_context):
            response = self.get_response(request)
            match = request.resolver_match
            if (
                match is not None
                and request.method in {"GET", "HEAD"}
                and 200 <= response.status_code < 300
                and settings.AUDIT_ENABLED
            ):
                rule = READS.get(match.route)
                if rule is not None:
                    record_read(request, rule, match.route, match.kwargs)
        response["X-Request-ID"] = request_id
        return response
