"""Temperature readings of a lot: parsing a logger's CSV or a JSON batch, and the cold-chain check.

Accepted CSV (one reading a line, UTF-8, an optional BOM and an optional header line)::

    recorded_at,celsius
    2026-11-01T08:00:00+01:00,-20.5
    2026-11-01T08:15:00Z,-20.4

- column 1: an ISO 8601 timestamp **with** a UTC offset (``+01:00`` or ``Z``); a naive one is refused,
  because a logger's local time without an offset is ambiguous around daylight-saving changes;
- column 2: degrees Celsius, a point as the decimal separator; files separated by semicolons
  (``2026-11-01T08:00:00+01:00;-20,5``, as spreadsheets in German locales write them) may use
  a decimal comma;
- the first line is a header if its first cell does not start with a digit; blank lines are skipped.

Nothing here touches the database: :func:`parse_csv` and :func:`parse_batch` turn input into
validated :class:`Reading` objects or raise one ``ValidationError`` naming every bad line, and
:func:`check` finds excursions and gaps in a lot's whole log.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

# Physically possible and storable (TemperatureReading.celsius has 5 digits, 2 decimals).
LOWEST_C = Decimal("-273.15")
HIGHEST_C = Decimal("200")
CENT = Decimal("0.01")
# Beyond this many problems one more line of errors helps nobody.
MAX_REPORTED_ERRORS = 20


@dataclass(frozen=True)
class Reading:
    """One temperature reading; ``where`` names its line in a file or its position in a batch."""

    recorded_at: dt.datetime
    celsius: Decimal
    where: str = ""


@dataclass(frozen=True)
class Excursion:
    recorded_at: dt.datetime
    celsius: Decimal

    def as_dict(self) -> dict[str, str]:
        return {"recorded_at": self.recorded_at.isoformat(), "celsius": str(self.celsius)}

    @property
    def key(self) -> str:
        return f"excursion:{self.recorded_at.isoformat()}"


@dataclass(frozen=True)
class Gap:
    start: dt.datetime
    end: dt.datetime

    @property
    def minutes(self) -> float:
        return (self.end - self.start).total_seconds() / 60

    def as_dict(self) -> dict[str, str | float]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "minutes": self.minutes}

    @property
    def key(self) -> str:
        return f"gap:{self.start.isoformat()}/{self.end.isoformat()}"


@dataclass(frozen=True)
class CheckResult:
    excursions: list[Excursion] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.excursions or self.gaps)

    def keys(self) -> set[str]:
        return {e.key for e in self.excursions} | {g.key for g in self.gaps}


def check(
    readings: Iterable[tuple[dt.datetime, Decimal]],
    *,
    minimum: Decimal,
    maximum: Decimal,
    interval_minutes: int,
) -> CheckResult:
    """Excursions (readings outside ``[minimum, maximum]``) and gaps longer than twice the interval.

    ``readings`` must be ordered by time. A gap is an unknown excursion: nobody knows the
    temperature between the two readings around it.
    """
    result = CheckResult()
    longest = dt.timedelta(minutes=2 * interval_minutes)
    previous: dt.datetime | None = None
    for recorded_at, celsius in readings:
        if not minimum <= celsius <= maximum:
            result.excursions.append(Excursion(recorded_at, celsius))
        if previous is not None and recorded_at - previous > longest:
            result.gaps.append(Gap(previous, recorded_at))
        previous = recorded_at
    return result


class _Errors:
    """Collects line errors; raises them together as one ValidationError on ``field``."""

    def __init__(self, field: str) -> None:
        self.field = field
        self.messages: list[str] = []

    def add(self, message: str) -> None:
        self.messages.append(message)

    def raise_if_any(self) -> None:
        if not self.messages:
            return
        messages = self.messages[:MAX_REPORTED_ERRORS]
        if (more := len(self.messages) - MAX_REPORTED_ERRORS) > 0:
            messages.append(
                ngettext("… and %(count)d more error.", "… and %(count)d more errors.", more)
                % {"count": more}
            )
        raise ValidationError({self.field: messages})


def _timestamp(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            _("%(value)r is not an ISO 8601 timestamp (like 2026-11-01T08:00:00+01:00).") % {"value": text}
        ) from None
    return _aware(value)


def _aware(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            _("The timestamp %(value)s has no UTC offset; add one, like +01:00 or Z.")
            % {"value": value.isoformat()}
        )
    return value.astimezone(dt.UTC)


def _celsius(text: str | Decimal | float, *, decimal_comma: bool = False) -> Decimal:
    raw = text.strip() if isinstance(text, str) else text
    if isinstance(raw, str) and decimal_comma:
        raw = raw.replace(",", ".")
    try:
        value = Decimal(str(raw)) if not isinstance(raw, Decimal) else raw
    except InvalidOperation:
        raise ValueError(_("%(value)r is not a number of degrees Celsius.") % {"value": text}) from None
    if not value.is_finite() or not LOWEST_C <= value <= HIGHEST_C:
        raise ValueError(_("%(value)s °C is not a possible temperature.") % {"value": text})
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


def _refuse_repeats(readings: Sequence[Reading], errors: _Errors) -> None:
    seen: dict[dt.datetime, str] = {}
    for reading in readings:
        first = seen.setdefault(reading.recorded_at, reading.where)
        if first != reading.where:
            errors.add(
                _("%(where)s: repeats the timestamp %(at)s of %(first)s.")
                % {"where": reading.where, "at": reading.recorded_at.isoformat(), "first": first}
            )


def parse_csv(content: bytes | str) -> list[Reading]:
    """The readings of a logger CSV; any bad line refuses the whole file (see the module docs)."""
    errors = _Errors("file")
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            message = _("The file is not UTF-8 text (byte %(pos)d).") % {"pos": exc.start + 1}
            raise ValidationError({"file": [message]}) from None
    content = content.removeprefix("\ufeff")
    lines = content.splitlines()
    first = next((line for line in lines if line.strip()), "")
    delimiter = ";" if ";" in first else ","
    line_label = _("Line %(n)d")
    readings: list[Reading] = []
    header_allowed = True
    for number, row in enumerate(csv.reader(lines, delimiter=delimiter), start=1):
        cells = [cell.strip() for cell in row]
        while cells and not cells[-1]:
            cells.pop()
        if not cells:
            continue
        if header_allowed and not cells[0][:1].isdigit():
            header_allowed = False
            continue
        header_allowed = False
        where = line_label % {"n": number}
        if len(cells) != 2:
            errors.add(
                _("%(where)s: expected 2 columns (timestamp, °C), found %(count)d.")
                % {"where": where, "count": len(cells)}
            )
            continue
        try:
            readings.append(
                Reading(_timestamp(cells[0]), _celsius(cells[1], decimal_comma=delimiter == ";"), where)
            )
        except ValueError as exc:
            errors.add(f"{where}: {exc}")
    if not readings and not errors.messages:
        errors.add(_("The file holds no readings."))
    _refuse_repeats(readings, errors)
    errors.raise_if_any()
    return readings


def parse_batch(items: Sequence[tuple[dt.datetime, Decimal | float | str]]) -> list[Reading]:
    """Readings from a JSON batch of ``(recorded_at, celsius)``; positions count from 1."""
    errors = _Errors("readings")
    label = _("Reading %(n)d")
    readings: list[Reading] = []
    for number, (recorded_at, celsius) in enumerate(items, start=1):
        where = label % {"n": number}
        try:
            readings.append(Reading(_aware(recorded_at), _celsius(celsius), where))
        except ValueError as exc:
            errors.add(f"{where}: {exc}")
    if not items:
        errors.add(_("The batch holds no readings."))
    _refuse_repeats(readings, errors)
    errors.raise_if_any()
    return readings
