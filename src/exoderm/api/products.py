"""Products, lots, vials, temperature logs and recall (mounted at /api/v1/).

No ``from __future__ import annotations``: ninja evaluates the annotations of paginated handlers
outside this module.
"""

import datetime as dt
import json
import re
import zoneinfo
from decimal import Decimal
from typing import Any

import pydantic
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.pagination import paginate
from pydantic.json_schema import SkipJsonSchema

from exoderm.api.pagination import Page
from exoderm.api.revisions import REASON_DESCRIPTION, RevisionOut
from exoderm.api.types import Id, Instant, Note, PatchSchema, Text
from exoderm.clinics.models import Clinic, User
from exoderm.core.permissions import Action, require
from exoderm.core.spreadsheet import XLSX_CONTENT_TYPE
from exoderm.products import coldchain, selectors, services, wording
from exoderm.products.models import Lot, LotEvent, LotStatus, Source, StorageForm, Vial
from exoderm.records.selectors import revisions_of
from exoderm.studies.blinding import recall_rows_for
from exoderm.treatments import recall

router = Router(tags=["products"])


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # the API's bearer authentication sets it
    return user


def _clinic(request: HttpRequest) -> Clinic:
    clinic = _user(request).clinic
    assert clinic is not None  # tokens are only issued to users of a clinic
    return clinic


# --- schemas ----------------------------------------------------------------------------------


class ProductIn(Schema):
    name: Text
    manufacturer: Text = ""
    source: Source
    storage_form: StorageForm
    storage_min_c: Decimal
    storage_max_c: Decimal
    use_by_minutes: int
    max_freeze_thaw_cycles: int = 1
    volume_min_ml: Decimal
    volume_max_ml: Decimal
    vial_volume_ml: Decimal = Decimal("5")


class ProductPatch(PatchSchema):
    """The fields to change; a field left out keeps its value."""

    name: Text | SkipJsonSchema[None] = None
    manufacturer: Text | SkipJsonSchema[None] = None
    source: Source | SkipJsonSchema[None] = None
    storage_form: StorageForm | SkipJsonSchema[None] = None
    storage_min_c: Decimal | SkipJsonSchema[None] = None
    storage_max_c: Decimal | SkipJsonSchema[None] = None
    use_by_minutes: int | SkipJsonSchema[None] = None
    max_freeze_thaw_cycles: int | SkipJsonSchema[None] = None
    volume_min_ml: Decimal | SkipJsonSchema[None] = None
    volume_max_ml: Decimal | SkipJsonSchema[None] = None
    vial_volume_ml: Decimal | SkipJsonSchema[None] = None


class ProductOut(Schema):
    id: int
    name: str
    manufacturer: str
    source: str
    storage_form: str
    storage_min_c: Decimal
    storage_max_c: Decimal
    use_by_minutes: int
    max_freeze_thaw_cycles: int
    volume_min_ml: Decimal
    volume_max_ml: Decimal
    vial_volume_ml: Decimal


class LotIn(Schema):
    product: Id
    number: Text
    expires_on: dt.date
    vials_received: int
    received_at: Instant | None = None
    logger_interval_minutes: int = 15


class LotOut(Schema):
    id: int
    product: int = pydantic.Field(validation_alias="product_id")
    product_name: str = pydantic.Field(validation_alias="product.name")
    number: str
    expires_on: dt.date
    vials_received: int
    vials_used: int = pydantic.Field(description="used up: applied in a session or discarded")
    vials_discarded: int
    vials_left: int
    status: str
    status_reason: str = pydantic.Field(description="in the request's language")
    status_reason_code: str = pydantic.Field(
        description="received, inspected, depleted, expired or cold_chain for a reason the system "
        "gave (its numbers in status_reason_params); empty for a person's own words"
    )
    status_reason_params: dict[str, Any]
    status_changed_at: dt.datetime | None
    status_changed_by: str | None
    received_at: dt.datetime
    logger_interval_minutes: int

    @staticmethod
    def resolve_vials_left(obj: Any) -> int:
        return int(obj.vials_received - obj.vials_used)

    @staticmethod
    def resolve_status_reason(obj: Lot) -> str:
        return wording.lot_reason(obj)

    @staticmethod
    def resolve_status_changed_by(obj: Lot) -> str | None:
        return obj.status_changed_by.display_name if obj.status_changed_by else None


class LotEventOut(Schema):
    from_status: str
    to_status: str
    reason: str = pydantic.Field(description="in the request's language")
    reason_code: str
    reason_params: dict[str, Any]
    details: dict[str, Any]
    by: str | None
    at: dt.datetime

    @staticmethod
    def resolve_by(obj: LotEvent) -> str | None:
        return obj.by.display_name if obj.by else None

    @staticmethod
    def resolve_reason(obj: LotEvent) -> str:
        return wording.event_reason(obj)


class LotDetailOut(LotOut):
    events: list[LotEventOut]

    @staticmethod
    def resolve_events(obj: Lot) -> list[LotEvent]:
        return list(selectors.lot_events(obj))


class ReasonIn(Schema):
    reason: Note = ""


class RequiredReasonIn(Schema):
    reason: Note


class VialOut(Schema):
    id: int
    serial: int
    state: str
    thawed_at: dt.datetime | None
    freeze_thaw_cycles: int


class VialActionIn(Schema):
    at: Instant | None = pydantic.Field(
        None,
        description="when it was done, with UTC offset (charting after the fact); default now. Not in "
        "the future, not before 2000, not before the lot was received.",
    )


class LotCorrectionIn(Schema):
    number: Text
    expires_on: dt.date
    received_at: Instant
    reason: Note = pydantic.Field(description=REASON_DESCRIPTION)


class ReadingIn(Schema):
    recorded_at: Instant
    celsius: Decimal


class TemperatureBatchIn(Schema):
    readings: list[ReadingIn]


class ReadingOut(Schema):
    recorded_at: dt.datetime
    celsius: Decimal


class GapOut(Schema):
    start: dt.datetime
    end: dt.datetime
    minutes: float


class TemperatureLogOut(Schema):
    storage_min_c: Decimal
    storage_max_c: Decimal
    logger_interval_minutes: int
    readings: list[ReadingOut]
    excursions: list[ReadingOut]
    gaps: list[GapOut]


class LoggerFormatOut(Schema):
    encoding: str
    separator: str
    header_line: int | None
    time_column: str
    temperature_column: str
    date_style: str
    decimal_comma: bool
    fahrenheit: bool
    time_zone: str = pydantic.Field(description="The clinic's zone local times were read in; else empty")
    repeated_hour_readings: int
    description: list[str]


class SkippedLinesOut(Schema):
    first: int
    last: int
    reason: str


class UploadPreviewOut(Schema):
    readings: int
    new: int
    known: int
    first: dt.datetime
    last: dt.datetime
    lowest: Decimal
    highest: Decimal
    interval_minutes: float | None
    format: LoggerFormatOut | None = pydantic.Field(description="How a CSV was read; null for JSON")
    skipped: list[SkippedLinesOut]
    excursions: list[ReadingOut]
    gaps: list[GapOut]
    refusals: list[str]
    would_quarantine: bool


class IngestOut(Schema):
    stored: int
    duplicates: int
    excursions: list[ReadingOut]
    gaps: list[GapOut]
    quarantined: bool
    status: str


class RecallRowOut(Schema):
    patient_id: Id
    patient_code: str
    given_name: str
    family_name: str
    date_of_birth: dt.date | None
    email: str
    phone: str
    address: str
    language: str
    session_id: Id
    performed_at: dt.datetime
    clinician: str
    vial_serial: int
    volume_ml: Decimal
    areas: list[str]
    applied_at: dt.datetime
    restricted: bool = Field(
        description="the record is restricted after an erasure request: no names or contact details; "
        "ask the clinic admin"
    )


class RecallOut(Schema):
    lot: LotOut
    affected: list[RecallRowOut]
    erased_applications: int = Field(
        description="applications of the lot in records erased for good after their retention period"
    )
    withheld_for_blinding: int = Field(
        0,
        description="rows of study sessions charted from a coded kit that you are blinded for: listed "
        "for the study's unblinded coordinator only (which patient got which lot tells the arm)",
    )


# --- products ---------------------------------------------------------------------------------


@router.get("/products", response=list[ProductOut])
@paginate(Page)
def list_products(request: HttpRequest) -> Any:
    """The clinic's exosome products, by name."""
    return selectors.products(_clinic(request))


@router.post("/products", response={201: ProductOut})
def create_product(request: HttpRequest, payload: ProductIn) -> Any:
    """Add a product (clinic administrators)."""
    user = _user(request)
    product = services.create_product(clinic=_clinic(request), by=user, **payload.dict())
    return Status(201, selectors.product(_clinic(request), product.pk))


@router.get("/products/{product_id}", response=ProductOut)
def get_product(request: HttpRequest, product_id: Id) -> Any:
    return selectors.product(_clinic(request), product_id)


@router.patch("/products/{product_id}", response=ProductOut)
def update_product(request: HttpRequest, product_id: Id, payload: ProductPatch) -> Any:
    """Change some fields of a product (clinic administrators)."""
    user = _user(request)
    product = selectors.product(_clinic(request), product_id)
    services.update_product(product=product, changes=payload.dict(exclude_unset=True), by=user)
    return selectors.product(_clinic(request), product_id)


# --- lots -------------------------------------------------------------------------------------


@router.get("/lots", response=list[LotOut])
@paginate(Page)
def list_lots(
    request: HttpRequest,
    status: LotStatus | None = None,
    product: Id | None = None,
) -> Any:
    """The clinic's lots, soonest expiry first; filter by ``status`` and ``product`` id."""
    return selectors.lots(_clinic(request), status=status, product_id=product)


@router.post("/lots", response={201: LotDetailOut})
def receive_lot(request: HttpRequest, payload: LotIn) -> Any:
    """Book in a delivered lot: its vials are numbered 1..n and it starts quarantined."""
    user = _user(request)
    product = selectors.product(_clinic(request), payload.product)
    lot = services.receive_lot(
        product=product,
        number=payload.number,
        expires_on=payload.expires_on,
        vials_received=payload.vials_received,
        received_at=payload.received_at,
        logger_interval_minutes=payload.logger_interval_minutes,
        by=user,
    )
    return Status(201, selectors.lot(_clinic(request), lot.pk))


@router.get("/lots/{lot_id}", response=LotDetailOut)
def get_lot(request: HttpRequest, lot_id: Id) -> Any:
    """A lot with vials used and received, its status and reason, and every status change."""
    return selectors.lot(_clinic(request), lot_id)


@router.patch("/lots/{lot_id}", response=LotDetailOut)
def correct_lot(request: HttpRequest, lot_id: Id, payload: LotCorrectionIn) -> Any:
    """Correct the lot's number, expiry or receipt as typed; the old version stays readable."""
    services.correct_lot(lot=selectors.lot(_clinic(request), lot_id), by=_user(request), **payload.dict())
    return selectors.lot(_clinic(request), lot_id)


@router.get("/lots/{lot_id}/revisions", response=list[RevisionOut])
@paginate(Page)
def lot_revisions(request: HttpRequest, lot_id: Id) -> Any:
    """The corrections of the lot, newest first, each with the old version."""
    clinic = _clinic(request)
    return revisions_of(clinic=clinic, obj=selectors.lot(clinic, lot_id))


@router.post("/lots/{lot_id}/release", response=LotDetailOut)
def release_lot(request: HttpRequest, lot_id: Id, payload: ReasonIn) -> Any:
    """Release a quarantined lot; the releasing person is recorded. A lot quarantined by the
    cold-chain check needs a ``reason``."""
    user = _user(request)
    services.release_lot(lot=selectors.lot(_clinic(request), lot_id), reason=payload.reason, by=user)
    return selectors.lot(_clinic(request), lot_id)


@router.post("/lots/{lot_id}/quarantine", response=LotDetailOut)
def quarantine_lot(request: HttpRequest, lot_id: Id, payload: RequiredReasonIn) -> Any:
    """Withdraw a released lot from use, with a reason."""
    user = _user(request)
    services.quarantine_lot(lot=selectors.lot(_clinic(request), lot_id), reason=payload.reason, by=user)
    return selectors.lot(_clinic(request), lot_id)


# --- vials ------------------------------------------------------------------------------------


@router.get("/lots/{lot_id}/vials", response=list[VialOut])
@paginate(Page)
def list_vials(request: HttpRequest, lot_id: Id) -> Any:
    return selectors.vials(selectors.lot(_clinic(request), lot_id))


VIAL_ACTIONS = {
    "thaw": (
        services.thaw_vial,
        "Thaw a frozen vial (or take a refrigerated one out): the use-by time starts and a "
        "freeze-thaw cycle is counted.",
    ),
    "reconstitute": (services.reconstitute_vial, "Reconstitute a vial of a lyophilized product."),
    "refreeze": (
        services.refreeze_vial,
        "Refreeze a thawed vial of a frozen product within its use-by time.",
    ),
    "discard": (services.discard_vial, "Discard a stored or thawed vial."),
}


def _vial_action(action: str) -> None:
    service, description = VIAL_ACTIONS[action]

    @router.post(
        f"/lots/{{lot_id}}/vials/{{vial_id}}/{action}",
        response=VialOut,
        operation_id=f"{action}_vial",
        summary=f"{action.capitalize()} a vial",
        description=f"{description} ``at`` defaults to now.",
    )
    def handler(request: HttpRequest, lot_id: Id, vial_id: Id, payload: VialActionIn | None = None) -> Vial:
        vial = selectors.vial(_clinic(request), lot_id=lot_id, pk=vial_id)
        return service(vial=vial, at=payload.at if payload else None, by=_user(request))


for _action in VIAL_ACTIONS:
    _vial_action(_action)


# --- temperatures -----------------------------------------------------------------------------


@router.get("/lots/{lot_id}/temperatures", response=TemperatureLogOut)
def temperature_log(
    request: HttpRequest, lot_id: Id, since: Instant | None = None, until: Instant | None = None
) -> Any:
    """The lot's readings (optionally between ``since`` and ``until``) and every excursion and gap
    of its whole log."""
    lot = selectors.lot(_clinic(request), lot_id)
    found = selectors.cold_chain_check(lot)
    return {
        "storage_min_c": lot.product.storage_min_c,
        "storage_max_c": lot.product.storage_max_c,
        "logger_interval_minutes": lot.logger_interval_minutes,
        "readings": list(
            selectors.temperature_log(lot, since=since, until=until).values("recorded_at", "celsius")
        ),
        "excursions": [e.as_dict() for e in found.excursions],
        "gaps": [g.as_dict() for g in found.gaps],
    }


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema with its ``$defs`` written in place: this body is documented by hand
    (it also takes CSV), and a ``#/$defs/...`` reference would point into the OpenAPI document's
    root, where nothing is defined."""
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(definitions[node["$ref"].removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return dict(resolve(schema))


_INGEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _inline(TemperatureBatchIn.model_json_schema())},
            "text/csv": {
                "schema": {"type": "string"},
                "example": "recorded_at,celsius\n2026-11-01T08:00:00+01:00,-20.5\n",
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}


def _logger_file(lot: Lot, content: bytes) -> coldchain.LoggerFile:
    if len(content) > settings.TEMPERATURE_UPLOAD_MAX_BYTES:
        raise ValidationError(
            {
                "file": _("The file is larger than %(limit)s; export a shorter period.")
                % {"limit": filesizeformat(settings.TEMPERATURE_UPLOAD_MAX_BYTES)}
            }
        )
    return coldchain.read_logger_file(
        content,
        time_zone=zoneinfo.ZoneInfo(lot.product.clinic.time_zone),
        interval_minutes=lot.logger_interval_minutes,
    )


def _readings(request: HttpRequest, lot: Lot) -> tuple[list[coldchain.Reading], coldchain.LoggerFile | None]:
    """The readings of the body, and how its CSV was read (None for JSON)."""
    content_type = request.content_type or ""
    if content_type == "application/json":
        try:
            batch = TemperatureBatchIn.model_validate(json.loads(request.body or b"null"))
        except json.JSONDecodeError as exc:
            raise NinjaValidationError(
                [{"loc": ["body"], "msg": _("The body is not JSON: %s") % exc}]
            ) from None
        except pydantic.ValidationError as exc:
            raise NinjaValidationError(
                [dict(e) for e in exc.errors(include_url=False, include_context=False)]
            ) from None
        return coldchain.parse_batch([(r.recorded_at, r.celsius) for r in batch.readings]), None
    if content_type == "text/csv":
        found = _logger_file(lot, request.body)
        return found.readings, found
    if content_type == "multipart/form-data":
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationError({"file": _("Send the logger's CSV in the form field 'file'.")})
        found = _logger_file(lot, upload.read(settings.TEMPERATURE_UPLOAD_MAX_BYTES + 1))
        return found.readings, found
    raise HttpError(415, _("Send application/json, text/csv or multipart/form-data."))


@router.post("/lots/{lot_id}/temperatures/preview", response=UploadPreviewOut, openapi_extra=_INGEST_BODY)
def preview_temperatures(request: HttpRequest, lot_id: Id) -> Any:
    """What ``POST /lots/{lot_id}/temperatures`` with the same body would store and find; stores
    nothing. For a CSV: the format recognised and the lines left out. ``refusals`` lists why the
    upload would be refused (times in the future, values differing from stored ones)."""
    require(_user(request), Action.HANDLE_STOCK)
    lot = selectors.lot(_clinic(request), lot_id)
    readings, found = _readings(request, lot)
    preview = selectors.upload_preview(lot, readings, file=found)
    return {
        "readings": len(preview.readings),
        "new": preview.new,
        "known": preview.known,
        "first": preview.first,
        "last": preview.last,
        "lowest": preview.lowest,
        "highest": preview.highest,
        "interval_minutes": preview.interval_minutes,
        "format": (
            None if found is None else {**vars(found.format), "description": found.format.description()}
        ),
        "skipped": [vars(lines) for lines in found.skipped] if found else [],
        "excursions": [e.as_dict() for e in preview.findings.excursions],
        "gaps": [g.as_dict() for g in preview.findings.gaps],
        "refusals": preview.refusals,
        "would_quarantine": preview.would_quarantine,
    }


@router.post("/lots/{lot_id}/temperatures", response=IngestOut, openapi_extra=_INGEST_BODY)
def ingest_temperatures(request: HttpRequest, lot_id: Id) -> Any:
    """Add temperature readings to the lot's log and check the whole log.

    Send either JSON ``{"readings": [{"recorded_at": "2026-11-01T08:00:00+01:00", "celsius": -20.5}]}``,
    or the logger's CSV as the body with ``Content-Type: text/csv``, or as the form field ``file``
    of a ``multipart/form-data`` upload. CSV: a logger software's export as it comes (Testo,
    ELPRO, LogTag and the like: the table found by its header row between title lines and a
    summary, ``;``, tab or ``,``, ``dd.mm.yyyy``, slashed or ISO dates, decimal commas, °F converted)
    or one reading a line, ``timestamp,celsius``. Times without a UTC offset are the clinic's wall
    clock; in the hour the clocks go back they are placed by the readings around them or refused.
    ``POST .../temperatures/preview`` with the same body shows what would be stored, storing
    nothing. Any bad line refuses the whole upload (the error names the line).
    Readings already stored with the same value are skipped. A reading outside the product's
    range, or a gap longer than twice the logger interval, quarantines the lot."""
    user = _user(request)
    lot = selectors.lot(_clinic(request), lot_id)
    readings, _found = _readings(request, lot)
    result = services.ingest_temperatures(lot=lot, readings=readings, by=user)
    return {
        "stored": result.stored,
        "duplicates": result.duplicates,
        "excursions": [e.as_dict() for e in result.check.excursions],
        "gaps": [g.as_dict() for g in result.check.gaps],
        "quarantined": result.quarantined,
        "status": result.status,
    }


# --- recall -----------------------------------------------------------------------------------


def _recalled_lot(request: HttpRequest, lot_id: Id) -> Lot:
    user = _user(request)
    require(user, Action.RELEASE_LOT)
    require(user, Action.VIEW_IDENTITY)
    lot = selectors.lot(_clinic(request), lot_id)
    if lot.status != LotStatus.RECALLED:
        raise ValidationError({"status": _("The lot is not recalled.")})
    return lot


@router.post("/lots/{lot_id}/recall", response=RecallOut)
def recall_lot(request: HttpRequest, lot_id: Id, payload: RequiredReasonIn) -> Any:
    """Mark the lot recalled and list every patient and session that received it, with contacts."""
    user = _user(request)
    require(user, Action.VIEW_IDENTITY)
    services.recall_lot(lot=selectors.lot(_clinic(request), lot_id), reason=payload.reason, by=user)
    return _recall_answer(request, _recalled_lot(request, lot_id))


@router.get("/lots/{lot_id}/recall", response=RecallOut)
def get_recall(request: HttpRequest, lot_id: Id) -> Any:
    """The patients and sessions that received a recalled lot."""
    return _recall_answer(request, _recalled_lot(request, lot_id))


@router.get(
    "/lots/{lot_id}/recall.csv",
    openapi_extra={
        "responses": {200: {"description": "OK", "content": {"text/csv": {"schema": {"type": "string"}}}}}
    },
)
def get_recall_csv(request: HttpRequest, lot_id: Id) -> HttpResponse:
    """The patients and sessions that received a recalled lot, as CSV (RFC 4180, UTF-8); times on
    the clinic's clock with their offset."""
    lot = _recalled_lot(request, lot_id)
    time_zone = zoneinfo.ZoneInfo(_clinic(request).time_zone)
    response = HttpResponse(
        recall.recall_csv(_visible_recall_rows(request, lot), time_zone=time_zone),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{_recall_file_name(lot)}.csv"'
    return response


@router.get(
    "/lots/{lot_id}/recall.xlsx",
    openapi_extra={
        "responses": {
            200: {
                "description": "OK",
                "content": {XLSX_CONTENT_TYPE: {"schema": {"type": "string", "format": "binary"}}},
            }
        }
    },
)
def get_recall_xlsx(request: HttpRequest, lot_id: Id) -> HttpResponse:
    """The rows of ``recall.csv`` as an Excel workbook with typed cells (text is never a formula);
    times on the clinic's wall clock, the zone named in the column header."""
    lot = _recalled_lot(request, lot_id)
    time_zone = zoneinfo.ZoneInfo(_clinic(request).time_zone)
    response = HttpResponse(
        recall.recall_xlsx(_visible_recall_rows(request, lot), time_zone=time_zone),
        content_type=XLSX_CONTENT_TYPE,
    )
    response["Content-Disposition"] = f'attachment; filename="{_recall_file_name(lot)}.xlsx"'
    return response


def _recall_answer(request: HttpRequest, lot: Lot) -> dict[str, Any]:
    affected, withheld = recall_rows_for(user=_user(request), rows=recall.affected_by_lot(lot))
    return {
        "lot": lot,
        "affected": affected,
        "erased_applications": recall.erased_applications(lot),
        "withheld_for_blinding": withheld,
    }


def _visible_recall_rows(request: HttpRequest, lot: Lot) -> list[Any]:
    return recall_rows_for(user=_user(request), rows=recall.affected_by_lot(lot))[0]


def _recall_file_name(lot: Lot) -> str:
    return "recall-" + re.sub(r"[^A-Za-z0-9._-]+", "_", lot.number)
