"""/api/v1/appointments: book (201), clash (409 problem+json naming it), invalid or closed (422),
another clinic's records (404), filters, move, cancel and no-show."""

from __future__ import annotations

import datetime as dt

import pytest

from exoderm.booking.models import Appointment
from tests import factories
from tests.booking.conftest import NEXT_YEAR, berlin, weekday_of

TUESDAY = weekday_of(NEXT_YEAR, 3, 1)
PROBLEM = "application/problem+json"


def body(scene, start="10:00", end="11:00", **changes):
    return {
        "patient": scene.patient.pk,
        "kind": "treatment",
        "starts_at": berlin(TUESDAY, start).isoformat(),
        "ends_at": berlin(TUESDAY, end).isoformat(),
        "clinician": scene.clinician.pk,
        "room": scene.room.pk,
        "device": scene.laser.pk,
    } | changes


@pytest.mark.django_db
def test_book_list_move_cancel(api_as, scene):
    api = api_as(scene.assistant)
    created = api.post("/appointments", body(scene))
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["patient_code"] == scene.patient.code and data["status"] == "booked"
    assert data["starts_local"] == berlin(TUESDAY, "10:00").isoformat()
    assert (data["room_id"], data["device_id"], data["visit_id"]) == (scene.room.pk, scene.laser.pk, None)
    default = api.post(
        "/appointments", body(scene, "11:00", "11:00") | {"ends_at": None, "kind": "follow_up"}
    )
    assert default.status_code == 201 and default.json()["ends_at"].startswith(f"{TUESDAY.isoformat()}T10:20")

    listed = api.get("/appointments", {"day": TUESDAY.isoformat(), "clinician": scene.clinician.pk}).json()
    assert [item["id"] for item in listed["items"]] == [data["id"], default.json()["id"]]
    assert api.get("/appointments", {"room": scene.other_room.pk}).json()["count"] == 0
    assert api.get("/appointments", {"patient": scene.other_patient.pk}).json()["count"] == 0
    assert (
        api.get("/appointments", {"day": (TUESDAY + dt.timedelta(days=1)).isoformat()}).json()["count"] == 0
    )

    moved = api._call(
        "patch", f"/appointments/{data['id']}", {"starts_at": berlin(TUESDAY, "08:00").isoformat()}
    )
    assert moved.status_code == 200, moved.content
    assert moved.json()["ends_at"] == berlin(TUESDAY, "09:00").astimezone(dt.UTC).isoformat().replace(
        "+00:00", "Z"
    )
    freed = api._call("patch", f"/appointments/{data['id']}", {"room": None, "clinician": scene.colleague.pk})
    assert (freed.json()["room_id"], freed.json()["clinician_id"]) == (None, scene.colleague.pk)

    cancelled = api.post(f"/appointments/{data['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = api.post(f"/appointments/{data['id']}/cancel")
    assert again.status_code == 422 and again["Content-Type"] == PROBLEM
    early = api.post(f"/appointments/{default.json()['id']}/no-show")
    assert early.status_code == 422 and "has not begun yet" in early.json()["detail"]


@pytest.mark.django_db
def test_a_clash_is_a_409_naming_it(api_as, scene):
    api = api_as(scene.assistant)
    first = api.post("/appointments", body(scene)).json()
    clash = api.post(
        "/appointments",
        body(scene, "10:30", "11:30", patient=scene.other_patient.pk, clinician=scene.colleague.pk),
    )
    assert clash.status_code == 409 and clash["Content-Type"] == PROBLEM
    problem = clash.json()
    assert problem["status"] == 409
    assert {c["resource"] for c in problem["clashes"]} == {"room", "device"}
    assert {c["appointment"] for c in problem["clashes"]} == {first["id"]}
    assert "Room Room 1 is booked from" in problem["detail"] and "Fraxel laser" in problem["detail"]
    touching = api.post("/appointments", body(scene, "11:00", "11:30", patient=scene.other_patient.pk))
    assert touching.status_code == 201
    move = api._call(
        "patch", f"/appointments/{touching.json()['id']}", {"starts_at": berlin(TUESDAY, "10:45").isoformat()}
    )
    assert move.status_code == 409 and move.json()["clashes"][0]["resource"] == "clinician"
    assert Appointment.objects.count() == 2


@pytest.mark.django_db
def test_refusals_are_422_in_the_requested_language(api_as, scene):
    api = api_as(scene.assistant)
    sunday = TUESDAY + dt.timedelta(days=5)
    # the scene's clinic opens every day; closed on Sundays for this test
    scene.clinic.opening_hours.filter(weekday=6).delete()
    closed = api.post(
        "/appointments",
        body(scene)
        | {"starts_at": berlin(sunday, "10:00").isoformat(), "ends_at": berlin(sunday, "11:00").isoformat()},
    )
    assert closed.status_code == 422 and "not open on Sunday" in closed.json()["detail"]
    naive = api.post("/appointments", body(scene) | {"starts_at": "2027-03-09T10:00:00"})
    assert naive.status_code == 422
    unknown_kind = api.post("/appointments", body(scene) | {"kind": "massage"})
    assert unknown_kind.status_code == 422
    backwards = api.post("/appointments", body(scene, "11:00", "10:00"))
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "ends_at"
    assert Appointment.objects.count() == 0


@pytest.mark.django_db
def test_another_clinics_records_are_404(api_as, scene, other_clinic):
    api = api_as(scene.assistant)
    foreign_patient = factories.ConsentedPatientFactory(clinic=other_clinic)
    foreign_clinician = factories.UserFactory(clinic=other_clinic, role="clinician")
    foreign_room = factories.RoomFactory(clinic=other_clinic)
    foreign_device = factories.DeviceFactory(clinic=other_clinic)
    for change in (
        {"patient": foreign_patient.pk},
        {"clinician": foreign_clinician.pk},
        {"room": foreign_room.pk},
        {"device": foreign_device.pk},
    ):
        response = api.post("/appointments", body(scene) | change)
        assert response.status_code == 404, change
        assert response["Content-Type"] == PROBLEM
    theirs = api_as(foreign_clinician).post(
        "/appointments",
        {
            "patient": foreign_patient.pk,
            "kind": "consultation",
            "starts_at": berlin(TUESDAY, "10:00").isoformat(),
            "clinician": foreign_clinician.pk,
        },
    )
    assert theirs.status_code == 201, theirs.content
    their_id = theirs.json()["id"]
    assert api.get(f"/appointments/{their_id}").status_code == 404
    assert (
        api._call(
            "patch", f"/appointments/{their_id}", {"starts_at": berlin(TUESDAY, "12:00").isoformat()}
        ).status_code
        == 404
    )
    assert api.post(f"/appointments/{their_id}/cancel").status_code == 404
    assert api.get("/appointments").json()["count"] == 0


@pytest.mark.django_db
def test_researchers_see_no_appointments(api_as, scene, researcher):
    api = api_as(researcher)
    assert api.get("/appointments").status_code == 403
    assert api.post("/appointments", body(scene)).status_code == 403
