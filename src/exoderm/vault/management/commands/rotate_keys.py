"""`exoderm manage rotate_keys`: a new master key for the data keys, and new data keys for the files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.management.base import BaseCommand, CommandError, CommandParser

from exoderm.consent import documents as consent_documents
from exoderm.photos import storage
from exoderm.vault import cipher, keys, services


class Command(BaseCommand):
    help = (
        "Rotate the encryption keys. --new-key-file wraps every clinic's data key under the master key "
        "in that file (created with a new random key if it does not exist) in one transaction; then "
        "point EXODERM_MASTER_KEY_FILE (or EXODERM_MASTER_KEY) at it for every process. --data-keys "
        "gives every clinic a new data key and encrypts each photo file again with it, one file at a "
        "time (atomic, resumable: rerun after an interruption), then deletes the old data keys."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--new-key-file", type=Path, help="the new master key (base64 of 32 bytes)")
        parser.add_argument("--data-keys", action="store_true", help="also new data keys, files re-encrypted")

    def handle(self, *args: Any, new_key_file: Path | None, data_keys: bool, **options: Any) -> None:
        if new_key_file is None and not data_keys:
            raise CommandError("say what to rotate: --new-key-file PATH, --data-keys, or both")
        try:
            if new_key_file is not None:
                self._rotate_master(new_key_file)
            if data_keys and new_key_file is not None:
                with keys.using_master_key(keys.read_key_file(new_key_file)):
                    self._rotate_data_keys()
            elif data_keys:
                self._rotate_data_keys()
        except keys.KeyError_ as error:
            raise CommandError(str(error)) from None

    def _rotate_master(self, path: Path) -> None:
        if not path.exists():
            keys.write_key_file(path, AESGCM.generate_key(bit_length=256))
            self.stdout.write(f"new master key written to {path} (mode 0600)")
        new_master = keys.read_key_file(path)
        rewrapped = services.rewrap_data_keys(old_master=keys.master_key(), new_master=new_master)
        self.stdout.write(
            f"{rewrapped} data keys re-wrapped under master key {keys.fingerprint(new_master)}. "
            f"Set EXODERM_MASTER_KEY_FILE={path} for every exoderm process and restart them: the old "
            f"master key ({keys.master_key_source()}) no longer unwraps any data key. Keep the old key "
            "only as long as you keep backups made before this rotation."
        )

    def _rotate_data_keys(self) -> None:
        newest = services.begin_data_key_rotation()
        names = [name for name, _mtime in storage.stored_names()]
        outdated = [
            name
            for name in names
            if storage.key_version(storage.path_of(name)) != newest.get(storage.clinic_of(name))
        ]
        failed = []
        for number, name in enumerate(outdated, 1):
            try:
                storage.reseal(name)
            except storage.UnreadableFile as error:
                failed.append(name)
                self.stderr.write(str(error))
            if number % 100 == 0 or number == len(outdated):
                self.stdout.write(f"{number} of {len(outdated)} photo files re-encrypted")
        for name, label in list(storage.derived_files()):
            path = storage.derived_path(name, label)
            if storage.key_version(path) != newest.get(storage.clinic_of(name)):
                path.unlink(missing_ok=True)  # rendered again, with the new key, when asked for
        # signed consents keep their picture and PDF encrypted in the database (exoderm.consent.documents)
        try:
            resealed = consent_documents.reseal_all(newest=newest)
        except (cipher.DecryptionError, keys.KeyError_) as error:
            failed.append("signed consents")
            self.stderr.write(f"signed consents: {error}")
        else:
            self.stdout.write(f"{resealed} signed consents re-encrypted")
        if failed:
            raise CommandError(
                f"{len(failed)} files could not be decrypted and keep their old key; the old data keys "
                "are kept until they are restored from a backup or removed. Rerun afterwards."
            )
        retired = sum(services.retire_older_data_keys(clinic_id=clinic_id) for clinic_id in newest)
        self.stdout.write(
            f"{len(newest)} clinics have a new data key; {len(outdated)} files re-encrypted, "
            f"{len(names) - len(outdated)} already were; {retired} old data keys deleted"
        )
