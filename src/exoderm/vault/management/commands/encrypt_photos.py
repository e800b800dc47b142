"""`exoderm manage encrypt_photos`: encrypt the photo files an older data directory holds in plain."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from exoderm.photos import storage


class Command(BaseCommand):
    help = (
        "Encrypt every stored photo file that is still plain (written before encryption at rest), each "
        "one atomically (a new file replaces the old), checked against the SHA-256 in its name. Plain "
        "overlays are removed: they are rendered again, encrypted, when asked for. Safe to rerun."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        names = [name for name, _mtime in storage.stored_names()]
        plain = [name for name in names if storage.key_version(storage.path_of(name)) is None]
        failed = []
        for number, name in enumerate(plain, 1):
            try:
                storage.reseal(name)
            except storage.UnreadableFile as error:
                failed.append(name)
                self.stderr.write(str(error))
            if number % 100 == 0 or number == len(plain):
                self.stdout.write(f"{number} of {len(plain)} plain photo files encrypted")
        stale = [
            storage.derived_path(name, label)
            for name, label in storage.derived_files()
            if not storage.is_sealed(storage.derived_path(name, label))
        ]
        for path in stale:
            path.unlink(missing_ok=True)
        self.stdout.write(
            f"{len(names)} photo files, {len(plain) - len(failed)} encrypted now, "
            f"{len(stale)} plain overlays removed"
        )
        if failed:
            raise CommandError(
                f"{len(failed)} files do not match the hash in their name and stay as they are"
            )
