"""Data keys: created on a clinic's first encrypted file, unwrapped for reading, rotated by command.

These run for the system (the photo store, the worker, ``exoderm manage rotate_keys``), never on a
user's request, so they take no user and check no role: no page or API route reaches them.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import IntegrityError, transaction
from django.db.models import Max

from exoderm.vault import keys
from exoderm.vault.models import DataKey


def current_data_key(*, clinic_id: int) -> tuple[int, bytes]:
    """The version and key that encrypt the clinic's new files (its newest), created on first use."""
    master = keys.master_key()
    row = DataKey.objects.filter(clinic_id=clinic_id).order_by("-version").first()
    if row is None:
        row = _first_data_key(clinic_id=clinic_id, master=master)
    key = keys.unwrapped(
        master, row.wrapped, clinic_id=clinic_id, version=row.version, master_key_id=row.master_key_id
    )
    return row.version, key


def _refuse_other_master(master: bytes) -> None:
    """New data keys are wrapped only by the master key that wraps the others: a process started
    with a wrong key must not create keys that the right one cannot unwrap."""
    other = DataKey.objects.exclude(master_key_id=keys.fingerprint(master)).first()
    if other is not None:
        raise keys.KeyError_(
            f"{other} is wrapped by master key {other.master_key_id}, but the configured master key "
            f"({keys.master_key_source()}) is {keys.fingerprint(master)}: no new key is made with it"
        )


def _first_data_key(*, clinic_id: int, master: bytes) -> DataKey:
    _refuse_other_master(master)
    try:
        with transaction.atomic():
            return _create_data_key(clinic_id=clinic_id, version=1, master=master)
    except IntegrityError:  # a concurrent upload of the same clinic created it
        return DataKey.objects.get(clinic_id=clinic_id, version=1)


def _create_data_key(*, clinic_id: int, version: int, master: bytes) -> DataKey:
    key = AESGCM.generate_key(bit_length=256)
    row = DataKey(
        clinic_id=clinic_id,
        version=version,
        wrapped=keys.wrap(master, key, clinic_id=clinic_id, version=version),
        master_key_id=keys.fingerprint(master),
    )
    row.full_clean(exclude=["clinic"], validate_unique=False)
    row.save()
    return row


def data_key(*, clinic_id: int, version: int) -> bytes:
    """The clinic's data key of ``version`` (named in a file's header) for decryption."""
    row = DataKey.objects.filter(clinic_id=clinic_id, version=version).first()
    if row is None:
        raise keys.KeyError_(f"clinic {clinic_id} has no data key v{version}")
    return keys.unwrapped(
        keys.master_key(), row.wrapped, clinic_id=clinic_id, version=version, master_key_id=row.master_key_id
    )


@transaction.atomic
def rewrap_data_keys(*, old_master: bytes, new_master: bytes) -> int:
    """Wrap every data key under ``new_master`` in one transaction. Keys already wrapped by it are
    left as they are, so that a rerun after a failure completes the rotation. Returns how many
    were re-wrapped."""
    new_id = keys.fingerprint(new_master)
    rewrapped = 0
    for row in DataKey.objects.select_for_update().exclude(master_key_id=new_id):
        try:
            key = keys.unwrap(old_master, row.wrapped, clinic_id=row.clinic_id, version=row.version)
        except InvalidTag:
            raise keys.KeyError_(
                f"{row} does not unwrap with the current master key ({keys.master_key_source()}); "
                "nothing was changed"
            ) from None
        row.wrapped = keys.wrap(new_master, key, clinic_id=row.clinic_id, version=row.version)
        row.master_key_id = new_id
        row.full_clean(exclude=["clinic"], validate_unique=False)
        row.save(update_fields=["wrapped", "master_key_id"])
        rewrapped += 1
    keys.forget_unwrapped()
    return rewrapped


@transaction.atomic
def begin_data_key_rotation() -> dict[int, int]:
    """Give every clinic that has a data key a new one, unless its previous rotation is still
    under way (it has older versions left), which is then resumed instead. Returns each such
    clinic's newest version, to which its files are to be re-encrypted."""
    master = keys.master_key()
    _refuse_other_master(master)
    newest: dict[int, int] = {}
    for clinic_id in DataKey.objects.values_list("clinic_id", flat=True).distinct():
        versions = list(DataKey.objects.filter(clinic_id=clinic_id).values_list("version", flat=True))
        latest = max(versions)
        if len(versions) == 1:
            latest = _create_data_key(clinic_id=clinic_id, version=latest + 1, master=master).version
        newest[clinic_id] = latest
    return newest


@transaction.atomic
def retire_older_data_keys(*, clinic_id: int) -> int:
    """Delete the clinic's data keys older than its newest, once no file names them any more: their
    wrapped copies in older backups stay usable with those backups. Returns how many went."""
    latest = DataKey.objects.filter(clinic_id=clinic_id).aggregate(latest=Max("version"))["latest"]
    deleted, _ = DataKey.objects.filter(clinic_id=clinic_id, version__lt=latest).delete()
    keys.forget_unwrapped()
    return deleted
