"""`exoderm setup`: a real clinic's first start, interactive or with flags for scripts."""

from __future__ import annotations

import getpass
import os
import sys
import zoneinfo
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from exoderm.clinics.groups import start_group
from exoderm.clinics.services import set_up_clinic

# (option, question, default) in the order they are asked
QUESTIONS = [
    ("clinic_name", "Name of the clinic", None),
    ("time_zone", "Time zone of the clinic (IANA)", "Europe/Berlin"),
    ("language", "Language of the clinic (de or en)", "de"),
    ("admin_username", "Username of the first clinic administrator", None),
    ("admin_email", "E-mail of the administrator (for password resets)", ""),
]


class Command(BaseCommand):
    help = (
        "Create a clinic and its first clinic administrator (who enrols a second factor at the first "
        "sign-in). Asks for what the options leave out when run at a terminal; the password comes from "
        "--admin-password-file or EXODERM_ADMIN_PASSWORD in scripts, never from the command line. "
        "With --group the clinic is the first of a clinic group and its administrator also the group's, "
        "who adds the group's further clinics under Manage or by the API."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--clinic-name")
        parser.add_argument("--time-zone")
        parser.add_argument("--language", choices=["de", "en"])
        parser.add_argument("--admin-username")
        parser.add_argument("--admin-email")
        parser.add_argument("--admin-password-file", help="a file whose first line is the password")
        parser.add_argument(
            "--group",
            metavar="NAME",
            help="start a clinic group of this name; the administrator also administers the group",
        )
        parser.add_argument("--no-input", action="store_true", help="never ask; fail on what is missing")

    def handle(self, *args: Any, **options: Any) -> None:
        interactive = not options["no_input"] and sys.stdin.isatty()
        answers: dict[str, str] = {}
        for key, question, default in QUESTIONS:
            value = options[key]
            if value is None and interactive:
                shown = f" [{default}]" if default else ""
                value = input(f"{question}{shown}: ").strip() or default
            if value is None:
                value = default
            if value is None:
                raise CommandError(
                    f"--{key.replace('_', '-')} is needed (or run exoderm setup at a terminal)"
                )
            answers[key] = value
        if answers["time_zone"] not in zoneinfo.available_timezones():
            raise CommandError(f"{answers['time_zone']!r} is not an IANA time zone (e.g. Europe/Berlin)")
        password = self._password(options["admin_password_file"], interactive=interactive)
        try:
            with transaction.atomic():
                clinic, admin = set_up_clinic(
                    name=answers["clinic_name"],
                    time_zone=answers["time_zone"],
                    language=answers["language"],
                    admin_username=answers["admin_username"],
                    admin_password=password,
                    admin_email=answers["admin_email"],
                )
                group = start_group(name=options["group"], admin=admin) if options["group"] else None
        except ValidationError as error:
            problems = "; ".join(
                f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items()
            )
            raise CommandError(f"nothing was created: {problems}") from error
        self.stdout.write(
            f"Created the clinic {clinic.name!r} (id {clinic.pk}) and its administrator {admin.username!r}.\n"
            + (
                f"It is the first clinic of the group {group.name!r}, which {admin.username!r} administers: "
                "add the group's further clinics under Manage > Clinic group.\n"
                if group is not None
                else ""
            )
            + "Next: start `exoderm serve` and `exoderm worker`, open /login/ and sign in as the "
            "administrator; the first sign-in enrols the second factor (an authenticator app). Then add "
            "the clinic's users, consent texts, products and course templates under Manage."
        )

    def _password(self, path: str | None, *, interactive: bool) -> str:
        if path:
            with Path(path).open(encoding="utf-8") as file:
                return file.readline().rstrip("\n")
        if os.environ.get("EXODERM_ADMIN_PASSWORD"):
            return os.environ["EXODERM_ADMIN_PASSWORD"]
        if not interactive:
            raise CommandError(
                "the administrator's password is needed: --admin-password-file or EXODERM_ADMIN_PASSWORD"
            )
        while True:
            first = getpass.getpass("Password of the administrator: ")
            if first == getpass.getpass("The same password again: "):
                return first
            self.stderr.write("The two passwords differ; once more.")
