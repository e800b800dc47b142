"""Patients: search, the patient's page, adding a patient and correcting the identity, signing and
withdrawing consent."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from exoderm.booking.selectors import patient_appointments
from exoderm.consent import selectors as consent_selectors
from exoderm.consent.models import ConsentKind
from exoderm.consent.services import sign_consent, withdraw_consent
from exoderm.core.access import NotFound
from exoderm.core.contraindications import ScreeningItem
from exoderm.core.permissions import Action, can
from exoderm.courses.selectors import visits_of_patient
from exoderm.patients import erasure, selectors
from exoderm.patients.export import export_patient, patient_data
from exoderm.patients.intake import intakes_to_review
from exoderm.patients.models import Patient
from exoderm.patients.services import (
    correct_patient,
    create_patient,
    new_patient_problems,
    patient_correction_problems,
    record_screening,
)
from exoderm.records.selectors import history_of
from exoderm.treatments import selectors as treatment_selectors
from exoderm.web.forms import (
    SCAN_ACCEPT,
    ErasureRequestForm,
    PatientCorrectionForm,
    PatientForm,
    PatientIdentityForm,
    PatientSearchForm,
    ScreeningForm,
    SignConsentForm,
    UnlockForm,
    now_local,
)
from exoderm.web.listing import listing
from exoderm.web.views.common import add_errors, add_further_errors, cleaned_so_far, clinic_of, page, user_of

SORTS: dict[str, tuple[str, ...]] = {
    "code": ("code", "pk"),
    "name": ("identity__search_key", "pk"),  # folded: Müller sorts with Muller, not after Z
    "born": ("identity__date_of_birth", "pk"),
    "created": ("created_at", "pk"),
}


@page()
def patient_list(request: HttpRequest) -> HttpResponse:
    form = PatientSearchForm(request.GET)
    query = form.cleaned_data["q"] if form.is_valid() else ""
    patients = listing(
        request,
        selectors.patients(clinic=clinic_of(request), query=query),
        sorts=SORTS,
        default="name",
        keep=("q",),
    )
    context = {"form": form, "listing": patients, "query": query}
    if request.htmx and request.htmx.target == "patient-results":  # type: ignore[attr-defined]
        return render(request, "web/patients/results.html", context)
    return render(request, "web/patients/list.html", context)


@page(Action.EDIT_PATIENT)
def patient_new(request: HttpRequest) -> HttpResponse:
    clinic = clinic_of(request)
    form = PatientForm(request.POST or None)
    duplicates: list[Patient] = []
    if request.method == "POST" and not form.is_valid():
        # the service's checks too, on what the form let through: every problem on the first submit
        # (a date of birth in the future next to an invalid e-mail address); whether the same person
        # is recorded already is asked once the rest is right
        fields = {**cleaned_so_far(form), "allow_duplicate": True}
        add_further_errors(form, new_patient_problems(clinic=clinic, **fields))
    elif request.method == "POST":
        data = form.cleaned_data
        try:
            patient = create_patient(clinic=clinic, by=user_of(request), **data)
        except ValidationError as error:
            add_errors(form, error)
            if "allow_duplicate" in getattr(error, "error_dict", {}):
                form.ask_to_confirm_duplicate()
                duplicates = selectors.same_person(
                    clinic=clinic,
                    given_name=data["given_name"],
                    family_name=data["family_name"],
                    date_of_birth=data["date_of_birth"],
                )
        else:
            messages.success(request, _("Patient %(code)s added.") % {"code": patient.code})
            return redirect("patient", patient.pk)
    return render(request, "web/patients/new.html", {"form": form, "duplicates": duplicates})


@page(Action.EDIT_PATIENT)
def patient_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Correct the patient's identity (names, birth date, contact details), as PATCH in the API does."""
    patient = selectors.patient_detail(clinic=clinic_of(request), patient_id=pk)
    initial = {name: getattr(patient.identity, name) for name in PatientIdentityForm.base_fields}
    form = PatientCorrectionForm(request.POST or None, initial=initial)
    if request.method == "POST" and not form.is_valid():
        # the service's checks too, on what the form let through: every problem on one submit
        changes = cleaned_so_far(form)
        reason = changes.pop("reason") or ""
        add_further_errors(form, patient_correction_problems(patient=patient, changes=changes, reason=reason))
    elif request.method == "POST":
        changes = dict(form.cleaned_data)
        reason = changes.pop("reason")
        try:
            correct_patient(patient=patient, changes=changes, reason=reason, by=user_of(request))
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, _("Patient %(code)s changed.") % {"code": patient.code})
            return redirect("patient", patient.pk)
    context = {
        "patient": patient,
        "form": form,
        "revisions": history_of(clinic=patient.clinic, obj=patient),
    }
    return render(request, "web/patients/edit.html", context)


@page(Action.VIEW_IDENTITY)
def patient_detail(request: HttpRequest, pk: int) -> HttpResponse:
    clinic = clinic_of(request)
    try:
        patient = selectors.patient_detail(clinic=clinic, patient_id=pk)
    except NotFound:
        return restricted_detail(request, pk)
    screening = selectors.current_screening(patient=patient)
    visits = list(visits_of_patient(patient=patient))
    upcoming, past = patient_appointments(patient=patient, now=timezone.now())
    courses: dict[int, dict] = {}
    for visit in visits:
        courses.setdefault(visit.course_id, {"course": visit.course, "visits": []})["visits"].append(visit)
    context = {
        "patient": patient,
        "screening": [(label, screening.get(item)) for item, label in ScreeningItem.choices],
        "consents": list(consent_selectors.consents_of(patient=patient)),
        "current_versions": consent_selectors.current_versions(clinic_id=clinic.pk),
        "courses": list(courses.values()),
        "today": selectors.clinic_today(clinic),  # visits due from a later day cannot be done or missed yet
        "sessions": list(
            treatment_selectors.sessions_with_counts(clinic=clinic)
            .filter(patient=patient)
            .order_by("-performed_at")[:50]
        ),
        "intakes_to_review": intakes_to_review(patient=patient).count(),
        "appointment_lists": [
            (_("Upcoming"), upcoming, _("No upcoming appointments.")),
            (_("Past"), past, _("No past appointments.")),
        ],
        "scan_accept": SCAN_ACCEPT,
        "consent_form": SignConsentForm(
            initial={"signed_at": now_local(), "signed_by_name": str(patient.identity)}
        ),
    }
    return render(request, "web/patients/detail.html", context)


@page(Action.RECORD_CONSENT)
def consent_sign(request: HttpRequest, pk: int) -> HttpResponse:
    patient = selectors.patient_detail(clinic=clinic_of(request), patient_id=pk)
    initial: dict[str, object] = {"signed_at": now_local()}
    if request.GET.get("kind") in ConsentKind.values:  # a link for one kind ("record the photo consent")
        initial["kind"] = request.GET["kind"]
    form = SignConsentForm(request.POST or None, request.FILES or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        upload = data.pop("scan")
        try:
            sign_consent(
                patient=patient, by=user_of(request), scan=upload.chunks() if upload else None, **data
            )
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, _("Consent recorded."))
            return redirect("patient", patient.pk)
    return render(request, "web/patients/consent_sign.html", {"patient": patient, "form": form})


@page(Action.RECORD_CONSENT)
def consent_withdraw(request: HttpRequest, pk: int, consent_pk: int) -> HttpResponse:
    patient = selectors.patient_detail(clinic=clinic_of(request), patient_id=pk)
    consent = consent_selectors.consent_of(patient=patient, consent_id=consent_pk)
    error_text = ""
    if request.method == "POST":
        try:
            withdraw_consent(record=consent, by=user_of(request))
        except ValidationError as error:
            error_text = " ".join(error.messages)
        else:
            messages.success(request, _("Consent withdrawn."))
            return redirect("patient", patient.pk)
    return render(
        request,
        "web/patients/consent_withdraw.html",
        {"patient": patient, "consent": consent, "error": error_text},
    )


@page(Action.EDIT_PATIENT)
def screening(request: HttpRequest, pk: int) -> HttpResponse:
    clinic = clinic_of(request)
    patient = selectors.patient_detail(clinic=clinic, patient_id=pk)
    current = selectors.current_screening(patient=patient)
    initial: dict[str, object] = {"answered_on": selectors.clinic_today(clinic)}
    for item, answer in current.items():
        initial |= {
            f"{item}_present": "yes" if answer.present else "no",
            f"{item}_areas": answer.areas,
            f"{item}_last_dose_on": answer.last_dose_on,
            f"{item}_note": answer.note,
        }
    form = ScreeningForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            record_screening(
                patient=patient,
                answers=form.answers(),
                answered_on=form.cleaned_data["answered_on"],
                by=user_of(request),
            )
        except ValidationError as error:
            for path, texts in error.message_dict.items():
                name = ScreeningForm.field_of(path)
                form.add_error(name if name in form.fields else None, texts)
        else:
            messages.success(request, _("Screening recorded."))
            return redirect("patient", patient.pk)
    return render(request, "web/patients/screening.html", {"patient": patient, "form": form})


def restricted_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A record restricted by an erasure request, read-only, for the clinic admin who gave a reason
    (else the reason is asked for first); a 404 for everyone else, as for an unknown id."""
    user = user_of(request)
    if not can(user, Action.ERASE_PATIENT):
        raise NotFound(_("patient %(id)s not found.") % {"id": pk})
    patient = selectors.restricted_record(clinic=clinic_of(request), patient_id=pk)
    access = selectors.live_access(patient=patient, user=user)
    if access is None:
        return redirect("patient-unlock", patient.pk)
    context = {
        "patient": patient,
        "access": access,
        "data": patient_data(patient, exported_at=timezone.now()),
        "requests": list(patient.erasure_requests.all()),
    }
    return render(request, "web/patients/restricted.html", context)


@page(Action.ERASE_PATIENT)
def patient_unlock(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask the clinic admin why they need to read a restricted record; the reason is stored."""
    patient = selectors.restricted_record(clinic=clinic_of(request), patient_id=pk)
    form = UnlockForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            erasure.unlock(patient=patient, by=user_of(request), reason=form.cleaned_data["reason"])
        except ValidationError as error:
            add_errors(form, error)
        else:
            return redirect("patient", patient.pk)
    return render(
        request,
        "web/confirm.html",
        {
            "title": _("Restricted record %(code)s") % {"code": patient.code},
            "question": _(
                "The patient asked for their data to be erased. The record is kept until its retention "
                "period ends and may only be read for a reason, which is stored with your name."
            ),
            "form": form,
            "button": _("Read the record"),
            "button_class": "secondary",
            "cancel_url": reverse("patients"),
        },
    )


@page(Action.EXPORT_PATIENT)
def patient_export(request: HttpRequest, pk: int) -> HttpResponseBase:
    """Confirm, then download everything held about the patient as one ZIP archive."""
    patient = selectors.readable_patient(clinic=clinic_of(request), patient_id=pk, user=user_of(request))
    if request.method == "POST":
        response = FileResponse(
            export_patient(patient=patient, by=user_of(request)),
            as_attachment=True,
            filename=f"patient-{patient.code}.zip",
            content_type="application/zip",
        )
        response["Cache-Control"] = "private, no-store"  # the whole record: never kept by a cache
        return response
    return render(
        request,
        "web/confirm.html",
        {
            "title": _("Export of %(code)s") % {"code": patient.code},
            "question": _(
                "The archive holds everything recorded about the patient: identity and contact details, "
                "screening, consents, sessions, courses, photos and their analyses, as JSON and as a PDF in "
                "the patient's language. Hand it only to the patient or to whom they name."
            ),
            "button": _("Download the archive"),
            "button_class": "secondary",
            "cancel_url": reverse("patient", args=[patient.pk]),
        },
    )


@page(Action.ERASE_PATIENT)
def patient_erasure(request: HttpRequest, pk: int) -> HttpResponse:
    """Record an erasure request after showing exactly what goes now and what is restricted until when."""
    patient = selectors.patient_detail(clinic=clinic_of(request), patient_id=pk)
    plan = erasure.erasure_plan(patient=patient)
    form = ErasureRequestForm(
        request.POST or None, initial={"received_on": selectors.clinic_today(clinic_of(request))}
    )
    if request.method == "POST" and form.is_valid():
        try:
            recorded = erasure.request_erasure(patient=patient, by=user_of(request), **form.cleaned_data)
        except ValidationError as error:
            add_errors(form, error)
        except erasure.ErasureRefused as refused:
            form.add_error(None, str(refused))
        else:
            messages.success(
                request,
                _("Erasure request recorded. The record of %(code)s is restricted until %(day)s.")
                % {"code": patient.code, "day": date_format(recorded.retain_until, "SHORT_DATE_FORMAT")},
            )
            return redirect("patients")
    return render(request, "web/patients/erasure.html", {"patient": patient, "plan": plan, "form": form})
