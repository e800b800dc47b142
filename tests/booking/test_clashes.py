"""No clinician, room or device in two booked appointments at once: the clash rules as a table.

Each case books a first appointment, then tries a second; the table names the resources the second
must clash on (none: it is booked). Intervals are half-open (touching edges are allowed), instants
are compared (the autumn night's two 02:15 are an hour apart), and only booked appointments block.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from django.db import connection

from exoderm.booking import services
from exoderm.booking.models import Appointment, AppointmentStatus
from exoderm.booking.services import Clash
from tests.booking.conftest import NEXT_YEAR, berlin, last_sunday, weekday_of

TUESDAY = weekday_of(NEXT_YEAR, 3, 1)  # a working Tuesday in March
FRIDAY = weekday_of(NEXT_YEAR, 3, 4)
SATURDAY = FRIDAY + dt.timedelta(days=1)
SPRING = last_sunday(NEXT_YEAR, 3)  # 02:00 CET becomes 03:00 CEST
AUTUMN = last_sunday(NEXT_YEAR, 10)  # 03:00 CEST becomes 02:00 CET
UTC = dt.UTC


def utc(day: dt.date, hhmm: str) -> dt.datetime:
    hour, minute = (int(part) for part in hhmm.split(":"))
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


@dataclasses.dataclass(frozen=True)
class Booking:
    starts_at: dt.datetime
    ends_at: dt.datetime
    clinician: str = "clinician"  # or "colleague"
    room: str | None = "room"  # or "other_room", None
    device: str | None = "laser"  # or "pen", None


def _first(**changes):
    return Booking(berlin(TUESDAY, "10:00"), berlin(TUESDAY, "11:00"), **changes)


def _second(start: str, end: str, *, day=TUESDAY, **changes):
    return Booking(berlin(day, start), berlin(day, end), **changes)


OTHER = {"clinician": "colleague", "room": "other_room", "device": "pen"}
CASES = [
    # (id, first, second, clashes on, first's status)
    (
        "same clinician overlapping",
        _first(),
        _second("10:30", "11:30", room="other_room", device="pen"),
        {"clinician"},
    ),
    (
        "same room overlapping",
        _first(),
        _second("10:30", "11:30", clinician="colleague", device="pen"),
        {"room"},
    ),
    (
        "same device overlapping",
        _first(),
        _second("10:30", "11:30", clinician="colleague", room="other_room"),
        {"device"},
    ),
    ("all three", _first(), _second("10:15", "10:45"), {"clinician", "room", "device"}),
    ("inside", _first(), _second("10:15", "10:45", **OTHER | {"clinician": "clinician"}), {"clinician"}),
    ("around", _first(), _second("09:00", "12:00", **OTHER | {"room": "room"}), {"room"}),
    ("same start", _first(), _second("10:00", "10:15", **OTHER | {"device": "laser"}), {"device"}),
    ("touching before", _first(), _second("09:00", "10:00"), set()),
    ("touching after", _first(), _second("11:00", "12:00"), set()),
    ("other resources at the same time", _first(), _second("10:00", "11:00", **OTHER), set()),
    (
        "no room or device given",
        _first(),
        _second("10:30", "11:30", clinician="colleague", room=None, device=None),
        set(),
    ),
    (
        "across midnight: the night's second half",
        Booking(berlin(FRIDAY, "23:30"), berlin(SATURDAY, "00:30")),
        _second("00:00", "00:30", day=SATURDAY, room="other_room", device="pen"),
        {"clinician"},
    ),
    (
        "across midnight: the night's first half",
        Booking(berlin(FRIDAY, "23:30"), berlin(SATURDAY, "00:30")),
        _second("23:45", "23:50", day=FRIDAY, clinician="colleague", device="pen"),
        {"room"},
    ),
    (
        "across midnight: touching the end",
        Booking(berlin(FRIDAY, "23:30"), berlin(SATURDAY, "00:30")),
        _second("00:30", "01:00", day=SATURDAY),
        set(),
    ),
    (
        # 01:30 CET to 03:30 CEST is one hour (00:30 to 01:30 UTC); 03:00 CEST is 01:00 UTC
        "spring night: the hour that is left",
        Booking(berlin(SPRING, "01:30"), berlin(SPRING, "03:30")),
        _second("03:00", "03:45", day=SPRING, room="other_room", device="pen"),
        {"clinician"},
    ),
    (
        "spring night: touching after the gap",
        Booking(berlin(SPRING, "01:30"), berlin(SPRING, "03:30")),
        _second("03:30", "04:00", day=SPRING),
        set(),
    ),
    (
        # the first 02:15-02:45 (CEST, 00:15-00:45 UTC) and the second (CET, 01:15-01:45 UTC)
        "autumn night: the repeated hour's two halves are apart",
        Booking(berlin(AUTUMN, "02:15"), berlin(AUTUMN, "02:45")),
        Booking(berlin(AUTUMN, "02:15", fold=1), berlin(AUTUMN, "02:45", fold=1)),
        set(),
    ),
    (
        "autumn night: across the change",
        Booking(utc(AUTUMN, "00:15"), utc(AUTUMN, "01:30")),  # 02:15 CEST to 02:30 CET
        Booking(
            berlin(AUTUMN, "02:00", fold=1), berlin(AUTUMN, "02:20", fold=1), room="other_room", device="pen"
        ),
        {"clinician"},
    ),
]


def _resolve(scene, booking: Booking) -> dict:
    return {
        "clinician": getattr(scene, booking.clinician),
        "room": getattr(scene, booking.room) if booking.room else None,
        "device": getattr(scene, booking.device) if booking.device else None,
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("first", "second", "clashes"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_clash_table(scene, first, second, clashes):
    booked = scene.book(first.starts_at, first.ends_at, **_resolve(scene, first))
    if not clashes:
        second_booked = scene.book(
            second.starts_at, second.ends_at, patient=scene.other_patient, **_resolve(scene, second)
        )
        assert second_booked.pk and Appointment.objects.count() == 2
        return
    with pytest.raises(Clash) as refused:
        scene.book(second.starts_at, second.ends_at, patient=scene.other_patient, **_resolve(scene, second))
    assert {item.resource for item in refused.value.clashes} == clashes
    assert {item.appointment_id for item in refused.value.clashes} == {booked.pk}
    assert Appointment.objects.count() == 1  # nothing half-written


@pytest.mark.django_db
@pytest.mark.parametrize("status", [AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW])
@pytest.mark.parametrize(
    ("first", "second", "clashes"),
    [case[1:] for case in CASES if case[3]][:4],
    ids=[case[0] for case in CASES if case[3]][:4],
)
def test_cancelled_and_no_show_appointments_do_not_block(scene, status, first, second, clashes):
    booked = scene.book(first.starts_at, first.ends_at, **_resolve(scene, first))
    Appointment.objects.filter(pk=booked.pk).update(status=status)
    assert scene.book(
        second.starts_at, second.ends_at, patient=scene.other_patient, **_resolve(scene, second)
    ).pk


@pytest.mark.django_db
def test_the_clash_names_resource_and_time(scene):
    scene.book(berlin(TUESDAY, "10:00"), berlin(TUESDAY, "11:00"), room=scene.room, device=scene.laser)
    with pytest.raises(Clash) as refused:
        scene.book(berlin(TUESDAY, "10:30"), berlin(TUESDAY, "11:00"), room=scene.room, device=scene.laser)
    text = " ".join(refused.value.messages)
    assert "Dana Adler is booked from" in text
    assert "Room Room 1 is booked from" in text
    assert "The device Fraxel laser is booked from" in text


@pytest.mark.django_db
def test_a_move_clashes_with_others_but_not_with_itself(scene):
    first = scene.book(berlin(TUESDAY, "10:00"), berlin(TUESDAY, "11:00"), room=scene.room)
    second = scene.book(berlin(TUESDAY, "11:00"), berlin(TUESDAY, "12:00"), patient=scene.other_patient)
    moved = services.move_appointment(
        appointment=first, starts_at=berlin(TUESDAY, "09:30"), by=scene.assistant
    )
    assert (moved.starts_at, moved.ends_at) == (berlin(TUESDAY, "09:30"), berlin(TUESDAY, "10:30"))
    with pytest.raises(Clash):
        services.move_appointment(appointment=second, starts_at=berlin(TUESDAY, "10:00"), by=scene.assistant)
    second.refresh_from_db()
    assert second.starts_at == berlin(TUESDAY, "11:00")  # unchanged


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_bookings_of_one_clinician_book_once(scene):
    """Threads with their own connections book the same clinician at the same time: the row lock
    makes them take turns, so exactly one gets the slot and the others see it taken."""
    import threading

    from django.db import connections

    assert connection.vendor == "postgresql"
    start = threading.Barrier(4)
    outcomes: list[str] = []

    def booker() -> None:
        try:
            start.wait()
            scene.book(berlin(TUESDAY, "10:00"), berlin(TUESDAY, "11:00"), device=scene.laser)
            outcomes.append("booked")
        except Clash:
            outcomes.append("clash")
        except BaseException as error:  # reported by the main thread
            outcomes.append(repr(error))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=booker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["booked", "clash", "clash", "clash"]
    assert Appointment.objects.filter(status=AppointmentStatus.BOOKED).count() == 1
