"""Exosome products, their lots and vials, and each lot's cold chain."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import BaseValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import formats
from django.utils.functional import Promise, lazy
from django.utils.translation import gettext_lazy as _

# Water-based products freeze below this and thaw above it.
FREEZING_C = Decimal("0")
# "Refrigerated" means 2–8 °C (Ph. Eur., USP): a higher maximum is not refrigerated storage.
REFRIGERATED_MAX_C = Decimal("8")
_localized = lazy(formats.localize, str)


class _LocalizedLimit(BaseValidator):
    """Shows the limit in its message in the reader's number format ("0,01" in German), worded
    with the (lazy) message."""

    def __call__(self, value: object) -> None:
        try:
            super().__call__(value)
        except ValidationError as error:
            assert error.params is not None  # BaseValidator always gives them
            error.params["limit_value"] = _localized(error.params["limit_value"])
            raise


class AtLeast(_LocalizedLimit, MinValueValidator):
    pass


class AtMost(_LocalizedLimit, MaxValueValidator):
    pass


class Source(models.TextChoices):
    ADIPOSE_MSC = "adipose_msc", _("Adipose-derived mesenchymal stem cells")
    UMBILICAL_CORD_MSC = "umbilical_cord_msc", _("Umbilical-cord-derived mesenchymal stem cells")
    BONE_MARROW_MSC = "bone_marrow_msc", _("Bone-marrow-derived mesenchymal stem cells")
    OTHER = "other", _("Other")


class StorageForm(models.TextChoices):
    FROZEN = "frozen", _("Frozen")
    LYOPHILIZED = "lyophilized", _("Lyophilized")
    REFRIGERATED_LIQUID = "refrigerated_liquid", _("Refrigerated liquid")


class Product(models.Model):
    CLINIC_PATH = "clinic"

    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.PROTECT, related_name="products")
    name = models.CharField(_("name"), max_length=200)
    manufacturer = models.CharField(_("manufacturer"), max_length=200, blank=True)
    source = models.CharField(_("source"), max_length=32, choices=Source.choices)
    storage_form = models.CharField(_("storage form"), max_length=32, choices=StorageForm.choices)
    storage_min_c = models.DecimalField(
        _("storage minimum (°C)"),
        max_digits=5,
        decimal_places=1,
        validators=[AtLeast(Decimal("-200")), AtMost(Decimal("40"))],
    )
    storage_max_c = models.DecimalField(
        _("storage maximum (°C)"),
        max_digits=5,
        decimal_places=1,
        validators=[AtLeast(Decimal("-200")), AtMost(Decimal("40"))],
    )
    use_by_minutes = models.PositiveIntegerField(
        _("use within (minutes after thaw or reconstitution)"),
        validators=[MinValueValidator(1), MaxValueValidator(60 * 24 * 30)],
    )
    max_freeze_thaw_cycles = models.PositiveSmallIntegerField(
        _("maximum freeze-thaw cycles"), default=1, validators=[MaxValueValidator(20)]
    )
    volume_min_ml = models.DecimalField(
        _("labelled volume per area, minimum (ml)"),
        max_digits=6,
        decimal_places=2,
        validators=[AtLeast(Decimal("0.01")), AtMost(Decimal("100"))],
    )
    volume_max_ml = models.DecimalField(
        _("labelled volume per area, maximum (ml)"),
        max_digits=6,
        decimal_places=2,
        validators=[AtLeast(Decimal("0.01")), AtMost(Decimal("100"))],
    )
    vial_volume_ml = models.DecimalField(
        _("volume per vial (ml)"),
        max_digits=6,
        decimal_places=2,
        default=Decimal("5"),
        validators=[AtLeast(Decimal("0.01")), AtMost(Decimal("100"))],
    )

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "name"], name="product_name_unique_per_clinic")
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str | Promise] = {}
        if None not in (self.storage_min_c, self.storage_max_c) and self.storage_min_c >= self.storage_max_c:
            errors["storage_max_c"] = _("The storage maximum must lie above the minimum.")
        if None not in (self.volume_min_ml, self.volume_max_ml) and self.volume_min_ml > self.volume_max_ml:
            errors["volume_max_ml"] = _("The maximum volume must not lie below the minimum.")
        errors.update(self._storage_contradictions())
        if errors:
            raise ValidationError(errors)

    def _storage_contradictions(self) -> dict[str, str | Promise]:
        """Storage ranges and freeze-thaw cycles that contradict the storage form."""
        errors: dict[str, str | Promise] = {}
        form, low, high, cycles = (
            self.storage_form,
            self.storage_min_c,
            self.storage_max_c,
            self.max_freeze_thaw_cycles,
        )
        freezing = {"limit": formats.localize(FREEZING_C)}
        if form == StorageForm.FROZEN and high is not None and high > FREEZING_C:
            errors["storage_max_c"] = (
                _(
                    "A frozen product thaws above %(limit)s °C: its storage maximum must not lie above "
                    "that. For a product kept cold but not frozen, choose another storage form."
                )
                % freezing
            )
        if form == StorageForm.REFRIGERATED_LIQUID and low is not None and low < FREEZING_C:
            errors["storage_min_c"] = (
                _(
                    "A refrigerated liquid freezes below %(limit)s °C: its storage minimum must not lie "
                    "below that. For a product kept frozen, choose “Frozen”."
                )
                % freezing
            )
        if form == StorageForm.REFRIGERATED_LIQUID and high is not None and high > REFRIGERATED_MAX_C:
            errors["storage_max_c"] = _(
                "Refrigerated means %(limit)s °C at most: for a product kept warmer, choose another "
                "storage form."
            ) % {"limit": formats.localize(REFRIGERATED_MAX_C)}
        if form != StorageForm.FROZEN and cycles is not None and cycles > 1:
            errors["max_freeze_thaw_cycles"] = _(
                "Only a frozen product is refrozen: a lyophilized or refrigerated product allows at "
                "most one freeze-thaw cycle."
            )
        if form != StorageForm.LYOPHILIZED and cycles == 0:
            errors["max_freeze_thaw_cycles"] = _(
                "Each vial is thawed (or taken out of the refrigerator) before use, which counts as "
                "a freeze-thaw cycle: allow at least one."
            )
        return errors


class LotStatus(models.TextChoices):
    QUARANTINED = "quarantined", _("Quarantined")
    RELEASED = "released", _("Released")
    RECALLED = "recalled", _("Recalled")
    EXPIRED = "expired", _("Expired")
    DEPLETED = "depleted", _("Depleted")


class ReasonCode(models.TextChoices):
    """Reasons the system gives for a lot's status: stored as a code (with its numbers in
    ``params``) and worded when shown, in the reader's language (:mod:`exoderm.products.wording`)."""

    RECEIVED = "received", _("Received; awaiting release.")
    INSPECTED = "inspected", _("Released after incoming inspection.")
    DEPLETED = "depleted", _("All vials used.")
    EXPIRED = "expired", _("Past its expiry date.")
    COLD_CHAIN = "cold_chain", _("Quarantined by the cold-chain check.")


class Lot(models.Model):
    CLINIC_PATH = "product__clinic"

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="lots")
    number = models.CharField(_("lot number"), max_length=64)
    expires_on = models.DateField(_("expires on"))
    vials_received = models.PositiveIntegerField(
        _("vials received"), validators=[MinValueValidator(1), MaxValueValidator(10_000)]
    )
    received_at = models.DateTimeField(_("received at"))
    status = models.CharField(
        _("status"), max_length=16, choices=LotStatus.choices, default=LotStatus.QUARANTINED
    )
    # A person's own words; for a reason the system gives, its wording in the default language.
    status_reason = models.TextField(_("reason for the status"), blank=True)
    status_reason_code = models.CharField(max_length=16, choices=ReasonCode.choices, blank=True)
    status_reason_params = models.JSONField(default=dict, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    status_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    logger_interval_minutes = models.PositiveIntegerField(
        _("temperature logger interval (minutes)"), default=15, validators=[MinValueValidator(1)]
    )

    class Meta:
        verbose_name = _("lot")
        verbose_name_plural = _("lots")
        ordering = ["expires_on", "number"]
        constraints = [
            models.UniqueConstraint(fields=["product", "number"], name="lot_number_unique_per_product")
        ]

    def __str__(self) -> str:
        return f"{self.product.name} {self.number}"


class LotEvent(models.Model):
    """An audit entry for every change of a lot's status, by a person or by the cold-chain check."""

    CLINIC_PATH = "lot__product__clinic"

    lot = models.ForeignKey(Lot, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=16, choices=LotStatus.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=LotStatus.choices)
    reason = models.TextField()
    reason_code = models.CharField(max_length=16, choices=ReasonCode.choices, blank=True)
    reason_params = models.JSONField(default=dict, blank=True)
    details = models.JSONField(default=dict, blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at", "-id"]


class VialState(models.TextChoices):
    STORED = "stored", _("Stored")
    THAWED = "thawed", _("Thawed or reconstituted")
    USED = "used", _("Used")
    DISCARDED = "discarded", _("Discarded")


class Vial(models.Model):
    CLINIC_PATH = "lot__product__clinic"

    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="vials")
    serial = models.PositiveIntegerField(_("vial number"))
    state = models.CharField(_("state"), max_length=16, choices=VialState.choices, default=VialState.STORED)
    thawed_at = models.DateTimeField(_("thawed or reconstituted at"), null=True, blank=True)
    freeze_thaw_cycles = models.PositiveSmallIntegerField(_("freeze-thaw cycles"), default=0)

    class Meta:
        verbose_name = _("vial")
        ordering = ["lot", "serial"]
        constraints = [models.UniqueConstraint(fields=["lot", "serial"], name="vial_serial_unique_per_lot")]
        # counts of used and discarded vials per lot (lot lists, depletion)
        indexes = [models.Index(fields=["lot", "state"], name="vial_lot_state")]

    def __str__(self) -> str:
        return f"{self.lot.number}/{self.serial}"


class VialEventKind(models.TextChoices):
    THAW = "thaw", _("Thawed")
    RECONSTITUTE = "reconstitute", _("Reconstituted")
    REFREEZE = "refreeze", _("Refrozen")
    DISCARD = "discard", _("Discarded")


class VialEvent(models.Model):
    CLINIC_PATH = "vial__lot__product__clinic"

    vial = models.ForeignKey(Vial, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=VialEventKind.choices)
    at = models.DateTimeField()
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["at", "id"]


class TemperatureReading(models.Model):
    CLINIC_PATH = "lot__product__clinic"

    lot = models.ForeignKey(Lot, on_delete=models.CASCADE, related_name="temperatures")
    recorded_at = models.DateTimeField()
    celsius = models.DecimalField(max_digits=5, decimal_places=2)

    class Meta:
        ordering = ["recorded_at"]
        constraints = [
            models.UniqueConstraint(fields=["lot", "recorded_at"], name="one_reading_per_lot_and_instant")
        ]
