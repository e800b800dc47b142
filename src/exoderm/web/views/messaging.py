"""Messages to patients: the outbox, resending, the clinic's message templates with a preview, a
patient's messages and opt-outs (a panel of the patient page), recall notices of a lot."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from exoderm.core.permissions import Action, can
from exoderm.core.text import NOTE, SHORT_TEXT
from exoderm.messaging import selectors, services, wording
from exoderm.messaging.models import TEMPLATE_KINDS, Channel, MessageKind, MessageStatus
from exoderm.patients import selectors as patient_selectors
from exoderm.products import selectors as product_selectors
from exoderm.web.forms import text_field
from exoderm.web.listing import listing
from exoderm.web.views.common import add_errors, clinic_of, page, user_of

OUTBOX_SORTS = {
    "created": ("created_at", "pk"),
    "status": ("status", "created_at", "pk"),
    "kind": ("kind", "created_at", "pk"),
    "sent": ("sent_at", "pk"),
}


class TemplateForm(forms.Form):
    subject = text_field(label=gettext_lazy("Subject"), max_length=SHORT_TEXT, required=False)
    body = text_field(label=gettext_lazy("Text"), max_length=NOTE, rows=10)


class OptOutForm(forms.Form):
    email_opt_out = forms.BooleanField(label=gettext_lazy("No messages by e-mail"), required=False)
    sms_opt_out = forms.BooleanField(label=gettext_lazy("No messages by SMS"), required=False)


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 18 else None


@page(Action.VIEW_IDENTITY)
def outbox(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    kind = request.GET.get("kind", "")
    rows = selectors.outbox(
        clinic_of(request),
        status=status if status in MessageStatus.values else None,
        kind=kind if kind in MessageKind.values else None,
        lot_id=_int(request.GET.get("lot")),
    )
    context = {
        "listing": listing(
            request, rows, sorts=OUTBOX_SORTS, default="-created", keep=("status", "kind", "lot")
        ),
        "status": status,
        "kind": kind,
        "statuses": MessageStatus.choices,
        "kinds": MessageKind.choices,
        "resendable": services.RESENDABLE,
    }
    return render(request, "web/messaging/outbox.html", context)


@page(Action.VIEW_IDENTITY)
def message_resend(request: HttpRequest, pk: int) -> HttpResponse:
    """Send a message again after a confirmation page naming what goes to whom: a resend reaches the
    patient a second time (an unconfirmed message may have arrived), so only the POST sends."""
    message = selectors.message(clinic_of(request), pk)
    back = request.GET.get("back") or request.POST.get("back")
    back_url = reverse("patient", args=[message.patient_id]) if back == "patient" else reverse("outbox")
    if request.method != "POST":
        context = {
            "title": _("Send the message again?"),
            "message": message,
            "identity": getattr(message.patient, "identity", None),
            "recipient": services.resend_recipient(message),
            "error": ""
            if message.status in services.RESENDABLE
            else _("Only an unconfirmed, failed or bounced message can be sent again."),
            "button": _("Send again"),
            "button_class": "primary",
            "cancel_url": back_url,
        }
        return render(request, "web/messaging/resend_confirm.html", context)
    try:
        services.resend(message=message, by=user_of(request))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("The message is queued again."))
    return redirect(back_url)


@page(Action.MANAGE_CLINIC)
def template_list(request: HttpRequest) -> HttpResponse:
    return render(
        request, "web/messaging/templates.html", {"entries": selectors.templates(clinic_of(request))}
    )


def _template_key(kind: str, channel: str, language: str) -> None:
    if kind not in TEMPLATE_KINDS or channel not in Channel.values or language not in ("de", "en"):
        raise Http404(_("No such message template."))


@page(Action.MANAGE_CLINIC)
def template_edit(request: HttpRequest, kind: str, channel: str, language: str) -> HttpResponse:
    _template_key(kind, channel, language)
    clinic = clinic_of(request)
    in_use = selectors.template_in_use(clinic, kind=kind, channel=channel, language=language)
    if request.method == "POST" and request.POST.get("reset"):
        services.reset_template(
            clinic=clinic, kind=kind, channel=channel, language=language, by=user_of(request)
        )
        messages.success(request, _("The built-in wording is used again."))
        return redirect("message-templates")
    form = TemplateForm(request.POST or None, initial={"subject": in_use.subject, "body": in_use.body})
    if channel == Channel.SMS:
        del form.fields["subject"]
    if request.method == "POST" and form.is_valid():
        try:
            services.save_template(
                clinic=clinic,
                kind=kind,
                channel=channel,
                language=language,
                subject=form.cleaned_data.get("subject", ""),
                body=form.cleaned_data["body"],
                by=user_of(request),
            )
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, _("Message template saved."))
            return redirect("message-templates")
    shown = selectors.preview(
        clinic=clinic,
        channel=channel,
        language=language,
        subject=form.data.get("subject", in_use.subject) if form.is_bound else in_use.subject,
        body=form.data.get("body", in_use.body) if form.is_bound else in_use.body,
    )
    context = {
        "form": form,
        "kind_label": MessageKind(kind).label,
        "channel": channel,
        "channel_label": Channel(channel).label,
        "language": language,
        "preview": shown,
        "placeholders": [wording.shown_placeholder(name) for name in wording.PLACEHOLDERS],
        "preview_url": request.path + "preview/",
    }
    return render(request, "web/messaging/template_edit.html", context)


@require_POST
@page(Action.MANAGE_CLINIC)
def template_preview(request: HttpRequest, kind: str, channel: str, language: str) -> HttpResponse:
    """The text being edited as a patient would get it (HTMX, while typing); stores nothing."""
    _template_key(kind, channel, language)
    subject = request.POST.get("subject", "")[:SHORT_TEXT]
    body = request.POST.get("body", "")[:NOTE]
    unknown = wording.unknown_placeholders(subject + body)
    shown = selectors.preview(
        clinic=clinic_of(request), channel=channel, language=language, subject=subject, body=body
    )
    return render(
        request, "web/messaging/_preview.html", {"preview": shown, "unknown": unknown, "channel": channel}
    )


@page(Action.VIEW_IDENTITY)
def patient_messages(request: HttpRequest, pk: int) -> HttpResponse:
    """The patient page's panel (loaded by HTMX): the patient's messages and their opt-outs."""
    patient = patient_selectors.patient_detail(clinic=clinic_of(request), patient_id=pk)
    identity = getattr(patient, "identity", None)
    form = OptOutForm(
        request.POST or None,
        initial={
            "email_opt_out": identity.email_opt_out if identity else False,
            "sms_opt_out": identity.sms_opt_out if identity else False,
        },
    )
    if request.method == "POST":
        if not can(user_of(request), Action.EDIT_PATIENT) or identity is None:
            raise Http404
        if form.is_valid():
            services.set_opt_out(
                patient=patient,
                email=form.cleaned_data["email_opt_out"],
                sms=form.cleaned_data["sms_opt_out"],
                by=user_of(request),
            )
            messages.success(request, _("Message preferences saved."))
            return redirect("patient", patient.pk)
    context = {
        "patient": patient,
        "rows": selectors.patient_messages(patient),
        "form": form,
        "resendable": services.RESENDABLE,
    }
    return render(request, "web/messaging/_patient_messages.html", context)


@page(Action.VIEW_IDENTITY)
def recall_notices(request: HttpRequest, pk: int) -> HttpResponse:
    """A recalled lot's notices to its patients: send them (once per patient and channel), and
    what became of each."""
    clinic = clinic_of(request)
    lot = product_selectors.lot(clinic, pk)
    if request.method == "POST":
        try:
            queued = services.queue_recall_notices(lot=lot, by=user_of(request))
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            count = sum(1 for m in queued if m.status == MessageStatus.QUEUED)
            messages.success(
                request,
                ngettext("%(n)s notice is queued.", "%(n)s notices are queued.", count) % {"n": count},
            )
        return redirect("recall-notices", lot.pk)
    rows = list(selectors.outbox(clinic, lot_id=lot.pk, kind=MessageKind.RECALL_NOTICE))
    counts = {label: sum(1 for r in rows if r.status == value) for value, label in MessageStatus.choices}
    context = {"lot": lot, "rows": rows, "counts": {k: v for k, v in counts.items() if v}}
    return render(request, "web/messaging/recall_notices.html", context)
