"""Eligibility: the study's inclusion and exclusion criteria applied to one patient, and the rule
that enrolment needs a research consent in force (decided by ``consent.selectors.active_consent``,
the one place that says whether a patient has consented)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.utils.translation import gettext as _

from exoderm.consent.models import ConsentKind
from exoderm.consent.selectors import active_consent
from exoderm.core.contraindications import ScreeningItem
from exoderm.core.errors import Violation
from exoderm.patients.models import PatientIdentity, ScreeningAnswer
from exoderm.studies.models import CriterionKind, CriterionSubject, EligibilityCriterion
from exoderm.treatments.protocol import SCREENING_VALID_DAYS

if TYPE_CHECKING:
    from exoderm.patients.models import Patient

RESEARCH_CONSENT_MISSING = "research-consent-missing"
NOT_ELIGIBLE = "not-eligible"
# a patient screened and not enrolled for a reason the staff give in their own words (declined, lost
# before enrolment): ``services.record_screen_failure``
OTHER_SCREEN_FAILURE = "other"


class EnrolmentRefusal(Violation):
    """A refused enrolment; ``criterion`` names the criterion that failed (``inclusion:age``,
    ``exclusion:screening:pregnancy``), empty for the consent rule."""

    def as_dict(self) -> dict[str, str]:
        data = super().as_dict()
        if self.params.get("criterion"):
            data["criterion"] = self.params["criterion"]
        return data


def criterion_code(criterion: EligibilityCriterion) -> str:
    """A stable name of the criterion for clients: kind, subject and, for screening, the item."""
    parts = [criterion.kind, criterion.subject]
    if criterion.subject == CriterionSubject.SCREENING:
        parts.append(criterion.screening_item)
    return ":".join(parts)


def describe(criterion: EligibilityCriterion) -> str:
    """The criterion in words (its own description if it has one)."""
    if criterion.description:
        return criterion.description
    kind = CriterionKind(criterion.kind).label
    if criterion.subject == CriterionSubject.SCREENING:
        return _("%(kind)s: %(item)s") % {"kind": kind, "item": ScreeningItem(criterion.screening_item).label}
    low = "" if criterion.min_value is None else str(criterion.min_value)
    high = "" if criterion.max_value is None else str(criterion.max_value)
    return _("%(kind)s: %(subject)s %(low)s–%(high)s") % {
        "kind": kind,
        "subject": CriterionSubject(criterion.subject).label,
        "low": low,
        "high": high,
    }


def research_consent_refusal(patient: Patient, *, at: dt.datetime) -> list[Violation]:
    if active_consent(patient=patient, kind=ConsentKind.RESEARCH, at=at) is not None:
        return []
    return [
        EnrolmentRefusal(
            RESEARCH_CONSENT_MISSING,
            _("The patient has no signed, unwithdrawn research consent of the current version."),
            "patient",
        )
    ]


def _age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _in_range(value: int, criterion: EligibilityCriterion) -> bool:
    low_ok = criterion.min_value is None or value >= criterion.min_value
    high_ok = criterion.max_value is None or value <= criterion.max_value
    return low_ok and high_ok


def _newest_answers(patient: Patient, day: dt.date) -> dict[str, ScreeningAnswer]:
    """The newest answer per screening item from the last SCREENING_VALID_DAYS days (as the
    protocol counts a screening valid)."""
    newest: dict[str, ScreeningAnswer] = {}
    oldest = day - dt.timedelta(days=SCREENING_VALID_DAYS)
    answers = ScreeningAnswer.objects.filter(patient=patient, answered_on__lte=day, answered_on__gte=oldest)
    for answer in answers.order_by("-answered_on", "-recorded_at", "-id"):
        newest.setdefault(answer.item, answer)
    return newest


def ineligibility(
    patient: Patient, *, criteria: Sequence[EligibilityCriterion], day: dt.date
) -> list[Violation]:
    """Every criterion ``patient`` fails on ``day``, each naming its criterion.

    A screening criterion needs an answer from the last SCREENING_VALID_DAYS days: without one it
    fails, since eligibility cannot be shown.
    """
    answers = (
        _newest_answers(patient, day)
        if any(c.subject == CriterionSubject.SCREENING for c in criteria)
        else {}
    )
    birth = (
        PatientIdentity.objects.filter(patient=patient).values_list("date_of_birth", flat=True).first()
        if any(c.subject == CriterionSubject.AGE for c in criteria)
        else None
    )
    found: list[Violation] = []
    for criterion in criteria:
        inclusion = criterion.kind == CriterionKind.INCLUSION
        code = criterion_code(criterion)
        if criterion.subject == CriterionSubject.AGE:
            if birth is None:
                met, detail = False, _("the date of birth is not recorded")
            else:
                age = _age_on(birth, day)
                met = _in_range(age, criterion) == inclusion
                detail = _("age %(age)d") % {"age": age}
        elif criterion.subject == CriterionSubject.FITZPATRICK:
            met = _in_range(patient.fitzpatrick, criterion) == inclusion
            detail = _("Fitzpatrick type %(type)d") % {"type": patient.fitzpatrick}
        else:
            answer = answers.get(criterion.screening_item)
            if answer is None:
                met = False
                detail = _("no screening answer from the last %(days)d days") % {"days": SCREENING_VALID_DAYS}
            else:
                met = answer.present == inclusion
                detail = _("answered present") if answer.present else _("answered absent")
        if not met:
            found.append(
                EnrolmentRefusal(
                    NOT_ELIGIBLE,
                    _("Not eligible: %(criterion)s (%(detail)s).")
                    % {"criterion": describe(criterion), "detail": detail},
                    f"criteria.{code}",
                    params={"criterion": code},
                )
            )
    return found
