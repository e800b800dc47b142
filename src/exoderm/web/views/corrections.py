"""Corrections of a screening answer, a consent and a lot: a form with a reason, and the history.

The session's correction is the charting form (``web.views.sessions.session_correct``), the
identity's the patient edit page (``web.views.patients.patient_edit``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from exoderm.consent import selectors as consent_selectors
from exoderm.consent.services import correct_consent
from exoderm.core.permissions import Action
from exoderm.patients import selectors as patient_selectors
from exoderm.patients.services import correct_screening_answer
from exoderm.products import selectors as product_selectors
from exoderm.products.services import correct_lot
from exoderm.records.selectors import history_of
from exoderm.web.forms import ConsentCorrectionForm, LotCorrectionForm, ScreeningCorrectionForm
from exoderm.web.views.common import add_errors, clinic_of, page, user_of


def _correction_page(
    request: HttpRequest,
    *,
    record: models.Model,
    form_class: type[forms.Form],
    initial: dict[str, Any],
    correct: Callable[..., Any],
    title: str,
    back: str,
) -> HttpResponse:
    """The form prefilled with the record, saved through ``correct`` (which takes the form's
    fields and ``by``), and the record's corrections so far."""
    form = form_class(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            correct(by=user_of(request), **form.cleaned_data)
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, _("Corrected; the version before stays readable below."))
            return redirect(request.path)
    context = {
        "form": form,
        "title": title,
        "cancel_url": back,
        "submit_label": _("Save the correction"),
        "revisions": history_of(clinic=clinic_of(request), obj=record),
    }
    return render(request, "web/correction.html", context, status=422 if form.errors else 200)


@page(Action.EDIT_PATIENT)
def screening_answer_correct(request: HttpRequest, pk: int, answer_pk: int) -> HttpResponse:
    patient = patient_selectors.patient_detail(clinic=clinic_of(request), patient_id=pk)
    answer = patient_selectors.screening_answer(patient=patient, answer_id=answer_pk)

    def correct(**values: Any) -> Any:
        return correct_screening_answer(answer=answer, **values)

    return _correction_page(
        request,
        record=answer,
        form_class=ScreeningCorrectionForm,
        initial={
            "present": "yes" if answer.present else "no",
            "areas": answer.areas,
            "last_dose_on": answer.last_dose_on,
            "note": answer.note,
            "answered_on": answer.answered_on,
        },
        correct=correct,
        title=_("Correct the screening answer “%(item)s” of %(code)s")
        % {"item": answer.get_item_display(), "code": patient.code},
        back=reverse("patient", args=[patient.pk]),
    )


@page(Action.RECORD_CONSENT)
def consent_correct(request: HttpRequest, pk: int, consent_pk: int) -> HttpResponse:
    patient = patient_selectors.patient_detail(clinic=clinic_of(request), patient_id=pk)
    consent = consent_selectors.consent_of(patient=patient, consent_id=consent_pk)

    def correct(**values: Any) -> Any:
        return correct_consent(record=consent, **values)

    return _correction_page(
        request,
        record=consent,
        form_class=ConsentCorrectionForm,
        initial={"signed_by_name": consent.signed_by_name, "signed_at": consent.signed_at},
        correct=correct,
        title=_("Correct the consent “%(kind)s” of %(code)s")
        % {"kind": consent.template.get_kind_display(), "code": patient.code},
        back=reverse("patient", args=[patient.pk]),
    )


@page(Action.HANDLE_STOCK)
def lot_correct(request: HttpRequest, pk: int) -> HttpResponse:
    lot = product_selectors.lot(clinic_of(request), pk)

    def correct(**values: Any) -> Any:
        return correct_lot(lot=lot, **values)

    return _correction_page(
        request,
        record=lot,
        form_class=LotCorrectionForm,
        initial={"number": lot.number, "expires_on": lot.expires_on, "received_at": lot.received_at},
        correct=correct,
        title=_("Correct the receipt of lot %(number)s") % {"number": lot.number},
        back=reverse("lot", args=[lot.pk]),
    )
