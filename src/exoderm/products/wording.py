"""The reasons for a lot's status, in the reader's language.

A reason the system gives (received, released on inspection, depleted, expired, quarantined by the
cold-chain check) is stored as a :class:`~exoderm.products.models.ReasonCode` with its numbers and
worded here when shown: in the active language, times on the clinic's wall clock, numbers in the
language's format. A reason a person typed, and any reason recorded before the codes, is shown as
stored.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from exoderm.products import coldchain
from exoderm.products.models import Lot, LotEvent, ReasonCode


def word_reason(code: str, params: Mapping[str, Any], text: str, *, time_zone: str) -> str:
    """A status reason in the active language; ``text`` when it has no code."""
    if code == ReasonCode.COLD_CHAIN:
        return _cold_chain(params, zoneinfo.ZoneInfo(time_zone))
    if code in ReasonCode.values:
        return str(ReasonCode(code).label)
    return text


def lot_reason(lot: Lot) -> str:
    """Why ``lot`` has its status, in the active language."""
    return word_reason(
        lot.status_reason_code,
        lot.status_reason_params,
        lot.status_reason,
        time_zone=lot.product.clinic.time_zone,
    )


def event_reason(event: LotEvent) -> str:
    """Why a status change of a lot happened, in the active language."""
    return word_reason(
        event.reason_code, event.reason_params, event.reason, time_zone=event.lot.product.clinic.time_zone
    )


def cold_chain_params(
    found: coldchain.CheckResult, *, minimum: Decimal, maximum: Decimal, gap_limit_minutes: int
) -> dict[str, Any]:
    """What the cold-chain reason needs of a check's findings: their counts and the first of each."""
    params: dict[str, Any] = {"min_c": str(minimum), "max_c": str(maximum)}
    if found.excursions:
        params.update(excursions=len(found.excursions), first_excursion=found.excursions[0].as_dict())
    if found.gaps:
        params.update(
            gaps=len(found.gaps), first_gap=found.gaps[0].as_dict(), gap_limit_minutes=gap_limit_minutes
        )
    return params


def _at(instant: str, time_zone: zoneinfo.ZoneInfo) -> str:
    return formats.date_format(
        dt.datetime.fromisoformat(instant).astimezone(time_zone), "SHORT_DATETIME_FORMAT"
    )


def _celsius(value: str) -> str:
    return formats.localize(Decimal(value))


def _cold_chain(params: Mapping[str, Any], time_zone: zoneinfo.ZoneInfo) -> str:
    findings = []
    if count := params.get("excursions"):
        first = params["first_excursion"]
        findings.append(
            ngettext(
                "%(count)d reading outside %(min)s to %(max)s °C (at %(at)s: %(celsius)s °C)",
                "%(count)d readings outside %(min)s to %(max)s °C (first at %(at)s: %(celsius)s °C)",
                count,
            )
            % {
                "count": count,
                "min": _celsius(params["min_c"]),
                "max": _celsius(params["max_c"]),
                "at": _at(first["recorded_at"], time_zone),
                "celsius": _celsius(first["celsius"]),
            }
        )
    if count := params.get("gaps"):
        first = params["first_gap"]
        findings.append(
            ngettext(
                "%(count)d gap in the log longer than %(limit)d minutes (from %(start)s to %(end)s)",
                "%(count)d gaps in the log longer than %(limit)d minutes (first from %(start)s to %(end)s)",
                count,
            )
            % {
                "count": count,
                "limit": params["gap_limit_minutes"],
                "start": _at(first["start"], time_zone),
                "end": _at(first["end"], time_zone),
            }
        )
    return _("Cold chain: %(findings)s.") % {"findings": "; ".join(findings)}
