"""Lots and products: receiving, release and quarantine, the temperature log, vials, recall."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import zoneinfo
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from exoderm.core.permissions import Action, can
from exoderm.core.spreadsheet import XLSX_CONTENT_TYPE
from exoderm.products import coldchain, selectors, services
from exoderm.products.models import Lot, LotStatus, StorageForm, VialState
from exoderm.records.selectors import history_of
from exoderm.studies.blinding import recall_rows_for
from exoderm.treatments.recall import affected_by_lot, erased_applications, recall_csv, recall_xlsx
from exoderm.web.charts import temperature_chart
from exoderm.web.forms import (
    ProductForm,
    ReasonForm,
    ReceiveLotForm,
    ReleaseForm,
    TemperatureConfirmForm,
    TemperatureUploadForm,
    datetime_field,
    now_local,
)
from exoderm.web.listing import listing
from exoderm.web.views.common import add_errors, clinic_of, page, user_of

LOT_SORTS = {
    "expires": ("expires_on", "number", "id"),
    "number": ("number", "id"),
    "product": ("product__name", "number", "id"),
    "status": ("status", "expires_on", "id"),
    "received": ("received_at", "id"),
}
PRODUCT_SORTS = {
    "name": ("name", "id"),
    "source": ("source", "name", "id"),
    "form": ("storage_form", "name", "id"),
}


@page()
def lot_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    lots = selectors.lots(clinic_of(request), status=status if status in LotStatus.values else None)
    context = {
        "listing": listing(request, lots, sorts=LOT_SORTS, default="expires", keep=("status",)),
        "status": status,
        "statuses": LotStatus.choices,
    }
    return render(request, "web/lots/list.html", context)


@page(Action.HANDLE_STOCK)
def lot_receive(request: HttpRequest) -> HttpResponse:
    clinic = clinic_of(request)
    form = ReceiveLotForm(
        request.POST or None,
        products=selectors.products(clinic),
        initial={"received_at": now_local(), "product": request.GET.get("product")},
    )
    if request.method == "POST" and form.is_valid():
        try:
            lot = services.receive_lot(by=user_of(request), **form.cleaned_data)
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(
                request, _("Lot %(number)s received and kept in quarantine.") % {"number": lot.number}
            )
            return redirect("lot", lot.pk)
    return render(request, "web/lots/receive.html", {"form": form})


@page()
def lot_detail(request: HttpRequest, pk: int) -> HttpResponse:
    clinic = clinic_of(request)
    lot = selectors.lot(clinic, pk)
    user = user_of(request)
    readings = list(selectors.temperature_log(lot).values_list("recorded_at", "celsius"))
    found = coldchain.check(
        readings,
        minimum=lot.product.storage_min_c,
        maximum=lot.product.storage_max_c,
        interval_minutes=lot.logger_interval_minutes,
    )
    # A lot holds hundreds of vials: the page lists the open (thawed) ones with their countdown
    # and offers the next stored one; used and discarded vials are only counted.
    use_by = dt.timedelta(minutes=lot.product.use_by_minutes)
    open_vials = list(selectors.vials(lot).filter(state=VialState.THAWED))
    for vial in open_vials:
        vial.use_by = vial.thawed_at + use_by if vial.thawed_at else None  # type: ignore[attr-defined]
    counts = dict(selectors.vials(lot).order_by().values_list("state").annotate(n=Count("id")))
    next_vial = selectors.next_vial(lot)
    context = {
        "lot": lot,
        "vials_left": lot.vials_received - lot.vials_used,  # type: ignore[attr-defined]
        "events": list(selectors.lot_events(lot)[:50]),
        "open_vials": open_vials,
        "next_vial": next_vial,
        "vial_counts": [(state, label, counts.get(state, 0)) for state, label in VialState.choices],
        "chart": temperature_chart(
            readings, minimum=lot.product.storage_min_c, maximum=lot.product.storage_max_c, found=found
        ),
        "found": found,
        "reading_count": len(readings),
        "upload_form": TemperatureUploadForm(),
        "lyophilized": lot.product.storage_form == StorageForm.LYOPHILIZED,
        "may_release": can(user, Action.RELEASE_LOT),
        "may_handle": can(user, Action.HANDLE_STOCK),
        "revisions": history_of(clinic=clinic, obj=lot),
    }
    return render(request, "web/lots/detail.html", context)


def _change_status(
    request: HttpRequest,
    lot: Lot,
    *,
    form_class: type[ReasonForm] | type[ReleaseForm],
    change: Callable[..., Lot],
    done: str,
    template: str,
    target: str = "lot",
    extra: dict[str, Any] | None = None,
) -> HttpResponse:
    """A lot status change with a reason: the form page is the confirmation; errors keep the text."""
    form = form_class(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            change(lot=lot, by=user_of(request), reason=form.cleaned_data["reason"])
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, done % {"number": lot.number})
            return redirect(target, lot.pk)
    return render(request, template, {"lot": lot, "form": form, **(extra or {})})


@page(Action.RELEASE_LOT)
def lot_release(request: HttpRequest, pk: int) -> HttpResponse:
    return _change_status(
        request,
        selectors.lot(clinic_of(request), pk),
        form_class=ReleaseForm,
        change=services.release_lot,
        done=_("Lot %(number)s released."),
        template="web/lots/release.html",
    )


@page(Action.HANDLE_STOCK)
def lot_quarantine(request: HttpRequest, pk: int) -> HttpResponse:
    return _change_status(
        request,
        selectors.lot(clinic_of(request), pk),
        form_class=ReasonForm,
        change=services.quarantine_lot,
        done=_("Lot %(number)s is in quarantine."),
        template="web/lots/quarantine.html",
    )


def _pending_key(lot: Lot) -> str:
    return f"temperature-upload:{lot.pk}"


def _read_upload(lot: Lot, content: bytes) -> coldchain.LoggerFile:
    return coldchain.read_logger_file(
        content,
        time_zone=zoneinfo.ZoneInfo(lot.product.clinic.time_zone),
        interval_minutes=lot.logger_interval_minutes,
    )


def _preview_page(request: HttpRequest, lot: Lot, content: bytes, *, error: str = "") -> HttpResponse:
    try:
        found = _read_upload(lot, content)
    except ValidationError as refused:
        # Only when the lot's logger interval changed since the upload and the file now reads differently.
        form = TemperatureUploadForm()
        add_errors(form, refused)
        return render(request, "web/lots/temperatures.html", {"lot": lot, "form": form})
    context = {
        "lot": lot,
        "preview": selectors.upload_preview(lot, found.readings, file=found),
        "confirm_form": TemperatureConfirmForm(initial={"sha256": hashlib.sha256(content).hexdigest()}),
        "error": error,
    }
    return render(request, "web/lots/temperatures_preview.html", context)


@page(Action.HANDLE_STOCK)
def lot_temperatures(request: HttpRequest, pk: int) -> HttpResponse:
    """Upload a logger export in two steps: the file is read and shown, then saved on confirmation.

    Between the steps the file stays on the server, in the session, under its SHA-256; the
    confirmation names that hash and saves what the server holds, read again, never a file sent
    with it. A newer upload of the same lot replaces the older one, whose confirmation is refused.
    """
    lot = selectors.lot(clinic_of(request), pk)
    key = _pending_key(lot)
    pending = request.session.get(key)
    action = request.POST.get("action")
    if request.method == "POST" and action == "cancel":
        request.session.pop(key, None)
        messages.info(request, _("The upload was discarded; nothing was saved."))
        return redirect("lot", lot.pk)
    if request.method == "POST" and action == "confirm":
        confirm = TemperatureConfirmForm(request.POST)
        if pending is None:
            messages.error(request, _("There is no upload waiting to be saved; upload the file again."))
            return redirect("lot-temperatures", lot.pk)
        content = base64.b64decode(pending["content"])
        if not confirm.is_valid() or confirm.cleaned_data["sha256"] != pending["sha256"]:
            return _preview_page(
                request,
                lot,
                content,
                error=_(
                    "Another file was uploaded for this lot since the preview you confirmed. "
                    "Check what was read from the latest file below, then save it."
                ),
            )
        try:
            result = services.ingest_temperatures(
                lot=lot, readings=_read_upload(lot, content).readings, by=user_of(request)
            )
        except ValidationError as error:
            return _preview_page(request, lot, content, error=" ".join(error.messages))
        request.session.pop(key, None)
        text = ngettext(
            "%(stored)d reading stored, %(duplicates)d already known.",
            "%(stored)d readings stored, %(duplicates)d already known.",
            result.stored,
        ) % {"stored": result.stored, "duplicates": result.duplicates}
        if result.quarantined:
            messages.error(
                request,
                text + " " + _("The cold-chain check found an excursion: the lot is quarantined."),
            )
        else:
            messages.success(request, text)
        return redirect("lot", lot.pk)
    form = TemperatureUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        content = form.cleaned_data["file"].read()
        try:
            _read_upload(lot, content)
        except ValidationError as error:
            add_errors(form, error)
        else:
            request.session[key] = {
                "sha256": hashlib.sha256(content).hexdigest(),
                "content": base64.b64encode(content).decode("ascii"),
            }
            return _preview_page(request, lot, content)
    return render(request, "web/lots/temperatures.html", {"lot": lot, "form": form})


@page(Action.HANDLE_STOCK)
def vial_action(request: HttpRequest, pk: int, vial_pk: int, action: str) -> HttpResponse:
    """Thaw, reconstitute, refreeze or discard a vial; discarding asks for confirmation first."""
    clinic = clinic_of(request)
    vial = selectors.vial(clinic, lot_id=pk, pk=vial_pk)
    actions = {
        "thaw": (services.thaw_vial, _("Vial %(vial)s thawed: the use-by countdown runs.")),
        "reconstitute": (
            services.reconstitute_vial,
            _("Vial %(vial)s reconstituted: the use-by countdown runs."),
        ),
        "refreeze": (services.refreeze_vial, _("Vial %(vial)s refrozen.")),
        "discard": (services.discard_vial, _("Vial %(vial)s discarded.")),
    }
    if action not in actions:
        return redirect("lot", pk)
    if request.method != "POST":
        if action == "discard":
            return render(request, "web/lots/vial_discard.html", {"lot": vial.lot, "vial": vial})
        return redirect("lot", pk)
    service, done = actions[action]
    error_text = ""
    try:
        # Charting after the fact: the time it was done, on the clinic's wall clock; empty is now.
        at = datetime_field("", required=False).clean(request.POST.get("at", ""))
        service(vial=vial, by=user_of(request), at=at)
    except ValidationError as error:
        error_text = " ".join(error.messages)
    if request.POST.get("panel"):
        # From the charting form (HTMX): answer with the lot's panel, countdown included.
        panel = selectors.lot_panel(clinic, pk)
        return render(request, "web/sessions/lot_status.html", {"panel": panel, "error": error_text})
    if error_text:
        messages.error(request, error_text)
    else:
        messages.success(request, done % {"vial": vial.serial})
    return redirect("lot", pk)


@page(Action.RELEASE_LOT)
def lot_recall(request: HttpRequest, pk: int) -> HttpResponse:
    lot = selectors.lot(clinic_of(request), pk)
    if lot.status == LotStatus.RECALLED:
        return redirect("lot-affected", lot.pk)
    return _change_status(
        request,
        lot,
        form_class=ReasonForm,
        change=services.recall_lot,
        done=_("Lot %(number)s recalled."),
        template="web/lots/recall.html",
        target="lot-affected",
        extra={"affected": len(affected_by_lot(lot))},
    )


@page(Action.VIEW_IDENTITY)
def lot_affected(request: HttpRequest, pk: int) -> HttpResponse:
    clinic = clinic_of(request)
    lot = selectors.lot(clinic, pk)
    rows, withheld = recall_rows_for(user=user_of(request), rows=affected_by_lot(lot))
    download = request.GET.get("format")
    if download in ("csv", "xlsx"):
        time_zone = zoneinfo.ZoneInfo(clinic.time_zone)
        if download == "csv":
            response = HttpResponse(
                recall_csv(rows, time_zone=time_zone), content_type="text/csv; charset=utf-8"
            )
        else:
            response = HttpResponse(recall_xlsx(rows, time_zone=time_zone), content_type=XLSX_CONTENT_TYPE)
        safe_number = re.sub(r"[^A-Za-z0-9._-]+", "_", lot.number)
        response["Content-Disposition"] = f'attachment; filename="recall-{safe_number}.{download}"'
        return response
    patients = len({row.patient_id for row in rows})
    context = {
        "lot": lot,
        "rows": rows,
        "patient_count": patients,
        "erased": erased_applications(lot),
        "withheld_for_blinding": withheld,
    }
    return render(request, "web/lots/affected.html", context)


@page()
def product_list(request: HttpRequest) -> HttpResponse:
    products = listing(request, selectors.products(clinic_of(request)), sorts=PRODUCT_SORTS, default="name")
    return render(
        request,
        "web/products/list.html",
        {"listing": products, "may_manage": can(user_of(request), Action.MANAGE_CLINIC)},
    )


@page(Action.MANAGE_CLINIC)
def product_new(request: HttpRequest) -> HttpResponse:
    form = ProductForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            product = services.create_product(
                clinic=clinic_of(request), by=user_of(request), **form.cleaned_data
            )
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, _("Product %(name)s added.") % {"name": product.name})
            return redirect("products")
    return render(request, "web/products/new.html", {"form": form})


@page(Action.MANAGE_CLINIC)
def product_edit(request: HttpRequest, pk: int) -> HttpResponse:
    product = selectors.product(clinic_of(request), pk)
    initial = {name: getattr(product, name) for name in ProductForm.base_fields}
    form = ProductForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        changes = {name: value for name, value in form.cleaned_data.items() if value != initial[name]}
        try:
            services.update_product(product=product, changes=changes, by=user_of(request))
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, _("Product %(name)s changed.") % {"name": product.name})
            return redirect("products")
    return render(request, "web/products/edit.html", {"form": form, "product": product})
