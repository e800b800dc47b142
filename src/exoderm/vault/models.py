"""Per-clinic data keys, stored only wrapped (encrypted) by the master key."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class DataKey(models.Model):
    """One random 256-bit key that encrypts a clinic's photo files, AES-256-GCM-wrapped by the master
    key. A clinic's newest version encrypts new files; older versions exist only while a rotation
    re-encrypts the files that still name them (``exoderm manage rotate_keys --data-keys``)."""

    CLINIC_PATH = "clinic"

    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.PROTECT, related_name="data_keys")
    version = models.PositiveIntegerField(_("version"))
    # 12-byte nonce + ciphertext + 16-byte tag of the 32-byte key; bound to clinic and version
    wrapped = models.BinaryField(_("wrapped key"), max_length=60)
    # which master key wraps it (a fingerprint, not the key): a wrong key is named, not guessed at
    master_key_id = models.CharField(_("master key fingerprint"), max_length=16)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["clinic", "version"], name="vault_one_key_per_version")
        ]
        ordering = ["clinic", "version"]

    def __str__(self) -> str:
        return f"data key v{self.version} of clinic {self.clinic_id}"
