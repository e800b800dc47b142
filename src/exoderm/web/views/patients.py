"""Patients: search, the patient's page, adding a patient and correcting the identity, signing and
withdrawing consent."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from exoderm.consent import selectors as consent_selectors
from exoderm.consent.services import sign_consent, withdraw_consent
from exoderm.core.contraindications import ScreeningItem
from exoderm.core.permissions import Action
from exoderm.courses.selectors import visits_of_patient
from exoderm.patients import selectors
from exoderm.patients.models import Patient
from exoderm.patients.services import correct_patient, create_patient, record_screening
from exoderm.records.selectors import revisions_of
from exoderm.treatments import selectors as treatment_selectors
from exoderm.web.forms import (
    PatientCorrectionForm,
    PatientForm,
    PatientIdentityForm,
    PatientSearchForm,
    ScreeningForm,
    SignConsentForm,
    now_local,
)
from exoderm.web.listing import listing
from exoderm.web.views.common import add_errors, clinic_of, page, user_of

SORTS = {
    "code": ("code", "pk"),
    "name": ("identity__family_name", "identity__given_name", "pk"),
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
    if request.method == "POST" and form.is_valid():
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
    if request.method == "POST" and form.is_valid():
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
        "revisions": revisions_of(clinic=patient.clinic, obj=patient),
    }
    return render(request, "web/patients/edit.html", context)


@page(Action.VIEW_IDENTITY)
def patient_detail(request: HttpRequest, pk: int) -> HttpResponse:
    clinic = clinic_of(request)
    patient = selectors.patient_detail(clinic=clinic, patient_id=pk)
    screening = selectors.current_screening(patient=patient)
    visits = list(visits_of_patient(patient=patient))
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
        "consent_form": SignConsentForm(
            initial={"signed_at": now_local(), "signed_by_name": str(patient.identity)}
        ),
    }
    return render(request, "web/patients/detail.html", context)


@page(Action.RECORD_CONSENT)
def consent_sign(request: HttpRequest, pk: int) -> HttpResponse:
    patient = selectors.patient_detail(clinic=clinic_of(request), patient_id=pk)
    form = SignConsentForm(request.POST or None, initial={"signed_at": now_local()})
    if request.method == "POST" and form.is_valid():
        try:
            sign_consent(patient=patient, by=user_of(request), **form.cleaned_data)
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
