"""Products, lots and vials: the services' rules, permissions and audit records."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone, translation
from tests import factories

from exoderm.products import selectors, services, wording
from exoderm.products.models import (
    Lot,
    LotEvent,
    LotStatus,
    ReasonCode,
    StorageForm,
    Vial,
    VialEvent,
    VialState,
)

FUTURE = dt.date(2030, 1, 1)


def product_fields(**changes):
    fields = {
        "name": "ExoSkin",
        "source": "adipose_msc",
        "storage_form": "frozen",
        "storage_min_c": Decimal("-25"),
        "storage_max_c": Decimal("-15"),
        "use_by_minutes": 60,
        "max_freeze_thaw_cycles": 1,
        "volume_min_ml": Decimal("1"),
        "volume_max_ml": Decimal("3"),
    }
    return {**fields, **changes}


def test_create_product(clinic, clinic_admin):
    product = services.create_product(clinic=clinic, by=clinic_admin, **product_fields())
    assert product.pk and product.clinic == clinic


def test_product_rules(clinic, clinic_admin):
    with pytest.raises(ValidationError) as error:
        services.create_product(
            clinic=clinic,
            by=clinic_admin,
            **product_fields(storage_min_c=Decimal("-10"), storage_max_c=Decimal("-20")),
        )
    assert "storage_max_c" in error.value.message_dict
    services.create_product(clinic=clinic, by=clinic_admin, **product_fields())
    with pytest.raises(ValidationError) as error:
        services.create_product(clinic=clinic, by=clinic_admin, **product_fields(name="exoskin"))
    assert "name" in error.value.message_dict


@pytest.mark.parametrize(
    ("form", "low", "high", "cycles", "field"),
    [
        ("frozen", "2", "8", 1, "storage_max_c"),
        ("frozen", "-25", "-15", 0, "max_freeze_thaw_cycles"),
        ("refrigerated_liquid", "-25", "-15", 1, "storage_min_c"),
        ("refrigerated_liquid", "2", "25", 1, "storage_max_c"),
        ("refrigerated_liquid", "2", "8", 3, "max_freeze_thaw_cycles"),
        ("refrigerated_liquid", "2", "8", 0, "max_freeze_thaw_cycles"),
        ("lyophilized", "2", "8", 5, "max_freeze_thaw_cycles"),
    ],
)
def test_a_storage_that_contradicts_the_storage_form_is_refused(
    clinic, clinic_admin, form, low, high, cycles, field
):
    with pytest.raises(ValidationError) as error:
        services.create_product(
            clinic=clinic,
            by=clinic_admin,
            **product_fields(
                storage_form=form,
                storage_min_c=Decimal(low),
                storage_max_c=Decimal(high),
                max_freeze_thaw_cycles=cycles,
            ),
        )
    assert list(error.value.message_dict) == [field]


@pytest.mark.parametrize(
    ("form", "low", "high", "cycles"),
    [
        ("frozen", "-90", "-60", 3),
        ("frozen", "-25", "0", 1),
        ("refrigerated_liquid", "2", "8", 1),
        ("lyophilized", "2", "25", 0),
        ("lyophilized", "-25", "-15", 1),
    ],
)
def test_storages_that_fit_their_form_are_accepted(clinic, clinic_admin, form, low, high, cycles):
    fields = product_fields(
        storage_form=form,
        storage_min_c=Decimal(low),
        storage_max_c=Decimal(high),
        max_freeze_thaw_cycles=cycles,
    )
    assert services.create_product(clinic=clinic, by=clinic_admin, **fields).pk


def test_changing_the_storage_form_alone_is_checked_against_the_range(clinic, clinic_admin):
    product = factories.ProductFactory(
        clinic=clinic,
        storage_form=StorageForm.LYOPHILIZED,
        storage_min_c=Decimal("2"),
        storage_max_c=Decimal("8"),
    )
    with translation.override("de"), pytest.raises(ValidationError) as error:
        services.update_product(product=product, changes={"storage_form": "frozen"}, by=clinic_admin)
    assert error.value.message_dict["storage_max_c"][0].startswith(
        "Ein tiefgekühltes Produkt taut über 0 °C auf"
    )
    product.refresh_from_db()
    assert product.storage_form == StorageForm.LYOPHILIZED


def test_a_limit_in_a_german_message_has_a_decimal_comma(clinic, clinic_admin):
    with pytest.raises(ValidationError) as error:
        services.create_product(clinic=clinic, by=clinic_admin, **product_fields(volume_min_ml=Decimal("0")))
    with translation.override("de"):
        assert error.value.message_dict["volume_min_ml"] == ["Dieser Wert muss größer oder gleich 0,01 sein."]
    assert error.value.message_dict["volume_min_ml"] == [
        "Ensure this value is greater than or equal to 0.01."
    ]
    with pytest.raises(ValidationError) as error:
        services.create_product(
            clinic=clinic, by=clinic_admin, **product_fields(volume_max_ml=Decimal("250"))
        )
    assert error.value.message_dict["volume_max_ml"] == ["Ensure this value is less than or equal to 100."]


def test_only_clinic_admins_manage_products(clinic, clinician):
    with pytest.raises(PermissionDenied):
        services.create_product(clinic=clinic, by=clinician, **product_fields())


def test_update_product(clinic, clinic_admin):
    product = factories.ProductFactory(clinic=clinic)
    services.update_product(product=product, changes={"use_by_minutes": 90}, by=clinic_admin)
    product.refresh_from_db()
    assert product.use_by_minutes == 90
    with pytest.raises(ValidationError):
        services.update_product(product=product, changes={"clinic": None}, by=clinic_admin)


def test_receive_lot_starts_quarantined_with_numbered_vials(clinic, assistant):
    product = factories.ProductFactory(clinic=clinic)
    lot = services.receive_lot(
        product=product, number=" A-17 ", expires_on=FUTURE, vials_received=3, by=assistant
    )
    assert lot.number == "A-17"
    assert lot.status == LotStatus.QUARANTINED
    assert list(lot.vials.values_list("serial", flat=True)) == [1, 2, 3]
    assert lot.events.get().to_status == LotStatus.QUARANTINED


def test_duplicate_lot_number_per_product_is_refused(clinic, assistant):
    product = factories.ProductFactory(clinic=clinic)
    services.receive_lot(product=product, number="A-17", expires_on=FUTURE, vials_received=3, by=assistant)
    with pytest.raises(ValidationError) as error:
        services.receive_lot(
            product=product, number="a-17", expires_on=FUTURE, vials_received=3, by=assistant
        )
    assert list(error.value.message_dict) == ["number"]
    # the same number for another product is fine
    other = factories.ProductFactory(clinic=clinic)
    services.receive_lot(product=other, number="A-17", expires_on=FUTURE, vials_received=1, by=assistant)


def test_lot_received_in_the_future_is_refused(clinic, assistant):
    product = factories.ProductFactory(clinic=clinic)
    with pytest.raises(ValidationError) as error:
        services.receive_lot(
            product=product,
            number="F1",
            expires_on=FUTURE,
            vials_received=1,
            received_at=timezone.now() + dt.timedelta(days=1),
            by=assistant,
        )
    assert "received_at" in error.value.message_dict


@pytest.mark.parametrize(
    "received_at",
    [dt.datetime(1, 1, 1, tzinfo=dt.UTC), dt.datetime(1900, 1, 1, 12, tzinfo=dt.UTC)],
)
def test_a_lot_received_before_the_earliest_date_is_refused_and_nothing_written(
    clinic, assistant, received_at
):
    product = factories.ProductFactory(clinic=clinic)
    with translation.override("de"), pytest.raises(ValidationError) as error:
        services.receive_lot(
            product=product,
            number="OLD-1",
            expires_on=FUTURE,
            vials_received=2,
            received_at=received_at,
            by=assistant,
        )
    assert error.value.message_dict == {
        "received_at": ["Die Charge kann nicht vor dem 01.01.2000 eingegangen sein: Prüfen Sie das Jahr."]
    }
    assert not (Lot.objects.exists() or LotEvent.objects.exists() or Vial.objects.exists())


def test_an_expiry_beyond_the_shelf_life_after_receipt_is_refused(clinic, assistant):
    product = factories.ProductFactory(clinic=clinic)
    received_at = timezone.now() - dt.timedelta(days=400)
    latest = received_at.date() + services.MAX_SHELF_LIFE
    for number, expires_on in [("NEVER", dt.date(9999, 12, 31)), ("LONG", latest + dt.timedelta(days=1))]:
        with pytest.raises(ValidationError) as error:
            services.receive_lot(
                product=product,
                number=number,
                expires_on=expires_on,
                vials_received=2,
                received_at=received_at,
                by=assistant,
            )
        assert list(error.value.message_dict) == ["expires_on"]
        assert "check the year" in error.value.message_dict["expires_on"][0]
    assert not (Lot.objects.exists() or LotEvent.objects.exists() or Vial.objects.exists())
    lot = services.receive_lot(
        product=product,
        number="OK",
        expires_on=latest,
        vials_received=1,
        received_at=received_at,
        by=assistant,
    )
    assert lot.expires_on == latest


def test_system_reasons_are_worded_in_the_readers_language(clinic, assistant, clinician):
    product = factories.ProductFactory(clinic=clinic)
    with translation.override("de"):
        lot = services.receive_lot(
            product=product, number="W1", expires_on=FUTURE, vials_received=1, by=assistant
        )
    lot = selectors.lot(clinic, lot.pk)
    assert (lot.status_reason_code, lot.status_reason) == (ReasonCode.RECEIVED, "Received; awaiting release.")
    with translation.override("de"):
        assert wording.lot_reason(lot) == "Erhalten; wartet auf Freigabe."
        services.release_lot(lot=lot, by=clinician)
    lot = selectors.lot(clinic, lot.pk)
    assert wording.lot_reason(lot) == "Released after incoming inspection."
    with translation.override("de"):
        assert [wording.event_reason(e) for e in selectors.lot_events(lot)] == [
            "Nach Eingangsprüfung freigegeben.",
            "Erhalten; wartet auf Freigabe.",
        ]


def test_a_reason_a_person_gave_is_shown_as_given(clinic, assistant):
    lot = factories.LotFactory(product__clinic=clinic)
    services.quarantine_lot(lot=lot, reason="Gefrierschrank-Alarm", by=assistant)
    lot = selectors.lot(clinic, lot.pk)
    assert lot.status_reason_code == ""
    assert (
        wording.lot_reason(lot)
        == wording.event_reason(selectors.lot_events(lot).first())
        == "Gefrierschrank-Alarm"
    )


def test_expired_lot_is_not_received(clinic, assistant):
    product = factories.ProductFactory(clinic=clinic)
    with pytest.raises(ValidationError) as error:
        services.receive_lot(
            product=product, number="OLD", expires_on=dt.date(2020, 1, 1), vials_received=1, by=assistant
        )
    assert "expires_on" in error.value.message_dict


def test_release_records_the_named_person(clinic, clinician, assistant):
    product = factories.ProductFactory(clinic=clinic)
    lot = services.receive_lot(
        product=product, number="R1", expires_on=FUTURE, vials_received=1, by=assistant
    )
    services.release_lot(lot=lot, by=clinician)
    lot.refresh_from_db()
    assert lot.status == LotStatus.RELEASED and lot.status_changed_by == clinician
    event = lot.events.order_by("-id").first()
    assert (event.from_status, event.to_status, event.by) == (
        LotStatus.QUARANTINED,
        LotStatus.RELEASED,
        clinician,
    )
    assert event.details["released_by"] == clinician.display_name


def test_roles_for_release(clinic, assistant, researcher):
    lot = factories.LotFactory(product__clinic=clinic, status=LotStatus.QUARANTINED)
    for user in (assistant, researcher):
        with pytest.raises(PermissionDenied):
            services.release_lot(lot=lot, by=user)


def test_release_refuses_expired_and_non_quarantined_lots(clinic, clinician):
    expired = factories.LotFactory(
        product__clinic=clinic,
        status=LotStatus.QUARANTINED,
        expires_on=timezone.localdate() - dt.timedelta(days=2),
    )
    with pytest.raises(ValidationError, match="expired"):
        services.release_lot(lot=expired, by=clinician)
    released = factories.LotFactory(product__clinic=clinic, status=LotStatus.RELEASED)
    with pytest.raises(ValidationError, match="Only a quarantined lot"):
        services.release_lot(lot=released, by=clinician)


def test_manual_quarantine_needs_a_reason_and_so_does_the_release_after_it(clinic, assistant, clinician):
    lot = factories.LotFactory(product__clinic=clinic)
    with pytest.raises(ValidationError):
        services.quarantine_lot(lot=lot, reason=" ", by=assistant)
    services.quarantine_lot(lot=lot, reason="Freezer alarm", by=assistant)
    lot.refresh_from_db()
    assert (lot.status, lot.status_reason) == (LotStatus.QUARANTINED, "Freezer alarm")
    with pytest.raises(ValidationError) as error:
        services.release_lot(lot=lot, by=clinician)
    assert "releasing it again" in error.value.message_dict["reason"][0]
    services.release_lot(lot=lot, by=clinician, reason="Freezer log checked: alarm was a sensor fault.")
    lot.refresh_from_db()
    assert lot.status == LotStatus.RELEASED


def test_mark_expired_lots(clinic):
    yesterday = timezone.localdate() - dt.timedelta(days=2)
    old = factories.LotFactory(product__clinic=clinic, expires_on=yesterday)
    fresh = factories.LotFactory(product__clinic=clinic)
    recalled = factories.LotFactory(product__clinic=clinic, expires_on=yesterday, status=LotStatus.RECALLED)
    assert services.mark_expired_lots() == 1
    for lot in (old, fresh, recalled):
        lot.refresh_from_db()
    assert (old.status, fresh.status, recalled.status) == (
        LotStatus.EXPIRED,
        LotStatus.RELEASED,
        LotStatus.RECALLED,
    )
    event = LotEvent.objects.get(lot=old)
    assert (event.by, event.reason_code) == (None, ReasonCode.EXPIRED)


# --- vials --------------------------------------------------------------------------------------


@pytest.fixture
def vial(clinic):
    lot = factories.LotFactory(product__clinic=clinic, product__max_freeze_thaw_cycles=2, vials_received=2)
    return factories.VialFactory(lot=lot, serial=1)


def test_thaw_refreeze_and_cycle_limit(vial, assistant):
    t0 = timezone.now() - dt.timedelta(hours=3)
    services.thaw_vial(vial=vial, at=t0, by=assistant)
    services.refreeze_vial(vial=vial, at=t0 + dt.timedelta(minutes=10), by=assistant)
    thawed = services.thaw_vial(vial=vial, at=t0 + dt.timedelta(hours=1), by=assistant)
    assert (thawed.state, thawed.freeze_thaw_cycles) == (VialState.THAWED, 2)
    services.refreeze_vial(vial=vial, at=t0 + dt.timedelta(hours=1, minutes=5), by=assistant)
    with pytest.raises(ValidationError, match="at most 2 freeze-thaw cycles"):
        services.thaw_vial(vial=vial, by=assistant)
    assert list(VialEvent.objects.filter(vial=vial).values_list("kind", flat=True)) == [
        "thaw",
        "refreeze",
        "thaw",
        "refreeze",
    ]


def test_refreeze_after_use_by_is_refused(vial, assistant):
    t0 = timezone.now() - dt.timedelta(hours=3)
    services.thaw_vial(vial=vial, at=t0, by=assistant)
    with pytest.raises(ValidationError, match="past its use-by time"):
        services.refreeze_vial(vial=vial, at=t0 + dt.timedelta(hours=2, minutes=1), by=assistant)


def test_thaw_refuses_quarantined_lot(clinic, assistant):
    lot = factories.LotFactory(product__clinic=clinic, status=LotStatus.QUARANTINED)
    vial = factories.VialFactory(lot=lot)
    with pytest.raises(ValidationError, match="not released"):
        services.thaw_vial(vial=vial, by=assistant)


def test_reconstitute_only_lyophilized(clinic, assistant, vial):
    with pytest.raises(ValidationError, match="lyophilized"):
        services.reconstitute_vial(vial=vial, by=assistant)
    lot = factories.LotFactory(product__clinic=clinic, product__storage_form=StorageForm.LYOPHILIZED)
    dry = factories.VialFactory(lot=lot)
    with pytest.raises(ValidationError, match="reconstituted, not thawed"):
        services.thaw_vial(vial=dry, by=assistant)
    assert services.reconstitute_vial(vial=dry, by=assistant).state == VialState.THAWED


def test_vial_handling_in_the_future_is_refused(vial, assistant, clinic):
    ahead = timezone.now() + dt.timedelta(minutes=30)
    with pytest.raises(ValidationError) as error:
        services.thaw_vial(vial=vial, at=ahead, by=assistant)
    assert "future" in error.value.message_dict["at"][0]
    with pytest.raises(ValidationError):
        services.discard_vial(vial=vial, at=ahead, by=assistant)
    thawed = services.thaw_vial(vial=vial, at=timezone.now() - dt.timedelta(minutes=5), by=assistant)
    with pytest.raises(ValidationError):
        services.refreeze_vial(vial=thawed, at=ahead, by=assistant)
    dry = factories.VialFactory(
        lot=factories.LotFactory(product__clinic=clinic, product__storage_form=StorageForm.LYOPHILIZED)
    )
    with pytest.raises(ValidationError):
        services.reconstitute_vial(vial=dry, at=ahead, by=assistant)
    assert Vial.objects.get(pk=vial.pk).state == VialState.THAWED
    assert Vial.objects.get(pk=dry.pk).state == VialState.STORED
    assert VialEvent.objects.count() == 1


def test_discarding_the_last_vial_depletes_the_lot(vial, assistant):
    other = factories.VialFactory(lot=vial.lot, serial=2, state=VialState.USED)
    assert other.pk
    services.discard_vial(vial=vial, by=assistant)
    vial.lot.refresh_from_db()
    assert (vial.lot.status, vial.lot.status_reason_code) == (LotStatus.DEPLETED, ReasonCode.DEPLETED)
    with pytest.raises(ValidationError):
        services.discard_vial(vial=vial, by=assistant)


def test_consume_vial_keeps_its_contract(vial, clinician):
    services.consume_vial(vial=vial, at=timezone.now(), by=clinician)
    assert Vial.objects.get(pk=vial.pk).state == VialState.USED
    assert selectors.lot(vial.lot.product.clinic, vial.lot.pk).vials_used == 1


def test_selectors_stay_in_the_clinic(clinic, other_clinic):
    from exoderm.core.access import NotFound

    lot = factories.LotFactory(product__clinic=other_clinic)
    with pytest.raises(NotFound):
        selectors.lot(clinic, lot.pk)
    assert not selectors.lots(clinic).exists()
    vial = factories.VialFactory(lot=lot)
    with pytest.raises(NotFound):
        selectors.vial(clinic, lot_id=lot.pk, pk=vial.pk)


def test_expire_lots_command(clinic):
    from io import StringIO

    from django.core.management import call_command

    lot = factories.LotFactory(product__clinic=clinic, expires_on=timezone.localdate() - dt.timedelta(days=2))
    out = StringIO()
    call_command("expire_lots", stdout=out)
    assert out.getvalue().strip() == "1 lot(s) expired."
    lot.refresh_from_db()
    assert lot.status == LotStatus.EXPIRED
