"""The treatment protocol rules of protocol-rules.md, checked in this one place.

:func:`check_session` looks at a :class:`SessionDraft` (parsed, typed input with its lots and vials
already resolved within the clinic) and returns every broken rule as a
:class:`~exoderm.core.errors.Violation` with severity ``block`` or ``warn``. It reads the patient's
consent and screening from the database but writes nothing; deciding what to do with the result
is up to ``services.record_session``, the only writer of sessions.

Besides the rules of protocol-rules.md it refuses a session dated in the future
(``time-in-future``): a record says what happened, and a future time is a typo or a wrong clock.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from django.utils import formats, timezone
from django.utils.translation import gettext as _

from exoderm.consent.models import ConsentKind
from exoderm.consent.selectors import active_consent
from exoderm.core.areas import area_list, overlaps, uncovered
from exoderm.core.clock import in_future
from exoderm.core.contraindications import AREA_SPECIFIC, ScreeningItem, Severity
from exoderm.core.errors import Violation
from exoderm.patients.models import ScreeningAnswer
from exoderm.products.models import LotStatus, StorageForm
from exoderm.treatments.models import ABLATIVE_LASERS, ProcedureKind

if TYPE_CHECKING:
    from exoderm.clinics.models import Clinic
    from exoderm.patients.models import Patient
    from exoderm.products.models import Lot, Vial


class Rule(enum.StrEnum):
    """The stable rule ids of protocol-rules.md, and ``time-in-future``."""

    TIME_IN_FUTURE = "time-in-future"
    BARRIER_DISRUPTION = "exosome-requires-barrier-disruption"
    AREA_NOT_TREATED = "application-area-not-treated"
    APPLICATION_WINDOW = "application-window"
    LOT_NOT_USABLE = "lot-not-usable"
    USE_WINDOW_EXCEEDED = "use-window-exceeded"
    CONSENT_MISSING = "consent-missing"
    RECORD_RESTRICTED = "record-restricted"  # an erasure request restricted the record
    CONTRAINDICATION = "contraindication"
    DOSE_OUT_OF_RANGE = "dose-out-of-range"


class ProtocolViolation(Violation):
    """A broken rule that also tells API clients its severity: a ``warn`` may be acknowledged."""

    def as_dict(self) -> dict[str, str]:
        return {**super().as_dict(), "severity": self.severity}


BLOCK = Severity.BLOCK.value
WARN = Severity.WARN.value

# A screening answer older than this (before the session's day) no longer counts.
SCREENING_VALID_DAYS = 90
# Isotretinoin counts when the last dose lies within this many days before the session (6 months).
ISOTRETINOIN_DAYS = 183


@dataclass(frozen=True)
class ProcedureDraft:
    kind: str
    areas: Sequence[str]
    started_at: dt.datetime
    ended_at: dt.datetime
    laser_type: str = ""


@dataclass(frozen=True)
class ApplicationDraft:
    lot: Lot
    # None when the lot has no vial left that could be used.
    vial: Vial | None
    volume_ml: Decimal
    areas: Sequence[str]
    applied_at: dt.datetime


@dataclass(frozen=True)
class SessionDraft:
    patient: Patient
    performed_at: dt.datetime
    procedures: Sequence[ProcedureDraft] = field(default_factory=tuple)
    applications: Sequence[ApplicationDraft] = field(default_factory=tuple)

    @property
    def treated_areas(self) -> list[str]:
        return [area for procedure in self.procedures for area in procedure.areas]


def check_session(draft: SessionDraft, *, clinic: Clinic, now: dt.datetime | None = None) -> list[Violation]:
    """Every rule the draft breaks, blocking ones and warnings: a time in the future (after ``now``,
    default the current time), then the rules in the order of protocol-rules.md."""
    tz = zoneinfo.ZoneInfo(clinic.time_zone)
    violations: list[Violation] = _future_rule(draft, now=now or timezone.now(), tz=tz)
    for index, application in enumerate(draft.applications):
        violations += _application_procedure_rules(draft, index, application, clinic=clinic, tz=tz)
    for index, application in enumerate(draft.applications):
        violations += _lot_rules(index, application, tz=tz)
    violations += check_consent(draft.patient, at=draft.performed_at)
    violations += _contraindication_rule(draft, clinic=clinic, tz=tz)
    for index, application in enumerate(draft.applications):
        violations += _dose_rule(index, application)
    return violations


def _local(moment: dt.datetime, tz: zoneinfo.ZoneInfo) -> str:
    """``moment`` on the clinic's wall clock, in the active language's short date and time format."""
    return formats.date_format(moment.astimezone(tz), "SHORT_DATETIME_FORMAT")


def _day(day: dt.date) -> str:
    return formats.date_format(day, "SHORT_DATE_FORMAT")


def _minute(moment: dt.datetime) -> dt.datetime:
    return moment.replace(second=0, microsecond=0)


def _future_rule(draft: SessionDraft, *, now: dt.datetime, tz: zoneinfo.ZoneInfo) -> list[Violation]:
    """The session's time and every procedure and application time lie in the past.

    Up to FUTURE_TOLERANCE ahead of the server's clock counts as now (the typing device's clock
    may run ahead).
    """
    found: list[Violation] = []
    if in_future(draft.performed_at, now=now):
        found.append(
            ProtocolViolation(
                Rule.TIME_IN_FUTURE,
                _(
                    "The session is dated %(at)s, which lies in the future (it is now %(now)s): "
                    "record a session once it has taken place."
                )
                % {"at": _local(draft.performed_at, tz), "now": _local(now, tz)},
                "performed_at",
                BLOCK,
            )
        )
    moments = [
        (f"procedures.{index}.{name}", moment)
        for index, procedure in enumerate(draft.procedures)
        for name, moment in (("started_at", procedure.started_at), ("ended_at", procedure.ended_at))
    ] + [(f"applications.{index}.applied_at", a.applied_at) for index, a in enumerate(draft.applications)]
    for where, moment in moments:
        if in_future(moment, now=now):
            found.append(
                ProtocolViolation(
                    Rule.TIME_IN_FUTURE,
                    _("%(at)s lies in the future (it is now %(now)s).")
                    % {"at": _local(moment, tz), "now": _local(now, tz)},
                    where,
                    BLOCK,
                )
            )
    return found


def _application_procedure_rules(
    draft: SessionDraft, index: int, application: ApplicationDraft, *, clinic: Clinic, tz: zoneinfo.ZoneInfo
) -> list[Violation]:
    """Barrier disruption first, exosomes only on treated skin, within the window after the procedure."""
    where = f"applications.{index}"
    found: list[Violation] = []
    if not any(p.ended_at <= application.applied_at for p in draft.procedures):
        message = (
            _("Exosomes were applied without a barrier-disrupting procedure in this session.")
            if not draft.procedures
            else _("Exosomes were applied at %(at)s, before any barrier-disrupting procedure had ended.")
            % {"at": _local(application.applied_at, tz)}
        )
        found.append(ProtocolViolation(Rule.BARRIER_DISRUPTION, message, where, BLOCK))
    if not draft.procedures:
        return found

    missing = uncovered(application.areas, by=draft.treated_areas)
    if missing:
        found.append(
            ProtocolViolation(
                Rule.AREA_NOT_TREATED,
                _("Exosomes were applied to %(areas)s, which no procedure of this session treated.")
                % {"areas": area_list(missing)},
                f"{where}.areas",
                BLOCK,
            )
        )

    # The procedure the application follows is the last one on its areas to end (or, when the
    # areas were not treated at all, the last one of the session: the area rule has reported that).
    relevant = [p for p in draft.procedures if overlaps(p.areas, application.areas)] or list(draft.procedures)
    ended_at = max(p.ended_at for p in relevant)
    window = dt.timedelta(minutes=clinic.application_window_minutes)
    if application.applied_at < ended_at:
        found.append(
            ProtocolViolation(
                Rule.APPLICATION_WINDOW,
                _("Exosomes were applied at %(at)s, before the procedure on that area ended at %(end)s.")
                % {"at": _local(application.applied_at, tz), "end": _local(ended_at, tz)},
                f"{where}.applied_at",
                BLOCK,
            )
        )
    elif application.applied_at > ended_at + window:
        late = math.ceil((application.applied_at - ended_at).total_seconds() / 60)
        found.append(
            ProtocolViolation(
                Rule.APPLICATION_WINDOW,
                _(
                    "Exosomes were applied %(late)d minutes after the procedure ended; the protocol "
                    "allows %(window)d minutes."
                )
                % {"late": late, "window": clinic.application_window_minutes},
                f"{where}.applied_at",
                BLOCK,
            )
        )
    return found


def _lot_rules(index: int, application: ApplicationDraft, *, tz: zoneinfo.ZoneInfo) -> list[Violation]:
    """The lot is usable and the vial within its use-by time and freeze-thaw cycles."""
    lot, vial, at = application.lot, application.vial, application.applied_at
    product = lot.product
    found: list[Violation] = []

    def lot_problem(message: str) -> None:
        found.append(ProtocolViolation(Rule.LOT_NOT_USABLE, message, f"applications.{index}.lot", BLOCK))

    if lot.status != LotStatus.RELEASED:
        lot_problem(
            _("Lot %(lot)s is %(status)s, not released.")
            % {"lot": lot.number, "status": LotStatus(lot.status).label}
        )
    if at.astimezone(tz).date() > lot.expires_on:
        lot_problem(_("Lot %(lot)s expired on %(date)s.") % {"lot": lot.number, "date": _day(lot.expires_on)})
    if vial is None:
        lot_problem(_("Lot %(lot)s has no vial left to use.") % {"lot": lot.number})
        return found

    def vial_problem(message: str) -> None:
        found.append(
            ProtocolViolation(Rule.USE_WINDOW_EXCEEDED, message, f"applications.{index}.vial", BLOCK)
        )

    name = str(vial)
    needs_thaw = product.storage_form in {StorageForm.FROZEN, StorageForm.LYOPHILIZED}
    if vial.thawed_at is None:
        if needs_thaw:
            vial_problem(
                _("Vial %(vial)s was never thawed or reconstituted before it was applied.") % {"vial": name}
            )
    elif vial.thawed_at > at and not at == _minute(at) == _minute(vial.thawed_at):
        # Pages take times to the minute: an application entered as 10:47 may have followed a
        # thaw at 10:47:32, so only a time with seconds can lie before a thaw in its minute.
        vial_problem(
            _("Vial %(vial)s was thawed or reconstituted at %(thawed)s, after the application at %(at)s.")
            % {"vial": name, "thawed": _local(vial.thawed_at, tz), "at": _local(at, tz)}
        )
    elif at > vial.thawed_at + dt.timedelta(minutes=product.use_by_minutes):
        vial_problem(
            _(
                "Vial %(vial)s was thawed or reconstituted at %(thawed)s; %(product)s must be used within "
                "%(minutes)d minutes."
            )
            % {
                "vial": name,
                "thawed": _local(vial.thawed_at, tz),
                "product": product.name,
                "minutes": product.use_by_minutes,
            }
        )
    if vial.freeze_thaw_cycles > product.max_freeze_thaw_cycles:
        vial_problem(
            _("Vial %(vial)s went through %(cycles)d freeze-thaw cycles; %(product)s allows %(max)d.")
            % {
                "vial": name,
                "cycles": vial.freeze_thaw_cycles,
                "product": product.name,
                "max": product.max_freeze_thaw_cycles,
            }
        )
    return found


def check_consent(patient: Patient, *, at: dt.datetime) -> list[Violation]:
    """``consent-missing``: the patient's treatment consent of the current version, valid at ``at``.

    Sessions are checked at their time; enrolling in a course (``courses.services.enroll``) at
    the time of enrolment.

    ``record-restricted``: a patient whose record an erasure request restricted is not treated
    (nor booked) any more; the record only waits for the end of its retention period.
    """
    if patient.restricted_at is not None:
        return [
            ProtocolViolation(
                Rule.RECORD_RESTRICTED,
                _(
                    "The patient asked for their data to be erased: the record is restricted and "
                    "no longer treated. Ask the clinic admin."
                ),
                "patient",
                BLOCK,
            )
        ]
    if active_consent(patient=patient, kind=ConsentKind.TREATMENT, at=at) is not None:
        return []
    return [
        ProtocolViolation(
            Rule.CONSENT_MISSING,
            _("The patient has no signed, unwithdrawn treatment consent of the current version."),
            "patient",
            BLOCK,
        )
    ]


def _contraindication_rule(draft: SessionDraft, *, clinic: Clinic, tz: zoneinfo.ZoneInfo) -> list[Violation]:
    """The newest screening answer of each item the clinic checks, applied to this session.

    An area-specific item (infection, acne or dermatitis, malignancy) answered without areas
    counts everywhere. Isotretinoin counts when the last dose (none given: still taking it) lies
    within 6 months; it blocks a fully ablative laser unless the clinic switched the item off (ASDS 2017).
    Every item the clinic checks needs an answer from the last SCREENING_VALID_DAYS days.
    """
    day = draft.performed_at.astimezone(tz).date()
    newest: dict[str, ScreeningAnswer] = {}
    for given in ScreeningAnswer.objects.filter(patient=draft.patient, answered_on__lte=day).order_by(
        "-answered_on", "-recorded_at", "-id"
    ):
        newest.setdefault(given.item, given)

    areas = draft.treated_areas + [a for application in draft.applications for a in application.areas]
    ablative = any(
        p.kind == ProcedureKind.FRACTIONAL_LASER and p.laser_type in ABLATIVE_LASERS for p in draft.procedures
    )
    oldest_valid = day - dt.timedelta(days=SCREENING_VALID_DAYS)
    stale: list[str] = []
    found: list[Violation] = []
    for item in ScreeningItem:
        severity = clinic.severity_of(item)
        if severity == Severity.OFF:
            continue
        answer = newest.get(item)
        if answer is None or answer.answered_on < oldest_valid:
            stale.append(str(item.label))
            continue
        if not answer.present:
            continue
        if item in AREA_SPECIFIC and answer.areas and not overlaps(answer.areas, areas):
            continue
        if item == ScreeningItem.ISOTRETINOIN:
            if answer.last_dose_on and answer.last_dose_on < day - dt.timedelta(days=ISOTRETINOIN_DAYS):
                continue
            if ablative:
                severity = Severity.BLOCK
        params = {"item": item.value, "answered_on": answer.answered_on.isoformat()}
        message = _contraindication_message(params)
        if item == ScreeningItem.ISOTRETINOIN and ablative:
            # Always blocking, so never recorded as a warning: no need to word it again later.
            message += " " + _("Fully ablative laser resurfacing is advised against within 6 months.")
        found.append(
            ProtocolViolation(
                Rule.CONTRAINDICATION, message, f"screening.{item.value}", severity.value, params
            )
        )
    if stale:
        found.insert(
            0,
            ProtocolViolation(
                Rule.CONTRAINDICATION,
                _("The contraindication screening is missing or older than %(days)d days: %(items)s.")
                % {"days": SCREENING_VALID_DAYS, "items": "; ".join(stale)},
                "screening",
                BLOCK,
            ),
        )
    return found


def _dose_rule(index: int, application: ApplicationDraft) -> list[Violation]:
    """The volume per area (the application's volume divided by the number of areas it lists).

    ``face`` counts as one area, like each of its parts: the label gives the volume per area
    as the clinic names the area.
    """
    product = application.lot.product
    per_area = application.volume_ml / len(application.areas)
    if product.volume_min_ml <= per_area <= product.volume_max_ml:
        return []
    params = {
        "volume_ml": str(per_area.quantize(Decimal("0.01"))),
        "product": product.name,
        "min_ml": str(product.volume_min_ml),
        "max_ml": str(product.volume_max_ml),
    }
    return [
        ProtocolViolation(
            Rule.DOSE_OUT_OF_RANGE, _dose_message(params), f"applications.{index}.volume_ml", WARN, params
        )
    ]


# A warning is stored with its rule and params and worded when it is shown, in the reader's
# language: these are the messages of the rules that can warn, worded from their params.


def _contraindication_message(params: Mapping[str, str]) -> str:
    return _("Contraindication: %(item)s (screening of %(date)s).") % {
        "item": ScreeningItem(params["item"]).label,
        "date": _day(dt.date.fromisoformat(params["answered_on"])),
    }


def _dose_message(params: Mapping[str, str]) -> str:
    return _(
        "%(volume)s ml per area lies outside the labelled range of %(product)s (%(min)s–%(max)s ml per area)."
    ) % {
        "volume": formats.number_format(Decimal(params["volume_ml"])),
        "product": params["product"],
        "min": formats.number_format(Decimal(params["min_ml"])),
        "max": formats.number_format(Decimal(params["max_ml"])),
    }


WARNING_MESSAGES: dict[str, Callable[[Mapping[str, str]], str]] = {
    Rule.CONTRAINDICATION: _contraindication_message,
    Rule.DOSE_OUT_OF_RANGE: _dose_message,
}


def warning_message(rule: str, params: Mapping[str, str]) -> str:
    """A recorded warning's message in the active language, worded from its rule and params."""
    return WARNING_MESSAGES[rule](params)
