"""Writes for products, lots, vials and the cold chain. Every lot status change is audited."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import formats, timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from exoderm.clinics.models import Clinic, User
from exoderm.core.clock import EARLIEST, in_future, too_early, too_early_message
from exoderm.core.permissions import Action, require
from exoderm.patients.selectors import clinic_today
from exoderm.products import coldchain, selectors, wording
from exoderm.products.models import (
    Lot,
    LotEvent,
    LotStatus,
    Product,
    ReasonCode,
    StorageForm,
    TemperatureReading,
    Vial,
    VialEvent,
    VialEventKind,
    VialState,
)
from exoderm.records.services import checked_reason, save_correction

# LotEvent.details key that marks an event written by the cold-chain check.
COLD_CHAIN = "cold_chain"
# Frozen or lyophilized exosomes are labelled for one to three years from manufacture; an expiry
# further than this after the receipt is a typo.
MAX_SHELF_LIFE = dt.timedelta(days=5 * 366)
PRODUCT_FIELDS = frozenset(
    {
        "name",
        "manufacturer",
        "source",
        "storage_form",
        "storage_min_c",
        "storage_max_c",
        "use_by_minutes",
        "max_freeze_thaw_cycles",
        "volume_min_ml",
        "volume_max_ml",
        "vial_volume_ml",
    }
)


def _default_wording(code: str, params: dict[str, Any], *, clinic: Clinic) -> str:
    """A coded reason in the default language: the reason's text for readers of the bare rows
    (pages and the API word the code in their reader's language)."""
    with translation.override(settings.LANGUAGE_CODE):
        return wording.word_reason(code, params, "", time_zone=clinic.time_zone)


def set_lot_status(
    *,
    lot: Lot,
    status: str,
    by: User | None,
    reason: str = "",
    reason_code: str = "",
    reason_params: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
    details: dict[str, Any] | None = None,
) -> Lot:
    """Move ``lot`` to ``status`` and record who did it and why (``by=None``: the system).

    The why is either a person's ``reason`` or a :class:`ReasonCode` with its ``reason_params``.
    """
    at = at or timezone.now()
    reason_params = reason_params or {}
    if reason_code:
        reason = _default_wording(reason_code, reason_params, clinic=lot.product.clinic)
    LotEvent.objects.create(
        lot=lot,
        from_status=lot.status,
        to_status=status,
        reason=reason,
        reason_code=reason_code,
        reason_params=reason_params,
        details=details or {},
        by=by,
        at=at,
    )
    lot.status, lot.status_changed_at, lot.status_changed_by = status, at, by
    lot.status_reason, lot.status_reason_code, lot.status_reason_params = reason, reason_code, reason_params
    lot.save(
        update_fields=[
            "status",
            "status_reason",
            "status_reason_code",
            "status_reason_params",
            "status_changed_at",
            "status_changed_by",
        ]
    )
    return lot


def _deplete_if_empty(lot: Lot, *, at: dt.datetime, by: User) -> None:
    """The lot (locked by the caller) becomes depleted with its last vial used or discarded."""
    gone = lot.vials.filter(state__in=[VialState.USED, VialState.DISCARDED]).count()
    if gone >= lot.vials_received and lot.status == LotStatus.RELEASED:
        set_lot_status(lot=lot, status=LotStatus.DEPLETED, reason_code=ReasonCode.DEPLETED, by=by, at=at)


@transaction.atomic
def return_vial(*, vial: Vial, at: dt.datetime, by: User, reason: str) -> Vial:
    """Undo :func:`consume_vial` for a session's correction that no longer uses ``vial``.

    The vial goes back to thawed (or stored, if it never needed a thaw). A lot depleted by it is
    released again, with ``reason`` recorded: its remaining vial may be used (or consumed again by
    the corrected session in the same transaction, which depletes the lot anew).
    """
    locked = _vial_for_change(vial)
    if locked.state != VialState.USED:
        raise ValidationError({"vial": _("Vial %(vial)s was not used by a session.") % {"vial": locked}})
    locked.state = VialState.THAWED if locked.thawed_at is not None else VialState.STORED
    locked.save(update_fields=["state"])
    lot = _locked(locked.lot)
    if lot.status == LotStatus.DEPLETED:
        set_lot_status(lot=lot, status=LotStatus.RELEASED, reason=reason, by=by, at=at)
    return locked


@transaction.atomic
def consume_vial(*, vial: Vial, at: dt.datetime, by: User) -> Vial:
    """Mark a vial used by a session; the lot becomes depleted with its last vial."""
    vial.state = VialState.USED
    vial.save(update_fields=["state"])
    lot = Lot.objects.select_for_update().get(pk=vial.lot_id)
    _deplete_if_empty(lot, at=at, by=by)
    return vial


# --- products ---------------------------------------------------------------------------------


def _save_product(product: Product) -> Product:
    product.full_clean(validate_constraints=False)  # first: the duplicate check needs a valid name
    same_name = Product.objects.filter(clinic_id=product.clinic_id, name__iexact=product.name)
    if same_name.exclude(pk=product.pk).exists():
        raise ValidationError({"name": _("The clinic already has a product of this name.")})
    try:
        with transaction.atomic():
            product.save()
    except IntegrityError:
        raise ValidationError({"name": _("The clinic already has a product of this name.")}) from None
    return product


@transaction.atomic
def create_product(
    *,
    clinic: Clinic,
    name: str,
    source: str,
    storage_form: str,
    storage_min_c: Decimal,
    storage_max_c: Decimal,
    use_by_minutes: int,
    max_freeze_thaw_cycles: int,
    volume_min_ml: Decimal,
    volume_max_ml: Decimal,
    vial_volume_ml: Decimal = Decimal("5"),
    manufacturer: str = "",
    by: User,
) -> Product:
    require(by, Action.MANAGE_CLINIC)
    return _save_product(
        Product(
            clinic=clinic,
            name=name.strip(),
            manufacturer=manufacturer.strip(),
            source=source,
            storage_form=storage_form,
            storage_min_c=storage_min_c,
            storage_max_c=storage_max_c,
            use_by_minutes=use_by_minutes,
            max_freeze_thaw_cycles=max_freeze_thaw_cycles,
            volume_min_ml=volume_min_ml,
            volume_max_ml=volume_max_ml,
            vial_volume_ml=vial_volume_ml,
        )
    )


@transaction.atomic
def update_product(*, product: Product, changes: Mapping[str, Any], by: User) -> Product:
    """Change the given fields of a product (the names of :data:`PRODUCT_FIELDS`)."""
    require(by, Action.MANAGE_CLINIC)
    unknown = set(changes) - PRODUCT_FIELDS
    if unknown:
        raise ValidationError({name: _("This field cannot be changed.") for name in sorted(unknown)})
    for name, value in changes.items():
        setattr(product, name, value.strip() if isinstance(value, str) else value)
    return _save_product(product)


# --- lots -------------------------------------------------------------------------------------


@transaction.atomic
def receive_lot(
    *,
    product: Product,
    number: str,
    expires_on: dt.date,
    vials_received: int,
    by: User,
    received_at: dt.datetime | None = None,
    logger_interval_minutes: int = 15,
) -> Lot:
    """Book a delivered lot in with its vials numbered 1..n. It stays quarantined until released."""
    require(by, Action.HANDLE_STOCK)
    received_at = received_at or timezone.now()
    if timezone.is_naive(received_at):
        raise ValidationError({"received_at": _("Give the time with a UTC offset.")})
    if too_early(received_at):
        raise ValidationError(
            {
                "received_at": _("The lot cannot have been received before %(earliest)s: check the year.")
                % {"earliest": date_format(EARLIEST, "SHORT_DATE_FORMAT")}
            }
        )
    if in_future(received_at):
        raise ValidationError({"received_at": _("The lot cannot be received in the future.")})
    number = number.strip()
    if expires_on < clinic_today(product.clinic):
        raise ValidationError({"expires_on": _("The lot has already expired.")})
    latest_expiry = received_at.date() + MAX_SHELF_LIFE
    if expires_on > latest_expiry:
        raise ValidationError(
            {
                "expires_on": _(
                    "An expiry after %(latest)s lies beyond any product's shelf life from this "
                    "receipt: check the year."
                )
                % {"latest": date_format(latest_expiry, "SHORT_DATE_FORMAT")}
            }
        )
    lot = Lot(
        product=product,
        number=number,
        expires_on=expires_on,
        vials_received=vials_received,
        received_at=received_at,
        status=LotStatus.QUARANTINED,
        status_reason=_default_wording(ReasonCode.RECEIVED, {}, clinic=product.clinic),
        status_reason_code=ReasonCode.RECEIVED,
        status_changed_at=received_at,
        status_changed_by=by,
        logger_interval_minutes=logger_interval_minutes,
    )
    lot.full_clean(validate_constraints=False)  # first: the duplicate check needs a valid number
    if Lot.objects.filter(product=product, number__iexact=number).exists():
        raise ValidationError({"number": _("This product already has a lot with this number.")})
    try:
        with transaction.atomic():
            lot.save()
    except IntegrityError:
        raise ValidationError({"number": _("This product already has a lot with this number.")}) from None
    LotEvent.objects.create(
        lot=lot,
        from_status="",
        to_status=lot.status,
        reason=lot.status_reason,
        reason_code=lot.status_reason_code,
        by=by,
        at=received_at,
    )
    Vial.objects.bulk_create(Vial(lot=lot, serial=serial) for serial in range(1, vials_received + 1))
    return lot


LOT_CORRECTABLE_FIELDS = ("number", "expires_on", "received_at")


def _lot_version(lot: Lot) -> dict[str, Any]:
    return {name: getattr(lot, name) for name in LOT_CORRECTABLE_FIELDS}


@transaction.atomic
def correct_lot(
    *,
    lot: Lot,
    by: User,
    reason: str,
    number: str,
    expires_on: dt.date,
    received_at: dt.datetime,
) -> Lot:
    """Correct what was typed when the lot was received, keeping the old version as a revision.

    The checks of :func:`receive_lot` apply to the new values; an expiry that is not changed is
    not held to "not expired yet" (a lot may be corrected after its expiry). The receipt cannot
    move after the first thing done with the lot's vials.
    """
    require(by, Action.HANDLE_STOCK)
    reason = checked_reason(reason)
    locked = _locked(lot)
    before = _lot_version(locked)
    errors: dict[str, list[str]] = {}
    number = number.strip() if isinstance(number, str) else number
    if timezone.is_naive(received_at):
        errors["received_at"] = [_("Give the time with a UTC offset.")]
    elif too_early(received_at):
        errors["received_at"] = [
            _("The lot cannot have been received before %(earliest)s: check the year.")
            % {"earliest": date_format(EARLIEST, "SHORT_DATE_FORMAT")}
        ]
    elif in_future(received_at):
        errors["received_at"] = [_("The lot cannot be received in the future.")]
    else:
        handled = VialEvent.objects.filter(vial__lot=locked).order_by("at")
        first_use = handled.values_list("at", flat=True).first()
        if first_use is not None and received_at > first_use:
            errors["received_at"] = [_("A vial of this lot was handled before this time.")]
        elif expires_on > received_at.date() + MAX_SHELF_LIFE:
            errors["expires_on"] = [
                _(
                    "An expiry after %(latest)s lies beyond any product's shelf life from this "
                    "receipt: check the year."
                )
                % {"latest": date_format(received_at.date() + MAX_SHELF_LIFE, "SHORT_DATE_FORMAT")}
            ]
    if expires_on != locked.expires_on and expires_on < clinic_today(locked.product.clinic):
        errors.setdefault("expires_on", []).append(_("The lot has already expired."))
    if (
        isinstance(number, str)
        and Lot.objects.filter(product=locked.product, number__iexact=number).exclude(pk=locked.pk).exists()
    ):
        errors["number"] = [_("This product already has a lot with this number.")]
    if errors:
        raise ValidationError(errors)
    locked.number, locked.expires_on, locked.received_at = number, expires_on, received_at
    locked.full_clean(validate_constraints=False)
    save_correction(
        obj=locked,
        fields=LOT_CORRECTABLE_FIELDS,
        clinic=locked.product.clinic,
        patient=None,
        before=before,
        after=_lot_version(locked),
        reason=reason,
        by=by,
    )
    return locked


def _locked(lot: Lot) -> Lot:
    """The lot re-read under a row lock, so that concurrent status changes serialize."""
    return Lot.objects.select_for_update(of=("self",)).select_related("product__clinic").get(pk=lot.pk)


def _why_a_reason_is_needed(lot: Lot) -> str:
    """Why releasing ``lot`` needs a reason; empty for a lot in its quarantine since receipt."""
    last = lot.events.order_by("-at", "-id").first()
    if last is None or not last.from_status:
        return ""
    if last.details.get(COLD_CHAIN):
        return _("The cold-chain check quarantined this lot: give the reason for releasing it.")
    return _("The lot was withdrawn after its release: give the reason for releasing it again.")


@transaction.atomic
def release_lot(*, lot: Lot, by: User, reason: str = "") -> Lot:
    """Release a quarantined lot for use; the releasing person is recorded by name.

    Only a lot fresh from its receipt is released without a reason; one that the cold-chain
    check or a person quarantined needs one (for example the manufacturer's stability data
    covering the excursion).
    """
    require(by, Action.RELEASE_LOT)
    locked = _locked(lot)
    reason = reason.strip()
    if locked.status != LotStatus.QUARANTINED:
        raise ValidationError(
            {
                "status": _("Only a quarantined lot can be released; this one is %(status)s.")
                % {"status": locked.get_status_display()}
            }
        )
    if locked.expires_on < clinic_today(locked.product.clinic):
        raise ValidationError({"expires_on": _("The lot has expired and cannot be released.")})
    if not reason and (why := _why_a_reason_is_needed(locked)):
        raise ValidationError({"reason": why})
    set_lot_status(
        lot=locked,
        status=LotStatus.RELEASED,
        reason=reason,
        reason_code="" if reason else ReasonCode.INSPECTED,
        by=by,
        details={"released_by": by.display_name},
    )
    return locked


@transaction.atomic
def quarantine_lot(*, lot: Lot, reason: str, by: User) -> Lot:
    """Withdraw a released lot from use until someone releases it again."""
    require(by, Action.HANDLE_STOCK)
    locked = _locked(lot)
    if not reason.strip():
        raise ValidationError({"reason": _("Give the reason for the quarantine.")})
    if locked.status != LotStatus.RELEASED:
        raise ValidationError(
            {
                "status": _("Only a released lot can be quarantined; this one is %(status)s.")
                % {"status": locked.get_status_display()}
            }
        )
    return set_lot_status(lot=locked, status=LotStatus.QUARANTINED, reason=reason.strip(), by=by)


@transaction.atomic
def recall_lot(*, lot: Lot, reason: str, by: User) -> Lot:
    """Mark a lot recalled (once; recalling it again changes nothing).

    The patients and sessions that received it: :func:`exoderm.treatments.recall.affected_by_lot`.
    """
    require(by, Action.RELEASE_LOT)
    locked = _locked(lot)
    if locked.status == LotStatus.RECALLED:
        return locked
    if not reason.strip():
        raise ValidationError({"reason": _("Give the reason for the recall.")})
    return set_lot_status(lot=locked, status=LotStatus.RECALLED, reason=reason.strip(), by=by)


@transaction.atomic
def mark_expired_lots(*, at: dt.datetime | None = None) -> int:
    """Lots past their expiry date (in their clinic's time zone) become expired; run daily."""
    at = at or timezone.now()
    candidates = (
        Lot.objects.select_for_update(of=("self",))
        .select_related("product__clinic")
        .filter(
            status__in=[LotStatus.QUARANTINED, LotStatus.RELEASED],
            expires_on__lt=at.date() + dt.timedelta(days=1),
        )
    )
    count = 0
    for lot in candidates:
        if lot.expires_on < at.astimezone(zoneinfo.ZoneInfo(lot.product.clinic.time_zone)).date():
            set_lot_status(lot=lot, status=LotStatus.EXPIRED, reason_code=ReasonCode.EXPIRED, by=None, at=at)
            count += 1
    return count


# --- vials ------------------------------------------------------------------------------------


def _vial_for_change(vial: Vial) -> Vial:
    return Vial.objects.select_for_update(of=("self",)).select_related("lot__product__clinic").get(pk=vial.pk)


def _require_usable_lot(lot: Lot) -> None:
    if lot.status != LotStatus.RELEASED:
        raise ValidationError(
            {"lot": _("The lot is %(status)s, not released.") % {"status": lot.get_status_display()}}
        )
    if lot.expires_on < clinic_today(lot.product.clinic):
        raise ValidationError({"lot": _("The lot has expired.")})


def _record(vial: Vial, kind: str, *, at: dt.datetime, by: User) -> None:
    VialEvent.objects.create(vial=vial, kind=kind, at=at, by=by)


def _at(at: dt.datetime | None, lot: Lot) -> dt.datetime:
    """The time a vial of ``lot`` was thawed, reconstituted, refrozen or discarded (default now).

    A time typed after the fact (charting after treating) is aware, not in the future, not before
    :data:`~exoderm.core.clock.EARLIEST` and not before the lot arrived.
    """
    at = at or timezone.now()
    if timezone.is_naive(at):
        raise ValidationError({"at": _("Give the time with a UTC offset.")})
    if too_early(at):
        raise ValidationError({"at": too_early_message()})
    if in_future(at):
        raise ValidationError({"at": _("This time lies in the future.")})
    if at < lot.received_at:
        raise ValidationError({"at": _("This time lies before the lot was received.")})
    return at


def _require_no_unused_thawed_vial(vial: Vial, at: dt.datetime) -> None:
    """Refuse opening a vial while another of its lot, opened by ``at``, is unused and in time:
    opening two wastes one (:func:`~exoderm.products.selectors.unused_thawed_vial`)."""
    opened = selectors.unused_thawed_vial(vial.lot, at=at, besides=vial)
    if opened is not None and opened.thawed_at is not None:
        use_by = opened.thawed_at + dt.timedelta(minutes=vial.lot.product.use_by_minutes)
        raise ValidationError(
            {
                "vial": _(
                    "Vial %(serial)s of this lot is open and unused until %(until)s: use it, or discard "
                    "or refreeze it, before opening another."
                )
                % {
                    "serial": opened.serial,
                    "until": formats.time_format(
                        use_by.astimezone(zoneinfo.ZoneInfo(vial.lot.product.clinic.time_zone)), "TIME_FORMAT"
                    ),
                }
            }
        )


@transaction.atomic
def thaw_vial(*, vial: Vial, by: User, at: dt.datetime | None = None) -> Vial:
    """Thaw a frozen vial (or take a refrigerated one out): the product's use-by time starts.

    Each thaw counts as a freeze-thaw cycle; a vial is not thawed beyond the product's maximum.
    """
    require(by, Action.HANDLE_STOCK)
    locked = _vial_for_change(vial)
    at = _at(at, locked.lot)
    product = locked.lot.product
    if product.storage_form == StorageForm.LYOPHILIZED:
        raise ValidationError({"vial": _("A lyophilized product is reconstituted, not thawed.")})
    if locked.state != VialState.STORED:
        raise ValidationError({"vial": _("Only a stored vial can be thawed.")})
    _require_usable_lot(locked.lot)
    _require_no_unused_thawed_vial(locked, at)
    if locked.freeze_thaw_cycles >= product.max_freeze_thaw_cycles:
        raise ValidationError(
            {
                "vial": _(
                    "The vial has been thawed %(cycles)d times; the product allows at most %(max)d "
                    "freeze-thaw cycles. Discard it."
                )
                % {"cycles": locked.freeze_thaw_cycles, "max": product.max_freeze_thaw_cycles}
            }
        )
    locked.state, locked.thawed_at = VialState.THAWED, at
    locked.freeze_thaw_cycles += 1
    locked.save(update_fields=["state", "thawed_at", "freeze_thaw_cycles"])
    _record(locked, VialEventKind.THAW, at=at, by=by)
    return locked


@transaction.atomic
def reconstitute_vial(*, vial: Vial, by: User, at: dt.datetime | None = None) -> Vial:
    """Reconstitute a lyophilized vial: the product's use-by time starts."""
    require(by, Action.HANDLE_STOCK)
    locked = _vial_for_change(vial)
    at = _at(at, locked.lot)
    if locked.lot.product.storage_form != StorageForm.LYOPHILIZED:
        raise ValidationError({"vial": _("Only a lyophilized product is reconstituted.")})
    if locked.state != VialState.STORED:
        raise ValidationError({"vial": _("Only a stored vial can be reconstituted.")})
    _require_usable_lot(locked.lot)
    _require_no_unused_thawed_vial(locked, at)
    locked.state, locked.thawed_at = VialState.THAWED, at
    locked.save(update_fields=["state", "thawed_at"])
    _record(locked, VialEventKind.RECONSTITUTE, at=at, by=by)
    return locked


@transaction.atomic
def refreeze_vial(*, vial: Vial, by: User, at: dt.datetime | None = None) -> Vial:
    """Put a thawed vial of a frozen product back into the freezer within its use-by time."""
    require(by, Action.HANDLE_STOCK)
    locked = _vial_for_change(vial)
    at = _at(at, locked.lot)
    product = locked.lot.product
    if product.storage_form != StorageForm.FROZEN:
        raise ValidationError({"vial": _("Only a frozen product can be refrozen.")})
    if locked.state != VialState.THAWED or locked.thawed_at is None:
        raise ValidationError({"vial": _("Only a thawed vial can be refrozen.")})
    if at > locked.thawed_at + dt.timedelta(minutes=product.use_by_minutes):
        raise ValidationError({"vial": _("The vial is past its use-by time after thawing. Discard it.")})
    if at < locked.thawed_at:
        raise ValidationError({"at": _("A vial cannot be refrozen before it was thawed.")})
    locked.state, locked.thawed_at = VialState.STORED, None
    locked.save(update_fields=["state", "thawed_at"])
    _record(locked, VialEventKind.REFREEZE, at=at, by=by)
    return locked


@transaction.atomic
def discard_vial(*, vial: Vial, by: User, at: dt.datetime | None = None) -> Vial:
    """Discard a stored or thawed vial; the lot becomes depleted with its last vial."""
    require(by, Action.HANDLE_STOCK)
    locked = _vial_for_change(vial)
    at = _at(at, locked.lot)
    if locked.state not in {VialState.STORED, VialState.THAWED}:
        raise ValidationError({"vial": _("The vial is already used or discarded.")})
    locked.state = VialState.DISCARDED
    locked.save(update_fields=["state"])
    _record(locked, VialEventKind.DISCARD, at=at, by=by)
    _deplete_if_empty(_locked(locked.lot), at=at, by=by)
    return locked


# --- cold chain -------------------------------------------------------------------------------


@dataclass(frozen=True)
class IngestResult:
    stored: int
    duplicates: int
    check: coldchain.CheckResult
    quarantined: bool
    status: str


def _reported_findings(lot: Lot) -> set[str]:
    """Keys of excursions and gaps that earlier cold-chain events already quarantined the lot for."""
    keys: set[str] = set()
    for details in lot.events.filter(to_status=LotStatus.QUARANTINED).values_list("details", flat=True):
        if details and details.get(COLD_CHAIN):
            keys.update(details.get("keys", []))
    return keys


@transaction.atomic
def ingest_temperatures(*, lot: Lot, readings: Sequence[coldchain.Reading], by: User) -> IngestResult:
    """Store a logger's readings (all or none) and check the lot's whole log.

    Readings already stored with the same value are skipped, so a re-upload changes nothing; a
    different value for a stored instant refuses the batch. A reading outside the product's range
    or a gap longer than twice the logger interval that no earlier check reported quarantines a
    released (or keeps a quarantined) lot with the reason and the offending readings and gaps.
    """
    require(by, Action.HANDLE_STOCK)
    locked = _locked(lot)
    if not readings:
        raise ValidationError({"readings": _("No readings given.")})
    for reading in readings:
        if timezone.is_naive(reading.recorded_at):
            raise ValidationError({"readings": _("%(where)s: no UTC offset.") % {"where": reading.where}})
    stored = selectors.stored_readings(locked, readings)
    if refusals := selectors.upload_refusals(readings, stored):
        raise ValidationError({"readings": refusals})
    new = [
        TemperatureReading(lot=locked, recorded_at=r.recorded_at, celsius=r.celsius)
        for r in readings
        if r.recorded_at not in stored
    ]
    TemperatureReading.objects.bulk_create(new, batch_size=1000)

    product = locked.product
    found = selectors.cold_chain_check(locked)
    reported = _reported_findings(locked)
    fresh = coldchain.CheckResult(
        excursions=[e for e in found.excursions if e.key not in reported],
        gaps=[g for g in found.gaps if g.key not in reported],
    )
    quarantined = False
    if fresh and locked.status in {LotStatus.RELEASED, LotStatus.QUARANTINED}:
        set_lot_status(
            lot=locked,
            status=LotStatus.QUARANTINED,
            reason_code=ReasonCode.COLD_CHAIN,
            reason_params=wording.cold_chain_params(
                fresh,
                minimum=product.storage_min_c,
                maximum=product.storage_max_c,
                gap_limit_minutes=2 * locked.logger_interval_minutes,
            ),
            by=None,
            details={
                COLD_CHAIN: True,
                "range_c": [str(product.storage_min_c), str(product.storage_max_c)],
                "logger_interval_minutes": locked.logger_interval_minutes,
                "excursions": [e.as_dict() for e in fresh.excursions],
                "gaps": [g.as_dict() for g in fresh.gaps],
                "keys": sorted(fresh.keys()),
                "uploaded_by": by.display_name,
            },
        )
        quarantined = True
    return IngestResult(
        stored=len(new),
        duplicates=len(readings) - len(new),
        check=found,
        quarantined=quarantined,
        status=locked.status,
    )
