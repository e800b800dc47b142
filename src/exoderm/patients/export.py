"""Everything held about one patient as one ZIP archive (GDPR Art. 15 access, Art. 20 portability).

The archive holds

- ``patient.json``: machine-readable, one key per section of :data:`SECTIONS` (identity, record,
  screening, consents with the template texts signed, sessions with procedures, applications and
  warnings, courses with visits, appointments, messages sent to the patient, photos with their
  analyses, erasure requests, who read the
  record while it was restricted, with the reason they gave, and the audit trail);
- ``patient.pdf``: the same, readable, in the patient's language (de or en);
- ``photos/<id>.<ext>``: every stored photo file, byte for byte as kept (the stored file is the
  validated upload re-encoded without metadata; the upload itself is not kept);
- ``README.txt``: what the files are, each with its size and SHA-256.

A section is one function ``(patient) -> JSON-able value``, one entry in :data:`SECTIONS` (the
audit trail of who read, changed or exported the record is one: ``audit_trail``). The archive is
written to a temporary file, photos streamed in chunks, so a large record never lies in memory
whole; every archive built is an ``export`` event of the audit trail.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
import zipfile
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from django.apps import apps
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from fpdf import FPDF

from exoderm.audit import chain
from exoderm.audit.models import AuditAction, AuditEvent
from exoderm.booking.models import Appointment, AppointmentKind, AppointmentStatus
from exoderm.clinics.logo import print_logo
from exoderm.clinics.models import Role, User
from exoderm.consent import documents as consent_documents
from exoderm.consent.models import ConsentRecord, ConsentScan, ConsentSignature
from exoderm.consent.selectors import signature_matches_text
from exoderm.core.access import NotFound
from exoderm.core.areas import area_list
from exoderm.core.contraindications import ScreeningItem
from exoderm.core.permissions import Action, require
from exoderm.courses.models import Course, VisitKind, VisitStatus
from exoderm.messaging.models import Channel, MessageKind, MessageStatus, OutboxMessage
from exoderm.patients.models import (
    ErasureRequest,
    Intake,
    Patient,
    PatientIdentity,
    RestrictedRecordAccess,
    ScreeningAnswer,
)
from exoderm.photos import storage
from exoderm.photos.models import Analysis, Photo, Timepoint, View
from exoderm.treatments.models import LaserType, ProcedureKind, TreatmentSession

FORMAT_VERSION = 1


def _user(user: User | None) -> str | None:
    return user.display_name if user is not None else None


def identity_section(patient: Patient) -> dict[str, Any] | None:
    identity = PatientIdentity.objects.filter(patient=patient).first()
    if identity is None:
        return None
    return {
        "given_name": identity.given_name,
        "family_name": identity.family_name,
        "date_of_birth": identity.date_of_birth,
        "email": identity.email,
        "phone": identity.phone,
        "address": identity.address,
        "language": identity.language,
    }


def record_section(patient: Patient) -> dict[str, Any]:
    return {
        "id": patient.pk,
        "code": patient.code,
        "clinic": patient.clinic.name,
        "fitzpatrick": patient.fitzpatrick,
        "glogau": patient.glogau,
        "created_at": patient.created_at,
        "restricted_at": patient.restricted_at,
    }


def screening_section(patient: Patient) -> list[dict[str, Any]]:
    answers = ScreeningAnswer.objects.filter(patient=patient).select_related("recorded_by")
    return [
        {
            "item": answer.item,
            "present": answer.present,
            "areas": answer.areas,
            "last_dose_on": answer.last_dose_on,
            "note": answer.note,
            "answered_on": answer.answered_on,
            "recorded_by": _user(answer.recorded_by),
            "recorded_at": answer.recorded_at,
        }
        for answer in answers.order_by("answered_on", "recorded_at", "pk")
    ]


def _tablet_signature(record: ConsentRecord) -> dict[str, Any] | None:
    """How a consent signed on the tablet was signed; its PDF lies in the archive's consents/."""
    signature = getattr(record, "signature", None)
    if signature is None:
        return None
    return {
        "language": signature.language,
        "text_sha256": signature.text_sha256,
        "signed_at": signature.signed_at,
        "signer_name": signature.signer_name,
        "device": signature.device,
        "witness": _user(signature.witness),
        "document": f"consents/{consent_documents.document_name(record)}",
        # the version's text still hashes to what was signed (templates are never edited)
        "text_matches_hash": signature_matches_text(signature),
    }


def _paper_scan(record: ConsentRecord) -> dict[str, Any] | None:
    """The scan of a consent signed on paper; the PDF lies in the archive's consents/."""
    scan = getattr(record, "scan", None)
    if scan is None:
        return None
    return {
        "uploaded_as": scan.uploaded_format,
        "uploaded_sha256": scan.uploaded_sha256,
        "uploaded_at": scan.uploaded_at,
        "uploaded_by": _user(scan.uploaded_by),
        "document": f"consents/{consent_documents.document_name(record)}",
    }


def consents_section(patient: Patient) -> list[dict[str, Any]]:
    records = ConsentRecord.objects.filter(patient=patient).select_related(
        "template", "recorded_by", "withdrawn_by", "signature__witness", "scan__uploaded_by"
    )
    return [
        {
            "kind": record.template.kind,
            "template_version": record.template.version,
            "title_de": record.template.title_de,
            "title_en": record.template.title_en,
            "text_de": record.template.text_de,
            "text_en": record.template.text_en,
            "signed_at": record.signed_at,
            "signed_by_name": record.signed_by_name,
            "recorded_by": _user(record.recorded_by),
            "withdrawn_at": record.withdrawn_at,
            "withdrawn_by": _user(record.withdrawn_by),
            "signed_on_tablet": _tablet_signature(record),
            "scan_of_paper": _paper_scan(record),
        }
        for record in records.order_by("signed_at", "pk")
    ]


def intakes_section(patient: Patient) -> list[dict[str, Any]]:
    """The questionnaires the patient filled in before a visit (never the link's token)."""
    return [
        {
            "created_at": intake.created_at,
            "expires_at": intake.expires_at,
            "submitted_at": intake.submitted_at,
            "answers": intake.answers,
            "reviewed_at": intake.reviewed_at,
            "reviewed_by": _user(intake.reviewed_by),
            "confirmed": intake.confirmed,
        }
        for intake in Intake.objects.filter(patient=patient)
        .select_related("reviewed_by")
        .order_by("created_at", "pk")
    ]


def sessions_section(patient: Patient) -> list[dict[str, Any]]:
    sessions = (
        TreatmentSession.objects.filter(patient=patient)
        .select_related("clinician")
        .prefetch_related(
            "procedures", "applications__lot__product", "applications__vial", "warnings__acknowledged_by"
        )
        .order_by("performed_at", "pk")
    )
    return [
        {
            "id": session.pk,
            "performed_at": session.performed_at,
            "clinician": _user(session.clinician),
            "notes": session.notes,
            "procedures": [
                {
                    "kind": procedure.kind,
                    "areas": procedure.areas,
                    "started_at": procedure.started_at,
                    "ended_at": procedure.ended_at,
                    "device": procedure.device,
                    "needle_depth_mm": procedure.needle_depth_mm,
                    "laser_type": procedure.laser_type,
                    "wavelength_nm": procedure.wavelength_nm,
                    "pulse_energy_mj": procedure.pulse_energy_mj,
                    "density_pct": procedure.density_pct,
                    "passes": procedure.passes,
                }
                for procedure in session.procedures.all()
            ],
            "applications": [
                {
                    "product": application.lot.product.name,
                    "lot_number": application.lot.number,
                    "vial_serial": application.vial.serial,
                    "volume_ml": application.volume_ml,
                    "areas": application.areas,
                    "applied_at": application.applied_at,
                }
                for application in session.applications.all()
            ],
            "warnings": [
                {
                    "rule": warning.rule,
                    "message": warning.message,
                    "acknowledged_by": _user(warning.acknowledged_by),
                    "acknowledged_at": warning.acknowledged_at,
                }
                for warning in session.warnings.all()
            ],
        }
        for session in sessions
    ]


def courses_section(patient: Patient) -> list[dict[str, Any]]:
    courses = (
        Course.objects.filter(patient=patient)
        .select_related("template", "clinician")
        .prefetch_related("visits")
        .order_by("starts_at", "pk")
    )
    return [
        {
            "template": course.template.name,
            "clinician": _user(course.clinician),
            "starts_at": course.starts_at,
            "visits": [
                {
                    "kind": visit.kind,
                    "session_number": visit.session_number,
                    "weeks_after_session": visit.weeks_after_session,
                    "planned_at": visit.planned_at,
                    "due_from": visit.due_from,
                    "due_until": visit.due_until,
                    "status": visit.status,
                    "session_id": visit.session_id,
                }
                for visit in sorted(course.visits.all(), key=lambda visit: (visit.planned_at, visit.pk))
            ],
        }
        for course in courses
    ]


def appointments_section(patient: Patient) -> list[dict[str, Any]]:
    """Every appointment in the appointment book, cancelled and missed ones included."""
    appointments = Appointment.objects.filter(patient=patient).select_related("clinician", "room", "device")
    return [
        {
            "id": appointment.pk,
            "kind": appointment.kind,
            "starts_at": appointment.starts_at,
            "ends_at": appointment.ends_at,
            "clinician": _user(appointment.clinician),
            "room": appointment.room.name if appointment.room else None,
            "device": appointment.device.name if appointment.device else None,
            "status": appointment.status,
            "visit_id": appointment.visit_id,
            "booked_at": appointment.created_at,
        }
        for appointment in appointments.order_by("starts_at", "pk")
    ]


def messages_section(patient: Patient) -> list[dict[str, Any]]:
    """Every message written to the patient (reminders, aftercare, recall notices...): to whom,
    how, its text and what became of it. Not the outbox's delivery internals (keys, leases)."""
    messages = OutboxMessage.objects.filter(patient=patient).order_by("created_at", "pk")
    return [
        {
            "kind": message.kind,
            "channel": message.channel,
            "recipient": message.recipient,
            "language": message.language,
            "subject": message.subject,
            "text": message.body,
            "status": message.status,
            "created_at": message.created_at,
            "sent_at": message.sent_at,
        }
        for message in messages
    ]


def _photos(patient: Patient) -> list[Photo]:
    """Every photo held, those in the trash (restorable until purged) included."""
    photos = Photo.with_trashed.filter(patient=patient).select_related("uploaded_by")
    return list(photos.order_by("taken_at", "pk"))


def photo_archive_name(photo: Photo) -> str:
    return f"photos/{photo.pk}{'.png' if photo.content_type == 'image/png' else '.jpg'}"


def photos_section(patient: Patient) -> list[dict[str, Any]]:
    photos = _photos(patient)
    analyses: dict[int, list[Analysis]] = {}
    for analysis in Analysis.with_trashed.filter(photo__in=photos).order_by("created_at", "pk"):
        analyses.setdefault(analysis.photo_id, []).append(analysis)
    return [
        {
            "id": photo.pk,
            "file": photo_archive_name(photo),
            "sha256": photo.sha256,
            "content_type": photo.content_type,
            "width": photo.width,
            "height": photo.height,
            "view": photo.view,
            "area": photo.area,
            "timepoint": photo.timepoint,
            "taken_at": photo.taken_at,
            "taken_at_source": photo.taken_at_source,
            "mm_per_px": photo.mm_per_px,
            "session_id": photo.session_id,
            "uploaded_by": _user(photo.uploaded_by),
            "uploaded_at": photo.uploaded_at,
            "uploaded_format": photo.source_format,
            "in_trash_since": photo.trashed_at,
            "analyses": [
                {
                    "engine_version": analysis.engine_version,
                    "roi": analysis.roi,
                    "usable": analysis.usable,
                    "created_at": analysis.created_at,
                    "data": analysis.data,
                }
                for analysis in analyses.get(photo.pk, [])
            ],
        }
        for photo in photos
    ]


def erasure_requests_section(patient: Patient) -> list[dict[str, Any]]:
    requests = ErasureRequest.objects.filter(patient=patient).order_by("recorded_at", "pk")
    return [
        {
            "received_on": request.received_on,
            "photos_erased": request.photos_erased,
            "retain_until": request.retain_until,
            "recorded_at": request.recorded_at,
        }
        for request in requests
    ]


def restricted_reads_section(patient: Patient) -> list[dict[str, Any]]:
    """Who read the record while it was restricted, when and why (the reasons they gave)."""
    accesses = RestrictedRecordAccess.objects.filter(patient=patient).select_related("user")
    return [
        {"user": _user(access.user), "reason": access.reason, "at": access.granted_at}
        for access in accesses.order_by("granted_at", "pk")
    ]


def audit_section(patient: Patient) -> list[dict[str, Any]]:
    """Who read, changed or exported the record, when and how: the audit trail's events about the
    patient (GDPR Art. 15 (1) c: the recipients), without the staff's addresses and browsers."""
    events = AuditEvent.objects.filter(clinic_id=patient.clinic_id, patient_id=patient.pk)
    return [
        {"at": at, "action": action, "by": username, "role": role, "what": what, "channel": channel}
        for at, action, username, role, what, channel in events.order_by("at", "id").values_list(
            "at", "action", "username", "role", "object_type", "channel"
        )
    ]


SECTIONS: dict[str, Callable[[Patient], Any]] = {
    "identity": identity_section,
    "record": record_section,
    "screening": screening_section,
    "consents": consents_section,
    "intakes": intakes_section,
    "sessions": sessions_section,
    "courses": courses_section,
    "appointments": appointments_section,
    "messages": messages_section,
    "photos": photos_section,
    "erasure_requests": erasure_requests_section,
    "restricted_reads": restricted_reads_section,
    "audit_trail": audit_section,
}
"""Every section of ``patient.json``, in order. One more section is one more entry."""


def patient_data(patient: Patient, *, exported_at: dt.datetime) -> dict[str, Any]:
    """``patient.json`` as Python values."""
    data: dict[str, Any] = {"format_version": FORMAT_VERSION, "exported_at": exported_at}
    for name, section in SECTIONS.items():
        data[name] = section(patient)
    return data


@dataclass(frozen=True)
class ArchiveEntry:
    name: str
    size: int
    sha256: str


def _add_bytes(archive: zipfile.ZipFile, name: str, data: bytes) -> ArchiveEntry:
    archive.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
    return ArchiveEntry(name, len(data), hashlib.sha256(data).hexdigest())


def _add_file(archive: zipfile.ZipFile, name: str, chunks: Iterator[bytes]) -> ArchiveEntry:
    """Copy a file into the archive chunk by chunk (photos are compressed already: stored)."""
    digest, size = hashlib.sha256(), 0
    with archive.open(zipfile.ZipInfo(name, date_time=timezone.now().timetuple()[:6]), "w") as target:
        for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
            target.write(chunk)
    return ArchiveEntry(name, size, digest.hexdigest())


def _chunks(photo: Photo) -> Iterator[bytes]:
    """The photo as uploaded (decrypted from the store; a damaged file fails the whole export)."""
    return storage.stream(photo.file_name)


def _readme(patient: Patient, entries: list[ArchiveEntry], *, exported_at: dt.datetime) -> bytes:
    lines = [
        f"exoderm export of patient {patient.code} ({patient.clinic.name}), {exported_at.isoformat()}",
        "",
        "patient.json  everything held about the patient, machine-readable (UTF-8 JSON)",
        "patient.pdf   the same, readable",
        "photos/       the stored photo files (validated, re-encoded without metadata at upload)",
        "consents/     the signed consents: a PDF of exactly what was signed on the tablet, or of the",
        "              scan of the paper signed by hand",
        "",
        "size (bytes)  sha256  file",
        *(f"{entry.size}  {entry.sha256}  {entry.name}" for entry in entries),
        "",
    ]
    return "\n".join(lines).encode()


def export_patient(*, patient: Patient, by: User) -> IO[bytes]:
    """The archive of everything held about ``patient``, as an open temporary file at its start
    (the caller streams and closes it; it disappears when closed)."""
    require(by, Action.EXPORT_PATIENT)
    if by.clinic_id != patient.clinic_id:
        raise NotFound(
            _("%(thing)s %(id)s not found.") % {"thing": Patient._meta.verbose_name, "id": patient.pk}
        )
    exported_at = timezone.now()
    data = patient_data(patient, exported_at=exported_at)
    target = tempfile.TemporaryFile()  # noqa: SIM115 -- handed to the caller, who streams and closes it
    try:
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as archive:
            entries = [
                _add_bytes(
                    archive,
                    "patient.json",
                    json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2).encode(),
                ),
                _add_bytes(archive, "patient.pdf", patient_pdf(patient, data, reader_language=by.language)),
            ]
            for photo in _photos(patient):
                entries.append(_add_file(archive, photo_archive_name(photo), _chunks(photo)))
            for signature in ConsentSignature.objects.filter(record__patient=patient).select_related(
                "record__template"
            ):
                name = f"consents/{consent_documents.document_name(signature.record)}"
                entries.append(_add_bytes(archive, name, consent_documents.signed_pdf(signature)))
            scans = ConsentScan.objects.filter(record__patient=patient).select_related("record__template")
            for scan in scans:
                name = f"consents/{consent_documents.document_name(scan.record)}"
                entries.append(_add_bytes(archive, name, consent_documents.scanned_pdf(scan)))
            _add_bytes(archive, "README.txt", _readme(patient, entries, exported_at=exported_at))
    except BaseException:
        target.close()
        raise
    target.seek(0)
    # one event per archive, whichever way it leaves (the page's POST, the API's GET)
    chain.append(
        action=AuditAction.EXPORT,
        object_type=Patient._meta.label_lower,
        object_id=patient.pk,
        clinic_id=patient.clinic_id,
        patient_id=patient.pk,
    )
    return target


# --- the readable PDF ---------------------------------------------------------------------------


def _latin1(text: object) -> str:
    """The PDF core fonts speak Latin-1, umlauts and ß included: replace what lies beyond it."""
    value = str(text)
    for a, b in (("–", "-"), ("—", "-"), ("≥", ">="), ("≤", "<="), ("’", "'"), ("“", '"'), ("”", '"')):
        value = value.replace(a, b)
    return value.encode("latin-1", "replace").decode("latin-1")


class _Document:
    def __init__(self, language: str, tz: zoneinfo.ZoneInfo) -> None:
        self.language, self.tz = language, tz
        self.pdf = FPDF(format="A4")
        self.pdf.set_margins(15, 15, 15)
        self.pdf.set_auto_page_break(True, margin=15)
        self.pdf.add_page()
        self.pdf.set_lang(language)

    def when(self, value: object) -> str:
        if isinstance(value, dt.datetime):
            local = value.astimezone(self.tz)
            return (
                local.strftime("%d.%m.%Y %H:%M")
                if self.language == "de"
                else local.strftime("%Y-%m-%d %H:%M")
            )
        if isinstance(value, dt.date):
            return value.strftime("%d.%m.%Y") if self.language == "de" else value.isoformat()
        return "-" if value in (None, "") else str(value)

    def heading(self, text: str, size: int = 13) -> None:
        self.pdf.ln(2)
        self.pdf.set_font("Helvetica", "B", size)
        self.pdf.multi_cell(0, 7, _latin1(text), new_x="LMARGIN", new_y="NEXT")
        self.pdf.set_font("Helvetica", "", 9)

    def line(self, text: str) -> None:
        self.pdf.multi_cell(0, 4.5, _latin1(text), new_x="LMARGIN", new_y="NEXT")

    def pairs(self, rows: list[tuple[str, object]]) -> None:
        for label, value in rows:
            self.line(f"{label}: {self.when(value)}")


def _label(choices: Any, code: str) -> str:
    """The words the pages show for a stored code (an unknown code as it is)."""
    return str(dict(choices.choices).get(code, code)) if code else ""


def _model_name(label: str) -> str:
    """What an audit event was about, by the model's name ("patients.patient": "patient")."""
    try:
        return str(apps.get_model(label)._meta.verbose_name)
    except (LookupError, ValueError):
        return label


def patient_pdf(patient: Patient, data: dict[str, Any], *, reader_language: str = "en") -> bytes:
    """The readable copy of ``data`` (:func:`patient_data`) in the patient's language, else the
    reader's: every stored code worded as the pages word it."""
    identity = data["identity"]
    languages = ("de", "en")
    if identity and identity["language"] in languages:
        language = identity["language"]
    else:
        language = reader_language if reader_language in languages else "en"
    with translation.override(language):
        doc = _Document(language, zoneinfo.ZoneInfo(patient.clinic.time_zone))
        print_logo(doc.pdf, patient.clinic.logo_png)
        doc.pdf.set_title(_("Everything we hold about you"))
        doc.heading(_("Everything we hold about you"), 17)
        doc.line(
            _("%(clinic)s, exported on %(date)s")
            % {"clinic": patient.clinic.name, "date": doc.when(data["exported_at"])}
        )
        doc.heading(_("Identity"))
        if identity:
            doc.pairs(
                [
                    (_("Name"), f"{identity['given_name']} {identity['family_name']}"),
                    (_("Date of birth"), identity["date_of_birth"]),
                    (_("Email"), identity["email"]),
                    (_("Phone"), identity["phone"]),
                    (_("Address"), identity["address"]),
                ]
            )
        record = data["record"]
        doc.heading(_("Record"))
        doc.pairs(
            [
                (_("Pseudonymous code"), record["code"]),
                (_("Fitzpatrick skin type"), record["fitzpatrick"]),
                (_("Glogau photoaging class"), record["glogau"]),
                (_("Created"), record["created_at"]),
            ]
        )
        doc.heading(_("Screening"))
        for answer in data["screening"] or [{}]:
            if answer:
                present = _("yes") if answer["present"] else _("no")
                details = [present, area_list(answer["areas"])]
                if answer["last_dose_on"]:
                    details.append(_("last dose %(day)s") % {"day": doc.when(answer["last_dose_on"])})
                doc.line(
                    f"{doc.when(answer['answered_on'])}  {_label(ScreeningItem, answer['item'])}: "
                    f"{', '.join(filter(None, [*details, answer['note']]))}"
                )
            else:
                doc.line(_("None recorded."))
        doc.heading(_("Consents"))
        for consent in data["consents"]:
            title = consent["title_de"] if language == "de" else consent["title_en"]
            doc.heading(f"{title} (v{consent['template_version']})", 10)
            doc.pairs(
                [
                    (_("Signed"), consent["signed_at"]),
                    (_("Signed by"), consent["signed_by_name"]),
                    (_("Withdrawn"), consent["withdrawn_at"]),
                ]
            )
            doc.line(consent["text_de"] if language == "de" else consent["text_en"])
        doc.heading(_("Treatment sessions"))
        for session in data["sessions"]:
            doc.heading(f"{doc.when(session['performed_at'])}  {session['clinician']}", 10)
            for procedure in session["procedures"]:
                kind = _label(ProcedureKind, procedure["kind"])
                if procedure["laser_type"]:
                    kind = f"{kind} ({_label(LaserType, procedure['laser_type'])})"
                doc.line(f"{kind}: {area_list(procedure['areas'])}")
            for application in session["applications"]:
                doc.line(
                    _("%(product)s lot %(lot)s, %(volume)s ml on %(areas)s")
                    % {
                        "product": application["product"],
                        "lot": application["lot_number"],
                        "volume": application["volume_ml"],
                        "areas": area_list(application["areas"]),
                    }
                )
            for warning in session["warnings"]:
                doc.line(f"! {warning['message']}")
            if session["notes"]:
                doc.line(session["notes"])
        doc.heading(_("Courses and visits"))
        for course in data["courses"]:
            doc.heading(f"{course['template']} ({doc.when(course['starts_at'])})", 10)
            for visit in course["visits"]:
                doc.line(
                    f"{doc.when(visit['planned_at'])}  {_label(VisitKind, visit['kind'])}  "
                    f"{_label(VisitStatus, visit['status'])}"
                )
        doc.heading(_("Appointments"))
        kinds, statuses = dict(AppointmentKind.choices), dict(AppointmentStatus.choices)
        for appointment in data["appointments"] or [{}]:
            if appointment:
                where = ", ".join(filter(None, [appointment["room"], appointment["device"]]))
                doc.line(
                    f"{doc.when(appointment['starts_at'])}  {kinds[appointment['kind']]}  "
                    f"{appointment['clinician']}{f'  {where}' if where else ''}  "
                    f"{statuses[appointment['status']]}"
                )
            else:
                doc.line(_("None booked."))
        doc.heading(_("Messages sent to you"))
        for message in data["messages"] or [{}]:
            if message:
                doc.heading(
                    f"{doc.when(message['sent_at'] or message['created_at'])}  "
                    f"{_label(MessageKind, message['kind'])}",
                    10,
                )
                doc.pairs(
                    [
                        (_("Channel"), _label(Channel, message["channel"])),
                        (_("Recipient"), message["recipient"]),
                        (_("Status"), _label(MessageStatus, message["status"])),
                        (_("Sent"), message["sent_at"]),
                    ]
                )
                doc.line("\n".join(filter(None, [message["subject"], message["text"]])))
            else:
                doc.line(_("None sent."))
        doc.heading(_("Photos"))
        for photo in data["photos"]:
            doc.line(
                "  ".join(
                    filter(
                        None,
                        [
                            doc.when(photo["taken_at"]),
                            _label(View, photo["view"]),
                            area_list([photo["area"]]) if photo["area"] else "",
                            _label(Timepoint, photo["timepoint"]),
                            photo["file"],
                            ngettext("%(count)d analysis", "%(count)d analyses", len(photo["analyses"]))
                            % {"count": len(photo["analyses"])},
                        ],
                    )
                )
            )
        if data["photos"]:
            doc.line(_("The measurements of each analysis are in patient.json (photos, analyses, data)."))
        doc.heading(_("Questionnaires before a visit"))
        for intake in data["intakes"] or [{}]:
            if intake:
                doc.pairs(
                    [
                        (_("Sent"), intake["created_at"]),
                        (_("Filled in"), intake["submitted_at"]),
                        (_("Reviewed"), intake["reviewed_at"]),
                    ]
                )
            else:
                doc.line(_("None."))
        if data["intakes"]:
            doc.line(_("Your answers are in patient.json (intakes)."))
        doc.heading(_("Erasure requests"))
        for request in data["erasure_requests"] or [{}]:
            if request:
                doc.line(
                    _("Received on %(received)s; photos erased: %(photos)s; kept restricted until %(until)s")
                    % {
                        "received": doc.when(request["received_on"]),
                        "photos": _("yes") if request["photos_erased"] else _("no"),
                        "until": doc.when(request["retain_until"]),
                    }
                )
            else:
                doc.line(_("None."))
        for access in data["restricted_reads"]:
            doc.line(
                _("%(at)s read by %(user)s while restricted: %(reason)s")
                % {"at": doc.when(access["at"]), "user": access["user"], "reason": access["reason"]}
            )
        doc.heading(_("Who read, changed or exported your record"))
        doc.line(
            _(
                "Every access to your record by our staff, from the audit trail (the same list is in "
                "patient.json, audit_trail)."
            )
        )
        roles, actions = dict(Role.choices), dict(AuditAction.choices)
        for event in data["audit_trail"] or [{}]:
            if event:
                role = roles.get(event["role"], event["role"])
                doc.line(
                    f"{doc.when(event['at'])}  {_model_name(event['what'])} "
                    f"{actions.get(event['action'], event['action'])}  {event['by']}"
                    + (f" ({role})" if role else "")
                )
            else:
                doc.line(_("None."))
        return bytes(doc.pdf.output())
