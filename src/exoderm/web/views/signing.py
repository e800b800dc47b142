"""Consent signed by hand on the tablet, its PDF, and the intake the patient fills in before the visit.

The public intake page (:func:`intake_public`) is the one page without a login: the link's token is
the key, and the page shows nothing of the patient but the given name.
"""

from __future__ import annotations

import contextlib
from typing import Any

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from exoderm.clinics.middleware import client_address
from exoderm.consent import selectors as consent_selectors
from exoderm.consent import services as consent_services
from exoderm.consent.documents import document_name
from exoderm.consent.models import ConsentKind
from exoderm.core.permissions import Action, can
from exoderm.patients import intake as intakes
from exoderm.patients import selectors
from exoderm.patients.models import Intake, Patient
from exoderm.web.forms import ConsentScanForm
from exoderm.web.signing_forms import IntakeAnswersForm, TabletSignatureForm
from exoderm.web.views.common import add_errors, clinic_of, page, user_of

LANGUAGES = ("de", "en")
# the device named on the tablet once is offered again on the next signature of this session
DEVICE_SESSION_KEY = "signing_device"


def _language(request: HttpRequest, patient: Patient) -> str:
    chosen = request.POST.get("language") or request.GET.get("lang") or ""
    return chosen if chosen in LANGUAGES else patient.identity.language


@page(Action.RECORD_CONSENT)
def consent_tablet(request: HttpRequest, pk: int) -> HttpResponse:
    """The patient reads the current version of a consent and signs it with a finger."""
    clinic = clinic_of(request)
    patient = selectors.patient_detail(clinic=clinic, patient_id=pk)
    kinds = [
        (kind, label, consent_selectors.current_template(clinic_id=clinic.pk, kind=kind))
        for kind, label in ConsentKind.choices
    ]
    kind = request.POST.get("kind") or request.GET.get("kind") or ""
    template = next((found for value, _label, found in kinds if value == kind and found), None)
    if template is None:
        now = timezone.now()
        # every kind the paper form offers; one without a published text cannot be read, hence
        # not signed, and says so rather than going missing from the list
        offered = [
            (
                value,
                label,
                found is not None,
                found is not None
                and consent_selectors.active_consent(patient=patient, kind=value, at=now) is not None,
            )
            for value, label, found in kinds
        ]
        context = {"patient": patient, "kinds": offered, "any_text": any(found for _v, _l, found in kinds)}
        return render(request, "web/signing/choose.html", context)
    language = _language(request, patient)
    form = TabletSignatureForm(
        request.POST or None,
        initial={
            "signer_name": str(patient.identity),
            "device": request.session.get(DEVICE_SESSION_KEY, ""),
            "text_sha256": template.text_sha256(language),
        },
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        agent = request.headers.get("User-Agent", "")
        device = f"{data['device']} · {agent}" if data["device"] else agent
        try:
            consent_services.sign_on_tablet(
                patient=patient,
                kind=kind,
                language=language,
                text_sha256=data["text_sha256"],
                signer_name=data["signer_name"],
                signature_png=data["signature"],
                device=device,
                by=user_of(request),
            )
        except ValidationError as error:
            add_errors(form, error, fields={"kind": "signature", "language": "signature"})
        else:
            request.session[DEVICE_SESSION_KEY] = data["device"]
            messages.success(request, _("Consent signed. The signed PDF is in the patient's record."))
            return redirect("patient", patient.pk)
    context = {
        "patient": patient,
        "template": template,
        "kind": kind,
        "language": language,
        "languages": [(code, name) for code, name in (("de", "Deutsch"), ("en", "English"))],
        "title": template.title(language),
        "text": template.text(language),
        "form": form,
    }
    return render(request, "web/signing/sign.html", context)


@page(Action.VIEW_IDENTITY)
def consent_document(request: HttpRequest, pk: int, consent_pk: int) -> HttpResponse:
    """The signed document (the tablet's PDF or the scan of the signed paper), as a download
    (recorded as an export)."""
    patient = selectors.patient_detail(clinic=clinic_of(request), patient_id=pk)
    record = consent_selectors.consent_of(patient=patient, consent_id=consent_pk)
    data = consent_services.signed_document(record=record, by=user_of(request))
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{document_name(record)}"'
    response["Cache-Control"] = "private, no-store"
    return response


@require_POST
@page(Action.RECORD_CONSENT)
def consent_scan(request: HttpRequest, pk: int, consent_pk: int) -> HttpResponse:
    """Keep the scan of the signed paper with a consent recorded without one."""
    patient = selectors.patient_detail(clinic=clinic_of(request), patient_id=pk)
    record = consent_selectors.consent_of(patient=patient, consent_id=consent_pk)
    form = ConsentScanForm(request.POST, request.FILES)
    try:
        if not form.is_valid():
            raise ValidationError(_("Choose the file of the scanned form."))
        upload = form.cleaned_data["scan"]
        consent_services.attach_scan(record=record, scan=upload.chunks(), by=user_of(request))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("The scan of the signed consent is on file."))
    return redirect("patient", patient.pk)


@require_POST
@page(Action.RECORD_CONSENT)
def consent_email(request: HttpRequest, pk: int, consent_pk: int) -> HttpResponse:
    """Queue the signed PDF for the patient's e-mail address (sent by the worker from the outbox)."""
    patient = selectors.patient_detail(clinic=clinic_of(request), patient_id=pk)
    record = consent_selectors.consent_of(patient=patient, consent_id=consent_pk)
    try:
        message = consent_services.email_signed_consent(record=record, by=user_of(request))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            _("The signed consent goes to %(address)s in a moment; the outbox shows when it was sent.")
            % {"address": message.recipient},
        )
    return redirect("patient", patient.pk)


# --- intake: staff -------------------------------------------------------------------------------


def _review_initial(intake: Intake) -> dict[str, Any]:
    initial: dict[str, Any] = {}
    for answer in intakes.answers_of(intake):
        initial |= {
            f"{answer.item}_present": "yes" if answer.present else "no",
            f"{answer.item}_areas": answer.areas,
            f"{answer.item}_last_dose_on": answer.last_dose_on,
            f"{answer.item}_note": answer.note,
        }
    return initial


def _intake_page(
    request: HttpRequest, patient: Patient, *, bound: tuple[int, IntakeAnswersForm] | None = None
) -> HttpResponse:
    reviews = []
    for intake in intakes.intakes_to_review(patient=patient):
        if bound is not None and bound[0] == intake.pk:
            form = bound[1]
        else:
            form = IntakeAnswersForm(initial=_review_initial(intake), prefix=f"intake{intake.pk}")
        reviews.append({"intake": intake, "form": form})
    context = {
        "patient": patient,
        "reviews": reviews,
        "open_links": list(intakes.open_links(patient=patient)),
        "may_confirm": can(user_of(request), Action.CHART_SESSION),
        "valid_hours": intakes.LINK_VALID_HOURS,
    }
    return render(request, "web/signing/intake_staff.html", context, status=400 if bound else 200)


@page(Action.EDIT_PATIENT)
def patient_intake(request: HttpRequest, pk: int) -> HttpResponse:
    """Intakes of the patient: make a link (and send it), review and confirm filled-in answers."""
    patient = selectors.patient_detail(clinic=clinic_of(request), patient_id=pk)
    if request.method != "POST":
        return _intake_page(request, patient)
    by = user_of(request)
    intake, token = intakes.create_intake(patient=patient, by=by)
    url = request.build_absolute_uri(reverse("intake", args=[token]))
    sent_to = ""
    if "send" in request.POST:
        try:
            sent_to = intakes.email_intake_link(intake=intake, url=url, by=by).recipient
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
    qr = segno.make(url, error="m")
    context = {
        "patient": patient,
        "intake": intake,
        "url": url,
        "qr": qr.svg_data_uri(scale=5, border=2),
        "sent_to": sent_to,
    }
    return render(request, "web/signing/intake_link.html", context)


@require_POST
@page(Action.CHART_SESSION)
def intake_review(request: HttpRequest, pk: int, intake_pk: int) -> HttpResponse:
    """Confirm the patient's answers (as corrected on the page) as the screening, or discard them."""
    patient = selectors.patient_detail(clinic=clinic_of(request), patient_id=pk)
    intake = intakes.intake_of(patient=patient, intake_id=intake_pk)
    by = user_of(request)
    if "discard" in request.POST:
        try:
            intakes.discard_intake(intake=intake, by=by)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("The intake was set aside; nothing was recorded."))
        return redirect("patient", patient.pk)
    form = IntakeAnswersForm(request.POST, prefix=f"intake{intake.pk}")
    if form.is_valid():
        try:
            intakes.confirm_intake(intake=intake, answers=form.answers(), by=by)
        except ValidationError as error:
            for path, texts in error.message_dict.items():
                name = IntakeAnswersForm.field_of(path)
                form.add_error(name if name in form.fields else None, texts)
        else:
            messages.success(request, _("The patient's answers are now the screening of record."))
            return redirect("patient", patient.pk)
    return _intake_page(request, patient, bound=(intake.pk, form))


# --- intake: the patient, without a login --------------------------------------------------------


def _public(
    request: HttpRequest, template: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    response = render(request, template, context, status=status)
    # The address holds the key: never cached, never passed on to another site as a referrer
    # ("no-referrer" would make the browser send "Origin: null" with the form, which the CSRF
    # check refuses), never indexed.
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


UNAVAILABLE_STATUS = {"unknown": 404, "expired": 410, "used": 410}


def _unavailable(request: HttpRequest, error: Exception, chosen: str) -> HttpResponse:
    """The clear page for a link that cannot be used, in the language asked for or the browser's."""
    with translation.override(chosen) if chosen in LANGUAGES else contextlib.nullcontext():
        if isinstance(error, intakes.TooManyAttempts):
            response = _public(
                request, "web/signing/intake_unavailable.html", {"reason": "limit"}, status=429
            )
            response["Retry-After"] = str(error.retry_after_seconds)
            return response
        assert isinstance(error, intakes.IntakeUnavailable)
        return _public(
            request,
            "web/signing/intake_unavailable.html",
            {"reason": error.reason},
            status=UNAVAILABLE_STATUS[error.reason],
        )


@login_not_required
def intake_public(request: HttpRequest, token: str) -> HttpResponse:
    """The patient's questionnaire before the visit, opened by the one-time link."""
    address = client_address(request)
    chosen = request.POST.get("language") or request.GET.get("lang") or ""
    try:
        intake = intakes.intake_for_token(token=token, address=address)
    except (intakes.TooManyAttempts, intakes.IntakeUnavailable) as error:
        return _unavailable(request, error, chosen)
    language = chosen if chosen in LANGUAGES else intake.patient.identity.language
    clinic = intake.patient.clinic
    with translation.override(language):
        form = IntakeAnswersForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                intakes.submit_intake(token=token, answers=form.answers(), address=address)
            except (intakes.TooManyAttempts, intakes.IntakeUnavailable) as error:
                return _unavailable(request, error, language)
            except ValidationError as error:
                for path, texts in error.message_dict.items():
                    name = IntakeAnswersForm.field_of(path)
                    form.add_error(name if name in form.fields else None, texts)
            else:
                return _public(request, "web/signing/intake_done.html", {"clinic": clinic.name})
        context = {
            "form": form,
            "given_name": intake.patient.identity.given_name,
            "clinic": clinic.name,
            "clinic_time_zone": clinic.time_zone,
            "language": language,
            "expires_at": intake.expires_at,
        }
        return _public(
            request, "web/signing/intake_public.html", context, status=400 if form.is_bound else 200
        )
