"""The appointment book: appointments, the rooms and devices they occupy, and when the clinic
and its clinicians work (opening hours, working hours, closures; public holidays come from the
``holidays`` package for the clinic's state, see ``booking.calendar``).

Times of day (opening and working hours) are on the clinic's wall clock; appointments are
instants (aware datetimes), placed on the wall clock with the clinic's time zone.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


class AppointmentKind(models.TextChoices):
    CONSULTATION = "consultation", _("Consultation")
    TREATMENT = "treatment", _("Treatment session")
    FOLLOW_UP = "follow_up", _("Follow-up")
    PHOTO = "photo", _("Photo visit")
    OTHER = "other", _("Other")


DEFAULT_MINUTES: dict[str, int] = {
    AppointmentKind.CONSULTATION: 30,
    AppointmentKind.TREATMENT: 60,
    AppointmentKind.FOLLOW_UP: 20,
    AppointmentKind.PHOTO: 15,
    AppointmentKind.OTHER: 30,
}
"""The default length of each kind of appointment, in minutes."""


class AppointmentStatus(models.TextChoices):
    BOOKED = "booked", _("Booked")
    CANCELLED = "cancelled", _("Cancelled")
    NO_SHOW = "no_show", _("No-show")
    ARRIVED = "arrived", _("Arrived")
    COMPLETED = "completed", _("Completed")


BLOCKING = [AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED, AppointmentStatus.COMPLETED]
"""The statuses that occupy a clinician, room or device: cancelled and no-show slots are free. A
completed appointment keeps its slot: it is where the treatment took place, and the book shows it."""


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


class Room(models.Model):
    CLINIC_PATH = "clinic"

    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.PROTECT, related_name="rooms")
    name = models.CharField(_("name"), max_length=100)
    active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("room")
        ordering = ["name", "pk"]
        constraints = [models.UniqueConstraint(fields=["clinic", "name"], name="booking_room_name_unique")]

    def __str__(self) -> str:
        return self.name


class DeviceKind(models.TextChoices):
    LASER = "laser", _("Fractional laser")
    MICRONEEDLING = "microneedling", _("Microneedling pen")
    OTHER = "other", _("Other device")


class Device(models.Model):
    CLINIC_PATH = "clinic"

    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.PROTECT, related_name="devices")
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=DeviceKind.choices, default=DeviceKind.OTHER)
    active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("device")
        ordering = ["name", "pk"]
        constraints = [models.UniqueConstraint(fields=["clinic", "name"], name="booking_device_name_unique")]

    def __str__(self) -> str:
        return self.name


def _check_span(opens: dt.time | None, closes: dt.time | None) -> None:
    if opens is not None and closes is not None and closes <= opens:
        raise ValidationError({"ends": _("The end must lie after the start.")})


class OpeningHours(models.Model):
    """One span the clinic is open on a weekday (two rows for a lunch break). A clinic without
    any row is open every day but Sunday, around the clock: nothing was configured to refuse."""

    CLINIC_PATH = "clinic"

    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.CASCADE, related_name="opening_hours")
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    starts = models.TimeField(_("from"))
    ends = models.TimeField(_("until"))

    class Meta:
        verbose_name = _("opening hours")
        verbose_name_plural = _("opening hours")
        ordering = ["weekday", "starts"]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.starts:%H:%M}-{self.ends:%H:%M}"

    def clean(self) -> None:
        _check_span(self.starts, self.ends)


class WorkingHours(models.Model):
    """One span a clinician works on a weekday. A clinician without any row works whenever the
    clinic is open."""

    CLINIC_PATH = "clinician__clinic"

    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="working_hours"
    )
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    starts = models.TimeField(_("from"))
    ends = models.TimeField(_("until"))

    class Meta:
        verbose_name = _("working hours")
        verbose_name_plural = _("working hours")
        ordering = ["clinician", "weekday", "starts"]

    def __str__(self) -> str:
        return f"{self.clinician} {self.get_weekday_display()} {self.starts:%H:%M}-{self.ends:%H:%M}"

    def clean(self) -> None:
        _check_span(self.starts, self.ends)


class Closure(models.Model):
    """Days the whole clinic is closed (holidays of its own, training, renovation), both ends included."""

    CLINIC_PATH = "clinic"

    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.CASCADE, related_name="closures")
    first_day = models.DateField(_("first day"))
    last_day = models.DateField(_("last day"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("closure")
        ordering = ["first_day"]

    def __str__(self) -> str:
        return f"{self.first_day}-{self.last_day} {self.reason}"

    def clean(self) -> None:
        if self.first_day and self.last_day and self.last_day < self.first_day:
            raise ValidationError({"last_day": _("The last day cannot lie before the first.")})


class Appointment(models.Model):
    """A patient's booked time with a clinician, optionally in a room and with a device.

    ``visit`` links the appointment that books a course's planned visit. A booked appointment is
    checked in on its day (``arrived_at``, ``arrived_by``) and completed when a treatment session
    (``session``) or its course visit is recorded for it. The clash rule (no
    clinician, room or device in two booked appointments at once) is kept by
    ``booking.services``, under row locks on the resources.
    """

    CLINIC_PATH = "clinic"

    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.PROTECT, related_name="appointments")
    # an erasure for good (patients.erasure) takes the patient's appointments with the record
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="appointments")
    kind = models.CharField(_("kind"), max_length=16, choices=AppointmentKind.choices)
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="appointments",
        verbose_name=_("clinician"),
    )
    room = models.ForeignKey(
        Room,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="appointments",
        verbose_name=_("room"),
    )
    device = models.ForeignKey(
        Device,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="appointments",
        verbose_name=_("device"),
    )
    visit = models.ForeignKey(
        "courses.Visit", on_delete=models.SET_NULL, null=True, blank=True, related_name="appointments"
    )
    status = models.CharField(
        _("status"), max_length=16, choices=AppointmentStatus.choices, default=AppointmentStatus.BOOKED
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    arrived_at = models.DateTimeField(_("arrived at"), null=True, blank=True)
    arrived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("checked in by"),
    )
    session = models.ForeignKey(
        "treatments.TreatmentSession",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="appointments",
        verbose_name=_("treatment session"),
    )

    class Meta:
        verbose_name = _("appointment")
        ordering = ["starts_at", "pk"]
        indexes = [
            models.Index(fields=["clinic", "starts_at"], name="booking_appt_clinic_start"),
            models.Index(fields=["clinician", "starts_at"], name="booking_appt_clinician_start"),
            models.Index(fields=["room", "starts_at"], name="booking_appt_room_start"),
            models.Index(fields=["device", "starts_at"], name="booking_appt_device_start"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="booking_appt_ends_after_start"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.starts_at:%Y-%m-%d %H:%M}"

    @property
    def blocking(self) -> bool:
        return self.status in BLOCKING

    @property
    def is_booked(self) -> bool:
        """Still open to a move, a cancellation, a no-show or a check-in."""
        return self.status == AppointmentStatus.BOOKED

    @property
    def is_arrived(self) -> bool:
        return self.status == AppointmentStatus.ARRIVED
