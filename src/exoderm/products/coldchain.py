"""Temperature readings of a lot: reading a data logger's export or a JSON batch, and the cold-chain check.

:func:`read_logger_file` reads the CSV exports of common logger software as they come (Testo
ComSoft and Saveris, ELPRO ELIOShub/ECOLOG, LogTag Analyzer, a spreadsheet's own CSV):

- the text is UTF-8 (with or without a BOM) or, as Windows programs write it, Windows-1252;
- the **table** is found by its header row, the first row naming a time column and a temperature
  column in German or English ("Datum/Uhrzeit", "Zeit", "Date/Time", or a "Datum" and a "Zeit"
  column, and "Temperatur [°C]", "Temperature (°F)", "°C", "celsius"; the first such column of a
  logger with several probes, a column without a unit is °C); its separator (``;``, tab or ``,``)
  is the one that splits that row into those columns. Title and logger details before
  the header row and a summary after the last reading are skipped and reported. A file without
  such a header row is read as ``timestamp,celsius`` (the first line may be a header of other words);
- **times**: ISO 8601 (``2026-11-01T08:00:00+01:00``, ``2026-11-01 08:00:00``), ``dd.mm.yyyy hh:mm[:ss]``,
  ``yyyy/mm/dd`` and ``dd/mm/yyyy`` or ``mm/dd/yyyy`` (the order shown by a day above 12 or by the
  readings' order; refused when neither tells), with an optional AM/PM. A file gives all its
  times with a UTC offset or none: times without one are the clinic's wall clock (``time_zone``).
  In the hour the clocks go back each wall time happens twice; readings in that hour are placed
  where the readings around them and the logger interval leave exactly one possibility (the second
  02:15 follows the first 02:45), and refused naming the line otherwise. A wall time in the hour
  the clocks skip in spring is refused;
- **temperatures** with a decimal point or comma, a Unicode minus, an optional unit after the
  number; a Fahrenheit column (°F in its header) is converted to °C. A line whose temperature cell
  is empty or dashes (a logger's missing reading) is skipped and reported, which leaves a gap.

Any other bad line refuses the whole file, with one ``ValidationError`` naming every bad line.
Nothing here touches the database: :func:`read_logger_file` (the readings, the format it found and
the lines it skipped), :func:`parse_csv` (the readings only) and :func:`parse_batch` turn input into
validated :class:`Reading` objects, and :func:`check` finds excursions and gaps in a lot's whole log.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import re
import statistics
import zoneinfo
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


def _aware(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            _("The timestamp %(value)s has no UTC offset; add one, like +01:00 or Z.")
            % {"value": value.isoformat()}
        )
    return value.astimezone(dt.UTC)


def _celsius(value: str | Decimal | float) -> Decimal:
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(_("%(value)r is not a number of degrees Celsius.") % {"value": value}) from None
    if not number.is_finite() or not LOWEST_C <= number <= HIGHEST_C:
        raise ValueError(_("%(value)s °C is not a possible temperature.") % {"value": value})
    return number.quantize(CENT, rounding=ROUND_HALF_EVEN)


def _refuse_repeats(readings: Sequence[Reading], errors: _Errors) -> None:
    seen: dict[dt.datetime, str] = {}
    for reading in readings:
        first = seen.setdefault(reading.recorded_at, reading.where)
        if first != reading.where:
            errors.add(
                _("%(where)s: repeats the timestamp %(at)s of %(first)s.")
                % {"where": reading.where, "at": reading.recorded_at.isoformat(), "first": first}
            )


# Separators tried on each line, in this order, to find the header row of the table.
SEPARATORS = (";", "\t", ",")
DATE_WORDS = frozenset({"datum", "date"})
TIME_WORDS = frozenset({"zeit", "uhrzeit", "time"})
DATETIME_WORDS = frozenset(
    {"timestamp", "zeitstempel", "datetime", "recorded_at", "zeitpunkt", "messzeitpunkt"}
)
# A logger's "no reading" in the temperature cell: empty, dashes, n/a.
NO_READING = re.compile(r"(?:[-–—]+|n/?a|error|fehler)?", re.IGNORECASE)
# A unit written after the number in the cell ("-20,5 °C").
UNIT_SUFFIX = re.compile(r"\s*°?\s*[CF]\s*$", re.IGNORECASE)
NUMERIC_TIME = re.compile(
    r"(?P<a>\d{1,4})(?P<sep>[./-])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{2,4})[ T,]+"
    r"(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,6}))?)?"
    r"(?:\s*(?P<half>[AaPp])\.?[Mm]\.?)?"
)
ISO_STYLE = "ISO 8601"
# The longest logger interval a lot accepts: consecutive readings further apart under one reading
# of slashed dates than this tell that the other reading (day or month first) is meant.
LONGEST_STEP = dt.timedelta(days=1)


@dataclass(frozen=True)
class SkippedLines:
    """Lines of a file that hold no reading, with why they were left out."""

    first: int
    last: int
    reason: str

    @property
    def label(self) -> str:
        if self.first == self.last:
            return _("Line %(n)d") % {"n": self.first}
        return _("Lines %(first)d–%(last)d") % {"first": self.first, "last": self.last}


@dataclass(frozen=True)
class LoggerFormat:
    """What :func:`read_logger_file` found out about a file, for the person checking the upload."""

    encoding: str
    separator: str
    header_line: int | None
    time_column: str
    temperature_column: str
    date_style: str
    decimal_comma: bool
    fahrenheit: bool
    time_zone: str  # empty when the times carry UTC offsets
    repeated_hour_readings: int  # readings placed in the hour the clocks went back

    def description(self) -> list[str]:
        separators = {";": _("semicolon"), "\t": _("tab"), ",": _("comma")}
        lines = [
            _("%(encoding)s text, columns separated by %(separator)s")
            % {"encoding": self.encoding, "separator": separators[self.separator]},
            _("Table header in line %(n)d: time from “%(time)s”, temperature from “%(temperature)s”")
            % {"n": self.header_line, "time": self.time_column, "temperature": self.temperature_column}
            if self.header_line
            else _("No header row: first column the time, second the temperature"),
            _("Dates as %(style)s") % {"style": self.date_style},
            _("Decimal comma") if self.decimal_comma else _("Decimal point"),
        ]
        if self.fahrenheit:
            lines.append(_("Degrees Fahrenheit, converted to degrees Celsius"))
        if self.time_zone:
            lines.append(
                _("Times without UTC offset, read as the clinic's time (%(zone)s)") % {"zone": self.time_zone}
            )
        else:
            lines.append(_("Times with UTC offsets"))
        if self.repeated_hour_readings:
            lines.append(
                ngettext(
                    "%(count)d reading in the hour the clocks went back, placed by the readings' order",
                    "%(count)d readings in the hour the clocks went back, placed by the readings' order",
                    self.repeated_hour_readings,
                )
                % {"count": self.repeated_hour_readings}
            )
        return lines


@dataclass(frozen=True)
class LoggerFile:
    readings: list[Reading]
    format: LoggerFormat
    skipped: list[SkippedLines]


@dataclass(frozen=True)
class _Table:
    """Where the readings are: column positions of a header row (or of a file without one)."""

    separator: str
    header_line: int | None
    columns: int
    time_column: int
    date_column: int | None  # a separate date column when the time column holds only the clock time
    temperature_column: int
    fahrenheit: bool
    time_name: str = ""
    temperature_name: str = ""

    @property
    def needed(self) -> int:
        return max(self.time_column, self.date_column or 0, self.temperature_column) + 1


@dataclass
class _Row:
    number: int
    where: str
    when: str
    temperature: str


def _split(line: str, separator: str) -> list[str]:
    cells = [cell.strip() for cell in next(csv.reader([line], delimiter=separator), [])]
    while cells and not cells[-1]:
        cells.pop()
    return cells


def _header(cells: list[str], separator: str, number: int) -> _Table | None:
    """The table this row heads, if it names a time and a temperature column."""
    when = date = clock = temperature = None
    fahrenheit = False
    for index, cell in enumerate(cells):
        low = cell.lower()
        words = set(re.findall(r"[a-zäöüß_]+", low))
        has_date, has_time = bool(words & DATE_WORDS), bool(words & TIME_WORDS)
        if words & DATETIME_WORDS or (has_date and has_time):
            when = index if when is None else when
        elif has_date:
            date = index if date is None else date
        elif has_time:
            clock = index if clock is None else clock
        elif temperature is None and (
            any(word.startswith("temp") for word in words) or words & {"celsius", "fahrenheit"} or "°" in low
        ):
            temperature = index
            fahrenheit = (
                "°f" in low.replace(" ", "")
                or "fahrenheit" in words
                or re.search(r"[\[(]\s*f\s*[\])]", low) is not None
            )
    if temperature is None or (when is None and (date is None or clock is None)):
        return None
    time_column, date_column = (when, None) if when is not None else (clock, date)
    assert time_column is not None  # for mypy: one of the two branches above holds
    time_name = cells[time_column] if date_column is None else f"{cells[date_column]} + {cells[time_column]}"
    return _Table(
        separator=separator,
        header_line=number,
        columns=len(cells),
        time_column=time_column,
        date_column=date_column,
        temperature_column=temperature,
        fahrenheit=fahrenheit,
        time_name=time_name,
        temperature_name=cells[temperature],
    )


def _find_table(lines: list[str]) -> _Table:
    for number, line in enumerate(lines, start=1):
        for separator in SEPARATORS:
            if separator in line and (table := _header(_split(line, separator), separator, number)):
                return table
    first_data = next((line for line in lines if line.strip()[:1].isdigit()), "")
    separator = next((s for s in SEPARATORS if s in first_data), ",")
    return _Table(
        separator=separator,
        header_line=None,
        columns=2,
        time_column=0,
        date_column=None,
        temperature_column=1,
        fahrenheit=False,
    )


def _decode(content: bytes | str) -> tuple[str, str]:
    """The text and the name of its encoding: UTF-8, else Windows-1252 as Windows programs write."""
    if isinstance(content, str):
        return content.removeprefix("\ufeff"), "UTF-8"
    try:
        return content.decode("utf-8-sig"), "UTF-8"
    except UnicodeDecodeError as exc:
        # NUL bytes mean UTF-16 or a binary file, which Windows-1252 would turn into garbage.
        if b"\x00" not in content:
            try:
                return content.decode("cp1252"), "Windows-1252"
            except UnicodeDecodeError:
                pass
        message = _("The file is not UTF-8 text (byte %(pos)d).") % {"pos": exc.start + 1}
        raise ValidationError({"file": [message]}) from None


def _temperature(text: str, *, fahrenheit: bool) -> tuple[Decimal, bool]:
    """Degrees Celsius of a cell, and whether it was written with a decimal comma."""
    raw = UNIT_SUFFIX.sub("", text.strip().replace("\u2212", "-")).replace(" ", "")
    decimal_comma = "," in raw and "." not in raw
    if decimal_comma:
        raw = raw.replace(",", ".")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ValueError(_("%(value)r is not a number of degrees Celsius.") % {"value": text}) from None
    if fahrenheit and value.is_finite():
        value = (value - 32) * 5 / 9
    return _celsius(value), decimal_comma


def _timestamp_error(text: str) -> ValueError:
    return ValueError(
        _(
            "%(value)r is not an ISO 8601 timestamp (like 2026-11-01T08:00:00+01:00) or a logger's "
            "date and time (like 01.11.2026 08:00:00)."
        )
        % {"value": text}
    )


def _date_order(rows: list[_Row], errors: _Errors) -> str:
    """``dmy``, ``mdy`` or ``ymd``: how the file's numeric dates are ordered, ``iso`` for ISO 8601.

    Slashed or dashed dates with the day first or second: a day above 12 tells; else the one order
    under which the readings follow each other in time, no more than a day apart.
    """
    slashed: list[re.Match[str]] = []
    style = ""
    for row in rows:
        if (match := NUMERIC_TIME.fullmatch(row.when)) is None:
            continue
        if len(match["a"]) == 4:
            style = style or "ymd"
        elif match["sep"] == ".":
            style = style or "dmy"
        else:
            slashed.append(match)
    if not slashed:
        return style or "iso"
    if any(int(m["a"]) > 12 for m in slashed):
        return "dmy"
    if any(int(m["b"]) > 12 for m in slashed):
        return "mdy"
    if all(m["a"] == m["b"] for m in slashed):
        return "dmy"
    ordered = []
    for order in ("dmy", "mdy"):
        try:
            times = [_numeric(m, order) for m in slashed]
        except ValueError:
            continue
        if all(dt.timedelta(0) <= b - a <= LONGEST_STEP for a, b in itertools.pairwise(times)):
            ordered.append(order)
    if len(ordered) == 1:
        return ordered[0]
    errors.add(
        _(
            "The dates (like %(example)s) can be read as day/month/year or as month/day/year; export "
            "them with the year first (yyyy-mm-dd) or as dd.mm.yyyy."
        )
        % {"example": slashed[0].group(0).split()[0]}
    )
    return "dmy"


def _numeric(match: re.Match[str], order: str) -> dt.datetime:
    a, b, c = match["a"], match["b"], match["c"]
    if len(a) == 4:
        year, month, day = a, b, c
    elif order == "mdy":
        month, day, year = a, b, c
    else:
        day, month, year = a, b, c
    if len(year) not in (2, 4):
        raise ValueError(year)
    hour = int(match["hour"])
    if match["half"]:
        if not 1 <= hour <= 12:
            raise ValueError(hour)
        hour = hour % 12 + (12 if match["half"] in "Pp" else 0)
    return dt.datetime(
        int(year) + (2000 if len(year) == 2 else 0),
        int(month),
        int(day),
        hour,
        int(match["minute"]),
        int(match["second"] or 0),
        int((match["fraction"] or "0").ljust(6, "0")),
    )


def _wall_time(text: str, order: str) -> dt.datetime:
    """The time of a cell, aware if it carries an offset, naive (a wall-clock time) otherwise."""
    if match := NUMERIC_TIME.fullmatch(text):
        try:
            return _numeric(match, order)
        except ValueError:
            raise _timestamp_error(text) from None
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise _timestamp_error(text) from None


def _fitting_splits(
    run: list[tuple[dt.datetime, ...]],
    before: dt.datetime | None,
    after: dt.datetime | None,
    limit: dt.timedelta | None,
) -> list[int]:
    """The splits ``k`` of a run of repeated-hour readings (the first ``k`` on the first pass, the
    rest on the second) under which the run, with its neighbours, rises in steps no longer than
    ``limit``. Linear in the run's length: a run holds an hour of readings, 3600 at one a second.
    """

    def fits(earlier: dt.datetime | None, later: dt.datetime | None) -> bool:
        if earlier is None or later is None:
            return True
        return earlier < later and (limit is None or later - earlier <= limit)

    first = [option[0] for option in run]
    second = [option[1] for option in run]
    size = len(run)
    # rising_first[k]: before, first[0], ..., first[k-1] rise; rising_second[k]: second[k:], after rise.
    rising_first = [True] * (size + 1)
    for k in range(1, size + 1):
        rising_first[k] = rising_first[k - 1] and fits(first[k - 2] if k > 1 else before, first[k - 1])
    rising_second = [True] * (size + 1)
    for k in range(size - 1, -1, -1):
        rising_second[k] = rising_second[k + 1] and fits(second[k], second[k + 1] if k + 1 < size else after)
    return [
        k
        for k in range(size + 1)
        if rising_first[k]
        and rising_second[k]
        and fits(first[k - 1] if k else before, second[k] if k < size else after)
    ]


def _on_the_clock(
    walls: list[tuple[str, dt.datetime]],
    zone: zoneinfo.ZoneInfo,
    interval_minutes: int | None,
    errors: _Errors,
) -> tuple[list[dt.datetime | None], int]:
    """UTC instants of wall-clock times in ``zone`` (None where refused), and how many lay in a
    repeated hour.

    A wall time in the hour the clocks go back has two instants. For each run of such readings the
    one split "first pass, then second pass" is taken under which the instants, with the readings
    just before and after the run, rise and no step exceeds twice the interval (the gap limit);
    if none or several fit, the run is refused.
    """
    options: list[tuple[dt.datetime, ...]] = []
    for where, wall in walls:
        first, second = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
        if first.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None) != wall:
            errors.add(
                _(
                    "%(where)s: %(wall)s does not exist on the clinic's clock (%(zone)s: the clocks went "
                    "forward an hour); check the logger's clock or export the log with UTC offsets."
                )
                % {"where": where, "wall": f"{wall:%Y-%m-%d %H:%M}", "zone": zone.key}
            )
            options.append(())
        elif first.utcoffset() != second.utcoffset():
            options.append((first.astimezone(dt.UTC), second.astimezone(dt.UTC)))
        else:
            options.append((first.astimezone(dt.UTC),))
    limit: dt.timedelta | None = None
    if interval_minutes is not None:
        limit = dt.timedelta(minutes=2 * interval_minutes)
    elif steps := [
        (b[0] - a[0]).total_seconds()
        for a, b in itertools.pairwise(options)
        if len(a) == len(b) == 1 and b[0] > a[0]
    ]:
        limit = dt.timedelta(seconds=2 * statistics.median(steps))
    instants: list[dt.datetime | None] = [o[0] if len(o) == 1 else None for o in options]
    repeated = 0
    index = 0
    while index < len(options):
        if len(options[index]) != 2:
            index += 1
            continue
        end = index
        while end < len(options) and len(options[end]) == 2:
            end += 1
        run = options[index:end]
        before = instants[index - 1] if index else None
        after = instants[end] if end < len(options) else None
        fitting = _fitting_splits(run, before, after, limit)
        if len(fitting) == 1:
            split = fitting[0]
            instants[index:end] = [option[0] if i < split else option[1] for i, option in enumerate(run)]
            repeated += len(run)
        else:
            where, wall = walls[index]
            errors.add(
                _(
                    "%(where)s: %(wall)s happened twice on the clinic's clock (%(zone)s: the clocks went "
                    "back an hour), and the readings around it do not show which one is meant; export the "
                    "log with UTC offsets."
                )
                % {"where": where, "wall": f"{wall:%Y-%m-%d %H:%M}", "zone": zone.key}
            )
        index = end
    return instants, repeated


def _skipped(numbers: list[tuple[int, str]]) -> list[SkippedLines]:
    """Consecutive line numbers with the same reason as ranges."""
    ranges: list[SkippedLines] = []
    for number, reason in numbers:
        if ranges and ranges[-1].reason == reason and ranges[-1].last == number - 1:
            ranges[-1] = SkippedLines(ranges[-1].first, number, reason)
        else:
            ranges.append(SkippedLines(number, number, reason))
    return ranges


def read_logger_file(
    content: bytes | str, *, time_zone: zoneinfo.ZoneInfo | None = None, interval_minutes: int | None = None
) -> LoggerFile:
    """The readings of a logger export, the format found and the lines skipped (see the module docs).

    ``time_zone`` is the clinic's: times without a UTC offset are its wall clock; without it they
    are refused. ``interval_minutes`` (the lot's logger interval; else the file's typical step)
    decides readings in the hour the clocks go back.
    """
    errors = _Errors("file")
    text, encoding = _decode(content)
    lines = text.splitlines()
    table = _find_table(lines)
    line_label = _("Line %(n)d")
    skipped: list[tuple[int, str]] = []
    candidates: list[tuple[int, list[str]]] = []
    for number, line in enumerate(lines, start=1):
        if table.header_line is not None and number <= table.header_line:
            if line.strip():
                skipped.append(
                    (
                        number,
                        _("the table's header") if number == table.header_line else _("before the table"),
                    )
                )
            continue
        if cells := _split(line, table.separator):
            candidates.append((number, cells))

    def is_data(cells: list[str]) -> bool:
        source = table.date_column if table.date_column is not None else table.time_column
        return (cells[source] if source < len(cells) else cells[0])[:1].isdigit()

    data_at = [i for i, (_number, cells) in enumerate(candidates) if is_data(cells)]
    rows: list[_Row] = []
    for position, (number, cells) in enumerate(candidates):
        where = line_label % {"n": number}
        if not data_at or position < data_at[0]:
            skipped.append((number, _("before the table")))
            continue
        if position > data_at[-1]:
            skipped.append((number, _("after the table")))
            continue
        if not is_data(cells):
            errors.add(_("%(where)s: not a reading, inside the table.") % {"where": where})
            continue
        if table.header_line is None and len(cells) != 2:
            errors.add(
                _("%(where)s: expected 2 columns (timestamp, °C), found %(count)d.")
                % {"where": where, "count": len(cells)}
            )
            continue
        if len(cells) > table.columns or len(cells) < table.needed:
            errors.add(
                _("%(where)s: expected %(expected)d columns like the header line, found %(count)d.")
                % {"where": where, "expected": table.columns, "count": len(cells)}
            )
            continue
        temperature = cells[table.temperature_column]
        if NO_READING.fullmatch(temperature):
            skipped.append((number, _("no reading (the logger wrote %(cell)r)") % {"cell": temperature}))
            continue
        when = cells[table.time_column]
        if table.date_column is not None:
            when = f"{cells[table.date_column]} {when}"
        rows.append(_Row(number, where, when, temperature))

    order = _date_order(rows, errors)
    parsed: list[tuple[_Row, dt.datetime, Decimal]] = []
    decimal_comma = False
    for row in rows:
        try:
            at = _wall_time(row.when, order)
            celsius, comma = _temperature(row.temperature, fahrenheit=table.fahrenheit)
        except ValueError as exc:
            errors.add(f"{row.where}: {exc}")
            continue
        decimal_comma = decimal_comma or comma
        parsed.append((row, at, celsius))

    with_offset = next((row for row, at, _c in parsed if at.utcoffset() is not None), None)
    naive = [(row.where, at) for row, at, _c in parsed if at.utcoffset() is None]
    local: list[dt.datetime | None] = []
    repeated = 0
    if naive and time_zone is None:
        for where, at in naive:
            errors.add(
                f"{where}: "
                + _("The timestamp %(value)s has no UTC offset; add one, like +01:00 or Z.")
                % {"value": at.isoformat()}
            )
    elif naive and with_offset is not None:
        for where, _at in naive:
            errors.add(
                _(
                    "%(where)s: the time has no UTC offset, but %(first)s has one; "
                    "give all times with an offset or none."
                )
                % {"where": where, "first": with_offset.where}
            )
    elif naive and time_zone is not None:
        local, repeated = _on_the_clock(naive, time_zone, interval_minutes, errors)
    placed = iter(local)
    readings: list[Reading] = []
    for row, at, celsius in parsed:
        instant = at.astimezone(dt.UTC) if at.utcoffset() is not None else next(placed, None)
        if instant is not None:
            readings.append(Reading(instant, celsius, row.where))
    if not readings and not errors.messages:
        errors.add(_("The file holds no readings."))
    _refuse_repeats(readings, errors)
    errors.raise_if_any()
    styles = {"iso": ISO_STYLE, "ymd": "yyyy-mm-dd", "dmy": "dd.mm.yyyy", "mdy": "mm/dd/yyyy"}
    style = styles[order]
    if order in ("dmy", "mdy") and (sample := NUMERIC_TIME.fullmatch(rows[0].when)) and sample["sep"] != ".":
        style = style.replace(".", sample["sep"]).replace("/", sample["sep"])
    return LoggerFile(
        readings=readings,
        format=LoggerFormat(
            encoding=encoding,
            separator=table.separator,
            header_line=table.header_line,
            time_column=table.time_name,
            temperature_column=table.temperature_name,
            date_style=style,
            decimal_comma=decimal_comma,
            fahrenheit=table.fahrenheit,
            time_zone=time_zone.key if naive and time_zone is not None else "",
            repeated_hour_readings=repeated,
        ),
        skipped=_skipped(skipped),
    )


def parse_csv(
    content: bytes | str, *, time_zone: zoneinfo.ZoneInfo | None = None, interval_minutes: int | None = None
) -> list[Reading]:
    """The readings of a logger CSV; any bad line refuses the whole file (see the module docs)."""
    return read_logger_file(content, time_zone=time_zone, interval_minutes=interval_minutes).readings


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
