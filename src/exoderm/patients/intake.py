"""Intake before the visit: the patient answers the screening through a one-time link.

Staff create a link on the patient's page (:func:`create_intake`). Its token is 256 random bits
(``secrets.token_urlsafe(32)``), shown once and stored only as its SHA-256, so a copy of the
database opens no intake. The link works for :data:`LINK_VALID_HOURS` and once
(:func:`submit_intake`); a client address that names no usable link :data:`FAILURE_LIMIT` times
within :data:`FAILURE_WINDOW` is refused until the window has passed (:func:`check_rate_limit`),
so guessing is bounded on top of being hopeless. The public page shows nothing of the patient
but the given name (:func:`intake_for_token`).

The answers wait in the :class:`Intake`, apart from the screening of record: the protocol check
reads only :class:`ScreeningAnswer`, so unconfirmed answers count for nothing until a clinician
has reviewed them and confirms them (:func:`confirm_intake`: recorded through
:func:`exoderm.patients.services.record_screening`, dated the day the patient answered) or
discards them (:func:`discard_intake`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import zoneinfo
from collections.abc import Sequence
from dataclasses import asdict

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from exoderm.audit import chain
from exoderm.audit.models import AuditAction
from exoderm.clinics.models import User
from exoderm.core.access import get_in_clinic
from exoderm.core.contraindications import ScreeningItem
from exoderm.core.permissions import Action, require
from exoderm.messaging.models import LINK_PLACEHOLDER, MessageKind, OutboxMessage
from exoderm.messaging.services import queue_requested_email
from exoderm.patients.models import Intake, IntakeAttempt, Patient
from exoderm.patients.services import Answer, record_screening

LINK_VALID_HOURS = 72
FAILURE_LIMIT = 10
FAILURE_WINDOW = dt.timedelta(minutes=15)
TOKEN_BYTES = 32


class IntakeUnavailable(Exception):
    """The token names no intake that can be filled in: wrong, expired or used. The page says
    which of the three without naming the patient."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "unknown", "expired" or "used"


class TooManyAttempts(Exception):
    """The client address named too many unusable links lately."""

    def __init__(self, retry_after: dt.timedelta) -> None:
        super().__init__(f"retry after {retry_after}")
        self.retry_after_seconds = max(1, int(retry_after.total_seconds()))


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


# --- staff ---------------------------------------------------------------------------------------


@transaction.atomic
def create_intake(*, patient: Patient, by: User) -> tuple[Intake, str]:
    """A new intake link for ``patient``; returns the intake and the token (never stored)."""
    require(by, Action.EDIT_PATIENT)
    if by.clinic_id != patient.clinic_id or patient.restricted_at is not None:
        raise ValidationError({"patient": _("No intake link can be made for this record.")})
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = timezone.now()
    intake = Intake(
        patient=patient,
        token_digest=token_digest(token),
        created_by=by,
        created_at=now,
        expires_at=now + dt.timedelta(hours=LINK_VALID_HOURS),
    )
    intake.full_clean()
    intake.save()
    return intake, token


def email_intake_link(*, intake: Intake, url: str, by: User) -> OutboxMessage:
    """Queue an e-mail with the link ``url`` to the patient, in the patient's language; returns the
    outbox message (sent by the worker, retried, recorded).

    The message names the clinic and the link's expiry, nothing about the patient's health. The
    link travels sealed in the outbox row and is filled in only when the worker sends it, so the
    database still holds nothing that opens the intake. Staff send it at the patient's request
    (for the visit the patient booked), so an e-mail opt-out does not hold it back
    (:data:`exoderm.messaging.models.TRANSACTIONAL_KINDS`); a link used or expired before the
    worker got to it is not sent.
    """
    require(by, Action.EDIT_PATIENT)
    identity = intake.patient.identity
    clinic = intake.patient.clinic
    expires = intake.expires_at.astimezone(zoneinfo.ZoneInfo(clinic.time_zone))
    with translation.override(identity.language):
        subject = _("Your questionnaire before the visit at %(clinic)s") % {"clinic": clinic.name}
        expires_text = expires.strftime("%d.%m.%Y %H:%M" if identity.language == "de" else "%Y-%m-%d %H:%M")
        # one paragraph per message id: no line breaks inside a translation
        body = "\n\n".join(
            [
                _("Hello %(name)s,") % {"name": identity.given_name},
                _("please answer a few questions before your visit:"),
                LINK_PLACEHOLDER,
                _("The link works once, until %(expires)s.") % {"expires": expires_text},
                _("Kind regards"),
                clinic.name,
            ]
        )
    return queue_requested_email(
        patient=intake.patient,
        kind=MessageKind.INTAKE_LINK,
        about=f"intake:{intake.pk}",
        subject=subject,
        body=body,
        intake=intake,
        link=url,
        by=by,
    )


def intakes_to_review(*, patient: Patient) -> QuerySet[Intake]:
    """The patient's filled-in intakes not yet confirmed or discarded, oldest first."""
    return Intake.objects.filter(
        patient=patient, submitted_at__isnull=False, reviewed_at__isnull=True
    ).order_by("submitted_at", "pk")


def open_links(*, patient: Patient) -> QuerySet[Intake]:
    """The patient's links that still wait for the patient (not used, not expired)."""
    return Intake.objects.filter(
        patient=patient, submitted_at__isnull=True, expires_at__gt=timezone.now()
    ).order_by("-created_at", "-pk")


def intake_of(*, patient: Patient, intake_id: object) -> Intake:
    """One intake of ``patient`` (``NotFound`` for another patient's or clinic's)."""
    return get_in_clinic(Intake.objects.filter(patient=patient), patient.clinic, intake_id)


def answers_of(intake: Intake) -> list[Answer]:
    """The intake's stored answers as :class:`Answer` values, in the order of the items."""
    order = {item: index for index, item in enumerate(ScreeningItem.values)}
    answers = [
        Answer(
            item=row["item"],
            present=bool(row["present"]),
            areas=list(row.get("areas") or []),
            last_dose_on=dt.date.fromisoformat(row["last_dose_on"]) if row.get("last_dose_on") else None,
            note=row.get("note") or "",
        )
        for row in intake.answers
    ]
    return sorted(answers, key=lambda answer: order.get(answer.item, len(order)))


def _locked_for_review(intake: Intake) -> Intake:
    locked = Intake.objects.select_for_update().select_related("patient__clinic").get(pk=intake.pk)
    if locked.submitted_at is None:
        raise ValidationError({"intake": _("The patient has not filled in this intake yet.")})
    if locked.reviewed_at is not None:
        raise ValidationError({"intake": _("This intake has already been reviewed.")})
    return locked


@transaction.atomic
def confirm_intake(*, intake: Intake, answers: Sequence[Answer], by: User) -> Intake:
    """Make the reviewed ``answers`` (the patient's, as the clinician corrected them) the
    screening of record, dated the day the patient answered on the clinic's calendar.

    Confirming is the clinician's: the answers decide what the protocol check of a session allows.
    """
    require(by, Action.CHART_SESSION)
    locked = _locked_for_review(intake)
    answered_on = timezone.localdate(
        locked.submitted_at, timezone=zoneinfo.ZoneInfo(locked.patient.clinic.time_zone)
    )
    record_screening(patient=locked.patient, answers=answers, answered_on=answered_on, by=by)
    locked.reviewed_at, locked.reviewed_by, locked.confirmed = timezone.now(), by, True
    locked.save(update_fields=["reviewed_at", "reviewed_by", "confirmed"])
    return locked


@transaction.atomic
def discard_intake(*, intake: Intake, by: User) -> Intake:
    """Set the patient's answers aside without recording them (the screening is asked in person)."""
    require(by, Action.CHART_SESSION)
    locked = _locked_for_review(intake)
    locked.reviewed_at, locked.reviewed_by, locked.confirmed = timezone.now(), by, False
    locked.save(update_fields=["reviewed_at", "reviewed_by", "confirmed"])
    return locked


# --- the patient, without a login ----------------------------------------------------------------


def check_rate_limit(*, address: str | None) -> None:
    """Raise :class:`TooManyAttempts` if ``address`` named :data:`FAILURE_LIMIT` unusable links
    within :data:`FAILURE_WINDOW`."""
    since = timezone.now() - FAILURE_WINDOW
    recent = IntakeAttempt.objects.filter(address=address or "unknown", at__gt=since).order_by("-at")
    times = list(recent.values_list("at", flat=True)[:FAILURE_LIMIT])
    if len(times) >= FAILURE_LIMIT:
        raise TooManyAttempts(times[-1] + FAILURE_WINDOW - timezone.now())


def _refuse(address: str | None, reason: str) -> IntakeUnavailable:
    IntakeAttempt.objects.create(address=address or "unknown", at=timezone.now())
    return IntakeUnavailable(reason)


def intake_for_token(*, token: str, address: str | None) -> Intake:
    """The intake the public link's ``token`` opens, after the rate limit; records a read of the
    patient's record (the page shows the given name) in the clinic's audit trail.

    Raises :class:`TooManyAttempts`, or :class:`IntakeUnavailable` (recorded as a failed attempt
    of ``address``) for a wrong, expired or used token and for a record restricted since.
    """
    check_rate_limit(address=address)
    intake = (
        Intake.objects.filter(token_digest=token_digest(token))
        .select_related("patient__identity", "patient__clinic")
        .first()
    )
    reason = _unusable(intake)
    if intake is None or reason is not None:
        raise _refuse(address, reason or "unknown")
    chain.append(
        action=AuditAction.READ,
        object_type=Intake._meta.label_lower,
        object_id=intake.pk,
        clinic_id=intake.patient.clinic_id,
        patient_id=intake.patient_id,
        route="/intake/<str:token>/",
    )
    return intake


def _unusable(intake: Intake | None) -> str | None:
    """Why ``intake`` cannot be filled in (``unknown``, ``used``, ``expired``), or None."""
    if intake is None or intake.patient.restricted_at is not None:
        return "unknown"
    if intake.submitted_at is not None:
        return "used"
    if intake.expires_at <= timezone.now():
        return "expired"
    return None


def submit_intake(*, token: str, answers: Sequence[Answer], address: str | None) -> Intake:
    """Store the patient's ``answers`` in the intake the token opens, once. Every item must be
    answered and no dose lie after today; nothing becomes the screening of record here (the
    clinician's :func:`confirm_intake` applies the checks of ``record_screening``).

    Raises :class:`TooManyAttempts` or :class:`IntakeUnavailable` like :func:`intake_for_token`:
    a second tab or a double tap finds the link used, the first one counted.
    """
    check_rate_limit(address=address)
    with transaction.atomic():
        intake = (
            Intake.objects.select_for_update(of=("self",))
            .select_related("patient__clinic")
            .filter(token_digest=token_digest(token))
            .first()
        )
        reason = _unusable(intake)
        if intake is not None and reason is None:
            _store_answers(intake, answers)
            return intake
    # recorded outside the transaction above, which a refusal must not take along
    raise _refuse(address, reason or "unknown")


def _store_answers(intake: Intake, answers: Sequence[Answer]) -> None:
    clinic = intake.patient.clinic
    today = timezone.localdate(timezone=zoneinfo.ZoneInfo(clinic.time_zone))
    errors: dict[str, list[str]] = {}
    if sorted(answer.item for answer in answers) != sorted(ScreeningItem.values):
        errors["answers"] = [_("Answer every question.")]
    for index, answer in enumerate(answers):
        if answer.last_dose_on is not None and answer.last_dose_on > today:
            errors[f"answers.{index}.last_dose_on"] = [_("The last dose lies after the screening date.")]
    if errors:
        raise ValidationError(errors)
    intake.answers = [
        {**asdict(answer), "last_dose_on": answer.last_dose_on.isoformat() if answer.last_dose_on else None}
        for answer in answers
    ]
    intake.submitted_at = timezone.now()
    intake.full_clean()
    intake.save(update_fields=["answers", "submitted_at"])
