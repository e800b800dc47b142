"""The appointment book's pages: the day and the week grid (per clinician or per room), booking,
one appointment with its changes, and the move endpoint the grid's drag and keyboard use.

The grid is a CSS grid of 15-minute rows; an appointment is placed by classes from
``web/booking.css`` (the strict CSP allows no inline style), so the grid can be swapped in by
script after a move. Without script every appointment links to its page, which moves it by form.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
import re
import zoneinfo
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from exoderm.booking import selectors, services
from exoderm.booking.calendar import ClinicCalendar, aware, wall
from exoderm.booking.models import (
    DEFAULT_MINUTES,
    Appointment,
    AppointmentKind,
    AppointmentStatus,
    DeviceKind,
    Room,
    Weekday,
)
from exoderm.clinics.models import GERMAN_STATES, Clinic, Role, User
from exoderm.core.clock import too_early, too_far_ahead
from exoderm.core.permissions import Action
from exoderm.patients import selectors as patient_selectors
from exoderm.web.charting import patient_label
from exoderm.web.forms import DateInput, datetime_field, text_field
from exoderm.web.views.common import add_errors, clinic_of, page, safe_next, user_of

SLOT = dt.timedelta(minutes=15)
DEFAULT_HOURS = (dt.time(7, 0), dt.time(20, 0))
"""The rows a day shows when the clinic has no opening hours and nothing is booked outside them."""
MAX_COLUMNS = 64
"""Columns the stylesheet places (``web/booking.css``); a larger clinic pages its clinicians."""
MAX_ROWS = 96


@dataclasses.dataclass
class Column:
    key: str
    title: str
    note: str = ""  # "closed: public holiday" and the like
    index: int = 0


@dataclasses.dataclass
class Block:
    appointment: Appointment
    column: int
    row: int
    span: int
    starts_local: dt.datetime
    html: str = ""  # the block's markup: built here, the template of 40 clinicians' days would take long


URL_PLACEHOLDER = 2**31 - 1
KIND_LABELS = {value: functools.partial(str, label) for value, label in AppointmentKind.choices}
"""Each kind's label in the active language (``get_kind_display`` per block costs more)."""


def block_html(block: Block, *, url_pattern: str, with_clinician: bool) -> str:
    """One appointment of the grid as a link to its page, placed by the stylesheet's classes."""
    appointment = block.appointment
    details = [KIND_LABELS[appointment.kind]()]
    details += [str(resource) for resource in (appointment.room, appointment.device) if resource is not None]
    if with_clinician:
        details.append(appointment.clinician.display_name)
    when = f"{block.starts_local:%H:%M}"
    patient = str(appointment.patient.identity)
    state = status_text(appointment)
    if state:
        details.insert(0, state)
    return format_html(
        '<a class="bk-appt kind-{kind} bk-{status} bk-c{column} bk-r{row} bk-s{span}" href="{href}"'
        ' id="appointment-{pk}" data-appointment="{pk}" data-row="{row}" data-col="{column}"'
        ' data-span="{span}" draggable="false" title="{when} {patient} · {details}">'
        '<span class="bk-when">{when}</span> {patient}{state}'
        '<span class="visually-hidden"> · {details}</span></a>',
        kind=appointment.kind,
        status=appointment.status,
        state=format_html(' <span class="bk-state" aria-hidden="true">{}</span>', state) if state else "",
        column=block.column,
        row=block.row,
        span=block.span,
        href=url_pattern.replace(str(URL_PLACEHOLDER), str(appointment.pk)),
        pk=appointment.pk,
        when=when,
        patient=patient,
        details=" · ".join(details),
    )


def status_text(appointment: Appointment) -> str:
    """What the day's book says of an appointment that is under way or over: "waiting since 09:52"
    for a patient checked in, "done" once the treatment or visit was recorded; "" otherwise."""
    if appointment.status == AppointmentStatus.ARRIVED and appointment.arrived_at is not None:
        tz = zoneinfo.ZoneInfo(appointment.clinic.time_zone)
        return _("waiting since %(time)s") % {"time": f"{appointment.arrived_at.astimezone(tz):%H:%M}"}
    if appointment.status == AppointmentStatus.COMPLETED:
        return _("done")
    return ""


def columns_html(grid: Grid) -> str:
    """The column heads (each a link to the clinician's or room's week, or to a week's day) and the
    columns behind the appointments (the drop targets of a drag)."""
    date = grid.day.isoformat()
    week, day = reverse("booking-week"), reverse("booking-day")
    heads, bodies = [], []
    for column in grid.columns:
        if grid.view == "week":
            link = f"{day}?" + urlencode({"date": column.key, "by": grid.by})
        elif column.key:
            link = f"{week}?" + urlencode(
                {"room" if grid.by == "room" else "clinician": column.key, "date": date}
            )
        else:
            link = ""
        title = format_html('<a href="{}">{}</a>', link, column.title) if link else column.title
        note = format_html('<span class="bk-note">{}</span>', column.note) if column.note else ""
        heads.append(
            format_html(
                '<div class="bk-head bk-c{index}" id="bk-head-{index}">{title}{note}</div>',
                index=column.index,
                title=title,
                note=note,
            )
        )
        bodies.append(
            format_html(
                '<div class="bk-col bk-c{index} bk-r1 bk-s{rows}{closed}" data-column="{key}"'
                ' data-index="{index}"></div>',
                index=column.index,
                rows=grid.rows,
                closed=" bk-closed" if column.note else "",
                key=column.key,
            )
        )
    return mark_safe("".join(heads) + "".join(bodies))  # every piece is built by format_html


@dataclasses.dataclass
class Grid:
    view: str  # "day" or "week"
    by: str  # "clinician" or "room"
    day: dt.date
    columns: list[Column]
    blocks: list[Block]
    hours: list[tuple[int, str]]  # (row, "09:00")
    rows: int
    first: dt.time
    context: dict[str, str]  # the query that shows this grid again

    @property
    def columns_keys(self) -> str:
        return ",".join(column.key for column in self.columns)

    @property
    def columns_html(self) -> str:
        return columns_html(self)


def _day(request: HttpRequest, clinic: Clinic) -> dt.date:
    today = patient_selectors.clinic_today(clinic)
    try:
        day = dt.date.fromisoformat(request.GET.get("date", "") or request.POST.get("date", ""))
    except ValueError:
        return today
    if too_early(day) or too_far_ahead(day):  # the years 0001 and 9999 overflow the grid's arithmetic
        return today
    return day


def _param(request: HttpRequest, name: str) -> str:
    return request.GET.get(name, "") or request.POST.get(name, "")


def _hours(calendar: ClinicCalendar, days: list[dt.date], starts: list[dt.datetime], ends: list[dt.datetime]):
    """The first and last wall time the grid shows: the opening hours of its days, widened to
    every appointment shown, on whole hours."""
    spans = [span for day in days for span in calendar.open_spans(day)] if calendar.opening else []
    first = min([span[0] for span in spans], default=DEFAULT_HOURS[0])
    last = max([span[1] for span in spans], default=DEFAULT_HOURS[1])
    first = min([first, *[start.time() for start in starts]])
    last = max([last, *[(end - dt.timedelta(microseconds=1)).time() for end in ends]])
    first_hour = first.hour
    last_hour = min(24, last.hour + (1 if (last.minute or last.second or last.microsecond) else 0))
    return first_hour, max(last_hour, first_hour + 1)


def build_grid(
    *,
    clinic: Clinic,
    view: str,
    by: str,
    day: dt.date,
    clinician: User | None = None,
    room: Room | None = None,
    people: list[User] | None = None,
    places: list[Room] | None = None,
) -> Grid:
    """The grid of ``view`` ("day": one column per clinician or room, or the one given; "week":
    the seven days from Monday for ``clinician`` or ``room``)."""
    calendar = ClinicCalendar.of(clinic)
    tz = calendar.tz
    people = list(selectors.clinicians(clinic=clinic)) if people is None else people
    places = list(selectors.rooms(clinic=clinic)) if places is None else places
    loaded: dict[str, Any] = {
        "people": people,
        "places": places,
        "tools": list(selectors.devices(clinic=clinic)),
    }
    if view == "week":
        monday = day - dt.timedelta(days=day.weekday())
        days = [monday + dt.timedelta(days=n) for n in range(7)]
        appointments = selectors.grid_appointments(
            clinic=clinic, day=monday, days=7, clinician=clinician, room=room, **loaded
        )
        columns = [
            Column(
                key=d.isoformat(),
                title=formats.date_format(d, "D j.n.")
                if translation_is_german()
                else formats.date_format(d, "D n/j"),
                note=calendar.closed_because(d) or "",
            )
            for d in days
        ]

        def column_of(appointment: Appointment) -> str:
            return wall(appointment.starts_at, tz).date().isoformat()

    else:
        days = [day]
        appointments = selectors.grid_appointments(
            clinic=clinic, day=day, days=1, clinician=clinician, room=room, **loaded
        )
        closed = calendar.closed_because(day) or ""
        if by == "room":
            rooms = [room] if room is not None else places
            columns = [Column(key=str(r.pk), title=r.name, note=closed) for r in rooms]
            if room is None and any(a.room_id is None for a in appointments):
                columns.append(Column(key="", title=_("No room"), note=closed))

            def column_of(appointment: Appointment) -> str:
                return str(appointment.room_id or "")

        else:
            shown = [clinician] if clinician is not None else people
            columns = [Column(key=str(p.pk), title=p.display_name, note=closed) for p in shown]

            def column_of(appointment: Appointment) -> str:
                return str(appointment.clinician_id)

    columns = columns[:MAX_COLUMNS]
    for index, column in enumerate(columns, start=1):
        column.index = index
    index_of = {column.key: column.index for column in columns}
    starts = [wall(a.starts_at, tz) for a in appointments]
    ends = [wall(a.ends_at, tz) for a in appointments]
    # an appointment into the next night is drawn to the end of its day
    ends = [
        min(end, dt.datetime.combine(start.date() + dt.timedelta(days=1), dt.time()))
        for start, end in zip(starts, ends, strict=True)
    ]
    first_hour, last_hour = _hours(calendar, days, starts, ends)
    rows = min(MAX_ROWS, (last_hour - first_hour) * 4)
    blocks = []
    url_pattern = reverse("booking-appointment", args=[URL_PLACEHOLDER])
    for appointment, start, end in zip(appointments, starts, ends, strict=True):
        place = index_of.get(column_of(appointment))
        if place is None:
            continue
        offset = (start - dt.datetime.combine(start.date(), dt.time(first_hour))) / SLOT
        row = max(0, math.floor(offset)) + 1
        span = max(1, math.ceil((end - start) / SLOT))
        block = Block(appointment, place, row, min(span, rows - row + 1), start)
        block.html = block_html(block, url_pattern=url_pattern, with_clinician=by == "room" or view == "week")
        blocks.append(block)
    context = {"view": view, "by": by, "date": day.isoformat()}
    if clinician is not None:
        context["clinician"] = str(clinician.pk)
    if room is not None:
        context["room"] = str(room.pk)
    return Grid(
        view=view,
        by=by,
        day=day,
        columns=columns,
        blocks=blocks,
        hours=[(1 + 4 * n, f"{first_hour + n:02d}:00") for n in range(last_hour - first_hour)],
        rows=rows,
        first=dt.time(first_hour),
        context=context,
    )


def translation_is_german() -> bool:
    from django.utils.translation import get_language

    return (get_language() or "").startswith("de")


def _grid_for(request: HttpRequest, view: str) -> tuple[Grid, dict[str, Any]]:
    clinic = clinic_of(request)
    day = _day(request, clinic)
    by = "room" if _param(request, "by") == "room" else "clinician"
    people, places = list(selectors.clinicians(clinic=clinic)), list(selectors.rooms(clinic=clinic))
    clinician = room = None
    if _param(request, "clinician"):
        clinician = selectors.clinician(clinic=clinic, user_id=_param(request, "clinician"))
        by = "clinician"
    elif _param(request, "room"):
        room = selectors.room(clinic=clinic, room_id=_param(request, "room"))
        by = "room"
    elif view == "week":
        user = user_of(request)
        if by == "room":
            room = places[0] if places else None
        else:
            clinician = user if user.role == Role.CLINICIAN else (people[0] if people else None)
    grid = build_grid(
        clinic=clinic, view=view, by=by, day=day, clinician=clinician, room=room, people=people, places=places
    )
    step = dt.timedelta(days=7 if view == "week" else 1)
    base = {k: v for k, v in grid.context.items() if k not in {"view", "date"}}
    nav = {
        "previous": urlencode({**base, "date": (day - step).isoformat()}),
        "next": urlencode({**base, "date": (day + step).isoformat()}),
        "today": urlencode(base),
        "day_link": urlencode({**base, "date": day.isoformat()}),
        "clinician": clinician,
        "room": room,
        "clinicians": people,
        "rooms": places,
        "week_start": day - dt.timedelta(days=day.weekday()),
        "week_end": day - dt.timedelta(days=day.weekday()) + dt.timedelta(days=6),
    }
    return grid, nav


def _render_grid(request: HttpRequest, view: str, notice: str = "", notice_kind: str = "") -> HttpResponse:
    grid, nav = _grid_for(request, view)
    context = {"grid": grid, "nav": nav, "notice": notice, "notice_kind": notice_kind}
    if request.headers.get("X-Booking-Grid"):
        return render(request, "web/booking/grid.html", context)
    return render(request, f"web/booking/{view}.html", context)


@page()
def day(request: HttpRequest) -> HttpResponse:
    """One day: a column per clinician (per room with ``by=room``), or the one ``clinician`` or ``room``."""
    return _render_grid(request, "day")


@page()
def week(request: HttpRequest) -> HttpResponse:
    """One week (Monday to Sunday) of one clinician or room."""
    return _render_grid(request, "week")


@page(Action.EDIT_PATIENT)
def appointment_move(request: HttpRequest, pk: int) -> HttpResponse:
    """Move an appointment to ``starts_at`` (the clinic's wall clock, ``YYYY-MM-DDTHH:MM``) and,
    in a day grid, to the clinician or room of ``column``; answers the grid again (to the grid's
    script) or redirects back to it."""
    clinic = clinic_of(request)
    appointment = selectors.appointment(clinic=clinic, appointment_id=pk)
    view = "week" if _param(request, "view") == "week" else "day"
    if request.method != "POST":
        return redirect(reverse("booking-appointment", args=[pk]))
    tz = ClinicCalendar(clinic=clinic, opening={}, closures=[]).tz
    changes: dict[str, Any] = {}
    try:
        starts = aware(dt.datetime.strptime(request.POST.get("starts_at", ""), "%Y-%m-%dT%H:%M"), tz)
    except ValueError:
        starts = None
    column = request.POST.get("column")
    if view == "day" and column is not None:
        if _param(request, "by") == "room":
            changes["room"] = selectors.room(clinic=clinic, room_id=column) if column else None
        elif column:
            changes["clinician"] = selectors.clinician(clinic=clinic, user_id=column)
    notice, kind = "", "success"
    if starts is None:
        notice, kind = _("Give the new time as date and time."), "error"
    else:
        try:
            moved = services.move_appointment(
                appointment=appointment, starts_at=starts, by=user_of(request), **changes
            )
        except ValidationError as error:
            notice, kind = " ".join(error.messages), "error"
        else:
            notice = _("Moved to %(time)s.") % {
                "time": formats.date_format(timezone.localtime(moved.starts_at, tz), "SHORT_DATETIME_FORMAT")
            }
    if request.headers.get("X-Booking-Grid"):
        return _render_grid(request, view, notice, kind)
    (messages.success if kind == "success" else messages.error)(request, notice)
    query = {k: v for k in ("by", "date", "clinician", "room") if (v := _param(request, k))}
    return redirect(reverse(f"booking-{view}") + ("?" + urlencode(query) if query else ""))


class AppointmentForm(forms.Form):
    patient = forms.ModelChoiceField(label=gettext_lazy("Patient"), queryset=Appointment.objects.none())
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=AppointmentKind.choices)
    starts_at = datetime_field(gettext_lazy("Starts at"))
    minutes = forms.IntegerField(
        label=gettext_lazy("Length (minutes)"),
        min_value=5,
        max_value=12 * 60,
        required=False,
        help_text=gettext_lazy("Empty: the kind's default length."),
    )
    clinician = forms.ModelChoiceField(label=gettext_lazy("Clinician"), queryset=User.objects.none())
    room = forms.ModelChoiceField(label=gettext_lazy("Room"), queryset=Room.objects.none(), required=False)
    device = forms.ModelChoiceField(
        label=gettext_lazy("Device"), queryset=Room.objects.none(), required=False
    )

    took_place = forms.BooleanField(
        label=gettext_lazy("It has taken place already (a day before today)"),
        required=False,
        help_text=gettext_lazy("Only to record an appointment afterwards; new bookings lie ahead."),
    )

    def __init__(self, *args: Any, clinic: Clinic, with_patient: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not with_patient:  # moving a booked appointment: it was booked already
            del self.fields["took_place"]
        if with_patient:
            field = self.fields["patient"]
            field.queryset = patient_selectors.patient_choices(clinic=clinic)  # type: ignore[attr-defined]
            field.label_from_instance = patient_label  # type: ignore[attr-defined]
            field.widget.attrs["data-filter"] = _("Filter by name, code or date of birth")
        else:
            del self.fields["patient"], self.fields["kind"]
        self.fields["clinician"].queryset = selectors.clinicians(clinic=clinic)  # type: ignore[attr-defined]
        self.fields["clinician"].label_from_instance = lambda user: user.display_name  # type: ignore[attr-defined]
        self.fields["room"].queryset = selectors.rooms(clinic=clinic)  # type: ignore[attr-defined]
        self.fields["device"].queryset = selectors.devices(clinic=clinic)  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        starts_at = data.get("starts_at")
        if "took_place" not in self.fields or starts_at is None:
            return data
        # a day already gone is rarely meant (a mistyped date books nobody when it matters); the
        # service records it all the same once the user says so
        past = timezone.localtime(starts_at).date() < timezone.localdate()
        if past and not data.get("took_place"):
            self.add_error(
                "starts_at",
                _(
                    "This day has passed. Choose a day from today on, or tick “It has taken place "
                    "already” to record an appointment afterwards."
                ),
            )
        elif data.get("took_place") and not past:
            self.add_error("took_place", _("The appointment is not on a day before today."))
        return data


@page(Action.EDIT_PATIENT)
def appointment_new(request: HttpRequest) -> HttpResponse:
    """Book an appointment (prefilled from the grid's empty slot: ``starts_at``, ``clinician``, ``room``)."""
    clinic = clinic_of(request)
    initial: dict[str, Any] = {"kind": AppointmentKind.CONSULTATION}
    for name in ("starts_at", "clinician", "room", "patient"):
        if request.GET.get(name):
            initial[name] = request.GET[name]
    form = AppointmentForm(request.POST or None, clinic=clinic, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        minutes = data["minutes"] or DEFAULT_MINUTES[data["kind"]]
        try:
            appointment = services.book_appointment(
                patient=data["patient"],
                kind=data["kind"],
                starts_at=data["starts_at"],
                ends_at=data["starts_at"] + dt.timedelta(minutes=minutes),
                clinician=data["clinician"],
                room=data["room"],
                device=data["device"],
                by=user_of(request),
            )
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, _("Appointment booked."))
            local = timezone.localtime(appointment.starts_at)
            return redirect(reverse("booking-day") + "?" + urlencode({"date": local.date().isoformat()}))
    return render(request, "web/booking/new.html", {"form": form})


@page()
def appointment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One appointment: who, when, where; moved by form, cancelled, marked a no-show or checked in."""
    clinic = clinic_of(request)
    appointment = selectors.appointment(clinic=clinic, appointment_id=pk)
    local_start = timezone.localtime(appointment.starts_at)
    form = AppointmentForm(
        request.POST or None,
        clinic=clinic,
        with_patient=False,
        initial={
            "starts_at": local_start.replace(tzinfo=None),
            "minutes": int((appointment.ends_at - appointment.starts_at).total_seconds() // 60),
            "clinician": appointment.clinician_id,
            "room": appointment.room_id,
            "device": appointment.device_id,
        },
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        length = dt.timedelta(minutes=data["minutes"]) if data["minutes"] else None
        try:
            services.move_appointment(
                appointment=appointment,
                starts_at=data["starts_at"],
                ends_at=data["starts_at"] + length if length else None,
                clinician=data["clinician"],
                room=data["room"],
                device=data["device"],
                by=user_of(request),
            )
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, _("Appointment moved."))
            return redirect("booking-appointment", pk)
    day_query = urlencode({"date": local_start.date().isoformat()})
    return render(
        request,
        "web/booking/appointment.html",
        {
            "appointment": appointment,
            "form": form,
            "day_url": reverse("booking-day") + "?" + day_query,
            # a patient can miss only what has begun (services.mark_no_show refuses the rest)
            "may_mark_no_show": appointment.starts_at <= timezone.now(),
            # and is checked in on the appointment's day only (services.check_in refuses the rest)
            "may_check_in": services.clinic_day(appointment) == patient_selectors.clinic_today(clinic),
            "status_text": status_text(appointment),
        },
    )


@page(Action.EDIT_PATIENT)
def appointment_arrival(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Check the patient in (``check-in``) or take a mistaken check-in back (``undo-check-in``):
    one button, no confirmation page, since either is undone by the other. Goes back to ``next``
    (the Today page's list) or to the appointment."""
    clinic = clinic_of(request)
    appointment = selectors.appointment(clinic=clinic, appointment_id=pk)
    back = safe_next(request, reverse("booking-appointment", args=[pk]))
    if request.method != "POST":
        return redirect(back)
    change = services.check_in if action == "check-in" else services.undo_check_in
    try:
        changed = change(appointment=appointment, by=user_of(request))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        patient = appointment.patient.identity
        if changed.status == AppointmentStatus.ARRIVED:
            messages.success(request, _("%(patient)s has arrived.") % {"patient": patient})
        else:
            messages.success(request, _("The check-in of %(patient)s was taken back.") % {"patient": patient})
    return redirect(back)


@page(Action.EDIT_PATIENT)
def appointment_change(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Cancel an appointment or mark it a no-show, after a confirmation page."""
    clinic = clinic_of(request)
    appointment = selectors.appointment(clinic=clinic, appointment_id=pk)
    back = reverse("booking-appointment", args=[pk])
    questions = {
        "cancel": (_("Cancel the appointment?"), _("Cancel the appointment"), services.cancel_appointment),
        "no-show": (_("Mark the appointment a no-show?"), _("Mark no-show"), services.mark_no_show),
    }
    if action not in questions:
        return redirect(back)
    title, button, service = questions[action]
    error_text = ""
    if request.method == "POST":
        try:
            service(appointment=appointment, by=user_of(request))
        except ValidationError as error:
            error_text = " ".join(error.messages)
        else:
            messages.success(request, _("Appointment changed."))
            return redirect(back)
    return render(
        request,
        "web/confirm.html",
        {
            "title": title,
            "question": _("%(kind)s of %(patient)s on %(time)s.")
            % {
                "kind": appointment.get_kind_display(),
                "patient": appointment.patient.identity,
                "time": formats.date_format(
                    timezone.localtime(appointment.starts_at), "SHORT_DATETIME_FORMAT"
                ),
            },
            "button": button,
            "cancel_url": back,
            "error": error_text,
        },
    )


SPAN_TEXT = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})\s*$")


def parse_spans(text: str) -> list[tuple[dt.time, dt.time]]:
    """Hours as people write them: "08:00-12:00, 13:00-18:00" (empty: none)."""
    spans = []
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        match = SPAN_TEXT.match(part)
        try:
            if match is None:
                raise ValueError(part)
            h1, m1, h2, m2 = (int(group) for group in match.groups())
            spans.append((dt.time(h1, m1), dt.time(h2, m2) if (h2, m2) != (24, 0) else dt.time.max))
        except ValueError:
            raise forms.ValidationError(_("Write hours as 08:00-12:00, 13:00-18:00.")) from None
    return spans


def spans_initial(spans: list[tuple[dt.time, dt.time]]) -> str:
    return ", ".join(
        f"{start:%H:%M}-{'24:00' if end == dt.time.max else f'{end:%H:%M}'}" for start, end in spans
    )


class WeekHoursForm(forms.Form):
    """Hours per weekday, one text field each ("08:00-12:00, 13:00-18:00"; empty: closed)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for weekday, label in Weekday.choices:
            self.fields[f"day_{weekday}"] = text_field(label=label, max_length=100, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for weekday in Weekday.values:
            try:
                data[f"spans_{weekday}"] = parse_spans(data.get(f"day_{weekday}") or "")
            except forms.ValidationError as error:
                self.add_error(f"day_{weekday}", error)
        return data

    def hours(self) -> dict[int, list[tuple[dt.time, dt.time]]]:
        return {weekday: self.cleaned_data[f"spans_{weekday}"] for weekday in Weekday.values}


class ClinicHoursForm(WeekHoursForm):
    holiday_state = forms.ChoiceField(
        label=gettext_lazy("Public holidays of"),
        choices=[("", gettext_lazy("nationwide holidays only")), *GERMAN_STATES],
        required=False,
    )


class ResourceForm(forms.Form):
    name = text_field(label=gettext_lazy("Name"), max_length=100)
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=DeviceKind.choices, required=False)


class ClosureForm(forms.Form):
    first_day = forms.DateField(label=gettext_lazy("First day"), widget=DateInput())
    last_day = forms.DateField(label=gettext_lazy("Last day"), widget=DateInput())
    reason = text_field(label=gettext_lazy("Reason"), max_length=200, required=False)


def _hours_initial(calendar_hours: dict[int, list[tuple[dt.time, dt.time]]]) -> dict[str, str]:
    return {f"day_{weekday}": spans_initial(calendar_hours.get(weekday, [])) for weekday in Weekday.values}


@page(Action.MANAGE_CLINIC)
def booking_settings(request: HttpRequest) -> HttpResponse:
    """The appointment book's settings: opening hours and holidays, rooms, devices, closures, and
    links to each clinician's working hours."""
    clinic = clinic_of(request)
    user = user_of(request)
    calendar = ClinicCalendar.of(clinic)
    which = request.POST.get("form", "")
    hours_form = ClinicHoursForm(
        request.POST if which == "hours" else None,
        initial=_hours_initial(calendar.opening) | {"holiday_state": clinic.holiday_state},
        prefix="hours",
    )
    room_form = ResourceForm(request.POST if which == "room" else None, prefix="room")
    device_form = ResourceForm(request.POST if which == "device" else None, prefix="device")
    closure_form = ClosureForm(request.POST if which == "closure" else None, prefix="closure")
    forms_by_name: dict[str, forms.Form] = {
        "hours": hours_form,
        "room": room_form,
        "device": device_form,
        "closure": closure_form,
    }
    form = forms_by_name.get(which)
    if request.method == "POST" and form is not None and form.is_valid():
        data = form.cleaned_data
        try:
            if which == "hours":
                services.set_opening_hours(clinic=clinic, hours=hours_form.hours(), by=user)
                services.set_holiday_state(clinic=clinic, state=data["holiday_state"], by=user)
            elif which == "room":
                services.add_room(clinic=clinic, name=data["name"], by=user)
            elif which == "device":
                services.add_device(clinic=clinic, name=data["name"], kind=data["kind"] or "other", by=user)
            else:
                services.add_closure(
                    clinic=clinic,
                    first_day=data["first_day"],
                    last_day=data["last_day"],
                    reason=data["reason"],
                    by=user,
                )
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, _("Appointment book settings saved."))
            return redirect("booking-settings")
    context = {
        "hours_form": hours_form,
        "room_form": room_form,
        "device_form": device_form,
        "closure_form": closure_form,
        "rooms": selectors.rooms(clinic=clinic),
        "devices": selectors.devices(clinic=clinic),
        "closures": calendar.closures,
        "clinicians": selectors.clinicians(clinic=clinic),
    }
    return render(request, "web/booking/settings.html", context)


@page(Action.MANAGE_CLINIC)
def working_hours(request: HttpRequest, pk: int) -> HttpResponse:
    """A clinician's working hours per weekday (all empty: works whenever the clinic is open)."""
    clinic = clinic_of(request)
    clinician = selectors.clinician(clinic=clinic, user_id=pk)
    calendar = ClinicCalendar.of(clinic, clinicians=[clinician])
    form = WeekHoursForm(request.POST or None, initial=_hours_initial(calendar.working.get(clinician.pk, {})))
    if request.method == "POST" and form.is_valid():
        try:
            services.set_working_hours(clinician=clinician, hours=form.hours(), by=user_of(request))
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, _("Working hours saved."))
            return redirect("booking-settings")
    return render(request, "web/booking/working_hours.html", {"form": form, "clinician": clinician})
